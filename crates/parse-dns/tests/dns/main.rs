//! Integration tests of podwire-dns, one binary split by topic. Real wire
//! bytes come from `tests/data` (captures of dnsmasq answering dig, see its
//! README); synthetic messages cover what a well-behaved server never sends.

mod detect;
mod malformed;
mod pairing;
mod support;
mod tcp;
mod udp_real;
