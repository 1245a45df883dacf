//! LIST: the current state, or with `limit`/`continue` a consistent snapshot
//! at the resourceVersion of the first page, as etcd-backed lists are.

use super::render::{self, ListMeta, Shape};
use super::resource::{ResourceId, RESOURCES};
use super::select::Selector;
use super::store::{Gone, Scope};
use super::wire::{Conn, Request};
use super::{lock, Shared};
use serde_json::{json, Value};
use std::io;
use std::sync::Arc;

/// Where a list reads from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Continue {
    rv: u64,
    offset: usize,
}

/// The validated parameters of a list.
struct ListQuery {
    selector: Selector,
    limit: Option<usize>,
    /// A resourceVersion the answer must be at least as new as.
    min_rv: Option<u64>,
    /// A snapshot to read (a continue token or an exact resourceVersion)
    /// instead of the current state.
    from: Option<Read>,
}

#[derive(Clone, Copy)]
enum Read {
    Continue(Continue),
    Exact(u64),
}

/// Answers a LIST of `res` (every namespace when `namespace` is `None`).
pub(super) fn serve(
    conn: &mut Conn,
    shared: &Shared,
    req: &Request,
    res: ResourceId,
    namespace: Option<&str>,
) -> io::Result<()> {
    let query = match parse(req, res) {
        Ok(q) => q,
        Err(message) => {
            let body = render::status(400, "BadRequest", &message);
            return conn.respond_json(400, &body, req.keep_alive);
        }
    };
    let scope = Scope { res, namespace };
    let read = {
        let store = lock(&shared.store);
        if let Some(rv) = query.min_rv.filter(|&rv| rv > store.rv()) {
            let body = render::too_large(rv, store.rv());
            drop(store);
            return conn.respond_json(504, &body, req.keep_alive);
        }
        match query.from {
            None => Ok((store.rv(), store.current(scope))),
            Some(Read::Continue(c)) => store.snapshot(scope, c.rv).map(|v| (c.rv, v)),
            Some(Read::Exact(rv)) => store.snapshot(scope, rv).map(|v| (rv, v)),
        }
    };
    let (rv, objects) = match read {
        Ok(read) => read,
        Err(gone) => {
            shared.count(|s| s.gone_410 += 1);
            let body = gone_body(query.from, gone);
            return conn.respond_json(410, &body, req.keep_alive);
        }
    };
    let body = page(&query, res, Shape::of(req), rv, &objects);
    conn.respond_json(200, &body, req.keep_alive)
}

fn gone_body(from: Option<Read>, gone: Gone) -> Value {
    match from {
        Some(Read::Continue(_)) => render::continue_expired(),
        _ => render::too_old(gone),
    }
}

/// The selected objects from the query's offset, at most `limit` of them,
/// with a continue token when more remain.
fn page(
    query: &ListQuery,
    res: ResourceId,
    shape: Shape,
    rv: u64,
    objects: &[Arc<Value>],
) -> Value {
    let offset = match query.from {
        Some(Read::Continue(c)) => c.offset,
        _ => 0,
    };
    let selected: Vec<&Value> = objects
        .iter()
        .map(|o| o.as_ref())
        .filter(|o| query.selector.matches(o))
        .collect();
    let rest = selected.get(offset..).unwrap_or(&[]);
    let take = query.limit.unwrap_or(rest.len()).min(rest.len());
    let remaining = rest.len() - take;
    let meta = ListMeta {
        rv,
        continue_token: (remaining > 0).then(|| {
            encode_token(Continue {
                rv,
                offset: offset + take,
            })
        }),
        // Like the real server: not counted when a selector filters.
        remaining: (remaining > 0 && query.selector.is_empty()).then_some(remaining),
    };
    render::list(&RESOURCES[res], shape, meta, rest[..take].iter().copied())
}

