//! The store's byte accounting against what the allocator really handed out.
//!
//! A counting global allocator tracks the bytes live on the heap; after a big
//! insert (with evictions) the heap growth must equal, within 25%, what
//! `Store::stats` says it holds. The second case stores strings with spare
//! capacity, where counting lengths instead of capacities is far off:
//! it shows the comparison can fail.
//!
//! One test in this binary, so no other test allocates while it measures.

use podwire_record::{
    Body, Close, Connection, DirectionStats, Dns, DnsAnswer, DnsTransport, Endpoint, Http,
    Identity, Record, Timestamp, Tls, Transport,
};
use podwire_store::{record_bytes, Store, StoreConfig, Table};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering::Relaxed};

/// The system allocator, counting live bytes (as requested) and allocations.
struct Counting;

static LIVE_BYTES: AtomicIsize = AtomicIsize::new(0);
static LIVE_ALLOCS: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is forwarded to `System` unchanged; the counters are
// plain atomics and do not allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract for `alloc`, passed on.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            LIVE_BYTES.fetch_add(layout.size() as isize, Relaxed);
            LIVE_ALLOCS.fetch_add(1, Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract for `dealloc`, passed on.
        unsafe { System.dealloc(ptr, layout) };
        LIVE_BYTES.fetch_sub(layout.size() as isize, Relaxed);
        LIVE_ALLOCS.fetch_sub(1, Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's contract for `realloc`, passed on.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE_BYTES.fetch_add(new_size as isize - layout.size() as isize, Relaxed);
        }
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn live() -> (isize, isize) {
    (LIVE_BYTES.load(Relaxed), LIVE_ALLOCS.load(Relaxed))
}

/// A small deterministic generator (xorshift).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }

    /// `len` bytes of text in a string of capacity `len * spare`.
    fn text(&mut self, max: u64, spare: usize) -> String {
        let len = self.below(max) as usize;
        let mut s = String::with_capacity(len * spare);
        s.extend((0..len).map(|i| char::from(b'a' + (i % 26) as u8)));
        s
    }
}

fn record(rng: &mut Rng, i: u64, spare: usize) -> Record {
    let ep = |ip: [u8; 4], port| Endpoint::new(ip.into(), port);
    let mut text = |max| rng.text(max, spare);
    let body = match i % 4 {
        0 => Body::Connection(Connection {
            proto: Transport::Tcp,
            first_seen: Timestamp(i),
            last_seen: Timestamp(i + 1),
            duration_ms: 0.0,
            close: Close::Fin,
            handshake_rtt_ms: None,
            retransmits: 0,
            client_to_server: DirectionStats::default(),
            server_to_client: DirectionStats::default(),
            handshake_seen: true,
            kernel: None,
        }),
        1 => Body::Tls(Tls {
            sni: Some(text(60)),
            alpn: vec![text(10), text(10)],
            client_ciphers: (0..8).map(|_| text(40)).collect(),
            ja4: Some(text(40)),
            ..Tls::default()
        }),
        2 => Body::Http(Http {
            method: Some(text(8)),
            host: Some(text(40)),
            path: Some(text(300)),
            version: text(10).into(),
            request_headers: Some(vec![(text(20), text(100))]),
            ..Http::default()
        }),
        _ => Body::Dns(Dns {
            transport: DnsTransport::Udp,
            id: 1,
            name: text(60),
            qtype: text(6),
            rcode: Some(text(10)),
            answers: (0..3)
                .map(|_| DnsAnswer {
                    name: text(60),
                    rtype: text(6),
                    ttl: 60,
                    data: text(60),
                })
                .collect(),
            latency_ms: None,
        }),
    };
    let mut rec = Record::new(
        Timestamp(i),
        ep([10, 1, 0, 1], 40000),
        ep([10, 2, 0, 1], 80),
        body,
    );
    if i.is_multiple_of(3) {
        rec.server.identity = Some(Box::new(Identity {
            namespace: Some(text(20)),
            pod: Some(text(50)),
            process: Some(text(15)),
            ..Identity::default()
        }));
    }
    rec
}

/// Fills a store with `n` records into a 4 MiB budget and returns (bytes the
/// store accounts, bytes really allocated, bytes as `len` would count them,
/// live allocations).
fn measure(n: u64, spare: usize) -> (usize, usize, usize, usize) {
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    let (bytes_before, allocs_before) = live();
    let mut store = Store::new(StoreConfig {
        budget_bytes: 4 << 20,
        ..StoreConfig::default()
    })
    .expect("valid config");
    for i in 0..n {
        store.insert(record(&mut rng, i, spare));
    }
    let (bytes_after, allocs_after) = live();
    let accounted = store.stats().bytes();
    let by_len: usize = Table::ALL
        .into_iter()
        .flat_map(|t| store.records(t))
        .map(|r| record_bytes(r) - heap_slack(r))
        .sum();
    let stats = store.stats();
    // Every table the generator fills went over its share.
    assert!(stats.tables[..4]
        .iter()
        .all(|t| t.dropped_records_total > 0));
    drop(store);
    (
        accounted,
        (bytes_after - bytes_before) as usize,
        by_len,
        (allocs_after - allocs_before) as usize,
    )
}

/// Spare capacity in a record's strings (capacity minus length).
fn heap_slack(r: &Record) -> usize {
    let mut strings: Vec<&String> = Vec::new();
    if let Some(id) = &r.server.identity {
        strings.extend([&id.namespace, &id.pod, &id.process].into_iter().flatten());
    }
    match &r.body {
        Body::Connection(_) => {}
        Body::Tls(t) => {
            strings.extend(t.sni.iter().chain(&t.ja4).chain(&t.alpn));
            strings.extend(&t.client_ciphers);
        }
        Body::Http(h) => {
            strings.extend(h.method.iter().chain(&h.host).chain(&h.path));
            if let std::borrow::Cow::Owned(v) = &h.version {
                strings.push(v);
            }
            for (k, v) in h.request_headers.iter().flatten() {
                strings.extend([k, v]);
            }
        }
        Body::Dns(d) => {
            strings.extend([&d.name, &d.qtype].into_iter().chain(&d.rcode));
            for a in &d.answers {
                strings.extend([&a.name, &a.rtype, &a.data]);
            }
        }
        Body::Postgres(_) | Body::Mysql(_) | Body::Redis(_) | Body::Kafka(_) => {}
    }
    strings.iter().map(|s| s.capacity() - s.len()).sum()
}

fn within(a: usize, b: usize, fraction: f64) -> bool {
    (a as f64 - b as f64).abs() <= fraction * b as f64
}

#[test]
fn accounted_bytes_match_the_allocator() {
    let tight = measure(100_000, 1);
    let spare = measure(100_000, 8);

    for (name, (accounted, actual, by_len, allocs)) in [("tight", tight), ("spare", spare)] {
        eprintln!(
            "{name}: accounted {accounted} B, allocated {actual} B in {allocs} allocations \
             ({:+.2}%), by length {by_len} B",
            (accounted as f64 / actual as f64 - 1.0) * 100.0
        );
        assert!(
            actual <= 4 << 20,
            "{name}: the store allocated more than its budget"
        );
        assert!(
            within(accounted, actual, 0.25),
            "{name}: accounted {accounted} B, allocated {actual} B"
        );
    }
    // With spare capacity, counting lengths would be far off: the comparison
    // above is able to catch an accounting that is.
    let (_, actual, by_len, _) = spare;
    assert!(
        !within(by_len, actual, 0.25),
        "by length {by_len} B, allocated {actual} B"
    );
}
