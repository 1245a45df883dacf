//! Who a request comes from, and what it may do: bearer tokens that
//! authenticate as users with groups, and RBAC-like rules.
//!
//! A real API server authenticates every request (401 when the credentials
//! are bad), then authorizes it (403), and answers TokenReviews and
//! SubjectAccessReviews with the same two steps. The fake keeps both steps
//! and their answers, with rules much simpler than RBAC's roles and
//! bindings: one rule grants one subject (a user or group name) one verb on
//! one resource of one API group, in one namespace or in all of them (a
//! cluster role binding). Matching is RBAC's:
//!
//! - `*` as the verb, group or resource matches any (a `*` resource covers
//!   subresources too), and `*/sub` matches subresource `sub` of any
//!   resource;
//! - otherwise a rule names `resource` or `resource/subresource` exactly, so
//!   a rule on `pods` does not cover `pods/proxy`;
//! - a namespaced rule never covers cluster-scoped requests.
//!
//! Rules cannot name objects (no `resourceNames`) and cannot deny: what no
//! rule allows is refused. Non-resource URL rules (`/metrics`) match a path
//! exactly or, ending in `*`, by prefix, as RBAC's `nonResourceURLs` do.
//!
//! The token of written kubeconfigs (the required one, or
//! `podwire-lab-token` when none is) authenticates as the cluster admin,
//! `kubernetes-admin` in `system:masters`, a group real servers let do
//! anything. Tokens the test registers take precedence over it.

use super::render;
use super::wire::Request;
use super::{Settings, DEFAULT_TOKEN};
use serde_json::{json, Value};
use std::collections::HashMap;

/// The group real servers add to every authenticated user.
const AUTHENTICATED: &str = "system:authenticated";
/// The group real servers let do anything, whatever the rules.
const MASTERS: &str = "system:masters";
/// The user of the kubeconfig token (kubeadm's and kind's name for it).
const ADMIN_USER: &str = "kubernetes-admin";

/// An authenticated user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Identity {
    pub user: String,
    pub uid: String,
    pub groups: Vec<String>,
}

impl Identity {
    /// `user` in `groups` and `system:authenticated` (once), with a uid
    /// made from the name (`uid-<user>`), so tests can predict it.
    pub fn new(user: &str, groups: &[&str]) -> Identity {
        let mut all: Vec<String> = Vec::with_capacity(groups.len() + 1);
        for group in groups.iter().copied().chain([AUTHENTICATED]) {
            if !all.iter().any(|g| g == group) {
                all.push(group.to_string());
            }
        }
        Identity {
            user: user.to_string(),
            uid: format!("uid-{user}"),
            groups: all,
        }
    }

    fn admin() -> Identity {
        Identity::new(ADMIN_USER, &[MASTERS])
    }

    /// The `user` of a TokenReview's status (`UserInfo`).
    pub fn user_info(&self) -> Value {
        json!({"username": self.user, "uid": self.uid, "groups": self.groups})
    }
}

/// The bearer token of a request, if it has one (the scheme is
/// case-insensitive, as Kubernetes reads it).
pub(super) fn bearer(req: &Request) -> Option<&str> {
    let (scheme, token) = req.header("authorization")?.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Who `token` authenticates as: a registered token's identity, or the
/// admin for the kubeconfig token; `None` for unknown tokens.
pub(super) fn identify(settings: &Settings, token: &str) -> Option<Identity> {
    if let Some(identity) = settings.policy.tokens.get(token) {
        return Some(identity.clone());
    }
    let admin_token = settings.token.as_deref().unwrap_or(DEFAULT_TOKEN);
    (token == admin_token).then(Identity::admin)
}

/// Who a request comes from; `None` for anonymous requests and unknown
/// tokens alike (the reviews and the proxy refuse both with 401).
pub(super) fn authenticate(settings: &Settings, req: &Request) -> Option<Identity> {
    identify(settings, bearer(req)?)
}

/// What a request (or a SubjectAccessReview) asks to do.
#[derive(Clone, Copy, Debug)]
pub(super) struct Attributes<'a> {
    pub verb: &'a str,
    /// The API group, `""` for the core group.
    pub group: &'a str,
    pub resource: &'a str,
    /// `""` when none.
    pub subresource: &'a str,
    /// `""` for cluster-scoped requests.
    pub namespace: &'a str,
    /// `""` when none.
    pub name: &'a str,
}

