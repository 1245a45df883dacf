//! JA3 and JA4 of real clients, checked against other tools on the same captures.
//!
//! JA3 values are tshark 4.0's `tls.handshake.ja3` for the ClientHello of
//! `tests/data/<name>.pcap`. tshark 4.0 has no JA4 field, so JA4 values come
//! from `tests/data/ja4_from_tshark.py`, an independent implementation of
//! FoxIO's specification over tshark's dissection of the same packets.

use crate::util::run_whole;

fn fingerprints(name: &str) -> (String, String) {
    let run = run_whole(name);
    let tls = &run.only_event().tls;
    (tls.ja3.clone().expect("ja3"), tls.ja4.clone().expect("ja4"))
}

#[test]
fn openssl_client_offering_tls13_and_alpn() {
    let (ja3, ja4) = fingerprints("tls12_cert");
    assert_eq!(ja3, "5a1edc7f170af1014fc65c994878e63c");
    assert_eq!(ja4, "t13d3111h2_e8f1e7e78f70_1f22a2ca17c4");
}

#[test]
fn curl_client_with_padding_and_post_handshake_auth() {
    let (ja3, ja4) = fingerprints("tls13");
    assert_eq!(ja3, "0149f47eabf9a20d0893e2a44e5a6323");
    assert_eq!(ja4, "t13d3112h2_e8f1e7e78f70_b26ce05bbdd6");
}

#[test]
fn tls12_only_client_without_sni_or_alpn() {
    let (ja3, ja4) = fingerprints("no_sni");
    assert_eq!(ja3, "fbe7e189e37a07ee33706f86bc746344");
    assert_eq!(ja4, "t12i280600_d943125447b4_e7e480e5a997");
}

#[test]
fn resuming_client_with_session_ticket() {
    let (ja3, ja4) = fingerprints("tls12_resumed");
    assert_eq!(ja3, "a3afc2c46ba4a7d7fbe1cfb7a3031c2f");
    assert_eq!(ja4, "t13d311000_e8f1e7e78f70_1f22a2ca17c4");
}
