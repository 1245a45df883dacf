//! Fuzzes the agent API's query-string filter: it parses whatever a client
//! sends (`/api/v1/connections?...`), so any bytes must give a filter or an
//! error, never a panic; a parsed filter must then match records safely.

#![no_main]

use libfuzzer_sys::fuzz_target;
use podwire_record::{Body, Dns, DnsTransport, Endpoint, Record, Timestamp};
use podwire_store::Filter;

fuzz_target!(|data: &[u8]| {
    let query = String::from_utf8_lossy(data);
    let Ok(filter) = Filter::parse_query(&query, Timestamp(1_800_000_000_000_000_000)) else {
        return;
    };
    let rec = Record::new(
        Timestamp(1_700_000_000_000_000_000),
        Endpoint::new("10.0.0.1".parse().unwrap(), 40000),
        Endpoint::new("::ffff:10.0.0.2".parse().unwrap(), 53),
        Body::Dns(Dns {
            transport: DnsTransport::Udp,
            id: 1,
            name: "a.example.com".into(),
            qtype: "A".into(),
            rcode: None,
            answers: vec![],
            latency_ms: None,
        }),
    );
    let _ = filter.matches(&rec);
});
