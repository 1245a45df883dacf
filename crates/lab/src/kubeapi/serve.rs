//! One connection: requests read in a loop (keep-alive), each routed to a
//! get, a list, a watch, a review or the pod proxy, until the client closes
//! or the test cuts it.

use super::auth::{self, Attributes, Decision, Identity};
use super::render::{self, Shape};
use super::resource::{route, ResourceId, Route, RESOURCES};
use super::store::Key;
use super::watch::{self, is_true, Ending};
use super::wire::{Conn, ReadError, Request};
use super::{list, lock, proxy, review, Shared};
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
            Err(ReadError::TooLarge(message)) => {
                // The body is left unread, so the connection cannot go on.
                shared.count(|s| s.other += 1);
                let body = render::status(413, "RequestEntityTooLarge", &message);
                let _ = conn.respond_json(413, &body, false);
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
    let (caller, required) = {
        let settings = lock(&shared.settings);
        (auth::authenticate(&settings, req), settings.token.is_some())
    };
    if required && caller.is_none() {
        shared.count(|s| s.other += 1);
        unauthorized(conn, req)?;
        return Ok(true);
    }
    let route = route(&req.path);
    match &route {
        Route::TokenReviews => return review::token(conn, shared, req, caller),
        Route::AccessReviews => return review::access(conn, shared, req, caller),
        Route::PodProxy(path) => return proxy::serve(conn, shared, req, caller, path),
        Route::NotFound => {}
        _ if req.method != "GET" => {
            shared.count(|s| s.other += 1);
            let message = format!("the fake API server only serves GET, not {}", req.method);
            method_not_allowed(conn, req, &message)?;
            return Ok(true);
        }
        _ => {}
    }
    match route {
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
        // Served above.
        Route::TokenReviews | Route::AccessReviews | Route::PodProxy(_) => {}
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

/// The caller's identity if it is known and may do `attrs`; otherwise
/// answers 401 (anonymous, or an unknown token) or 403 and gives `None`.
/// Authentication before authorization, as on a real server.
pub(super) fn admit(
    conn: &mut Conn,
    shared: &Shared,
    req: &Request,
    caller: Option<Identity>,
    attrs: &Attributes,
) -> io::Result<Option<Identity>> {
    let Some(caller) = caller else {
        unauthorized(conn, req)?;
        return Ok(None);
    };
    let decision = lock(&shared.settings)
        .policy
        .authorize(&caller.user, &caller.groups, attrs);
    match decision {
        Decision::Allow(_) => Ok(Some(caller)),
        Decision::NoOpinion(_) => {
            conn.respond_json(403, &attrs.forbidden(&caller.user), req.keep_alive)?;
            Ok(None)
        }
    }
}

fn unauthorized(conn: &mut Conn, req: &Request) -> io::Result<()> {
    let body = render::status(401, "Unauthorized", "Unauthorized");
    conn.respond_json(401, &body, req.keep_alive)
}

pub(super) fn method_not_allowed(conn: &mut Conn, req: &Request, message: &str) -> io::Result<()> {
    let body = render::status(405, "MethodNotAllowed", message);
    conn.respond_json(405, &body, req.keep_alive)
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
