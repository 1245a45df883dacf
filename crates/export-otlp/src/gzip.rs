//! A gzip member (RFC 1952) around miniz_oxide's deflate: OTLP/HTTP
//! receivers take `Content-Encoding: gzip`, and spans compress about
//! tenfold, which is what a bounded queue and a metered link care about.

/// `data` as one gzip member, at a fast compression level.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let deflated = miniz_oxide::deflate::compress_to_vec(data, 1);
    let mut out = Vec::with_capacity(deflated.len() + 18);
    // Magic, CM=deflate, no flags, no mtime, XFL=fastest, OS=unknown.
    out.extend_from_slice(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 4, 255]);
    out.extend_from_slice(&deflated);
    out.extend_from_slice(&crc32fast::hash(data).to_le_bytes());
    // ISIZE is the length modulo 2^32 by definition.
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_an_inflater_with_a_valid_trailer() {
        let data = b"podwire podwire podwire spans spans spans".repeat(50);
        let gz = gzip(&data);
        assert_eq!(&gz[..3], &[0x1f, 0x8b, 8]);
        assert!(gz.len() < data.len() / 4);
        let body = &gz[10..gz.len() - 8];
        let back = miniz_oxide::inflate::decompress_to_vec(body).expect("inflates");
        assert_eq!(back, data);
        let crc = u32::from_le_bytes(gz[gz.len() - 8..gz.len() - 4].try_into().unwrap());
        assert_eq!(crc, crc32fast::hash(&data));
        let len = u32::from_le_bytes(gz[gz.len() - 4..].try_into().unwrap());
        assert_eq!(len as usize, data.len());
    }
}
