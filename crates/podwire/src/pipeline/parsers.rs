//! The parsers' options from the two switches users have for what records
//! may reveal, shared by `podwire read` and the agent.

use podwire_http::{HeaderCapture, HttpConfig};
use podwire_track::ParserConfig;

/// `headers`: HTTP records (1.x and 2) carry their header lists;
/// `secrets`: SQL statements are recorded unmasked, Redis arguments shown,
/// and (with `headers`) credential headers verbatim. Passwords and auth
/// exchanges are never recorded, whatever the switches.
pub fn parser_config(headers: bool, secrets: bool) -> ParserConfig {
    let capture = match (headers, secrets) {
        (false, _) => HeaderCapture::None,
        (true, false) => HeaderCapture::Redacted,
        (true, true) => HeaderCapture::All,
    };
    let mut cfg = ParserConfig {
        http: HttpConfig {
            headers: capture,
            ..HttpConfig::default()
        },
        ..ParserConfig::default()
    };
    cfg.http2.headers = capture;
    cfg.postgres.show_secrets = secrets;
    cfg.mysql.show_secrets = secrets;
    cfg.redis.show_secrets = secrets;
    cfg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_stay_masked_unless_asked() {
        let cfg = parser_config(true, false);
        assert_eq!(cfg.http.headers, HeaderCapture::Redacted);
        assert_eq!(cfg.http2.headers, HeaderCapture::Redacted);
        assert!(!cfg.postgres.show_secrets && !cfg.mysql.show_secrets && !cfg.redis.show_secrets);
        let cfg = parser_config(false, true);
        assert_eq!(cfg.http.headers, HeaderCapture::None);
        assert!(cfg.postgres.show_secrets && cfg.mysql.show_secrets && cfg.redis.show_secrets);
    }
}
