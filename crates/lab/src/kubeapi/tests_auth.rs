//! Tokens, rules, the two reviews and the pod proxy, driven over real TCP
//! with raw HTTP, with plain std listeners standing in for agent pods.

use super::tests::{pod, Raw};
use super::*;
use serde_json::{json, Value};
use std::io::{ErrorKind, Read, Write};
use std::sync::mpsc;
use std::time::Instant;

const TOKEN_REVIEWS: &str = "/apis/authentication.k8s.io/v1/tokenreviews";
const ACCESS_REVIEWS: &str = "/apis/authorization.k8s.io/v1/subjectaccessreviews";

/// A server where `agent-token` (user `agent`) may create both reviews,
/// `alice-token` is `alice` in `devs`, and `bob-token` is `bob`.
fn cluster() -> FakeApiServer {
    let server = FakeApiServer::start().unwrap();
    server.add_token("agent-token", "agent", &["podwire-agents"]);
    server.add_token("alice-token", "alice", &["devs"]);
    server.add_token("bob-token", "bob", &[]);
    server.allow(
        "agent",
        "create",
        "authentication.k8s.io",
        "tokenreviews",
        None,
    );
    server.allow(
        "podwire-agents",
        "create",
        "authorization.k8s.io",
        "subjectaccessreviews",
        None,
    );
    server
}

fn send_post(raw: &mut Raw, path: &str, token: Option<&str>, body: &[u8]) {
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: fake\r\n{auth}Content-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    );
    raw.stream.write_all(head.as_bytes()).unwrap();
    raw.stream.write_all(body).unwrap();
}

fn post(server: &FakeApiServer, path: &str, token: Option<&str>, body: &Value) -> (u16, Value) {
    let mut raw = Raw::connect(server);
    send_post(&mut raw, path, token, body.to_string().as_bytes());
    raw.response()
}

fn token_review(token: &str, audiences: &[&str]) -> Value {
    let mut review = json!({
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenReview",
        "spec": {"token": token},
    });
    if !audiences.is_empty() {
        review["spec"]["audiences"] = json!(audiences);
    }
    review
}

fn access_review(user: &str, groups: &[&str], attributes: Value) -> Value {
    json!({
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "spec": {"user": user, "groups": groups, "resourceAttributes": attributes},
    })
}

fn proxy_get(ns: &str, name: &str) -> Value {
    json!({"namespace": ns, "verb": "get", "resource": "pods", "subresource": "proxy", "name": name})
}

/// Whether the agent's SubjectAccessReview allows it.
fn allowed(server: &FakeApiServer, user: &str, groups: &[&str], attributes: Value) -> bool {
    let review = access_review(user, groups, attributes);
    let (code, answer) = post(server, ACCESS_REVIEWS, Some("agent-token"), &review);
    assert_eq!(code, 201, "{answer}");
    assert_eq!(answer["spec"], review["spec"], "the object comes back");
    assert!(
        answer["status"].get("denied").is_none(),
        "RBAC never denies"
    );
    assert!(answer["status"]["reason"].is_string(), "{answer}");
    answer["status"]["allowed"].as_bool().unwrap()
}

