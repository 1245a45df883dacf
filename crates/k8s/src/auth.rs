//! Who is asking, and may they: TokenReview and SubjectAccessReview, the
//! way the kubelet checks callers of its own API.
//!
//! A packet capture is payload, so the agent does not trust the network
//! path a request came by. It hands the caller's bearer token to the API
//! server (TokenReview: who is this?) and asks whether that user may do the
//! capture verb on the target (SubjectAccessReview); reads of its records
//! and metrics are checked the same way. RBAC stays the one
//! place where access is granted or taken away, and every decision is the
//! API server's. The agent's service account needs `create` on both
//! review kinds (the built-in `system:auth-delegator` ClusterRole).

use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec};
use k8s_openapi::api::authorization::v1::{
    NonResourceAttributes, ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use kube::api::PostParams;
use kube::Api;
use std::collections::BTreeMap;

/// An authenticated user, as TokenReview describes them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct User {
    pub username: String,
    pub uid: String,
    pub groups: Vec<String>,
    pub extra: BTreeMap<String, Vec<String>>,
}

/// What a user wants to do, in RBAC's terms.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Access {
    pub verb: String,
    /// API group (`""` for the core group).
    pub group: String,
    pub resource: String,
    pub subresource: String,
    /// Empty for cluster-scoped resources.
    pub namespace: String,
    pub name: String,
    /// A URL path that is not a resource (`/metrics`): when set, the
    /// review is of this path and `verb`, and the resource fields are
    /// ignored (RBAC's `nonResourceURLs`).
    pub non_resource_path: String,
}

/// The API server's answer to "may they".
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    /// The authorizer's explanation, when it gave one.
    pub reason: String,
}

/// Who holds `token`: `Ok(Err(why))` when the API server says it
/// authenticates nobody, `Err` when the API server could not be asked.
pub async fn review_token(
    client: &kube::Client,
    token: &str,
) -> Result<Result<User, String>, kube::Error> {
    let review = TokenReview {
        spec: TokenReviewSpec {
            token: Some(token.to_string()),
            audiences: None,
        },
        ..TokenReview::default()
    };
    let api: Api<TokenReview> = Api::all(client.clone());
    let answer = api.create(&PostParams::default(), &review).await?;
    let status = answer.status.unwrap_or_default();
    if status.authenticated != Some(true) {
        return Ok(Err(status
            .error
            .filter(|e| !e.is_empty())
            .unwrap_or_else(|| "the token authenticates nobody".into())));
    }
    let user = status.user.unwrap_or_default();
    Ok(Ok(User {
        username: user.username.unwrap_or_default(),
        uid: user.uid.unwrap_or_default(),
        groups: user.groups.unwrap_or_default(),
        extra: user.extra.unwrap_or_default(),
    }))
}

/// Whether `user` may do `access` (SubjectAccessReview).
pub async fn review_access(
    client: &kube::Client,
    user: &User,
    access: &Access,
) -> Result<Decision, kube::Error> {
    let opt = |s: &str| (!s.is_empty()).then(|| s.to_string());
    let review = SubjectAccessReview {
        spec: SubjectAccessReviewSpec {
            user: Some(user.username.clone()),
            uid: opt(&user.uid),
            groups: Some(user.groups.clone()),
            extra: (!user.extra.is_empty()).then(|| user.extra.clone()),
            resource_attributes: access
                .non_resource_path
                .is_empty()
                .then(|| ResourceAttributes {
                    verb: Some(access.verb.clone()),
                    group: Some(access.group.clone()),
                    resource: Some(access.resource.clone()),
                    subresource: opt(&access.subresource),
                    namespace: opt(&access.namespace),
                    name: opt(&access.name),
                    ..ResourceAttributes::default()
                }),
            non_resource_attributes: opt(&access.non_resource_path).map(|path| {
                NonResourceAttributes {
                    path: Some(path),
                    verb: Some(access.verb.clone()),
                }
            }),
        },
        ..SubjectAccessReview::default()
    };
    let api: Api<SubjectAccessReview> = Api::all(client.clone());
    let answer = api.create(&PostParams::default(), &review).await?;
    let status = answer.status.unwrap_or_default();
    Ok(Decision {
        allowed: status.allowed && status.denied != Some(true),
        reason: status
            .reason
            .or(status.evaluation_error)
            .unwrap_or_default(),
    })
}
