//! The connection phase: the server's greeting and the client's login.
//!
//! The server speaks first with a Handshake v10 packet (its version and
//! capabilities); the client answers with a HandshakeResponse41 (its
//! capabilities, user and, with `CLIENT_CONNECT_WITH_DB`, the database), or
//! with a 32-byte SSLRequest after which the rest is TLS. The auth response
//! in between is skipped by position and never read into a record.

use crate::wire::{cap, Reader};

/// What a greeting tells.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Greeting<'a> {
    /// Version string as sent (MariaDB's may start `5.5.5-`).
    pub version: &'a [u8],
    /// Capabilities, MariaDB's extended ones in the upper 32 bits.
    pub caps: u64,
}

/// Reads a Handshake v10 packet.
pub fn greeting(payload: &[u8]) -> Option<Greeting<'_>> {
    let mut r = Reader::new(payload);
    if r.u8()? != 10 {
        return None;
    }
    let version = r.nul_bytes()?;
    r.skip(4 + 8 + 1)?; // thread id, auth data part 1, filler
    let mut caps = u64::from(r.u16()?);
    if r.is_empty() {
        return Some(Greeting { version, caps });
    }
    r.skip(1 + 2)?; // charset, status
    caps |= u64::from(r.u16().unwrap_or(0)) << 16;
    let _ = r.skip(1 + 6); // auth data length, reserved
                           // Without CLIENT_MYSQL (bit 0), the last four reserved bytes are
                           // MariaDB's extended capabilities.
    if caps & 1 == 0 {
        caps |= u64::from(r.u32().unwrap_or(0)) << 32;
    }
    Some(Greeting { version, caps })
}

/// The version string for records: MariaDB's `5.5.5-` prefix (kept for old
/// replication clients) taken off.
pub fn version_text(version: &[u8]) -> String {
    let v = version.strip_prefix(b"5.5.5-").unwrap_or(version);
    crate::wire::text(v, 64)
}

/// What a HandshakeResponse41 tells (never the auth response).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Login<'a> {
    /// Client capabilities, MariaDB's extended ones in the upper 32 bits.
    pub caps: u64,
    pub user: Option<&'a [u8]>,
    pub database: Option<&'a [u8]>,
    /// An SSLRequest: the client switches to TLS now.
    pub ssl: bool,
}

/// Reads a HandshakeResponse41 (or the older 320 form, or an SSLRequest).
pub fn login(payload: &[u8]) -> Option<Login<'_>> {
    let mut r = Reader::new(payload);
    let low = u64::from(r.u16()?);
    if low & cap::PROTOCOL_41 == 0 {
        // HandshakeResponse320: caps(2) max packet(3) user NUL auth.
        r.skip(3)?;
        return Some(Login {
            caps: low,
            user: r.nul_bytes(),
            database: None,
            ssl: low & cap::SSL != 0 && r.is_empty(),
        });
    }
    let mut caps = low | u64::from(r.u16()?) << 16;
    r.skip(4 + 1 + 19)?; // max packet, charset, filler
    let ext = r.u32()?;
    if caps & 1 == 0 {
        caps |= u64::from(ext) << 32;
    }
    if r.is_empty() {
        return Some(Login {
            caps,
            user: None,
            database: None,
            ssl: caps & cap::SSL != 0,
        });
    }
    let user = r.nul_bytes();
    let mut database = None;
    // The auth response is skipped by length, whatever its form.
    let skipped = if caps & cap::PLUGIN_AUTH_LENENC_DATA != 0 {
        r.lenenc_bytes().map(|_| ())
    } else if caps & cap::SECURE_CONNECTION != 0 {
        r.u8().and_then(|n| r.skip(usize::from(n)))
    } else {
        r.nul_bytes().map(|_| ())
    };
    if skipped.is_some() && caps & cap::CONNECT_WITH_DB != 0 {
        database = r.nul_bytes().filter(|d| !d.is_empty());
    }
    Some(Login {
        caps,
        user,
        database,
        ssl: false,
    })
}

/// What a COM_CHANGE_USER tells (never its auth response).
pub fn change_user(payload: &[u8], caps: u64) -> (Option<&[u8]>, Option<&[u8]>) {
    let mut r = Reader::new(payload);
    if r.u8() != Some(0x11) {
        return (None, None);
    }
    let user = r.nul_bytes();
    let skipped = if caps & cap::SECURE_CONNECTION != 0 {
        r.u8().and_then(|n| r.skip(usize::from(n)))
    } else {
        r.nul_bytes().map(|_| ())
    };
    let database = skipped
        .and_then(|_| r.nul_bytes())
        .filter(|d| !d.is_empty());
    (user, database)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mariadb_version_prefix_goes() {
        assert_eq!(version_text(b"5.5.5-10.11.19-MariaDB"), "10.11.19-MariaDB");
        assert_eq!(version_text(b"8.0.36"), "8.0.36");
    }

    #[test]
    fn ssl_request_is_32_bytes_with_client_ssl() {
        let mut p = vec![0x00, 0xaa, 0x0f, 0x00]; // PROTOCOL_41 | SSL | ...
        p[0] = 0x00;
        p[1] = 0x0a; // 0x0a00: PROTOCOL_41 (0x200) | SSL (0x800)
        p.extend_from_slice(&[0; 28]);
        let l = login(&p).unwrap();
        assert!(l.ssl);
        assert_eq!(l.user, None);
    }

    #[test]
    fn truncated_login_keeps_what_it_has() {
        let mut p = vec![0x08, 0x82, 0x00, 0x00]; // CONNECT_WITH_DB | PROTOCOL_41 | SECURE
        p.extend_from_slice(&[0; 28]);
        p.extend_from_slice(b"bob\0\x03abc");
        let l = login(&p).unwrap();
        assert_eq!(l.user, Some(&b"bob"[..]));
        assert_eq!(l.database, None);
    }
}