#[test]
fn token_reviews_tell_who_a_token_is() {
    let server = cluster();
    let (code, answer) = post(
        &server,
        TOKEN_REVIEWS,
        Some("agent-token"),
        &token_review("alice-token", &["podwire"]),
    );
    assert_eq!(code, 201, "{answer}");
    assert_eq!(answer["kind"], "TokenReview");
    assert_eq!(answer["spec"]["token"], "alice-token");
    let status = &answer["status"];
    assert_eq!(status["authenticated"], true);
    assert_eq!(status["user"]["username"], "alice");
    assert_eq!(status["user"]["uid"], "uid-alice");
    assert_eq!(
        status["user"]["groups"],
        json!(["devs", "system:authenticated"])
    );
    assert_eq!(status["audiences"], json!(["podwire"]));

    // Without audiences, the API server's own; kind and apiVersion are
    // filled in when left out.
    let bare = json!({"spec": {"token": "bob-token"}});
    let (code, answer) = post(&server, TOKEN_REVIEWS, Some("agent-token"), &bare);
    assert_eq!(code, 201, "{answer}");
    assert_eq!(answer["apiVersion"], "authentication.k8s.io/v1");
    assert_eq!(answer["status"]["user"]["username"], "bob");
    assert_eq!(
        answer["status"]["audiences"],
        json!(["https://kubernetes.default.svc.cluster.local"])
    );

    let (code, answer) = post(
        &server,
        TOKEN_REVIEWS,
        Some("agent-token"),
        &token_review("nobody-token", &[]),
    );
    assert_eq!(code, 201, "{answer}");
    assert_eq!(answer["status"]["authenticated"], false);
    assert!(answer["status"]["error"]
        .as_str()
        .unwrap()
        .contains("invalid"));
    assert!(answer["status"].get("audiences").is_none());

    // The kubeconfig's token is the cluster admin.
    let (_, answer) = post(
        &server,
        TOKEN_REVIEWS,
        Some("agent-token"),
        &token_review(DEFAULT_TOKEN, &[]),
    );
    assert_eq!(answer["status"]["user"]["username"], "kubernetes-admin");
    assert_eq!(
        answer["status"]["user"]["groups"],
        json!(["system:masters", "system:authenticated"])
    );

    assert_eq!(server.stats().token_reviews, 4);
    assert_eq!(
        server.requests().last().map(String::as_str),
        Some("POST /apis/authentication.k8s.io/v1/tokenreviews")
    );
}

#[test]
fn access_reviews_follow_the_rules() {
    let server = cluster();
    server.allow("devs", "get", "", "pods/proxy", Some("podwire"));
    server.allow("bob", "get", "", "pods", None);
    server.allow("system:authenticated", "list", "apps", "*", None);

    let authenticated = ["devs", "system:authenticated"];
    assert!(allowed(
        &server,
        "alice",
        &authenticated,
        proxy_get("podwire", "a")
    ));
    assert!(
        !allowed(&server, "alice", &[], proxy_get("podwire", "a")),
        "the group rule needs the group: a review adds none"
    );
    assert!(
        !allowed(&server, "alice", &authenticated, proxy_get("other", "a")),
        "namespaced"
    );
    assert!(
        !allowed(
            &server,
            "alice",
            &authenticated,
            json!({"verb": "create", "resource": "pods", "subresource": "proxy", "namespace": "podwire"})
        ),
        "verb"
    );
    let pods = json!({"namespace": "x", "verb": "get", "resource": "pods", "name": "a"});
    assert!(allowed(&server, "bob", &[], pods.clone()));
    assert!(!allowed(&server, "alice", &authenticated, pods));
    assert!(
        !allowed(&server, "bob", &[], proxy_get("x", "a")),
        "a rule on pods does not cover pods/proxy"
    );
    let deployments = json!({"verb": "list", "group": "apps", "resource": "deployments"});
    assert!(allowed(
        &server,
        "carol",
        &["system:authenticated"],
        deployments.clone()
    ));
    assert!(!allowed(&server, "carol", &[], deployments));
    assert!(allowed(
        &server,
        "root",
        &["system:masters"],
        proxy_get("x", "a")
    ));
    assert_eq!(server.stats().access_reviews, 10);
}

