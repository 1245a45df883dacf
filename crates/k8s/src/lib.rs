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
    #[error("no Kubernetes configuration (not in a pod, no kubeconfig): {0}")]
    Infer(#[from] kube::config::InferConfigError),
    #[error("Kubernetes client: {0}")]
    Client(#[from] kube::Error),
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
        None => kube::Config::infer().await?,
    };
    let url = config.cluster_url.to_string();
    Ok((kube::Client::try_from(config)?, url))
}
