//! RDATA in presentation form: what an answer's `data` field shows.
//!
//! The common types get their zone-file text (addresses, names, `MX` as
//! `pref name`, `TXT` as quoted strings, `SRV`, `SOA`, `CAA`, `SVCB`/`HTTPS`
//! as `dig` prints them, ...). Everything else, and any RDATA that does not
//! decode as its type claims, uses the RFC 3597 generic form `\# len hex`,
//! which is lossless and valid for every type, so an odd record never makes
//! a message unreadable.
//!
//! Names inside RDATA may be compressed (RFC 3597 §4 allows it for the
//! well-known types), so formatting reads from the whole message.

use crate::names::{push_decimal_escape, read_name};
use std::fmt::Write;
use std::net::{Ipv4Addr, Ipv6Addr};

/// Presentation form of the RDATA at `msg[start..start + len]` (the caller
/// has checked the range) for an RR of type `rtype`.
pub(crate) fn present(msg: &[u8], start: usize, len: usize, rtype: u16) -> String {
    let mut r = Rd {
        msg,
        pos: start,
        end: start + len,
    };
    match typed(&mut r, rtype) {
        Some(text) if r.pos == r.end => text,
        _ => generic(&msg[start..start + len]),
    }
}

/// RFC 3597 §5: `\# <length> <hex>`; `\# 0` when empty.
pub(crate) fn generic(data: &[u8]) -> String {
    let mut s = format!("\\# {}", data.len());
    if !data.is_empty() {
        s.push(' ');
        push_hex(data, &mut s, false);
    }
    s
}

/// A cursor over one RR's RDATA inside its message; every read fails
/// (`None`) rather than step past the RDATA.
struct Rd<'a> {
    msg: &'a [u8],
    pos: usize,
    end: usize,
}

