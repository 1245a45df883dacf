//! The API served from a small fake [`Backend`] (a real store with a few
//! records and a fixed clock), over a real loopback socket, without root:
//! what the HTTP half does is the same whoever holds the records.

use axum::http::{HeaderMap, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use podwire_api::listen::ListenAddr;
use podwire_api::listener::{ApiListener, ClientAddr};
use podwire_api::{Api, ApiAuth, ApiConfig, Backend, NoOwn, ServeConfig};
use podwire_record::{
    Body, Close, Connection, DirectionStats, Endpoint, Record, Timestamp, Transport,
};
use podwire_store::{Cursor, Filter, Store, StoreConfig, Table};
use podwire_telemetry::Snapshot;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;

const SEC: u64 = 1_000_000_000;
/// 2023-11-14T22:13:20Z.
const BASE: u64 = 1_700_000_000 * SEC;

/// A one-second TCP connection to `10.0.0.<server>:80` starting `secs`
/// after the base time.
fn conn(secs: u64, server: u8) -> Record {
    let start = Timestamp(BASE + secs * SEC);
    Record::new(
        start,
        Endpoint::new([10, 1, 0, 1].into(), 40000),
        Endpoint::new([10, 0, 0, server].into(), 80),
        Body::Connection(Connection {
            proto: Transport::Tcp,
            first_seen: start,
            last_seen: Timestamp(start.0 + SEC),
            duration_ms: 1000.0,
            close: Close::Fin,
            handshake_rtt_ms: None,
            retransmits: 0,
            client_to_server: DirectionStats::default(),
            server_to_client: DirectionStats::default(),
            handshake_seen: true,
            kernel: None,
        }),
    )
}

/// Records in a store, "now" fixed, a stream that says what it was sent.
struct Fake {
    store: Mutex<Store>,
    now: Timestamp,
    stream: broadcast::Sender<Arc<Record>>,
    lagged: AtomicU64,
}

impl Fake {
    fn new(records: Vec<Record>, now_secs: u64) -> Fake {
        let mut store = Store::new(StoreConfig::default()).expect("store");
        for r in records {
            store.insert(r);
        }
        Fake {
            store: Mutex::new(store),
            now: Timestamp(BASE + now_secs * SEC),
            stream: broadcast::channel(16).0,
            lagged: AtomicU64::new(0),
        }
    }
}

impl Backend for Fake {
    fn now(&self) -> Timestamp {
        self.now
    }

    fn query(&self, table: Table, filter: &Filter) -> (Vec<u8>, Option<Cursor>) {
        let mut out = Vec::new();
        let store = podwire_api::lock(&self.store);
        let (_, next) = store.write_json_page(table, filter, &[], &mut out);
        (out, next)
    }

    fn each_connection(&self, filter: &Filter, each: &mut dyn FnMut(&Record)) {
        self.each_stored(Table::Connection, filter, each)
    }

    fn each_stored(&self, table: Table, filter: &Filter, each: &mut dyn FnMut(&Record)) {
        for r in podwire_api::lock(&self.store).records(table) {
            if filter.matches(r) {
                each(r);
            }
        }
    }

    fn subscribe(&self) -> broadcast::Receiver<Arc<Record>> {
        self.stream.subscribe()
    }

    fn stream_lagged(&self, missed: u64) {
        self.lagged.fetch_add(missed, Ordering::Relaxed);
    }

    fn metrics(&self, api: Snapshot) -> String {
        let mut text = String::new();
        api.write_openmetrics(&mut text);
        text + "# EOF\n"
    }

    fn status(&self, auth: &'static str, api: Snapshot) -> serde_json::Value {
        let mut doc = serde_json::json!({ "mode": "fake", "api": { "auth": auth } });
        podwire_telemetry::merge_json(&mut doc, api.status_json());
        doc
    }
}

/// Serves `api` on a loopback port of its own; the server ends with the
/// test's runtime.
async fn start(api: Api) -> SocketAddr {
    let listen: ListenAddr = "127.0.0.1:0".parse().expect("listen address");
    let listener = ApiListener::bind(&listen, None, Arc::clone(&api.listener), Arc::new(NoOwn))
        .await
        .expect("bind");
    let addr = axum::serve::Listener::local_addr(&listener).expect("address");
    let app =
        podwire_api::router(Arc::new(api)).into_make_service_with_connect_info::<ClientAddr>();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

fn open_api(fake: Fake) -> Api {
    Api::new(Arc::new(fake), &ServeConfig::default(), Arc::new(NoOwn))
}

/// `GET path` with `headers`: status, headers, body.
async fn get(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
) -> (StatusCode, HeaderMap, String) {
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(conn);
    let mut req = hyper::Request::get(path).header("host", addr.to_string());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = sender
        .send_request(req.body(Empty::<Bytes>::new()).expect("request"))
        .await
        .expect("response");
    let (parts, body) = resp.into_parts();
    let body = body.collect().await.expect("body").to_bytes();
    (
        parts.status,
        parts.headers,
        String::from_utf8_lossy(&body).into_owned(),
    )
}

fn servers(body: &str) -> Vec<String> {
    let v: Vec<serde_json::Value> = serde_json::from_str(body).expect("a JSON array");
    v.iter()
        .map(|r| r["server"]["ip"].as_str().unwrap_or("").to_string())
        .collect()
}

#[tokio::test]
async fn records_come_from_the_backend_newest_first_in_pages() {
    let addr = start(open_api(Fake::new(
        vec![conn(1, 1), conn(2, 2), conn(3, 3)],
        10,
    )))
    .await;
    let (status, headers, body) = get(addr, "/api/v1/connections?limit=2", &[]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(servers(&body), ["10.0.0.3", "10.0.0.2"]);
    let next = headers
        .get("x-podwire-next-cursor")
        .and_then(|v| v.to_str().ok())
        .expect("a next-page cursor");
    let (_, headers, body) = get(
        addr,
        &format!("/api/v1/connections?limit=2&after={next}"),
        &[],
    )
    .await;
    assert_eq!(servers(&body), ["10.0.0.1"]);
    assert!(headers.get("x-podwire-next-cursor").is_none());
}

#[tokio::test]
async fn relative_times_count_back_from_the_backends_clock() {
    // "Now" is 100 s after the base: the last 10 s hold only the newest.
    let addr = start(open_api(Fake::new(vec![conn(1, 1), conn(95, 2)], 100))).await;
    let (status, _, body) = get(addr, "/api/v1/connections?since=10s", &[]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(servers(&body), ["10.0.0.2"]);
    let (_, _, graph) = get(addr, "/api/v1/graph?level=ip&since=10s", &[]).await;
    let g: serde_json::Value = serde_json::from_str(&graph).expect("graph JSON");
    let edges = g["edges"].as_array().expect("edges");
    assert_eq!(edges.len(), 1, "{graph}");
}

#[tokio::test]
async fn a_backend_without_captures_says_so() {
    let addr = start(open_api(Fake::new(Vec::new(), 0))).await;
    let (status, headers, body) = get(addr, "/api/v1/capture?pod=a/b", &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(headers["content-type"], "application/json");
    let v: serde_json::Value = serde_json::from_str(&body).expect("JSON error");
    assert_eq!(v["error"], "this server does not capture packets");
}

#[tokio::test]
async fn reads_need_a_token_from_the_file_and_refusals_reach_the_backends_figures() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("tokens");
    std::fs::write(&file, "s3cret reader\n").expect("token file");
    let cfg = ApiConfig {
        auth: ApiAuth::TokenFile(file),
        ..ApiConfig::default()
    };
    let mut api = open_api(Fake::new(vec![conn(1, 1)], 10));
    api.access = podwire_api::access::from_config(&cfg, None);
    let addr = start(api).await;

    let (status, headers, _) = get(addr, "/api/v1/connections", &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(headers["www-authenticate"], "Bearer realm=\"podwire\"");
    let (status, _, _) = get(addr, "/api/v1/connections", &[("x-podwire-token", "wrong")]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, body) = get(
        addr,
        "/api/v1/connections",
        &[("authorization", "Bearer s3cret")],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(servers(&body), ["10.0.0.1"]);
    // Open routes stay open.
    let (status, _, body) = get(addr, "/healthz", &[]).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "ok\n"));

    // The API's own part is handed to the backend's documents.
    let (_, _, status_doc) = get(addr, "/api/v1/status", &[("x-podwire-token", "s3cret")]).await;
    let doc: serde_json::Value = serde_json::from_str(&status_doc).expect("status JSON");
    assert_eq!(doc["mode"], "fake");
    assert_eq!(doc["api"]["auth"], "token-file", "{doc}");
    assert_eq!(doc["api"]["access"]["unauthenticated"], 2, "{doc}");
    let (_, _, metrics) = get(addr, "/metrics", &[("x-podwire-token", "s3cret")]).await;
    assert!(
        metrics.contains("podwire_api_requests_refused_total{reason=\"unauthenticated\"} 2"),
        "{metrics}"
    );
}

#[tokio::test]
async fn the_stream_sends_what_the_backend_publishes() {
    let fake = Arc::new(Fake::new(Vec::new(), 0));
    let api = Api::new(
        Arc::clone(&fake) as Arc<dyn Backend>,
        &ServeConfig::default(),
        Arc::new(NoOwn),
    );
    let addr = start(api).await;
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(connection);
    let req = hyper::Request::get("/api/v1/stream?table=connection")
        .header("host", addr.to_string())
        .body(Empty::<Bytes>::new())
        .expect("request");
    let resp = sender.send_request(req).await.expect("response");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(fake.stream.receiver_count(), 1, "the stream subscribed");
    fake.stream.send(Arc::new(conn(5, 7))).expect("a listener");
    let mut body = resp.into_body();
    let mut text = String::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    while !text.contains("\n\n") {
        let frame = tokio::time::timeout_at(deadline, body.frame())
            .await
            .expect("an event within 5 s")
            .expect("the stream goes on")
            .expect("a frame");
        if let Some(data) = frame.data_ref() {
            text.push_str(&String::from_utf8_lossy(data));
        }
    }
    assert!(text.starts_with("event: connection\n"), "{text}");
    assert!(text.contains("\"10.0.0.7\""), "{text}");
}
