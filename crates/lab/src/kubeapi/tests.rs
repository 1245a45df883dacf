//! The fake driven over real TCP with raw HTTP, the way kube-rs's client
//! talks to it.

use super::*;
use crate::http;
use serde_json::{json, Value};
use std::io::{ErrorKind, Read, Write};
use std::time::Instant;

pub(super) fn pod(ns: &str, name: &str, node: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "labels": {"app": name}},
        "spec": {"nodeName": node, "containers": [{"name": "c", "image": "i"}]},
        "status": {"phase": "Running"},
    })
}

fn node(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}})
}

fn get_json(server: &FakeApiServer, path: &str) -> (u16, Value) {
    let (code, body) = http::get(server.addr(), path).unwrap();
    let value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
    (code, value)
}

fn names(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["metadata"]["name"].as_str().unwrap().to_string())
        .collect()
}

/// Waits (briefly) for `cond`: stats are counted just after the writes a
/// client may already have read.
fn eventually(cond: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(1);
    while !cond() {
        assert!(Instant::now() < deadline, "condition not reached in 1 s");
        thread::sleep(Duration::from_millis(5));
    }
}

/// A raw HTTP/1.1 client connection.
pub(super) struct Raw {
    pub(super) stream: TcpStream,
    buf: Vec<u8>,
}

impl Raw {
    pub(super) fn connect(server: &FakeApiServer) -> Raw {
        let stream = TcpStream::connect(server.addr()).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(3)))
            .unwrap();
        Raw {
            stream,
            buf: Vec::new(),
        }
    }

    pub(super) fn send(&mut self, path: &str, headers: &str) {
        let req = format!("GET {path} HTTP/1.1\r\nHost: fake\r\n{headers}\r\n");
        self.stream.write_all(req.as_bytes()).unwrap();
    }

    /// More bytes; 0 at end of stream.
    pub(super) fn fill(&mut self) -> io::Result<usize> {
        let mut chunk = [0u8; 4096];
        let n = self.stream.read(&mut chunk)?;
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n)
    }

    /// Up to and without `delim`, consumed.
    pub(super) fn until(&mut self, delim: &[u8]) -> io::Result<Vec<u8>> {
        loop {
            if let Some(at) = self.buf.windows(delim.len()).position(|w| w == delim) {
                let out = self.buf[..at].to_vec();
                self.buf.drain(..at + delim.len());
                return Ok(out);
            }
            if self.fill()? == 0 {
                return Err(io::Error::new(ErrorKind::UnexpectedEof, "closed"));
            }
        }
    }

    pub(super) fn exactly(&mut self, n: usize) -> io::Result<Vec<u8>> {
        while self.buf.len() < n {
            if self.fill()? == 0 {
                return Err(io::Error::new(ErrorKind::UnexpectedEof, "closed"));
            }
        }
        Ok(self.buf.drain(..n).collect())
    }

    /// The status code and head of the next response.
    pub(super) fn head(&mut self) -> (u16, String) {
        let head = String::from_utf8(self.until(b"\r\n\r\n").unwrap()).unwrap();
        let code = head.split(' ').nth(1).unwrap().parse().unwrap();
        (code, head)
    }

    /// A sized response's code and JSON body.
    pub(super) fn response(&mut self) -> (u16, Value) {
        let (code, head) = self.head();
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Length: "))
            .unwrap()
            .parse()
            .unwrap();
        let body = self.exactly(len).unwrap();
        (code, serde_json::from_slice(&body).unwrap())
    }

    /// The next chunk; `None` for the terminating one.
    pub(super) fn chunk(&mut self) -> io::Result<Option<Vec<u8>>> {
        let size = String::from_utf8(self.until(b"\r\n")?).unwrap();
        let size = usize::from_str_radix(&size, 16).unwrap();
        let data = self.exactly(size + 2)?;
        assert_eq!(&data[size..], b"\r\n");
        Ok((size > 0).then(|| data[..size].to_vec()))
    }

    /// Starts a watch and checks the streaming head.
    pub(super) fn watch(server: &FakeApiServer, path: &str, headers: &str) -> Raw {
        let mut raw = Raw::connect(server);
        raw.send(path, headers);
        let (code, head) = raw.head();
        assert_eq!(code, 200, "{head}");
        assert!(head.contains("Transfer-Encoding: chunked"), "{head}");
        assert!(head.contains("Content-Type: application/json"), "{head}");
        raw
    }

    /// The next watch event (each is one chunk ending in a newline).
    pub(super) fn event(&mut self) -> Value {
        let data = self.chunk().unwrap().expect("an event, not the end");
        assert_eq!(data.last(), Some(&b'\n'));
        serde_json::from_slice(&data).unwrap()
    }

    /// The next event that is not a bookmark.
    pub(super) fn change(&mut self) -> (String, Value) {
        loop {
            let e = self.event();
            if e["type"] != "BOOKMARK" {
                return (e["type"].as_str().unwrap().to_string(), e["object"].clone());
            }
        }
    }
}