impl<'a> Rd<'a> {
    fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.end - self.pos < n {
            return None;
        }
        let b = &self.msg[self.pos..self.pos + n];
        self.pos += n;
        Some(b)
    }
    fn rest(&mut self) -> &'a [u8] {
        let b = &self.msg[self.pos..self.end];
        self.pos = self.end;
        b
    }
    fn u8(&mut self) -> Option<u8> {
        self.bytes(1).map(|b| b[0])
    }
    fn u16(&mut self) -> Option<u16> {
        self.bytes(2).map(|b| u16::from_be_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Option<u32> {
        self.bytes(4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn name(&mut self) -> Option<String> {
        let (name, next) = read_name(&self.msg[..self.end], self.pos).ok()?;
        self.pos = next;
        Some(name)
    }
    /// A `<character-string>`: one length octet and that many octets.
    fn string(&mut self) -> Option<&'a [u8]> {
        let n = self.u8()?;
        self.bytes(n as usize)
    }
    fn is_empty(&self) -> bool {
        self.pos == self.end
    }
}

/// Typed formatting; `None` falls back to the generic form.
fn typed(r: &mut Rd<'_>, rtype: u16) -> Option<String> {
    Some(match rtype {
        // A
        1 => {
            let b = r.bytes(4)?;
            Ipv4Addr::new(b[0], b[1], b[2], b[3]).to_string()
        }
        // AAAA: std prints the RFC 5952 canonical form.
        28 => {
            let b: [u8; 16] = r.bytes(16)?.try_into().ok()?;
            Ipv6Addr::from(b).to_string()
        }
        // NS, MD, MF, CNAME, MB, MG, MR, PTR, DNAME
        2 | 3 | 4 | 5 | 7 | 8 | 9 | 12 | 39 => r.name()?,
        // MX, AFSDB, RT, KX: preference + name
        15 | 18 | 21 | 36 => {
            let pref = r.u16()?;
            format!("{pref} {}", r.name()?)
        }
        // TXT, SPF: one or more quoted strings
        16 | 99 => {
            let mut s = String::new();
            while !r.is_empty() {
                if !s.is_empty() {
                    s.push(' ');
                }
                push_quoted(r.string()?, &mut s);
            }
            if s.is_empty() {
                return None;
            }
            s
        }
        // HINFO: cpu os
        13 => {
            let mut s = String::new();
            push_quoted(r.string()?, &mut s);
            s.push(' ');
            push_quoted(r.string()?, &mut s);
            s
        }
        // SOA
        6 => {
            let mname = r.name()?;
            let rname = r.name()?;
            let (serial, refresh, retry, expire, minimum) =
                (r.u32()?, r.u32()?, r.u32()?, r.u32()?, r.u32()?);
            format!("{mname} {rname} {serial} {refresh} {retry} {expire} {minimum}")
        }
        // SRV: priority weight port target
        33 => {
            let (prio, weight, port) = (r.u16()?, r.u16()?, r.u16()?);
            format!("{prio} {weight} {port} {}", r.name()?)
        }
        // NAPTR: order preference flags services regexp replacement
        35 => {
            let (order, pref) = (r.u16()?, r.u16()?);
            let mut s = format!("{order} {pref} ");
            for _ in 0..3 {
                push_quoted(r.string()?, &mut s);
                s.push(' ');
            }
            s.push_str(&r.name()?);
            s
        }
        // DS, CDS: key tag, algorithm, digest type, digest
        43 | 59 => {
            let (tag, alg, dt) = (r.u16()?, r.u8()?, r.u8()?);
            let mut s = format!("{tag} {alg} {dt} ");
            push_hex(r.rest(), &mut s, true);
            s
        }
        // DNSKEY, CDNSKEY: flags, protocol, algorithm, key
        48 | 60 => {
            let (flags, proto, alg) = (r.u16()?, r.u8()?, r.u8()?);
            format!("{flags} {proto} {alg} {}", base64(r.rest()))
        }
        // SSHFP: algorithm, fingerprint type, fingerprint
        44 => {
            let (alg, fp) = (r.u8()?, r.u8()?);
            let mut s = format!("{alg} {fp} ");
            push_hex(r.rest(), &mut s, true);
            s
        }
        // TLSA, SMIMEA: usage, selector, matching type, data
        52 | 53 => {
            let (usage, sel, mt) = (r.u8()?, r.u8()?, r.u8()?);
            let mut s = format!("{usage} {sel} {mt} ");
            push_hex(r.rest(), &mut s, true);
            s
        }
        // CAA: flags tag "value"
        257 => {
            let flags = r.u8()?;
            let tag = r.string()?;
            if tag.is_empty() || !tag.iter().all(u8::is_ascii_alphanumeric) {
                return None;
            }
            let mut s = format!("{flags} {} ", String::from_utf8_lossy(tag));
            push_quoted(r.rest(), &mut s);
            s
        }
        // SVCB, HTTPS
        64 | 65 => svcb(r)?,
        _ => return None,
    })
}

/// SVCB/HTTPS (RFC 9460): `priority target key=value ...`, as dig prints it.
fn svcb(r: &mut Rd<'_>) -> Option<String> {
    let prio = r.u16()?;
    let mut s = format!("{prio} {}", r.name()?);
    while !r.is_empty() {
        let key = r.u16()?;
        let len = r.u16()?;
        let mut v = Rd {
            msg: r.msg,
            pos: r.pos,
            end: r.pos.checked_add(len as usize)?,
        };
        r.bytes(len as usize)?;
        s.push(' ');
        match key {
            // mandatory: a list of keys
            0 => {
                s.push_str("mandatory=");
                let mut first = true;
                while !v.is_empty() {
                    if !first {
                        s.push(',');
                    }
                    first = false;
                    push_svc_key(v.u16()?, &mut s);
                }
            }
            // alpn: a list of protocol ids, comma-separated and quoted
            1 => {
                s.push_str("alpn=\"");
                let mut first = true;
                while !v.is_empty() {
                    if !first {
                        s.push(',');
                    }
                    first = false;
                    for &b in v.string()? {
                        // A comma inside an id is escaped twice over
                        // (RFC 9460 Appendix A.1): once for the list, once
                        // for the quoted string.
                        match b {
                            b',' => s.push_str("\\\\,"),
                            b'\\' => s.push_str("\\\\\\\\"),
                            _ => push_quoted_byte(b, &mut s),
                        }
                    }
                }
                s.push('"');
            }
            2 if len == 0 => s.push_str("no-default-alpn"),
            3 => {
                let port = v.u16()?;
                write!(s, "port={port}").ok()?;
            }
            4 => {
                s.push_str("ipv4hint=");
                let mut first = true;
                while !v.is_empty() {
                    if !first {
                        s.push(',');
                    }
                    first = false;
                    let b = v.bytes(4)?;
                    write!(s, "{}", Ipv4Addr::new(b[0], b[1], b[2], b[3])).ok()?;
                }
            }
            5 => {
                s.push_str("ech=");
                s.push_str(&base64(v.rest()));
            }
            6 => {
                s.push_str("ipv6hint=");
                let mut first = true;
                while !v.is_empty() {
                    if !first {
                        s.push(',');
                    }
                    first = false;
                    let b: [u8; 16] = v.bytes(16)?.try_into().ok()?;
                    write!(s, "{}", Ipv6Addr::from(b)).ok()?;
                }
            }
            _ => {
                push_svc_key(key, &mut s);
                if len > 0 {
                    s.push('=');
                    push_quoted(v.rest(), &mut s);
                }
            }
        }
        if !v.is_empty() {
            return None;
        }
    }
    Some(s)
}

fn push_svc_key(key: u16, s: &mut String) {
    let name = match key {
        0 => "mandatory",
        1 => "alpn",
        2 => "no-default-alpn",
        3 => "port",
        4 => "ipv4hint",
        5 => "ech",
        6 => "ipv6hint",
        7 => "dohpath",
        8 => "ohttp",
        _ => {
            let _ = write!(s, "key{key}");
            return;
        }
    };
    s.push_str(name);
}

/// Appends `"..."` with `"` and `\` escaped and non-printable octets as `\DDD`.
fn push_quoted(data: &[u8], s: &mut String) {
    s.push('"');
    for &b in data {
        push_quoted_byte(b, s);
    }
    s.push('"');
}

fn push_quoted_byte(b: u8, s: &mut String) {
    match b {
        b'"' | b'\\' => {
            s.push('\\');
            s.push(b as char);
        }
        0x20..=0x7e => s.push(b as char),
        _ => push_decimal_escape(b, s),
    }
}

fn push_hex(data: &[u8], s: &mut String, upper: bool) {
    let digits = if upper {
        b"0123456789ABCDEF"
    } else {
        b"0123456789abcdef"
    };
    for &b in data {
        s.push(digits[(b >> 4) as usize] as char);
        s.push(digits[(b & 15) as usize] as char);
    }
}

/// Standard base64 with padding (RFC 4648 §4), as zone files write keys.
fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for i in 0..4 {
            if i <= chunk.len() {
                s.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                s.push('=');
            }
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(rtype: u16, rdata: &[u8]) -> String {
        present(rdata, 0, rdata.len(), rtype)
    }

    #[test]
    fn unknown_type_is_generic() {
        assert_eq!(fmt(65280, &[1, 2, 0xab, 0xcd]), "\\# 4 0102abcd");
        assert_eq!(fmt(65280, &[]), "\\# 0");
    }

    #[test]
    fn wrong_length_address_falls_back_to_generic() {
        assert_eq!(fmt(1, &[10, 0, 0]), "\\# 3 0a0000");
        assert_eq!(fmt(1, &[10, 0, 0, 1, 2]), "\\# 5 0a00000102");
    }

    #[test]
    fn txt_escapes_quotes_and_binary() {
        assert_eq!(fmt(16, b"\x04a\"b\x01\x00"), "\"a\\\"b\\001\" \"\"");
    }

    #[test]
    fn txt_string_past_rdata_is_generic() {
        assert_eq!(fmt(16, b"\x05ab"), "\\# 3 056162");
    }

    #[test]
    fn name_must_end_inside_rdata() {
        // CNAME whose RDATA claims 3 bytes of a longer name.
        let msg = b"\x03abc\x00";
        assert_eq!(present(msg, 0, 3, 5), "\\# 3 036162");
    }

    #[test]
    fn svcb_alias_mode_and_params() {
        let rdata = b"\x00\x01\x00\x00\x01\x00\x06\x02h2\x02h3\x00\x02\x00\x00\x00\x03\x00\x02\x01\xbb\x00\x06\x00\x10\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\xff\x00\x00\x02hi";
        assert_eq!(
            fmt(65, rdata),
            "1 . alpn=\"h2,h3\" no-default-alpn port=443 ipv6hint=2001:db8::1 key65280=\"hi\""
        );
    }

    #[test]
    fn dnskey_uses_base64() {
        assert_eq!(
            fmt(48, b"\x01\x01\x03\x0d\x00\x01\x02\x03"),
            "257 3 13 AAECAw=="
        );
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
    }

    #[test]
    fn ds_digest_is_upper_hex() {
        assert_eq!(fmt(43, b"\x30\x39\x08\x02\xab\xcd"), "12345 8 2 ABCD");
    }
}