#[test]
fn reviewers_must_be_authenticated_and_allowed() {
    let server = cluster();
    let review = token_review("alice-token", &[]);
    let (code, body) = post(&server, TOKEN_REVIEWS, None, &review);
    assert_eq!((code, body["reason"].as_str()), (401, Some("Unauthorized")));
    let (code, _) = post(&server, TOKEN_REVIEWS, Some("forged"), &review);
    assert_eq!(code, 401);

    let (code, body) = post(&server, TOKEN_REVIEWS, Some("alice-token"), &review);
    assert_eq!((code, body["reason"].as_str()), (403, Some("Forbidden")));
    assert_eq!(
        body["message"],
        "tokenreviews.authentication.k8s.io is forbidden: User \"alice\" cannot create \
         resource \"tokenreviews\" in API group \"authentication.k8s.io\" at the cluster scope"
    );
    assert_eq!(body["details"]["group"], "authentication.k8s.io");

    // A namespaced rule does not reach the cluster scope.
    server.allow(
        "alice",
        "create",
        "authentication.k8s.io",
        "tokenreviews",
        Some("a"),
    );
    assert_eq!(
        post(&server, TOKEN_REVIEWS, Some("alice-token"), &review).0,
        403
    );
    // Bob may review nothing.
    let sar = access_review("alice", &[], proxy_get("a", "p"));
    assert_eq!(
        post(&server, ACCESS_REVIEWS, Some("bob-token"), &sar).0,
        403
    );
    // The kubeconfig's admin may do anything.
    assert_eq!(
        post(&server, ACCESS_REVIEWS, Some(DEFAULT_TOKEN), &sar).0,
        201
    );

    // Reviews are only created: a GET is authorized as `list` (which the
    // agent may not), then refused.
    let mut raw = Raw::connect(&server);
    raw.send(TOKEN_REVIEWS, "Authorization: Bearer agent-token\r\n");
    assert_eq!(raw.response().0, 403);
    raw.send(
        TOKEN_REVIEWS,
        &format!("Authorization: Bearer {DEFAULT_TOKEN}\r\n"),
    );
    assert_eq!(raw.response().0, 405);
    // Other POSTs: 405 on served resources, 404 elsewhere.
    send_post(
        &mut raw,
        "/api/v1/namespaces/a/pods",
        Some("agent-token"),
        b"{}",
    );
    assert_eq!(raw.response().0, 405);
    send_post(&mut raw, "/apis/x.io/v1/things", Some("agent-token"), b"{}");
    assert_eq!(raw.response().0, 404);
}

#[test]
fn required_tokens_and_registered_tokens_both_pass() {
    let server = cluster();
    server.require_token(Some("s3cret"));
    let mut raw = Raw::connect(&server);
    raw.send("/api/v1/pods", "Authorization: Bearer alice-token\r\n");
    assert_eq!(raw.response().0, 200);
    raw.send("/api/v1/pods", "Authorization: bearer s3cret\r\n");
    assert_eq!(raw.response().0, 200);
    raw.send("/api/v1/pods", "");
    assert_eq!(raw.response().0, 401);
    // The required token is now the admin's; the default one is nobody's.
    let review = token_review("alice-token", &[]);
    assert_eq!(post(&server, TOKEN_REVIEWS, Some("s3cret"), &review).0, 201);
    assert_eq!(
        post(&server, TOKEN_REVIEWS, Some(DEFAULT_TOKEN), &review).0,
        401
    );
}

#[test]
fn bad_review_bodies_get_400_422_and_413() {
    let server = cluster();
    let mut raw = Raw::connect(&server);
    send_post(&mut raw, TOKEN_REVIEWS, Some("agent-token"), b"{not json");
    let (code, body) = raw.response();
    assert_eq!((code, body["reason"].as_str()), (400, Some("BadRequest")));
    send_post(&mut raw, TOKEN_REVIEWS, Some("agent-token"), b"[1]");
    assert_eq!(raw.response().0, 400);
    let wrong_kind = json!({"kind": "SubjectAccessReview", "spec": {"token": "t"}});
    send_post(
        &mut raw,
        TOKEN_REVIEWS,
        Some("agent-token"),
        wrong_kind.to_string().as_bytes(),
    );
    assert_eq!(raw.response().0, 400);
    let no_token = json!({"kind": "TokenReview", "spec": {}});
    send_post(
        &mut raw,
        TOKEN_REVIEWS,
        Some("agent-token"),
        no_token.to_string().as_bytes(),
    );
    let (code, body) = raw.response();
    assert_eq!(code, 400);
    assert!(body["message"]
        .as_str()
        .unwrap()
        .contains("token is required"));
    let bad_spec = json!({"spec": {"groups": "devs", "user": "u"}});
    send_post(
        &mut raw,
        ACCESS_REVIEWS,
        Some("agent-token"),
        bad_spec.to_string().as_bytes(),
    );
    assert_eq!(raw.response().0, 400);

    let nobody = access_review("", &[], proxy_get("a", "p"));
    send_post(
        &mut raw,
        ACCESS_REVIEWS,
        Some("agent-token"),
        nobody.to_string().as_bytes(),
    );
    let (code, body) = raw.response();
    assert_eq!((code, body["reason"].as_str()), (422, Some("Invalid")));
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("at least one of user or group"),
        "{body}"
    );
    let no_attributes = json!({"spec": {"user": "u"}});
    send_post(
        &mut raw,
        ACCESS_REVIEWS,
        Some("agent-token"),
        no_attributes.to_string().as_bytes(),
    );
    assert_eq!(raw.response().0, 422);

    // Still the same connection: errors keep it alive.
    send_post(
        &mut raw,
        TOKEN_REVIEWS,
        Some("agent-token"),
        token_review("bob-token", &[]).to_string().as_bytes(),
    );
    assert_eq!(raw.response().0, 201);

    let head = format!(
        "POST {TOKEN_REVIEWS} HTTP/1.1\r\nAuthorization: Bearer agent-token\r\n\
         Content-Length: {}\r\n\r\n",
        (1 << 20) + 1
    );
    raw.stream.write_all(head.as_bytes()).unwrap();
    let (code, body) = raw.response();
    assert_eq!(
        (code, body["reason"].as_str()),
        (413, Some("RequestEntityTooLarge"))
    );
    assert_eq!(raw.fill().unwrap_or(0), 0, "then closed");
}