#[test]
fn list_pages_are_one_consistent_snapshot() {
    let server = FakeApiServer::start().unwrap();
    for i in 1..=5 {
        server.apply(pod("a", &format!("p{i}"), "n1"));
    }
    let rv = server.resource_version();
    let (code, first) = get_json(&server, "/api/v1/namespaces/a/pods?limit=2");
    assert_eq!(code, 200);
    assert_eq!(first["kind"], "PodList");
    assert_eq!(first["apiVersion"], "v1");
    assert_eq!(first["metadata"]["resourceVersion"], rv.to_string());
    assert_eq!(first["metadata"]["remainingItemCount"], 3);
    assert_eq!(names(&first), ["p1", "p2"]);
    assert!(
        first["items"][0].get("kind").is_none(),
        "items carry no kind"
    );
    assert_eq!(first["items"][0]["metadata"]["namespace"], "a");

    // Changes between pages do not show in the snapshot.
    server.apply(pod("a", "p0", "n1"));
    server.delete("v1", "Pod", Some("a"), "p4").unwrap();
    server.apply(pod("a", "p3", "n2"));
    let token = first["metadata"]["continue"].as_str().unwrap();
    let (_, second) = get_json(&server, &format!("/api/v1/pods?limit=2&continue={token}"));
    assert_eq!(names(&second), ["p3", "p4"]);
    assert_eq!(second["items"][0]["spec"]["nodeName"], "n1");
    assert_eq!(second["metadata"]["resourceVersion"], rv.to_string());
    let token = second["metadata"]["continue"].as_str().unwrap();
    let (_, third) = get_json(&server, &format!("/api/v1/pods?limit=2&continue={token}"));
    assert_eq!(names(&third), ["p5"]);
    assert!(third["metadata"].get("continue").is_none());

    let (_, now) = get_json(&server, "/api/v1/pods");
    assert_eq!(names(&now), ["p0", "p1", "p2", "p3", "p5"]);
    assert_eq!(now["metadata"]["resourceVersion"], (rv + 3).to_string());
    let (_, exact) = get_json(
        &server,
        &format!("/api/v1/pods?resourceVersion={rv}&resourceVersionMatch=Exact"),
    );
    assert_eq!(names(&exact), ["p1", "p2", "p3", "p4", "p5"]);
    let (code, bad) = get_json(
        &server,
        &format!("/api/v1/pods?resourceVersion={rv}&continue={token}"),
    );
    assert_eq!((code, bad["reason"].as_str()), (400, Some("BadRequest")));
}

#[test]
fn gets_versions_and_errors_are_api_shaped() {
    let server = FakeApiServer::start().unwrap();
    let rv = server.apply(json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop"},
    }));
    let (code, dep) = get_json(&server, "/apis/apps/v1/namespaces/shop/deployments/web");
    assert_eq!(code, 200);
    assert_eq!(dep["kind"], "Deployment");
    assert_eq!(dep["metadata"]["resourceVersion"], rv.to_string());
    assert!(dep["metadata"]["uid"]
        .as_str()
        .is_some_and(|u| u.len() == 36));
    let created = dep["metadata"]["creationTimestamp"].as_str().unwrap();
    assert!(created.ends_with('Z') && created.len() == 20, "{created}");
    assert_eq!(
        server.get("apps/v1", "Deployment", Some("shop"), "web"),
        Some(dep)
    );

    let (code, missing) = get_json(&server, "/apis/apps/v1/namespaces/shop/deployments/nope");
    assert_eq!(code, 404);
    assert_eq!(missing["kind"], "Status");
    assert_eq!(missing["reason"], "NotFound");
    let (code, unknown) = get_json(&server, "/api/v1/secrets");
    assert_eq!((code, unknown["code"].as_u64()), (404, Some(404)));
    let (code, version) = get_json(&server, "/version");
    assert_eq!(code, 200);
    assert_eq!(version["major"], "1");
    let (_, list) = get_json(&server, "/apis/apps/v1/deployments");
    assert_eq!(list["kind"], "DeploymentList");
    assert_eq!(list["apiVersion"], "apps/v1");
    let (code, bad) = get_json(&server, "/api/v1/pods?fieldSelector=spec.bogus%3D1");
    assert_eq!(code, 400, "{bad}");
    assert_eq!(server.stats().gets, 2);
}

