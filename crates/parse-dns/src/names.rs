//! Domain names on the wire: label sequences with compression pointers
//! (RFC 1035 §4.1.4), turned into presentation form.
//!
//! Compression is the one place a DNS parser can be made to loop or to
//! allocate without bound, so every name read here is capped twice: at most
//! [`MAX_NAME_WIRE`] octets of labels (the RFC limit) and at most
//! [`MAX_POINTERS`] pointer jumps. Together they bound the work per name
//! whatever the pointers do (point forward, at themselves, at each other).
//!
//! Presentation form follows `dig` (RFC 1035 §5.1 escaping): printable ASCII
//! as is, the special characters `. ; \ ( ) @ $ "` behind a backslash, other
//! octets as `\DDD`. Case is kept as sent (resolvers randomise it, RFC 8906
//! 0x20 encoding, and tshark shows it as sent). The trailing dot is left out,
//! as tshark shows names; the root name, which tshark shows as `<Root>`, is
//! written `.`.

use thiserror::Error;

/// Longest name on the wire, length octets and terminating zero included.
pub const MAX_NAME_WIRE: usize = 255;

/// Most compression pointers followed while reading one name.
pub const MAX_POINTERS: usize = 128;

/// Why a name could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum NameError {
    /// The message ends inside the name.
    #[error("name runs past the end of the message")]
    Truncated,
    /// A length octet starting with `01` or `10` (obsolete extended labels).
    #[error("unsupported label type 0x{0:02x}")]
    LabelType(u8),
    /// More than [`MAX_NAME_WIRE`] octets of labels.
    #[error("name longer than 255 octets")]
    TooLong,
    /// More than [`MAX_POINTERS`] compression pointers: a loop, or an attack.
    #[error("too many compression pointers (loop?)")]
    TooManyPointers,
    /// A compression pointer to an offset outside the message.
    #[error("compression pointer past the end of the message")]
    PointerOutOfRange,
}

/// Reads the name starting at `pos` of `msg`, following compression pointers
/// anywhere in `msg`. Returns the name in presentation form and the offset
/// just after the name as it sits at `pos` (after its first pointer, if any).
pub(crate) fn read_name(msg: &[u8], pos: usize) -> Result<(String, usize), NameError> {
    let mut name = String::new();
    let mut p = pos;
    let mut next = None;
    let mut wire_len = 0usize;
    let mut pointers = 0usize;
    loop {
        let len = *msg.get(p).ok_or(NameError::Truncated)?;
        match len & 0xc0 {
            0x00 if len == 0 => {
                let after = *next.get_or_insert(p + 1);
                if name.is_empty() {
                    name.push('.');
                }
                return Ok((name, after));
            }
            0x00 => {
                let l = len as usize;
                wire_len += 1 + l;
                // +1 for the terminating zero still to come.
                if wire_len + 1 > MAX_NAME_WIRE {
                    return Err(NameError::TooLong);
                }
                let label = msg.get(p + 1..p + 1 + l).ok_or(NameError::Truncated)?;
                if !name.is_empty() {
                    name.push('.');
                }
                escape_label(label, &mut name);
                p += 1 + l;
            }
            0xc0 => {
                let lo = *msg.get(p + 1).ok_or(NameError::Truncated)?;
                next.get_or_insert(p + 2);
                pointers += 1;
                if pointers > MAX_POINTERS {
                    return Err(NameError::TooManyPointers);
                }
                let target = ((len as usize & 0x3f) << 8) | lo as usize;
                if target >= msg.len() {
                    return Err(NameError::PointerOutOfRange);
                }
                p = target;
            }
            _ => return Err(NameError::LabelType(len)),
        }
    }
}

