//! The resources the fake serves, and how request paths name them: the
//! watched resources, the two reviews, and the pod proxy.

use super::wire::percent_decode;

/// One served resource type: its group/version/kind and its URL plural.
#[derive(Debug)]
pub(super) struct Resource {
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    pub plural: &'static str,
    pub namespaced: bool,
}

impl Resource {
    /// `v1` for the core group, `group/version` otherwise.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The kind of a list of this resource, e.g. `PodList`.
    pub fn list_kind(&self) -> String {
        format!("{}List", self.kind)
    }
}

const fn res(
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    plural: &'static str,
    namespaced: bool,
) -> Resource {
    Resource {
        group,
        version,
        kind,
        plural,
        namespaced,
    }
}

/// Every resource the fake knows; a [`ResourceId`] indexes this table.
pub(super) const RESOURCES: &[Resource] = &[
    res("", "v1", "Pod", "pods", true),
    res("", "v1", "Service", "services", true),
    res("", "v1", "Node", "nodes", false),
    res(
        "discovery.k8s.io",
        "v1",
        "EndpointSlice",
        "endpointslices",
        true,
    ),
    res("apps", "v1", "ReplicaSet", "replicasets", true),
    res("apps", "v1", "Deployment", "deployments", true),
    res("apps", "v1", "StatefulSet", "statefulsets", true),
    res("apps", "v1", "DaemonSet", "daemonsets", true),
    res("batch", "v1", "Job", "jobs", true),
    res("batch", "v1", "CronJob", "cronjobs", true),
];

/// An index into [`RESOURCES`].
pub(super) type ResourceId = usize;

/// Pods, which the pod proxy looks up.
pub(super) const PODS: ResourceId = 0;

/// The resource of an object's `apiVersion` and `kind`.
pub(super) fn by_kind(api_version: &str, kind: &str) -> Option<ResourceId> {
    RESOURCES
        .iter()
        .position(|r| r.kind == kind && r.api_version() == api_version)
}

fn by_plural(group: &str, version: &str, plural: &str) -> Option<ResourceId> {
    RESOURCES
        .iter()
        .position(|r| r.group == group && r.version == version && r.plural == plural)
}

/// What a request path asks for.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Route {
    Version,
    Health,
    /// A collection: every namespace when `namespace` is `None`.
    Collection {
        res: ResourceId,
        namespace: Option<String>,
    },
    /// One object.
    Object {
        res: ResourceId,
        namespace: Option<String>,
        name: String,
    },
    /// `/apis/authentication.k8s.io/v1/tokenreviews`.
    TokenReviews,
    /// `/apis/authorization.k8s.io/v1/subjectaccessreviews`.
    AccessReviews,
    /// `/api/v1/namespaces/{ns}/pods/{id}/proxy[/{rest}]`.
    PodProxy(ProxyPath),
    NotFound,
}

/// What a pod proxy path names.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct ProxyPath {
    pub namespace: String,
    /// `name`, `name:port` or `scheme:name:port`, decoded.
    pub id: String,
    /// The path to ask the pod for, as sent (still percent-encoded), with
    /// its leading `/`.
    pub rest: String,
}

/// Maps a request path (without the query) to what it names.
pub(super) fn route(path: &str) -> Route {
    match path {
        "/version" | "/version/" => return Route::Version,
        "/healthz" | "/livez" | "/readyz" => return Route::Health,
        _ => {}
    }
    let segments: Vec<String> = path
        .strip_prefix('/')
        .unwrap_or(path)
        .split('/')
        .map(|s| percent_decode(s, false))
        .collect();
    let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
    match segs.as_slice() {
        ["apis", "authentication.k8s.io", "v1", "tokenreviews"] => return Route::TokenReviews,
        ["apis", "authorization.k8s.io", "v1", "subjectaccessreviews"] => {
            return Route::AccessReviews
        }
        ["api", "v1", "namespaces", ns, "pods", id, "proxy", ..] => {
            return proxy_route(path, ns, id)
        }
        _ => {}
    }
    let (group, version, rest) = match segs.as_slice() {
        ["api", version, rest @ ..] => ("", *version, rest),
        ["apis", group, version, rest @ ..] => (*group, *version, rest),
        _ => return Route::NotFound,
    };
    let (namespace, plural, name) = match rest {
        [plural] => (None, *plural, None),
        [plural, name] => (None, *plural, Some(*name)),
        ["namespaces", ns, plural] => (Some(*ns), *plural, None),
        ["namespaces", ns, plural, name] => (Some(*ns), *plural, Some(*name)),
        _ => return Route::NotFound,
    };
    if namespace.is_some_and(str::is_empty) || name.is_some_and(str::is_empty) {
        return Route::NotFound;
    }
    let Some(res) = by_plural(group, version, plural) else {
        return Route::NotFound;
    };
    resolve(res, namespace, name)
}