impl Attributes<'_> {
    /// `resource` or `resource/subresource`, as rules name them.
    fn combined(&self) -> String {
        match self.subresource {
            "" => self.resource.to_string(),
            sub => format!("{}/{sub}", self.resource),
        }
    }

    /// `User "u" cannot VERB resource "r" in API group "g" ...`, the words
    /// of a real server's 403 and a fake SubjectAccessReview's denial.
    fn refusal(&self, user: &str) -> String {
        let resource = self.combined();
        let scope = match self.namespace {
            "" => "at the cluster scope".to_string(),
            ns => format!("in the namespace {ns:?}"),
        };
        format!(
            "User {user:?} cannot {} resource {resource:?} in API group {:?} {scope}",
            self.verb, self.group
        )
    }

    /// The 403 `Status` a real server answers when `user` may not do this.
    pub fn forbidden(&self, user: &str) -> Value {
        let qualified = match self.group {
            "" => self.resource.to_string(),
            group => format!("{}.{group}", self.resource),
        };
        let subject = match self.name {
            "" => qualified,
            name => format!("{qualified} {name:?}"),
        };
        let message = format!("{subject} is forbidden: {}", self.refusal(user));
        let mut body = render::status(403, "Forbidden", &message);
        body["details"] = json!({"name": self.name, "group": self.group, "kind": self.resource});
        body
    }
}

/// An authorizer's answer. There is no explicit denial: like RBAC, the
/// fake either allows or has no opinion (which refuses).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Decision {
    Allow(String),
    NoOpinion(String),
}

/// One grant (see the module docs for how it matches).
#[derive(Clone, Debug)]
pub(super) struct Rule {
    pub subject: String,
    pub verb: String,
    pub group: String,
    pub resource: String,
    /// `None` for every namespace and cluster-scoped resources.
    pub namespace: Option<String>,
}

impl Rule {
    fn covers(&self, subjects: &[&str], attrs: &Attributes) -> bool {
        subjects.contains(&self.subject.as_str())
            && wild_or(&self.verb, attrs.verb)
            && wild_or(&self.group, attrs.group)
            && self.covers_resource(attrs)
            && self
                .namespace
                .as_deref()
                .is_none_or(|ns| ns == attrs.namespace)
    }

    /// RBAC's `ResourceMatches`.
    fn covers_resource(&self, attrs: &Attributes) -> bool {
        if self.resource == "*" || self.resource == attrs.combined() {
            return true;
        }
        !attrs.subresource.is_empty() && self.resource.strip_prefix("*/") == Some(attrs.subresource)
    }

    fn describe(&self) -> String {
        let scope = match &self.namespace {
            None => "in all namespaces".to_string(),
            Some(ns) => format!("in the namespace {ns:?}"),
        };
        format!(
            "{:?} may {} resource {:?} in API group {:?} {scope}",
            self.subject, self.verb, self.resource, self.group
        )
    }
}

fn wild_or(rule: &str, requested: &str) -> bool {
    rule == "*" || rule == requested
}

/// The test's tokens and rules.
#[derive(Debug, Default)]
pub(super) struct Policy {
    tokens: HashMap<String, Identity>,
    rules: Vec<Rule>,
    /// (subject, verb, path) of non-resource URL rules.
    non_resource: Vec<(String, String, String)>,
}

impl Policy {
    /// Registers (or replaces) a token.
    pub fn add_token(&mut self, token: &str, identity: Identity) {
        self.tokens.insert(token.to_string(), identity);
    }

    pub fn allow(&mut self, rule: Rule) {
        self.rules.push(rule);
    }

    /// Whether `user` in `groups` may do `attrs`.
    pub fn authorize(&self, user: &str, groups: &[String], attrs: &Attributes) -> Decision {
        if groups.iter().any(|g| g == MASTERS) {
            return Decision::Allow(format!("{MASTERS} may do anything"));
        }
        let subjects: Vec<&str> = [user]
            .into_iter()
            .filter(|u| !u.is_empty())
            .chain(groups.iter().map(String::as_str))
            .collect();
        match self.rules.iter().find(|r| r.covers(&subjects, attrs)) {
            Some(rule) => Decision::Allow(format!("allowed by rule: {}", rule.describe())),
            None => Decision::NoOpinion(format!("no rule allows it: {}", attrs.refusal(user))),
        }
    }

    pub fn allow_non_resource(&mut self, subject: &str, verb: &str, path: &str) {
        self.non_resource
            .push((subject.into(), verb.into(), path.into()));
    }

