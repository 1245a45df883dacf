//! What a record costs in memory.
//!
//! The store's budget is only as honest as this count. Every `String` and
//! `Vec` is counted by capacity (what was allocated), not length, and every
//! struct is destructured field by field without `..`: a field added to
//! `podwire_record` stops this file compiling until it is counted here.
//!
//! Not counted: the allocator's own overhead per allocation (glibc rounds a
//! request up to a multiple of 16 bytes with an 8-byte header), which a record
//! with many short strings pays a few times over.

use podwire_record::{
    Body, Certificate, Connection, Dns, DnsAnswer, Endpoint, Http, Identity, Record, Tls,
};
use std::mem::size_of;

/// Bytes a stored record costs: the record itself (the store boxes each one)
/// plus everything it owns on the heap.
pub fn record_bytes(rec: &Record) -> usize {
    size_of::<Record>() + record_heap_bytes(rec)
}

/// Heap bytes owned by `rec`: the capacity of every `String` and `Vec` and the
/// size of every `Box` it owns, recursively; `size_of::<Record>()` not included.
pub fn record_heap_bytes(rec: &Record) -> usize {
    let Record {
        kind: _, // &'static str: not owned
        v: _,
        ts: _,
        client,
        server,
        inside_tls: _,
        body,
    } = rec;
    endpoint(client)
        + endpoint(server)
        + match body {
            Body::Connection(c) => connection(c),
            Body::Tls(t) => tls(t),
            Body::Http(h) => http(h),
            Body::Dns(d) => dns(d),
            Body::Postgres(b) => podwire_record::proto::heap_bytes(b),
            Body::Mysql(b) => podwire_record::proto::heap_bytes(b),
            Body::Redis(b) => podwire_record::proto::heap_bytes(b),
            Body::Kafka(b) => podwire_record::proto::heap_bytes(b),
        }
}

fn endpoint(ep: &Endpoint) -> usize {
    let Endpoint {
        ip: _,
        port: _,
        identity,
    } = ep;
    identity.as_deref().map_or(0, |id| {
        let Identity {
            namespace,
            pod,
            workload,
            service,
            node,
            process,
            pid: _,
            domain,
        } = id;
        size_of::<Identity>()
            + [namespace, pod, workload, service, node, process, domain]
                .into_iter()
                .map(opt_string)
                .sum::<usize>()
    })
}

fn connection(c: &Connection) -> usize {
    // Plain numbers and enums only; destructured so that a field that owns
    // memory, once added, is noticed here.
    let Connection {
        proto: _,
        first_seen: _,
        last_seen: _,
        duration_ms: _,
        close: _,
        handshake_rtt_ms: _,
        retransmits: _,
        client_to_server: _,
        server_to_client: _,
        handshake_seen: _,
        kernel: _, // Option<KernelCounters>: Copy, numbers only
    } = c;
    0
}

fn tls(t: &Tls) -> usize {
    let Tls {
        sni,
        alpn,
        alpn_selected,
        version,
        cipher,
        client_versions,
        client_ciphers,
        ja3,
        ja4,
        certificate,
    } = t;
    let cert = certificate.as_ref().map_or(0, |c| {
        let Certificate {
            subject,
            issuer,
            sans,
            not_before: _,
            not_after: _,
            fetched: _,
        } = c;
        subject.capacity() + issuer.capacity() + strings(sans)
    });
    [sni, alpn_selected, version, cipher, ja3, ja4]
        .into_iter()
        .map(opt_string)
        .sum::<usize>()
        + strings(alpn)
        + strings(client_versions)
        + strings(client_ciphers)
        + cert
}

fn http(h: &Http) -> usize {
    let Http {
        method,
        host,
        path,
        version,
        status: _,
        latency_ms: _,
        request_body_bytes: _,
        response_body_bytes: _,
        request_headers,
        response_headers,
        stream_id: _,
        grpc,
    } = h;
    let grpc = grpc.as_deref().map_or(0, |g| {
        let podwire_record::Grpc {
            service,
            method,
            status: _,
            message,
            request_messages: _,
            response_messages: _,
        } = g;
        size_of::<podwire_record::Grpc>()
            + service.capacity()
            + method.capacity()
            + opt_string(message)
    });
    let headers = |hs: &Option<Vec<(String, String)>>| {
        hs.as_ref().map_or(0, |hs| {
            hs.capacity() * size_of::<(String, String)>()
                + hs.iter()
                    .map(|(n, v)| n.capacity() + v.capacity())
                    .sum::<usize>()
        })
    };
    opt_string(method)
        + opt_string(host)
        + opt_string(path)
        // A borrowed constant owns nothing.
        + match version {
            std::borrow::Cow::Borrowed(_) => 0,
            std::borrow::Cow::Owned(s) => s.capacity(),
        }
        + headers(request_headers)
        + headers(response_headers)
        + grpc
}

