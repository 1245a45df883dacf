//! The JSON the server answers with: objects, lists, watch events, `Status`
//! errors, and their metadata-only (`PartialObjectMetadata`) forms.

use super::resource::Resource;
use super::store::Gone;
use super::wire::Request;
use serde_json::{json, Map, Value};

const META_API_VERSION: &str = "meta.k8s.io/v1";

/// Full objects, or only their metadata (`as=PartialObjectMetadata[List]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Shape {
    Full,
    Metadata,
}

impl Shape {
    /// The shape a request's `Accept` header asks for. kube-rs asks lists
    /// for `as=PartialObjectMetadataList` and watches and gets for
    /// `as=PartialObjectMetadata`; either (with or without the full-object
    /// fallback after it) means metadata only.
    pub fn of(req: &Request) -> Shape {
        match req.header("accept") {
            Some(accept) if accept.contains("as=PartialObjectMetadata") => Shape::Metadata,
            _ => Shape::Full,
        }
    }
}

/// A `Status` failure, as every API error body is.
pub(super) fn status(code: u16, reason: &str, message: &str) -> Value {
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    })
}

/// The 410 of a watch or exact list from before the retained history.
pub(super) fn too_old(gone: Gone) -> Value {
    let message = format!(
        "too old resource version: {} ({})",
        gone.requested, gone.oldest
    );
    status(410, "Expired", &message)
}

/// What a real server answers (after waiting a little) for a
/// resourceVersion it has not reached yet.
pub(super) fn too_large(requested: u64, current: u64) -> Value {
    let message = format!("Too large resource version: {requested}, current: {current}");
    let mut body = status(504, "Timeout", &message);
    body["details"] = json!({
        "causes": [{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}],
        "retryAfterSeconds": 1,
    });
    body
}

/// The 410 of a continue token whose snapshot has been compacted away.
pub(super) fn continue_expired() -> Value {
    status(
        410,
        "Expired",
        "The provided continue parameter is too old to display a consistent list result. \
         You can start a new list without the continue parameter.",
    )
}

/// The 404 of a missing object.
pub(super) fn not_found(res: &Resource, name: &str) -> Value {
    let mut body = status(
        404,
        "NotFound",
        &format!("{} \"{name}\" not found", res.plural),
    );
    body["details"] = json!({"name": name, "group": res.group, "kind": res.plural});
    body
}

/// An object on its own (a get, a watch event): with its `apiVersion` and
/// `kind`, or as `PartialObjectMetadata`.
pub(super) fn object(obj: &Value, shape: Shape) -> Value {
    match shape {
        Shape::Full => obj.clone(),
        Shape::Metadata => partial(obj),
    }
}

/// An object as a list item. Like a real API server, full items carry no
/// `apiVersion` or `kind` (the list's kind says it); metadata-only items
/// are whole `PartialObjectMetadata` objects.
fn list_item(obj: &Value, shape: Shape) -> Value {
    match shape {
        Shape::Full => {
            let mut item = obj.clone();
            if let Some(map) = item.as_object_mut() {
                map.remove("apiVersion");
                map.remove("kind");
            }
            item
        }
        Shape::Metadata => partial(obj),
    }
}

fn partial(obj: &Value) -> Value {
    json!({
        "apiVersion": META_API_VERSION,
        "kind": "PartialObjectMetadata",
        "metadata": obj["metadata"].clone(),
    })
}

/// The `metadata` of a list answer.
pub(super) struct ListMeta {
    pub rv: u64,
    pub continue_token: Option<String>,
    pub remaining: Option<usize>,
}

pub(super) fn list<'a>(
    res: &Resource,
    shape: Shape,
    meta: ListMeta,
    items: impl Iterator<Item = &'a Value>,
) -> Value {
    let (api_version, kind) = match shape {
        Shape::Full => (res.api_version(), res.list_kind()),
        Shape::Metadata => (META_API_VERSION.into(), "PartialObjectMetadataList".into()),
    };
    let mut metadata = Map::new();
    metadata.insert("resourceVersion".into(), meta.rv.to_string().into());
    if let Some(token) = meta.continue_token {
        metadata.insert("continue".into(), token.into());
    }
    if let Some(n) = meta.remaining {
        metadata.insert("remainingItemCount".into(), n.into());
    }
    json!({
        "apiVersion": api_version,
        "kind": kind,
        "metadata": metadata,
        "items": items.map(|o| list_item(o, shape)).collect::<Vec<_>>(),
    })
}

/// One watch event line (without its newline).
pub(super) fn event(kind: &str, object: Value) -> Value {
    json!({"type": kind, "object": object})
}

/// A BOOKMARK event at `rv`; `initial_end` marks the end of the initial
/// events of a `sendInitialEvents` watch.
pub(super) fn bookmark(res: &Resource, shape: Shape, rv: u64, initial_end: bool) -> Value {
    let (api_version, kind) = match shape {
        Shape::Full => (res.api_version(), res.kind.to_string()),
        Shape::Metadata => (META_API_VERSION.into(), "PartialObjectMetadata".into()),
    };
    let mut metadata = json!({"resourceVersion": rv.to_string()});
    if initial_end {
        metadata["annotations"] = json!({"k8s.io/initial-events-end": "true"});
    }
    event(
        "BOOKMARK",
        json!({"kind": kind, "apiVersion": api_version, "metadata": metadata}),
    )
}

/// What `GET /version` answers: a plausible release.
pub(super) fn version() -> Value {
    json!({
        "major": "1",
        "minor": "31",
        "gitVersion": "v1.31.0",
        "gitCommit": "9edcffcde5595e8a5b1a35f88c421764e575afce",
        "gitTreeState": "clean",
        "buildDate": "2024-08-13T07:28:49Z",
        "goVersion": "go1.22.5",
        "compiler": "gc",
        "platform": "linux/amd64",
    })
}