fn parse(req: &Request, res: ResourceId) -> Result<ListQuery, String> {
    let selector = Selector::parse(
        &RESOURCES[res],
        req.param("fieldSelector"),
        req.param("labelSelector"),
    )?;
    let limit = match req.param("limit").filter(|l| !l.is_empty()) {
        None => None,
        Some(l) => match l.parse::<usize>() {
            Ok(0) => None,
            Ok(n) => Some(n),
            Err(_) => return Err(format!("invalid limit: {l:?}")),
        },
    };
    let rv = parse_rv(req.param("resourceVersion"))?;
    let exact = parse_match(req.param("resourceVersionMatch"), rv)?;
    let from = match req.param("continue").filter(|c| !c.is_empty()) {
        Some(_) if rv.is_some_and(|rv| rv != 0) => {
            return Err("specifying resource version is not allowed when using continue".into())
        }
        Some(token) => Some(Read::Continue(
            decode_token(token).ok_or("continue key is not valid")?,
        )),
        None => exact.then(|| Read::Exact(rv.unwrap_or(0))),
    };
    Ok(ListQuery {
        selector,
        limit,
        min_rv: rv.filter(|&rv| rv != 0),
        from,
    })
}

/// A `resourceVersion` parameter: absent/empty is `None`.
pub(super) fn parse_rv(param: Option<&str>) -> Result<Option<u64>, String> {
    match param.filter(|p| !p.is_empty()) {
        None => Ok(None),
        Some(p) => p
            .parse()
            .map(Some)
            .map_err(|_| format!("invalid resource version: {p:?}")),
    }
}

/// `resourceVersionMatch`: whether it asks for an exact read.
fn parse_match(param: Option<&str>, rv: Option<u64>) -> Result<bool, String> {
    match param.filter(|p| !p.is_empty()) {
        None => Ok(false),
        Some(_) if rv.is_none() => {
            Err("resourceVersionMatch is forbidden unless resourceVersion is provided".into())
        }
        Some("NotOlderThan") => Ok(false),
        Some("Exact") if rv == Some(0) => {
            Err("resourceVersionMatch \"Exact\" is forbidden for resourceVersion \"0\"".into())
        }
        Some("Exact") => Ok(true),
        Some(other) => Err(format!("unsupported resourceVersionMatch: {other:?}")),
    }
}

/// An opaque continue token: base64url of a small JSON document.
fn encode_token(c: Continue) -> String {
    let doc = json!({"v": "meta.k8s.io/v1", "rv": c.rv, "offset": c.offset});
    base64url_encode(doc.to_string().as_bytes())
}

fn decode_token(token: &str) -> Option<Continue> {
    let bytes = base64url_decode(token)?;
    let doc: Value = serde_json::from_slice(&bytes).ok()?;
    Some(Continue {
        rv: doc["rv"].as_u64()?,
        offset: usize::try_from(doc["offset"].as_u64()?).ok()?,
    })
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fn base64url_encode(data: &[u8]) -> String {
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(B64[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

fn base64url_decode(text: &str) -> Option<Vec<u8>> {
    let text = text.trim_end_matches('=');
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.bytes() {
        let v = B64.iter().position(|&b| b == c)? as u32;
        acc = acc << 6 | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_reject_garbage() {
        for (rv, offset) in [(1000, 0), (1234, 7), (u64::MAX, 123_456)] {
            let c = Continue { rv, offset };
            assert_eq!(decode_token(&encode_token(c)), Some(c));
        }
        assert_eq!(decode_token("not a token!"), None);
        assert_eq!(decode_token(&base64url_encode(b"{}")), None);
        assert_eq!(base64url_encode(b"foob"), "Zm9vYg");
        assert_eq!(base64url_decode("Zm9vYg"), Some(b"foob".to_vec()));
    }

    #[test]
    fn version_match_rules() {
        assert_eq!(parse_match(None, None), Ok(false));
        assert!(parse_match(Some("Exact"), None).is_err());
        assert!(parse_match(Some("Exact"), Some(0)).is_err());
        assert_eq!(parse_match(Some("Exact"), Some(5)), Ok(true));
        assert_eq!(parse_match(Some("NotOlderThan"), Some(0)), Ok(false));
        assert!(parse_match(Some("Newest"), Some(1)).is_err());
        assert!(parse_rv(Some("x")).is_err());
        assert_eq!(parse_rv(Some("")), Ok(None));
    }
}
