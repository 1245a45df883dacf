//! TokenReview and SubjectAccessReview, the two reviews an agent makes to
//! learn who calls it and whether they may: answered from the test's tokens
//! and rules with a real server's checks and words. The reviewer must
//! itself be authenticated (401) and allowed to `create` the review at the
//! cluster scope (403); the answer is `201 Created` with the object sent and
//! its `status`, 400 for a body that does not decode, 422 for a review that
//! does not validate.

use super::auth::{self, Attributes, Decision, Identity};
use super::render;
use super::serve::{admit, method_not_allowed};
use super::wire::{Conn, Request};
use super::{lock, Shared};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::io;

/// The audience of tokens reviewed without `spec.audiences`: the API
/// server's own, as kubeadm and kind clusters name it.
const API_AUDIENCE: &str = "https://kubernetes.default.svc.cluster.local";

/// Which review a request posts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Review {
    Token,
    Access,
}

impl Review {
    fn group(self) -> &'static str {
        match self {
            Review::Token => "authentication.k8s.io",
            Review::Access => "authorization.k8s.io",
        }
    }

    fn plural(self) -> &'static str {
        match self {
            Review::Token => "tokenreviews",
            Review::Access => "subjectaccessreviews",
        }
    }

    fn kind(self) -> &'static str {
        match self {
            Review::Token => "TokenReview",
            Review::Access => "SubjectAccessReview",
        }
    }

    fn api_version(self) -> String {
        format!("{}/v1", self.group())
    }
}

/// A failed review: the status code and its `Status` body.
struct Refusal(u16, Value);

fn bad_request(message: &str) -> Refusal {
    Refusal(400, render::status(400, "BadRequest", message))
}

/// Serves `POST /apis/authentication.k8s.io/v1/tokenreviews`.
pub(super) fn token(
    conn: &mut Conn,
    shared: &Shared,
    req: &Request,
    caller: Option<Identity>,
) -> io::Result<bool> {
    shared.count(|s| s.token_reviews += 1);
    serve(conn, shared, req, caller, Review::Token)
}

/// Serves `POST /apis/authorization.k8s.io/v1/subjectaccessreviews`.
pub(super) fn access(
    conn: &mut Conn,
    shared: &Shared,
    req: &Request,
    caller: Option<Identity>,
) -> io::Result<bool> {
    shared.count(|s| s.access_reviews += 1);
    serve(conn, shared, req, caller, Review::Access)
}

fn serve(
    conn: &mut Conn,
    shared: &Shared,
    req: &Request,
    caller: Option<Identity>,
    review: Review,
) -> io::Result<bool> {
    let verb = auth::verb_of(&req.method, true);
    let attrs = Attributes {
        verb: &verb,
        group: review.group(),
        resource: review.plural(),
        subresource: "",
        namespace: "",
        name: "",
    };
    if admit(conn, shared, req, caller, &attrs)?.is_none() {
        return Ok(true);
    }
    if req.method != "POST" {
        let message = "the server does not allow this method on the requested resource";
        method_not_allowed(conn, req, message)?;
        return Ok(true);
    }
    let answer = decode(req, review).and_then(|obj| match review {
        Review::Token => token_review(shared, obj),
        Review::Access => access_review(shared, obj),
    });
    match answer {
        Ok(obj) => conn.respond_json(201, &obj, req.keep_alive)?,
        Err(Refusal(code, body)) => conn.respond_json(code, &body, req.keep_alive)?,
    }
    Ok(true)
}

/// The posted object: JSON, an object, of the review's kind (filled in
/// when left out, as the server defaults it from the URL).
fn decode(req: &Request, review: Review) -> Result<Map<String, Value>, Refusal> {
    let value: Value = serde_json::from_slice(&req.body)
        .map_err(|e| bad_request(&format!("couldn't get version/kind; json parse error: {e}")))?;
    let Value::Object(mut obj) = value else {
        return Err(bad_request(&format!(
            "couldn't get version/kind; json parse error: a {} must be a JSON object",
            review.kind()
        )));
    };
    let expected = [
        ("apiVersion", review.api_version()),
        ("kind", review.kind().to_string()),
    ];
    for (field, want) in expected {
        match obj.get(field) {
            None | Some(Value::Null) => {
                obj.insert(field.into(), want.into());
            }
            Some(Value::String(got)) if *got == want => {}
            Some(got) => {
                return Err(bad_request(&format!(
                    "{field} {got} cannot be handled as a {}: expected {want:?}",
                    review.kind()
                )))
            }
        }
    }
    Ok(obj)
}