    /// Whether `user` in `groups` may do `verb` on the non-resource URL
    /// `path`.
    pub fn authorize_non_resource(
        &self,
        user: &str,
        groups: &[String],
        verb: &str,
        path: &str,
    ) -> Decision {
        if groups.iter().any(|g| g == MASTERS) {
            return Decision::Allow(format!("{MASTERS} may do anything"));
        }
        let covers = |(subject, v, p): &&(String, String, String)| {
            let who = (!user.is_empty() && subject == user) || groups.iter().any(|g| g == subject);
            let url = match p.strip_suffix('*') {
                Some(prefix) => path.starts_with(prefix),
                None => p == path,
            };
            who && wild_or(v, verb) && url
        };
        match self.non_resource.iter().find(covers) {
            Some((subject, v, p)) => Decision::Allow(format!(
                "allowed by rule: {subject} may {v} non-resource URL {p}"
            )),
            None => Decision::NoOpinion(format!(
                "no rule allows it: user \"{user}\" cannot {verb} path \"{path}\""
            )),
        }
    }
}

/// The verb a real server authorizes an HTTP method as (`list` rather than
/// `get` on collections, `deletecollection` rather than `delete`).
pub(super) fn verb_of(method: &str, collection: bool) -> String {
    match (method, collection) {
        ("GET" | "HEAD", false) => "get".into(),
        ("GET" | "HEAD", true) => "list".into(),
        ("POST", _) => "create".into(),
        ("PUT", _) => "update".into(),
        ("PATCH", _) => "patch".into(),
        ("DELETE", false) => "delete".into(),
        ("DELETE", true) => "deletecollection".into(),
        (other, _) => other.to_ascii_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(subject: &str, verb: &str, group: &str, resource: &str, ns: Option<&str>) -> Rule {
        Rule {
            subject: subject.into(),
            verb: verb.into(),
            group: group.into(),
            resource: resource.into(),
            namespace: ns.map(str::to_string),
        }
    }

    fn proxy_in(ns: &str) -> Attributes<'_> {
        Attributes {
            verb: "get",
            group: "",
            resource: "pods",
            subresource: "proxy",
            namespace: ns,
            name: "p",
        }
    }

    fn allowed(policy: &Policy, user: &str, groups: &[&str], attrs: &Attributes) -> bool {
        let groups: Vec<String> = groups.iter().map(|g| g.to_string()).collect();
        matches!(policy.authorize(user, &groups, attrs), Decision::Allow(_))
    }

    #[test]
    fn rules_match_like_rbac() {
        let mut policy = Policy::default();
        policy.allow(rule("alice", "get", "", "pods", None));
        policy.allow(rule("devs", "*", "", "pods/proxy", Some("a")));
        policy.allow(rule("ops", "get", "*", "*/proxy", None));
        policy.allow(rule("root", "*", "*", "*", None));
        let attrs = proxy_in("a");
        assert!(
            !allowed(&policy, "alice", &[], &attrs),
            "pods is not pods/proxy"
        );
        assert!(allowed(&policy, "bob", &["devs"], &attrs));
        assert!(!allowed(&policy, "bob", &["devs"], &proxy_in("b")));
        assert!(allowed(&policy, "carol", &["ops"], &proxy_in("b")));
        assert!(allowed(&policy, "root", &[], &proxy_in("b")));
        assert!(allowed(&policy, "x", &[MASTERS], &proxy_in("b")));
        let pods = Attributes {
            subresource: "",
            ..proxy_in("b")
        };
        assert!(allowed(&policy, "alice", &[], &pods));
        assert!(!allowed(&policy, "carol", &["ops"], &pods), "*/proxy");
    }

    #[test]
    fn namespaced_rules_do_not_cover_the_cluster_scope() {
        let mut policy = Policy::default();
        policy.allow(rule(
            "u",
            "create",
            "authentication.k8s.io",
            "tokenreviews",
            Some("a"),
        ));
        let review = Attributes {
            verb: "create",
            group: "authentication.k8s.io",
            resource: "tokenreviews",
            subresource: "",
            namespace: "",
            name: "",
        };
        assert!(!allowed(&policy, "u", &[], &review));
        let body = review.forbidden("u");
        assert_eq!(
            body["message"],
            "tokenreviews.authentication.k8s.io is forbidden: User \"u\" cannot create \
             resource \"tokenreviews\" in API group \"authentication.k8s.io\" at the cluster scope"
        );
        assert_eq!(
            proxy_in("a").forbidden("u")["message"],
            "pods \"p\" is forbidden: User \"u\" cannot get resource \"pods/proxy\" \
             in API group \"\" in the namespace \"a\""
        );
    }

    #[test]
    fn identities_are_authenticated_once() {
        let id = Identity::new("alice", &["devs", AUTHENTICATED]);
        assert_eq!(id.groups, ["devs", AUTHENTICATED]);
        assert_eq!(id.uid, "uid-alice");
    }
}