/// A pod the proxy can reach at 127.0.0.1 (or not, without `ip`).
fn agent_pod(name: &str, ip: Option<&str>, container_port: Option<u16>) -> Value {
    let mut obj = pod("podwire", name, "n1");
    if let Some(ip) = ip {
        obj["status"]["podIP"] = ip.into();
        obj["status"]["podIPs"] = json!([{"ip": ip}]);
    }
    if let Some(port) = container_port {
        obj["spec"]["containers"][0]["ports"] = json!([{"containerPort": port}]);
    }
    obj
}

/// A cluster where alice may use the proxy in `podwire`.
fn proxy_cluster() -> FakeApiServer {
    let server = cluster();
    server.allow("devs", "get", "", "pods/proxy", Some("podwire"));
    server
}

/// A one-connection server standing in for an agent pod: it reads the
/// request head and hands it, with the connection, to `answer`, whose
/// result the handle returns.
fn upstream<T: Send + 'static>(
    answer: impl FnOnce(String, TcpStream) -> T + Send + 'static,
) -> (u16, JoinHandle<T>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            assert_eq!(stream.read(&mut byte).unwrap(), 1, "request head cut short");
            head.push(byte[0]);
        }
        answer(String::from_utf8(head).unwrap(), stream)
    });
    (port, handle)
}

fn proxy_path(name: &str, port: Option<u16>, rest: &str) -> String {
    match port {
        Some(port) => format!("/api/v1/namespaces/podwire/pods/{name}:{port}/proxy{rest}"),
        None => format!("/api/v1/namespaces/podwire/pods/{name}/proxy{rest}"),
    }
}

#[test]
fn the_proxy_passes_path_query_and_headers_but_not_the_token() {
    let server = proxy_cluster();
    server.apply(agent_pod("agent-1", Some("127.0.0.1"), None));
    let (port, pod) = upstream(|head, mut stream| {
        stream
            .write_all(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/x-podwire\r\n\
                  X-Agent: a1\r\nContent-Length: 5\r\n\r\nhello",
            )
            .unwrap();
        head
    });
    let mut raw = Raw::connect(&server);
    raw.send(
        &proxy_path(
            "agent-1",
            Some(port),
            "/v1/sniff/a%20b?filter=port%2053&max=10",
        ),
        "Authorization: Bearer alice-token\r\nX-Podwire-Token: alice-token\r\n\
         Accept: application/x-podwire\r\nConnection: keep-alive, X-Hop\r\nX-Hop: 1\r\n",
    );
    let (code, head) = raw.head();
    assert_eq!(code, 200, "{head}");
    assert!(
        head.contains("Content-Type: application/x-podwire"),
        "{head}"
    );
    assert!(head.contains("X-Agent: a1"), "{head}");
    assert!(head.contains("Transfer-Encoding: chunked"), "{head}");
    assert!(!head.contains("Content-Length"), "{head}");
    assert_eq!(raw.chunk().unwrap().as_deref(), Some(&b"hello"[..]));
    assert_eq!(raw.chunk().unwrap(), None);

    let seen = pod.join().unwrap();
    let mut lines = seen.lines();
    assert_eq!(
        lines.next(),
        Some("GET /v1/sniff/a%20b?filter=port%2053&max=10 HTTP/1.1")
    );
    assert!(
        seen.contains(&format!("Host: 127.0.0.1:{port}\r\n")),
        "{seen}"
    );
    assert!(seen.contains("X-Podwire-Token: alice-token\r\n"), "{seen}");
    assert!(seen.contains("Accept: application/x-podwire\r\n"), "{seen}");
    assert!(seen.contains("X-Forwarded-For: 127.0.0.1\r\n"), "{seen}");
    assert!(
        !seen.to_ascii_lowercase().contains("authorization"),
        "{seen}"
    );
    assert!(!seen.contains("X-Hop"), "{seen}");
    assert!(!seen.contains("keep-alive"), "{seen}");

    // The connection lives on.
    raw.send("/version", "");
    assert_eq!(raw.response().0, 200);
    assert_eq!(server.stats().proxied, 1);
    assert!(server.requests()[0].starts_with("GET /api/v1/namespaces/podwire/pods/agent-1:"));
}