#[test]
fn watch_from_a_resource_version_replays_later_events_in_order() {
    let server = FakeApiServer::start().unwrap();
    server.apply(pod("a", "x", "n1"));
    let from = server.apply(pod("a", "y", "n1"));
    let modified = server.apply(pod("a", "x", "n2"));
    server.apply(node("n2"));
    let deleted = server.delete("v1", "Pod", Some("a"), "y").unwrap();
    let mut w = Raw::watch(
        &server,
        &format!("/api/v1/namespaces/a/pods?watch=true&resourceVersion={from}&timeoutSeconds=5"),
        "",
    );
    let (kind, obj) = w.change();
    assert_eq!(
        (kind.as_str(), &obj["metadata"]["name"]),
        ("MODIFIED", &json!("x"))
    );
    assert_eq!(obj["metadata"]["resourceVersion"], modified.to_string());
    assert_eq!(obj["kind"], "Pod");
    let (kind, obj) = w.change();
    assert_eq!(
        (kind.as_str(), &obj["metadata"]["name"]),
        ("DELETED", &json!("y"))
    );
    assert_eq!(obj["metadata"]["resourceVersion"], deleted.to_string());
    assert_eq!(obj["spec"]["nodeName"], "n1", "the last state");

    server.apply(pod("b", "elsewhere", "n1"));
    let live = server.apply(pod("a", "z", "n1"));
    let (kind, obj) = w.change();
    assert_eq!(
        (kind.as_str(), &obj["metadata"]["name"]),
        ("ADDED", &json!("z"))
    );
    assert_eq!(obj["metadata"]["resourceVersion"], live.to_string());
    // Counted just after the write the client has already read.
    eventually(|| server.stats().events_sent == 3);
}

#[test]
fn watch_from_zero_starts_with_the_current_objects() {
    let server = FakeApiServer::start().unwrap();
    server.apply(pod("a", "p2", "n1"));
    server.apply(pod("b", "p1", "n1"));
    server.apply(pod("a", "p1", "n1"));
    let mut w = Raw::watch(&server, "/api/v1/pods?watch=1&resourceVersion=0", "");
    let mut added = Vec::new();
    for _ in 0..3 {
        let (kind, obj) = w.change();
        assert_eq!(kind, "ADDED");
        added.push(format!(
            "{}/{}",
            obj["metadata"]["namespace"], obj["metadata"]["name"]
        ));
    }
    assert_eq!(added, [r#""a"/"p1""#, r#""a"/"p2""#, r#""b"/"p1""#]);
    server.delete("v1", "Pod", Some("b"), "p1");
    assert_eq!(w.change().0, "DELETED");
}

#[test]
fn bookmarks_carry_the_current_resource_version() {
    let server = FakeApiServer::start().unwrap();
    server.set_bookmark_interval(Duration::from_millis(100));
    let rv = server.apply(node("n1"));
    let mut w = Raw::watch(
        &server,
        &format!("/api/v1/nodes?watch=true&resourceVersion={rv}&allowWatchBookmarks=true"),
        "",
    );
    let started = Instant::now();
    let bookmark = w.event();
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(bookmark["type"], "BOOKMARK");
    assert_eq!(
        bookmark["object"],
        json!({"kind": "Node", "apiVersion": "v1", "metadata": {"resourceVersion": rv.to_string()}})
    );
    let service = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}});
    let later = server.apply(service).to_string();
    loop {
        let e = w.event();
        assert_eq!(e["type"], "BOOKMARK", "services are not nodes");
        if e["object"]["metadata"]["resourceVersion"] == later.as_str() {
            break;
        }
    }
    eventually(|| server.stats().bookmarks_sent >= 2);
}

