//! What a capture is of, in RBAC's terms: the verb [`VERB`] on the pod, or
//! on this node for a whole interface. `capture` is a verb of its own rather
//! than `create pods/exec`, so it can be granted without the power to run
//! commands in containers, and is granted to no one by the built-in roles
//! except cluster-admin's `*`.

use podwire_k8s::auth::Access;

/// The RBAC verb a capture needs on its target.
pub const VERB: &str = "capture";

/// What a capture is of, for authorization.
pub enum Subject<'a> {
    Pod {
        namespace: &'a str,
        name: &'a str,
    },
    /// An interface of this node (all of its pods' traffic).
    Node {
        name: &'a str,
    },
}

impl Subject<'_> {
    /// The access a SubjectAccessReview asks about.
    pub fn access(&self) -> Access {
        match *self {
            Subject::Pod { namespace, name } => Access {
                verb: VERB.into(),
                resource: "pods".into(),
                namespace: namespace.into(),
                name: name.into(),
                ..Access::default()
            },
            Subject::Node { name } => Access {
                verb: VERB.into(),
                resource: "nodes".into(),
                name: name.into(),
                ..Access::default()
            },
        }
    }

    /// The access in a refusal's words, as the API server would say it.
    pub fn describe(&self) -> String {
        match self {
            Subject::Pod { namespace, name } => {
                format!("{VERB} resource \"pods\" ({name}) in namespace \"{namespace}\"")
            }
            Subject::Node { name } => format!("{VERB} resource \"nodes\" ({name})"),
        }
    }
}