#[test]
fn the_proxy_streams_what_the_pod_writes_as_it_writes_it() {
    let server = proxy_cluster();
    let (go_on, wait) = mpsc::channel::<()>();
    let (port, pod) = upstream(move |_, mut stream| {
        stream
            .write_all(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/vnd.tcpdump.pcap\r\n\
                  Transfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n",
            )
            .unwrap();
        // The caller must have the first piece before the second is written.
        wait.recv_timeout(Duration::from_secs(5)).unwrap();
        stream.write_all(b"6\r\nsecond\r\n0\r\n\r\n").unwrap();
    });
    // No port in the path: the pod's declared container port.
    server.apply(agent_pod("agent-1", Some("127.0.0.1"), Some(port)));
    let mut raw = Raw::connect(&server);
    raw.send(
        &proxy_path("agent-1", None, "/capture"),
        "Authorization: Bearer alice-token\r\n",
    );
    let (code, head) = raw.head();
    assert_eq!(code, 200, "{head}");
    assert!(
        head.contains("Content-Type: application/vnd.tcpdump.pcap"),
        "{head}"
    );
    assert_eq!(raw.chunk().unwrap().as_deref(), Some(&b"first"[..]));
    go_on.send(()).unwrap();
    assert_eq!(raw.chunk().unwrap().as_deref(), Some(&b"second"[..]));
    assert_eq!(raw.chunk().unwrap(), None);
    pod.join().unwrap();
}

#[test]
fn the_proxy_relays_answers_that_end_with_the_connection() {
    let server = proxy_cluster();
    server.apply(agent_pod("agent-1", Some("127.0.0.1"), None));
    let (port, pod) = upstream(|_, mut stream| {
        stream
            .write_all(b"HTTP/1.0 404 Not Found\r\nContent-Type: text/plain\r\n\r\nno such capture")
            .unwrap();
    });
    let mut raw = Raw::connect(&server);
    raw.send(
        &proxy_path("agent-1", Some(port), "/x"),
        "Authorization: Bearer alice-token\r\n",
    );
    let (code, head) = raw.head();
    assert_eq!(code, 404, "{head}");
    let mut body = Vec::new();
    while let Some(chunk) = raw.chunk().unwrap() {
        body.extend(chunk);
    }
    assert_eq!(body, b"no such capture");
    pod.join().unwrap();
}

/// Waits (up to 3 s) for the peer to close `stream`: whether it did.
fn closed_by_peer(mut stream: TcpStream) -> bool {
    stream
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut buf = [0u8; 1024];
    while Instant::now() < deadline {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return true,
        }
    }
    false
}

/// A pod that starts an endless answer and reports whether its caller
/// hung up.
fn endless_pod() -> (u16, JoinHandle<bool>) {
    upstream(|_, mut stream| {
        stream
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nstarted")
            .unwrap();
        closed_by_peer(stream)
    })
}