#[test]
fn compaction_answers_410_to_old_watches_and_continue_tokens() {
    let server = FakeApiServer::start().unwrap();
    let old = server.apply(pod("a", "p1", "n1"));
    server.apply(pod("a", "p2", "n1"));
    let (_, page) = get_json(&server, "/api/v1/pods?limit=1");
    let token = page["metadata"]["continue"].as_str().unwrap().to_string();
    server.apply(pod("a", "p3", "n1"));
    server.compact();

    let mut w = Raw::watch(
        &server,
        &format!("/api/v1/pods?watch=true&resourceVersion={old}"),
        "",
    );
    let error = w.event();
    assert_eq!(error["type"], "ERROR");
    assert_eq!(error["object"]["kind"], "Status");
    assert_eq!(error["object"]["code"], 410);
    assert_eq!(error["object"]["reason"], "Expired");
    let message = error["object"]["message"].as_str().unwrap();
    assert!(
        message.starts_with(&format!("too old resource version: {old} (")),
        "{message}"
    );
    assert_eq!(w.chunk().unwrap(), None, "then a clean end");

    let (code, gone) = get_json(&server, &format!("/api/v1/pods?limit=1&continue={token}"));
    assert_eq!(code, 410);
    assert_eq!(gone["reason"], "Expired");
    assert!(gone["message"]
        .as_str()
        .unwrap()
        .contains("continue parameter is too old"));
    let (code, _) = get_json(
        &server,
        &format!("/api/v1/pods?resourceVersion={old}&resourceVersionMatch=Exact"),
    );
    assert_eq!(code, 410);
    eventually(|| server.stats().gone_410 == 3);

    // The current resourceVersion is still a fine place to watch from.
    let now = server.resource_version();
    let mut w = Raw::watch(
        &server,
        &format!("/api/v1/pods?watch=true&resourceVersion={now}"),
        "",
    );
    server.apply(pod("a", "p4", "n1"));
    assert_eq!(w.change().0, "ADDED");
}

#[test]
fn history_beyond_its_limit_is_compacted() {
    let server = FakeApiServer::start().unwrap();
    server.set_history_limit(3);
    let first = server.apply(pod("a", "p0", "n1"));
    for i in 1..5 {
        server.apply(pod("a", &format!("p{i}"), "n1"));
    }
    let mut w = Raw::watch(
        &server,
        &format!("/api/v1/pods?watch=true&resourceVersion={first}"),
        "",
    );
    assert_eq!(w.event()["object"]["code"], 410);
    let mut w = Raw::watch(
        &server,
        &format!("/api/v1/pods?watch=true&resourceVersion={}", first + 1),
        "",
    );
    assert_eq!(w.change().1["metadata"]["name"], "p2");
}

#[test]
fn selectors_filter_lists_and_turn_watch_updates_into_adds_and_deletes() {
    let server = FakeApiServer::start().unwrap();
    server.apply(pod("a", "p1", "n1"));
    server.apply(pod("a", "p2", "n2"));
    server.apply(pod("b", "p3", "n1"));
    let (_, on_n1) = get_json(&server, "/api/v1/pods?fieldSelector=spec.nodeName%3Dn1");
    assert_eq!(names(&on_n1), ["p1", "p3"]);
    assert!(on_n1["metadata"].get("remainingItemCount").is_none());
    let (_, off_n1) = get_json(
        &server,
        "/api/v1/pods?fieldSelector=spec.nodeName!%3Dn1,metadata.namespace%3Da",
    );
    assert_eq!(names(&off_n1), ["p2"]);
    let (_, by_label) = get_json(&server, "/api/v1/pods?labelSelector=app%3Dp3");
    assert_eq!(names(&by_label), ["p3"]);
    let (_, has_label) = get_json(&server, "/api/v1/pods?labelSelector=app");
    assert_eq!(names(&has_label).len(), 3);
    let (_, not_label) = get_json(&server, "/api/v1/pods?labelSelector=app!%3Dp1");
    assert_eq!(names(&not_label), ["p2", "p3"]);

    let rv = server.resource_version();
    let mut w = Raw::watch(
        &server,
        &format!("/api/v1/pods?watch=true&resourceVersion={rv}&fieldSelector=spec.nodeName%3Dn1"),
        "",
    );
    let moved = server.apply(pod("a", "p1", "n2"));
    server.apply(pod("a", "p2", "n3")); // never on n1: nothing
    server.apply(pod("a", "p2", "n1"));
    let (kind, obj) = w.change();
    assert_eq!(kind, "DELETED");
    assert_eq!(obj["metadata"]["name"], "p1");
    assert_eq!(obj["spec"]["nodeName"], "n1", "the state that matched");
    assert_eq!(obj["metadata"]["resourceVersion"], moved.to_string());
    let (kind, obj) = w.change();
    assert_eq!(
        (kind.as_str(), &obj["metadata"]["name"]),
        ("ADDED", &json!("p2"))
    );
    let mut running = pod("a", "p2", "n1");
    running["status"]["phase"] = json!("Succeeded");
    server.apply(running);
    assert_eq!(w.change().0, "MODIFIED");
    assert!(server
        .requests()
        .iter()
        .any(|r| r.contains("fieldSelector=spec.nodeName%3Dn1")));
}