fn dns(d: &Dns) -> usize {
    let Dns {
        transport: _,
        id: _,
        name,
        qtype,
        rcode,
        answers,
        latency_ms: _,
    } = d;
    let answers = answers.capacity() * size_of::<DnsAnswer>()
        + answers
            .iter()
            .map(|a| {
                let DnsAnswer {
                    name,
                    rtype,
                    ttl: _,
                    data,
                } = a;
                name.capacity() + rtype.capacity() + data.capacity()
            })
            .sum::<usize>();
    name.capacity() + qtype.capacity() + opt_string(rcode) + answers
}

fn opt_string(s: &Option<String>) -> usize {
    s.as_ref().map_or(0, String::capacity)
}

fn strings(v: &Vec<String>) -> usize {
    v.capacity() * size_of::<String>() + v.iter().map(String::capacity).sum::<usize>()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil;
    use podwire_record::{Certificate, DnsAnswer, Identity};

    #[test]
    fn bare_connection_owns_nothing() {
        let rec = testutil::conn(1, "10.0.0.1", 80);
        assert_eq!(record_heap_bytes(&rec), 0);
        assert_eq!(record_bytes(&rec), size_of::<Record>());
    }

    #[test]
    fn identity_counts_its_box_and_string_capacities() {
        let mut rec = testutil::conn(1, "10.0.0.1", 80);
        let mut ns = String::with_capacity(100);
        ns.push_str("prod");
        rec.client.identity = Some(Box::new(Identity {
            namespace: Some(ns),
            pod: Some("api-1".to_string()),
            ..Identity::default()
        }));
        assert_eq!(record_heap_bytes(&rec), size_of::<Identity>() + 100 + 5);
    }

    #[test]
    fn tls_counts_vectors_by_capacity_and_the_certificate() {
        let mut rec = testutil::tls(1, "example.com");
        let podwire_record::Body::Tls(t) = &mut rec.body else {
            unreachable!()
        };
        t.alpn = Vec::with_capacity(4);
        t.alpn.push("h2".to_string());
        t.certificate = Some(Certificate {
            subject: "CN=a".to_string(),
            issuer: "CN=b".to_string(),
            sans: vec!["a".to_string(), "bb".to_string()],
            not_before: None,
            not_after: None,
            fetched: false,
        });
        let s = size_of::<String>();
        let expected = "example.com".len() + (4 * s + 2) + (4 + 4 + 2 * s + 1 + 2);
        assert_eq!(record_heap_bytes(&rec), expected);
    }

    #[test]
    fn http_counts_strings_and_headers() {
        let mut rec = testutil::http(1, "GET", "example.com", "/index.html");
        let podwire_record::Body::Http(h) = &mut rec.body else {
            unreachable!()
        };
        h.request_headers = Some(vec![("Host".to_string(), "example.com".to_string())]);
        let pair = size_of::<(String, String)>();
        // The version is a borrowed constant: nothing on the heap.
        let expected = 3 + 11 + 11 + pair + 4 + 11;
        assert_eq!(record_heap_bytes(&rec), expected);
        // An owned one counts.
        if let podwire_record::Body::Http(h) = &mut rec.body {
            h.version = String::from("HTTP/1.1").into();
        }
        assert_eq!(record_heap_bytes(&rec), expected + "HTTP/1.1".len());
    }

    #[test]
    fn dns_counts_answers() {
        let mut rec = testutil::dns(1, "example.com");
        let podwire_record::Body::Dns(d) = &mut rec.body else {
            unreachable!()
        };
        d.answers = vec![DnsAnswer {
            name: "example.com".to_string(),
            rtype: "A".to_string(),
            ttl: 60,
            data: "93.184.216.34".to_string(),
        }];
        let expected = 11 + 1 + "NOERROR".len() + size_of::<DnsAnswer>() + 11 + 1 + 13;
        assert_eq!(record_heap_bytes(&rec), expected);
    }
}