/// The review's `spec`, typed (an absent one is empty).
fn spec<T: DeserializeOwned + Default>(
    obj: &Map<String, Value>,
    review: Review,
) -> Result<T, Refusal> {
    match obj.get("spec") {
        None | Some(Value::Null) => Ok(T::default()),
        Some(spec) => T::deserialize(spec).map_err(|e| {
            bad_request(&format!(
                "{} in version \"v1\" cannot be handled as a {}: {e}",
                review.kind(),
                review.kind()
            ))
        }),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct TokenReviewSpec {
    token: String,
    audiences: Vec<String>,
}

/// Who the token is: `authenticated` with the user, uid, groups and
/// audiences (those asked for, else the API server's), or not with an
/// `error`, as a real server answers.
fn token_review(shared: &Shared, mut obj: Map<String, Value>) -> Result<Value, Refusal> {
    let spec: TokenReviewSpec = spec(&obj, Review::Token)?;
    if spec.token.is_empty() {
        return Err(bad_request(
            "token is required for TokenReview in authentication.k8s.io",
        ));
    }
    let identity = auth::identify(&lock(&shared.settings), &spec.token);
    let status = match identity {
        Some(identity) => {
            let audiences = match spec.audiences {
                a if a.is_empty() => vec![API_AUDIENCE.to_string()],
                a => a,
            };
            json!({
                "authenticated": true,
                "user": identity.user_info(),
                "audiences": audiences,
            })
        }
        None => json!({
            "authenticated": false,
            "user": {},
            "error": "invalid bearer token",
        }),
    };
    obj.insert("status".into(), status);
    Ok(Value::Object(obj))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct AccessReviewSpec {
    user: String,
    groups: Vec<String>,
    resource_attributes: Option<ResourceAttributes>,
    non_resource_attributes: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ResourceAttributes {
    namespace: String,
    verb: String,
    group: String,
    resource: String,
    subresource: String,
    name: String,
}

/// Whether `spec.user` in `spec.groups` (as given: nothing is added) may do
/// `spec.resourceAttributes`, by the test's rules.
fn access_review(shared: &Shared, mut obj: Map<String, Value>) -> Result<Value, Refusal> {
    let spec: AccessReviewSpec = spec(&obj, Review::Access)?;
    validate(&spec)?;
    let decision = {
        let settings = lock(&shared.settings);
        match &spec.resource_attributes {
            Some(r) => settings.policy.authorize(
                &spec.user,
                &spec.groups,
                &Attributes {
                    verb: &r.verb,
                    group: &r.group,
                    resource: &r.resource,
                    subresource: &r.subresource,
                    namespace: &r.namespace,
                    name: &r.name,
                },
            ),
            None => {
                let attr = |k: &str| {
                    spec.non_resource_attributes
                        .as_ref()
                        .and_then(|v| v.get(k))
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                };
                settings.policy.authorize_non_resource(
                    &spec.user,
                    &spec.groups,
                    attr("verb"),
                    attr("path"),
                )
            }
        }
    };
    // `denied` is left out: like RBAC, the fake never denies explicitly.
    let (allowed, reason) = match decision {
        Decision::Allow(reason) => (true, reason),
        Decision::NoOpinion(reason) => (false, reason),
    };
    obj.insert(
        "status".into(),
        json!({"allowed": allowed, "reason": reason}),
    );
    Ok(Value::Object(obj))
}

/// A real server's validation of a SubjectAccessReview: 422 when it fails.
fn validate(spec: &AccessReviewSpec) -> Result<(), Refusal> {
    let mut errors = Vec::new();
    if spec.resource_attributes.is_some() == spec.non_resource_attributes.is_some() {
        errors.push(
            "spec.resourceAttributes: Invalid value: \"null\": exactly one of \
             nonResourceAttributes or resourceAttributes must be specified",
        );
    }
    if spec.user.is_empty() && spec.groups.is_empty() {
        errors.push(
            "spec.user: Invalid value: \"\": at least one of user or group must be specified",
        );
    }
    let detail = match errors.as_slice() {
        [] => return Ok(()),
        [one] => one.to_string(),
        many => format!("[{}]", many.join(", ")),
    };
    let review = Review::Access;
    let message = format!(
        "{}.{} \"\" is invalid: {detail}",
        review.kind(),
        review.group()
    );
    let mut body = render::status(422, "Invalid", &message);
    body["details"] = json!({"group": review.group(), "kind": review.kind()});
    Err(Refusal(422, body))
}