#[test]
fn metadata_only_lists_gets_and_watches() {
    let server = FakeApiServer::start().unwrap();
    server.apply(pod("a", "p1", "n1"));
    // What kube-rs's metadata list sends (with the v1beta1 variant too).
    let accept = "Accept: application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,\
                  application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1beta1,\
                  application/json\r\n";
    let mut raw = Raw::connect(&server);
    raw.send("/api/v1/pods", accept);
    let (code, list) = raw.response();
    assert_eq!(code, 200);
    assert_eq!(list["apiVersion"], "meta.k8s.io/v1");
    assert_eq!(list["kind"], "PartialObjectMetadataList");
    assert_eq!(
        list["metadata"]["resourceVersion"],
        server.resource_version().to_string()
    );
    let item = &list["items"][0];
    assert_eq!(item["kind"], "PartialObjectMetadata");
    assert_eq!(item["apiVersion"], "meta.k8s.io/v1");
    assert_eq!(item["metadata"]["labels"]["app"], "p1");
    assert!(item.get("spec").is_none());

    let one =
        "Accept: application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json\r\n";
    raw.send("/api/v1/namespaces/a/pods/p1", one);
    let (_, got) = raw.response();
    assert_eq!(got["kind"], "PartialObjectMetadata");
    assert!(got.get("status").is_none());

    let mut w = Raw::watch(
        &server,
        "/api/v1/pods?watch=true&resourceVersion=0&allowWatchBookmarks=true",
        one,
    );
    let (kind, obj) = w.change();
    assert_eq!(kind, "ADDED");
    assert_eq!(obj["kind"], "PartialObjectMetadata");
    assert!(obj.get("spec").is_none());
}

#[test]
fn drop_connections_cuts_open_watches_and_idle_connections() {
    let server = FakeApiServer::start().unwrap();
    server.apply(pod("a", "p1", "n1"));
    let mut w = Raw::watch(&server, "/api/v1/pods?watch=true", "");
    assert_eq!(w.change().0, "ADDED");
    let mut idle = Raw::connect(&server);
    idle.send("/version", "");
    assert_eq!(idle.response().0, 200);

    server.drop_connections();
    let err = w.chunk().expect_err("cut without the terminating chunk");
    assert_ne!(
        err.kind(),
        ErrorKind::WouldBlock,
        "cut at once, not timed out"
    );
    assert_eq!(idle.fill().unwrap_or(0), 0, "idle keep-alive closed");

    // New connections work.
    assert_eq!(http::get(server.addr(), "/version").unwrap().0, 200);
}

#[test]
fn timeout_seconds_ends_a_watch_cleanly_and_the_connection_lives_on() {
    let server = FakeApiServer::start().unwrap();
    let started = Instant::now();
    let mut w = Raw::watch(&server, "/api/v1/services?watch=true&timeoutSeconds=1", "");
    assert_eq!(w.chunk().unwrap(), None);
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_millis(2500),
        "{took:?}"
    );
    w.send("/api/v1/services", "");
    let (code, list) = w.response();
    assert_eq!((code, list["kind"].as_str()), (200, Some("ServiceList")));
}

#[test]
fn keep_alive_serves_many_requests_on_one_connection() {
    let server = FakeApiServer::start().unwrap();
    server.apply(pod("a", "p1", "n1"));
    let mut raw = Raw::connect(&server);
    raw.send("/api/v1/pods", "Authorization: Bearer anything\r\n");
    let (code, first) = raw.response();
    assert_eq!(code, 200);
    raw.send("/apis/batch/v1/namespaces/a/jobs", "");
    let (code, second) = raw.response();
    assert_eq!(code, 200);
    assert_eq!(names(&first), ["p1"]);
    assert_eq!(second["kind"], "JobList");
    let stats = server.stats();
    assert_eq!(stats.lists, 2);
    assert_eq!(stats.per_resource.get("jobs"), Some(&1));
    assert!(stats.bytes_received > 0 && stats.bytes_sent > 0);
    assert_eq!(
        server.requests(),
        ["GET /api/v1/pods", "GET /apis/batch/v1/namespaces/a/jobs"]
    );
    server.reset_stats();
    assert_eq!(server.stats().lists, 0);
}