/// A pod proxy path: the rest of `path` after its eighth segment (`proxy`)
/// is the pod's path, kept as sent.
fn proxy_route(path: &str, namespace: &str, id: &str) -> Route {
    if namespace.is_empty() || id.is_empty() {
        return Route::NotFound;
    }
    let rest: Vec<&str> = path.split('/').skip(8).collect();
    Route::PodProxy(ProxyPath {
        namespace: namespace.to_string(),
        id: id.to_string(),
        rest: format!("/{}", rest.join("/")),
    })
}

/// Checks scope: a namespaced path for a cluster-scoped resource names
/// nothing, and so does an object of a namespaced resource without one.
fn resolve(res: ResourceId, namespace: Option<&str>, name: Option<&str>) -> Route {
    let namespaced = RESOURCES[res].namespaced;
    if namespace.is_some() && !namespaced {
        return Route::NotFound;
    }
    let namespace = namespace.map(str::to_string);
    match name {
        None => Route::Collection { res, namespace },
        Some(_) if namespaced && namespace.is_none() => Route::NotFound,
        Some(name) => Route::Object {
            res,
            namespace,
            name: name.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(plural: &str) -> ResourceId {
        RESOURCES.iter().position(|r| r.plural == plural).unwrap()
    }

    #[test]
    fn paths_map_to_resources_and_scopes() {
        let pods = id("pods");
        assert_eq!(
            route("/api/v1/pods"),
            Route::Collection {
                res: pods,
                namespace: None
            }
        );
        assert_eq!(
            route("/api/v1/namespaces/kube-system/pods/coredns-1"),
            Route::Object {
                res: pods,
                namespace: Some("kube-system".into()),
                name: "coredns-1".into()
            }
        );
        assert_eq!(
            route("/apis/discovery.k8s.io/v1/namespaces/a/endpointslices"),
            Route::Collection {
                res: id("endpointslices"),
                namespace: Some("a".into())
            }
        );
        assert_eq!(
            route("/api/v1/nodes/n1"),
            Route::Object {
                res: id("nodes"),
                namespace: None,
                name: "n1".into()
            }
        );
        assert_eq!(route("/api/v1/namespaces/a/nodes"), Route::NotFound);
        assert_eq!(route("/api/v1/pods/p"), Route::NotFound);
        assert_eq!(route("/apis/apps/v2/deployments"), Route::NotFound);
        assert_eq!(route("/api/v1/secrets"), Route::NotFound);
        assert_eq!(route("/"), Route::NotFound);
        assert_eq!(route("/version"), Route::Version);
    }

    #[test]
    fn reviews_and_pod_proxies_have_their_routes() {
        assert_eq!(
            route("/apis/authentication.k8s.io/v1/tokenreviews"),
            Route::TokenReviews
        );
        assert_eq!(
            route("/apis/authorization.k8s.io/v1/subjectaccessreviews"),
            Route::AccessReviews
        );
        let proxy = |id: &str, rest: &str| {
            Route::PodProxy(ProxyPath {
                namespace: "ns".into(),
                id: id.into(),
                rest: rest.into(),
            })
        };
        assert_eq!(
            route("/api/v1/namespaces/ns/pods/p:8080/proxy/a%20b/c/"),
            proxy("p:8080", "/a%20b/c/")
        );
        assert_eq!(route("/api/v1/namespaces/ns/pods/p/proxy"), proxy("p", "/"));
        assert_eq!(
            route("/api/v1/namespaces/ns/pods/http:p:80/proxy/"),
            proxy("http:p:80", "/")
        );
        assert_eq!(route("/api/v1/namespaces//pods/p/proxy/"), Route::NotFound);
        assert_eq!(route("/api/v1/namespaces/ns/pods/p/log"), Route::NotFound);
    }

    #[test]
    fn pods_are_where_the_proxy_looks() {
        assert_eq!(RESOURCES[PODS].plural, "pods");
        assert_eq!(RESOURCES[PODS].group, "");
    }

    #[test]
    fn kinds_map_to_resources() {
        assert_eq!(by_kind("apps/v1", "Deployment"), Some(id("deployments")));
        assert_eq!(by_kind("v1", "Deployment"), None);
        assert_eq!(by_kind("batch/v1", "CronJob"), Some(id("cronjobs")));
    }
}
