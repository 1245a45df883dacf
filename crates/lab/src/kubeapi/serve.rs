//! One connection: requests read in a loop (keep-alive), each routed to a
//! get, a list or a watch, until the client closes or the test cuts it.

use super::render::{self, Shape};
use super::resource::{route, ResourceId, Route, RESOURCES};
use super::store::Key;
use super::watch::{self, is_true, Ending};
use super::wire::{Conn, ReadError, Request};
use super::{list, lock, Shared};
use std::io;
use std::net::TcpStream;
use std::sync::Arc;

/// Serves `stream` until it closes; runs on its own thread.
pub(super) fn connection(shared: Arc<Shared>, stream: TcpStream) {
    let id = shared.register(&stream);
    let mut conn = Conn::new(stream, Arc::clone(&shared));
    loop {
        let req = match conn.read_request() {
            Ok(req) => req,
            Err(ReadError::Closed) => break,
            Err(ReadError::Bad(message)) => {
                shared.count(|s| s.other += 1);
                let body = render::status(400, "BadRequest", &message);
                let _ = conn.respond_json(400, &body, false);
                break;
            }
        };
        shared.log_request(&req);
        match handle(&mut conn, &shared, &req) {
            Ok(true) if req.keep_alive => {}
            _ => break,
        }
    }
    shared.unregister(id);
}

/// Answers one request; whether the connection may go on.
fn handle(conn: &mut Conn, shared: &Shared, req: &Request) -> io::Result<bool> {
    if !authorized(shared, req) {
        shared.count(|s| s.other += 1);
        let body = render::status(401, "Unauthorized", "Unauthorized");
        conn.respond_json(401, &body, req.keep_alive)?;
        return Ok(true);
    }
    if req.method != "GET" {
        shared.count(|s| s.other += 1);
        let message = format!("the fake API server only serves GET, not {}", req.method);
        let body = render::status(405, "MethodNotAllowed", &message);
        conn.respond_json(405, &body, req.keep_alive)?;
        return Ok(true);
    }
    match route(&req.path) {
        Route::Version => {
            shared.count(|s| s.other += 1);
            conn.respond_json(200, &render::version(), req.keep_alive)?;
        }
        Route::Health => {
            shared.count(|s| s.other += 1);
            conn.respond(200, "text/plain; charset=utf-8", b"ok", req.keep_alive)?;
        }
        Route::NotFound => {
            shared.count(|s| s.other += 1);
            let message = format!(
                "the server could not find the requested resource ({})",
                req.path
            );
            let body = render::status(404, "NotFound", &message);
            conn.respond_json(404, &body, req.keep_alive)?;
        }
        Route::Collection { res, namespace } => {
            count_resource(shared, res);
            let ns = namespace.as_deref();
            if is_true(req.param("watch")) {
                shared.count(|s| s.watches += 1);
                return Ok(watch::serve(conn, shared, req, res, ns, None)? == Ending::Clean);
            }
            shared.count(|s| s.lists += 1);
            list::serve(conn, shared, req, res, ns)?;
        }
        Route::Object {
            res,
            namespace,
            name,
        } => {
            count_resource(shared, res);
            let ns = namespace.as_deref();
            if is_true(req.param("watch")) {
                shared.count(|s| s.watches += 1);
                return Ok(watch::serve(conn, shared, req, res, ns, Some(&name))? == Ending::Clean);
            }
            shared.count(|s| s.gets += 1);
            get(conn, shared, req, res, namespace.unwrap_or_default(), &name)?;
        }
    }
    Ok(true)
}

fn count_resource(shared: &Shared, res: ResourceId) {
    shared.count(|s| {
        *s.per_resource
            .entry(RESOURCES[res].plural.to_string())
            .or_default() += 1
    });
}

/// Any credentials pass unless a token is required; then only
/// `Authorization: Bearer <token>` does.
fn authorized(shared: &Shared, req: &Request) -> bool {
    match &lock(&shared.settings).token {
        None => true,
        Some(token) => req
            .header("authorization")
            .and_then(|h| h.strip_prefix("Bearer "))
            .is_some_and(|t| t.trim() == token),
    }
}

fn get(
    conn: &mut Conn,
    shared: &Shared,
    req: &Request,
    res: ResourceId,
    namespace: String,
    name: &str,
) -> io::Result<()> {
    let key: Key = (res, namespace, name.to_string());
    let found = lock(&shared.store).get(&key);
    match found {
        Some(obj) => conn.respond_json(200, &render::object(&obj, Shape::of(req)), req.keep_alive),
        None => conn.respond_json(
            404,
            &render::not_found(&RESOURCES[res], name),
            req.keep_alive,
        ),
    }
}