#[test]
fn the_pod_connection_closes_when_the_caller_goes_away() {
    let server = proxy_cluster();
    server.apply(agent_pod("agent-1", Some("127.0.0.1"), None));
    let (port, pod) = endless_pod();
    let mut raw = Raw::connect(&server);
    raw.send(
        &proxy_path("agent-1", Some(port), "/"),
        "Authorization: Bearer alice-token\r\n",
    );
    assert_eq!(raw.head().0, 200);
    assert_eq!(raw.chunk().unwrap().as_deref(), Some(&b"started"[..]));
    drop(raw);
    assert!(pod.join().unwrap(), "the pod saw its caller go");

    // And when the test cuts the caller's connection.
    let (port, pod) = endless_pod();
    let mut raw = Raw::connect(&server);
    raw.send(
        &proxy_path("agent-1", Some(port), "/"),
        "Authorization: Bearer alice-token\r\n",
    );
    assert_eq!(raw.head().0, 200);
    assert_eq!(raw.chunk().unwrap().as_deref(), Some(&b"started"[..]));
    server.drop_connections();
    assert!(pod.join().unwrap(), "the pod saw the cut");
    assert!(raw.chunk().is_err(), "cut without the terminating chunk");
}

#[test]
fn the_proxy_refuses_like_a_real_server() {
    let server = proxy_cluster();
    server.add_token("eve-token", "eve", &[]);
    server.allow("eve", "get", "", "pods", None);
    server.allow("eve", "get", "", "pods/proxy", Some("other"));
    server.apply(agent_pod("agent-1", Some("127.0.0.1"), None));
    server.apply(agent_pod("pending", None, None));
    let closed_port = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let get = |path: &str, token: Option<&str>| {
        let mut raw = Raw::connect(&server);
        let auth = token
            .map(|t| format!("Authorization: Bearer {t}\r\n"))
            .unwrap_or_default();
        raw.send(path, &auth);
        raw.response()
    };
    let target = proxy_path("agent-1", Some(closed_port), "/");

    let (code, body) = get(&target, None);
    assert_eq!((code, body["reason"].as_str()), (401, Some("Unauthorized")));
    assert_eq!(get(&target, Some("forged")).0, 401);
    let (code, body) = get(&target, Some("eve-token"));
    assert_eq!(
        (code, body["reason"].as_str()),
        (403, Some("Forbidden")),
        "{body}"
    );
    assert_eq!(
        body["message"],
        format!(
            "pods \"agent-1:{closed_port}\" is forbidden: User \"eve\" cannot get resource \
             \"pods/proxy\" in API group \"\" in the namespace \"podwire\""
        )
    );
    assert_eq!(get(&target, Some("bob-token")).0, 403);
    // Authorization comes before the lookup.
    assert_eq!(
        get(&proxy_path("ghost", None, "/"), Some("eve-token")).0,
        403
    );

    let (code, body) = get(&proxy_path("ghost", None, "/"), Some("alice-token"));
    assert_eq!((code, body["reason"].as_str()), (404, Some("NotFound")));
    assert_eq!(body["message"], "pods \"ghost\" not found");
    let (code, body) = get(&proxy_path("pending", None, "/"), Some("alice-token"));
    assert_eq!(
        (code, body["reason"].as_str()),
        (503, Some("ServiceUnavailable"))
    );
    let (code, body) = get(&target, Some("alice-token"));
    assert_eq!(code, 503);
    let message = body["message"].as_str().unwrap();
    assert!(
        message.starts_with(&format!(
            "error trying to reach service: dial tcp 127.0.0.1:{closed_port}"
        )),
        "{message}"
    );
    // https: is dialled as TLS (nothing listens there: unreachable).
    let (code, body) = get(
        &proxy_path("https:agent-1:443", None, "/"),
        Some("alice-token"),
    );
    assert_eq!(
        (code, body["reason"].as_str()),
        (503, Some("ServiceUnavailable"))
    );

    let mut raw = Raw::connect(&server);
    send_post(&mut raw, &target, Some("alice-token"), b"{}");
    assert_eq!(raw.response().0, 403, "POST is create, which alice may not");
    server.allow("alice", "create", "", "pods/proxy", None);
    send_post(&mut raw, &target, Some("alice-token"), b"{}");
    assert_eq!(raw.response().0, 405, "the fake proxies only GET");
    assert_eq!(server.stats().proxied, 11);
}