/// Steps over the name at `pos` without decoding it or following pointers;
/// returns the offset after it. For sections whose names we do not report.
pub(crate) fn skip_name(msg: &[u8], pos: usize) -> Result<usize, NameError> {
    let mut p = pos;
    loop {
        let len = *msg.get(p).ok_or(NameError::Truncated)?;
        match len & 0xc0 {
            0x00 if len == 0 => return Ok(p + 1),
            0x00 => {
                p += 1 + len as usize;
                if p - pos + 1 > MAX_NAME_WIRE {
                    return Err(NameError::TooLong);
                }
            }
            0xc0 => {
                if p + 2 > msg.len() {
                    return Err(NameError::Truncated);
                }
                return Ok(p + 2);
            }
            _ => return Err(NameError::LabelType(len)),
        }
    }
}

/// Appends one label in presentation form.
fn escape_label(label: &[u8], out: &mut String) {
    for &b in label {
        match b {
            b'.' | b';' | b'\\' | b'(' | b')' | b'@' | b'$' | b'"' => {
                out.push('\\');
                out.push(b as char);
            }
            0x21..=0x7e => out.push(b as char),
            _ => push_decimal_escape(b, out),
        }
    }
}

/// Appends `\DDD`, the decimal escape of RFC 1035 §5.1.
pub(crate) fn push_decimal_escape(b: u8, out: &mut String) {
    out.push('\\');
    out.push((b'0' + b / 100) as char);
    out.push((b'0' + b / 10 % 10) as char);
    out.push((b'0' + b % 10) as char);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_name() {
        let msg = b"\x03www\x07example\x03com\x00";
        assert_eq!(
            read_name(msg, 0),
            Ok(("www.example.com".to_string(), msg.len()))
        );
    }

    #[test]
    fn root_is_a_dot() {
        assert_eq!(read_name(b"\x00", 0), Ok((".".to_string(), 1)));
    }

    #[test]
    fn pointer_returns_offset_after_the_pointer() {
        // "example.com" at 0, then "www" + pointer to 0 at 13.
        let msg = b"\x07example\x03com\x00\x03www\xc0\x00";
        assert_eq!(read_name(msg, 13), Ok(("www.example.com".to_string(), 19)));
    }

    #[test]
    fn special_characters_are_escaped() {
        let msg = b"\x05a.b\\ \x03c\"d\x00";
        assert_eq!(read_name(msg, 0).unwrap().0, "a\\.b\\\\\\032.c\\\"d");
    }

    #[test]
    fn pointer_to_itself_is_a_loop() {
        assert_eq!(read_name(b"\xc0\x00", 0), Err(NameError::TooManyPointers));
    }

    #[test]
    fn label_loop_hits_the_length_limit() {
        // A label followed by a pointer back to it: grows until 255 octets.
        assert_eq!(read_name(b"\x01a\xc0\x00", 0), Err(NameError::TooLong));
    }

    #[test]
    fn pointer_past_end() {
        assert_eq!(read_name(b"\xc0\x10", 0), Err(NameError::PointerOutOfRange));
    }

    #[test]
    fn extended_label_type_is_rejected() {
        assert_eq!(read_name(b"\x41ab", 0), Err(NameError::LabelType(0x41)));
    }

    #[test]
    fn longest_legal_name_reads() {
        // 4 labels of 63 = 256 octets with lengths: one too many. Trim to 253 + 2.
        let mut msg = Vec::new();
        for l in [63u8, 63, 63, 61] {
            msg.push(l);
            msg.extend(std::iter::repeat_n(b'a', l as usize));
        }
        msg.push(0);
        assert_eq!(msg.len(), 255);
        assert!(read_name(&msg, 0).is_ok());
        msg.insert(0, b'b');
        msg.insert(0, 1);
        assert_eq!(read_name(&msg, 0), Err(NameError::TooLong));
    }

    #[test]
    fn skip_stops_at_pointer() {
        assert_eq!(skip_name(b"\x03www\xc0\x00", 0), Ok(6));
        assert_eq!(skip_name(b"\x03www\xc0", 0), Err(NameError::Truncated));
    }
}
