//! Kubernetes names for podwire: every address named by the pod, service,
//! workload and node that held it when the traffic happened.
//!
//! - [`objects`]: the few fields kept of each API object;
//! - [`history`]: per address, who held it when (pod IPs are reused);
//! - [`cluster`]: the agent's picture of the cluster and the names it gives;
//! - [`cgroup`]: a socket's cgroup id to its container and pod, which is
//!   how hostNetwork pods, sharing their node's address, are told apart;
//! - [`watch`]: kube-rs watchers that keep the picture current.
//!
//! The picture is pure data ([`Cluster`]) so that naming is tested without
//! a server; the watchers are tested against the lab's fake API server.

pub mod access;
pub mod auth;
pub mod cgroup;
pub mod cluster;
pub mod history;
pub mod objects;
pub mod watch;

pub use cgroup::{CgroupOwner, Cgroups};
pub use cluster::{Cluster, ClusterConfig, ClusterStats};
pub use kube::Client;
pub use watch::{WatchStatus, RESOURCES};

use std::path::Path;

/// Why the API server cannot be reached at all (as opposed to failing
/// requests, which the watchers retry).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("kubeconfig {path}: {source}")]
    Kubeconfig {
        path: String,
        source: kube::config::KubeconfigError,
    },
    /// Nothing to reach a cluster with: not in a pod, and no kubeconfig
    /// where one is looked for (`kubeconfig`: those places).
    #[error(
        "no cluster to talk to: not running in a pod (KUBERNETES_SERVICE_HOST is not set) \
         and no kubeconfig at {kubeconfig}"
    )]
    NotFound { kubeconfig: String },
    /// A configuration is there but does not load (kube's reason, shown
    /// here rather than as a source so a whole chain says it once).
    #[error("cannot load the Kubernetes configuration: {0}")]
    Infer(kube::config::InferConfigError),
    #[error("Kubernetes client: {0}")]
    Client(#[from] kube::Error),
}

/// When nothing is there to load: where a kubeconfig was looked for, for
/// [`Error::NotFound`]. `service_host` is `$KUBERNETES_SERVICE_HOST` (set
/// in every pod), `kubeconfig` is `$KUBECONFIG` (a `:`-separated list), and
/// `home` the home directory (`~/.kube/config` without `$KUBECONFIG`).
fn nothing_to_load(
    service_host: Option<&std::ffi::OsStr>,
    kubeconfig: Option<&std::ffi::OsStr>,
    home: Option<&Path>,
) -> Option<String> {
    if service_host.is_some_and(|h| !h.is_empty()) {
        return None;
    }
    let paths: Vec<std::path::PathBuf> = match kubeconfig.filter(|k| !k.is_empty()) {
        Some(list) => std::env::split_paths(list).collect(),
        None => vec![home?.join(".kube/config")],
    };
    if paths.iter().any(|p| p.exists()) {
        return None;
    }
    let shown: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    Some(shown.join(", "))
}

/// A client for the in-cluster service account, `kubeconfig`, or
/// `$KUBECONFIG` / `~/.kube/config`, in that order, and the server's
/// address. Makes no request.
pub async fn client(kubeconfig: Option<&Path>) -> Result<(kube::Client, String), Error> {
    let config = match kubeconfig {
        Some(path) => {
            let err = |source| Error::Kubeconfig {
                path: path.display().to_string(),
                source,
            };
            let kc = kube::config::Kubeconfig::read_from(path).map_err(err)?;
            kube::Config::from_custom_kubeconfig(kc, &Default::default())
                .await
                .map_err(err)?
        }
        None => kube::Config::infer().await.map_err(|e| {
            let env = |k| std::env::var_os(k);
            let home = env("HOME").map(std::path::PathBuf::from);
            match nothing_to_load(
                env("KUBERNETES_SERVICE_HOST").as_deref(),
                env("KUBECONFIG").as_deref(),
                home.as_deref(),
            ) {
                Some(kubeconfig) => Error::NotFound { kubeconfig },
                None => Error::Infer(e),
            }
        })?,
    };
    let url = config.cluster_url.to_string();
    Ok((kube::Client::try_from(config)?, url))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    #[test]
    fn nothing_to_load_names_where_a_kubeconfig_was_looked_for() {
        let dir = std::env::temp_dir().join(format!("podwire-k8s-home-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let home = dir.as_path();
        let want = home.join(".kube/config").display().to_string();
        assert_eq!(nothing_to_load(None, None, Some(home)), Some(want));
        // In a pod, or with a kubeconfig there: something to load.
        assert_eq!(
            nothing_to_load(Some(OsStr::new("10.96.0.1")), None, Some(home)),
            None
        );
        std::fs::create_dir_all(home.join(".kube")).unwrap();
        std::fs::write(home.join(".kube/config"), "").unwrap();
        assert_eq!(nothing_to_load(None, None, Some(home)), None);
        // $KUBECONFIG's list instead of ~/.kube/config.
        let list = std::env::join_paths([home.join("a"), home.join("b")]).unwrap();
        let shown = nothing_to_load(None, Some(&list), Some(home)).unwrap();
        let (a, b) = (home.join("a"), home.join("b"));
        assert_eq!(shown, format!("{}, {}", a.display(), b.display()));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn not_found_says_what_is_missing_in_one_line() {
        let e = Error::NotFound {
            kubeconfig: "/root/.kube/config".into(),
        };
        let text = e.to_string();
        assert!(!text.contains('\n'));
        assert_eq!(
            text,
            "no cluster to talk to: not running in a pod (KUBERNETES_SERVICE_HOST is not set) \
             and no kubeconfig at /root/.kube/config"
        );
    }
}