#[test]
fn bad_requests_get_400_and_other_methods_405() {
    let server = FakeApiServer::start().unwrap();
    let mut raw = Raw::connect(&server);
    raw.stream.write_all(b"GARBAGE\r\n\r\n").unwrap();
    let (code, body) = raw.response();
    assert_eq!((code, body["reason"].as_str()), (400, Some("BadRequest")));
    assert_eq!(raw.fill().unwrap_or(0), 0, "then closed");

    let mut raw = Raw::connect(&server);
    raw.stream
        .write_all(b"DELETE /api/v1/namespaces/a/pods/p HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}")
        .unwrap();
    assert_eq!(raw.response().0, 405);
    raw.send("/api/v1/pods?limit=x", "");
    assert_eq!(raw.response().0, 400);
    raw.send("/api/v1/pods?watch=true&resourceVersion=abc", "");
    assert_eq!(raw.response().0, 400);
}

#[test]
fn unavailable_servers_refuse_then_recover() {
    let server = FakeApiServer::start().unwrap();
    let mut w = Raw::watch(&server, "/api/v1/pods?watch=true", "");
    server.set_unavailable(true);
    assert!(w.chunk().is_err(), "open watch cut");
    let mut raw = Raw::connect(&server);
    raw.send("/version", "");
    assert_eq!(raw.fill().unwrap_or(0), 0, "closed at once");
    server.set_unavailable(false);
    assert_eq!(http::get(server.addr(), "/version").unwrap().0, 200);
}

#[test]
fn tokens_and_kubeconfig() {
    let server = FakeApiServer::start().unwrap();
    server.require_token(Some("s3cret"));
    let mut raw = Raw::connect(&server);
    raw.send("/api/v1/pods", "Authorization: Bearer wrong\r\n");
    assert_eq!(raw.response().0, 401);
    raw.send("/api/v1/pods", "Authorization: Bearer s3cret\r\n");
    assert_eq!(raw.response().0, 200);

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kubeconfig");
    server.write_kubeconfig(&path).unwrap();
    let config = std::fs::read_to_string(&path).unwrap();
    assert!(
        config.contains(&format!("server: {}", server.url())),
        "{config}"
    );
    assert!(config.contains("token: \"s3cret\""), "{config}");
    assert!(config.contains("current-context: podwire-lab"), "{config}");
    assert!(config.contains("namespace: default"), "{config}");
}

#[test]
fn send_initial_events_ends_with_a_marked_bookmark() {
    let server = FakeApiServer::start().unwrap();
    server.apply(pod("a", "p1", "n1"));
    let rv = server.resource_version();
    let mut w = Raw::watch(
        &server,
        "/api/v1/pods?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan\
         &allowWatchBookmarks=true",
        "",
    );
    assert_eq!(w.event()["type"], "ADDED");
    let end = w.event();
    assert_eq!(end["type"], "BOOKMARK");
    assert_eq!(end["object"]["metadata"]["resourceVersion"], rv.to_string());
    assert_eq!(
        end["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"],
        "true"
    );
}

#[test]
fn resource_versions_from_the_future_time_out_like_a_real_server() {
    let server = FakeApiServer::start().unwrap();
    let future = server.resource_version() + 10;
    for path in [
        format!("/api/v1/pods?watch=true&resourceVersion={future}"),
        format!("/api/v1/pods?resourceVersion={future}"),
        format!("/api/v1/pods?resourceVersion={future}&resourceVersionMatch=Exact"),
    ] {
        let (code, body) = get_json(&server, &path);
        assert_eq!(code, 504, "{path}");
        assert_eq!(body["reason"], "Timeout");
        assert_eq!(
            body["details"]["causes"][0]["reason"],
            "ResourceVersionTooLarge"
        );
    }
    let (code, _) = get_json(&server, "/api/v1/pods?resourceVersion=0");
    assert_eq!(code, 200);
}
