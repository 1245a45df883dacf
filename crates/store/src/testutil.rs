//! Small records for the unit tests: a client 10.1.0.1:40000 talking to a
//! server, at `secs` seconds after a fixed base time.

use podwire_record::{
    Body, Close, Connection, DirectionStats, Dns, DnsTransport, Endpoint, Http, Identity, Record,
    Timestamp, Tls, Transport,
};

/// 2023-11-14T22:13:20Z.
pub const BASE_SECS: u64 = 1_700_000_000;

/// `secs` seconds after the base time.
pub fn at(secs: u64) -> Timestamp {
    Timestamp::from_parts(BASE_SECS + secs, 0)
}

pub fn ep(ip: &str, port: u16) -> Endpoint {
    Endpoint::new(ip.parse().expect("test address"), port)
}

fn record(secs: u64, server: Endpoint, body: Body) -> Record {
    Record::new(at(secs), ep("10.1.0.1", 40000), server, body)
}

/// A closed TCP connection to `server_ip:port`, active for 10 s from `secs`.
pub fn conn(secs: u64, server_ip: &str, port: u16) -> Record {
    record(
        secs,
        ep(server_ip, port),
        Body::Connection(Connection {
            proto: Transport::Tcp,
            first_seen: at(secs),
            last_seen: at(secs + 10),
            duration_ms: 10_000.0,
            close: Close::Fin,
            handshake_rtt_ms: Some(0.25),
            retransmits: 0,
            client_to_server: DirectionStats::default(),
            server_to_client: DirectionStats::default(),
            handshake_seen: true,
            kernel: None,
        }),
    )
}

pub fn tls(secs: u64, sni: &str) -> Record {
    record(
        secs,
        ep("10.2.0.1", 443),
        Body::Tls(Tls {
            sni: Some(sni.to_string()),
            ..Tls::default()
        }),
    )
}

pub fn http(secs: u64, method: &str, host: &str, path: &str) -> Record {
    record(
        secs,
        ep("10.2.0.2", 80),
        Body::Http(Http {
            method: Some(method.to_string()),
            host: Some(host.to_string()),
            path: Some(path.to_string()),
            version: "HTTP/1.1".into(),
            status: Some(200),
            latency_ms: Some(1.0),
            ..Http::default()
        }),
    )
}

pub fn dns(secs: u64, name: &str) -> Record {
    record(
        secs,
        ep("10.2.0.3", 53),
        Body::Dns(Dns {
            transport: DnsTransport::Udp,
            id: 1,
            name: name.to_string(),
            qtype: "A".to_string(),
            rcode: Some("NOERROR".to_string()),
            answers: Vec::new(),
            latency_ms: Some(0.5),
        }),
    )
}

/// `rec` with a Kubernetes identity on its client or server side.
pub fn with_pod(mut rec: Record, server_side: bool, namespace: &str, pod: &str) -> Record {
    let side = if server_side {
        &mut rec.server
    } else {
        &mut rec.client
    };
    let id = side.identity.get_or_insert_with(Box::default);
    id.namespace = Some(namespace.to_string());
    id.pod = Some(pod.to_string());
    rec
}

/// `rec` with `identity` on its client or server side.
pub fn with_identity(mut rec: Record, server_side: bool, identity: Identity) -> Record {
    let side = if server_side {
        &mut rec.server
    } else {
        &mut rec.client
    };
    side.identity = Some(Box::new(identity));
    rec
}
