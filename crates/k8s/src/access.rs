//! `podwire sniff`'s side of the API server: the user's own credentials,
//! the pods they name, the agent on each pod's node, and a path to that
//! agent through the API server's pod proxy.
//!
//! Going through the proxy (`/api/v1/namespaces/NS/pods/AGENT:PORT/proxy/...`)
//! means no extra network path: whoever can reach the API server can
//! capture, if RBAC lets them twice: `get pods/proxy` on the agents, and
//! the capture verb on the target pod (which the agent checks itself).
//! The API server removes the caller's `Authorization` header once it has
//! authenticated it, so the user's bearer token travels to the agent in
//! `X-Podwire-Token` for the agent's own TokenReview.

use futures_util::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::api::ListParams;
use kube::config::{AuthInfo, KubeConfigOptions, Kubeconfig};
use kube::Api;
use std::collections::BTreeMap;
use std::path::Path;

/// Label every agent pod carries (the Helm chart's selector).
pub const AGENT_LABEL: &str = "app.kubernetes.io/name=podwire";
/// The agent's API port when its pod spec names none.
pub const DEFAULT_AGENT_PORT: u16 = 6676;

/// Why the cluster side of a capture could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    #[error("kubeconfig: {0}")]
    Kubeconfig(String),
    #[error("{0}")]
    Api(#[from] kube::Error),
    #[error("no pod {namespace}/{name}")]
    NoPod { namespace: String, name: String },
    #[error("no pod in {namespace} matches {selector:?}")]
    NoMatch { namespace: String, selector: String },
    #[error("pod {namespace}/{name} has no container {container:?} (it has: {have})")]
    NoContainer {
        namespace: String,
        name: String,
        container: String,
        have: String,
    },
    #[error("pod {namespace}/{name} is not running on a node yet")]
    Unscheduled { namespace: String, name: String },
    #[error("no podwire agent runs on node {node} (pods: {pods}); is the DaemonSet tolerated there? (agents looked for in namespace {agents_ns} with {AGENT_LABEL})")]
    NoAgent {
        node: String,
        pods: String,
        agents_ns: String,
    },
    #[error("no bearer token to give the agent: the kubeconfig user authenticates another way ({0}); pass --token (e.g. from `kubectl create token`)")]
    NoToken(String),
    #[error("running the kubeconfig's credential plugin {command:?}: {message}")]
    Exec { command: String, message: String },
}

/// A kube client with the user's credentials, the namespace their context
/// points at, and their bearer token if the kubeconfig gives one.
pub struct UserAccess {
    pub client: kube::Client,
    pub namespace: String,
    pub token: Result<String, AccessError>,
}

/// A pod to capture, as the API server describes it now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub namespace: String,
    pub name: String,
    pub node: String,
    pub host_network: bool,
}

/// One agent pod: where its API answers through the proxy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Agent {
    pub namespace: String,
    pub pod: String,
    pub port: u16,
    /// Whether the agent serves HTTPS (its port is named `https`): the
    /// API server's proxy then reaches it over TLS, so the caller's token
    /// does not cross the node network in clear.
    pub tls: bool,
}

/// Connects with the user's kubeconfig (`path`, else `$KUBECONFIG` /
/// `~/.kube/config`, else in-cluster) and context.
pub async fn user_access(
    path: Option<&Path>,
    context: Option<&str>,
) -> Result<UserAccess, AccessError> {
    let kc_err = |e: &dyn std::fmt::Display| AccessError::Kubeconfig(e.to_string());
    let options = KubeConfigOptions {
        context: context.map(String::from),
        ..KubeConfigOptions::default()
    };
    let kubeconfig = match path {
        Some(p) => Some(Kubeconfig::read_from(p).map_err(|e| kc_err(&e))?),
        None => Kubeconfig::read().ok(),
    };
    let config = match &kubeconfig {
        Some(kc) => kube::Config::from_custom_kubeconfig(kc.clone(), &options)
            .await
            .map_err(|e| kc_err(&e))?,
        None => kube::Config::infer().await.map_err(|e| kc_err(&e))?,
    };
    let token = bearer_token(&config.auth_info);
    let namespace = config.default_namespace.clone();
    let client = kube::Client::try_from(config)?;
    Ok(UserAccess {
        client,
        namespace,
        token,
    })
}

/// The bearer token a kubeconfig user authenticates with: a literal
/// token, a token file, or what its exec credential plugin prints.
fn bearer_token(auth: &AuthInfo) -> Result<String, AccessError> {
    if let Some(t) = &auth.token {
        use secrecy::ExposeSecret;
        return Ok(t.expose_secret().to_string());
    }
    if let Some(file) = &auth.token_file {
        return std::fs::read_to_string(file)
            .map(|t| t.trim().to_string())
            .map_err(|e| AccessError::Kubeconfig(format!("token file {file}: {e}")));
    }
    if let Some(exec) = &auth.exec {
        return exec_token(exec);
    }
    let how = if auth.client_certificate.is_some() || auth.client_certificate_data.is_some() {
        "client certificate"
    } else if auth.auth_provider.is_some() {
        "auth provider"
    } else if auth.username.is_some() {
        "basic auth"
    } else {
        "no credentials"
    };
    Err(AccessError::NoToken(how.into()))
}

/// Runs a client-go credential plugin and reads `status.token`.
fn exec_token(exec: &kube::config::ExecConfig) -> Result<String, AccessError> {
    let command = exec.command.clone().unwrap_or_default();
    let err = |message: String| AccessError::Exec {
        command: command.clone(),
        message,
    };
    let mut cmd = std::process::Command::new(&command);
    cmd.args(exec.args.iter().flatten());
    for pair in exec.env.iter().flatten() {
        if let (Some(k), Some(v)) = (pair.get("name"), pair.get("value")) {
            cmd.env(k, v);
        }
    }
    let api = exec
        .api_version
        .clone()
        .unwrap_or_else(|| "client.authentication.k8s.io/v1".into());
    cmd.env(
        "KUBERNETES_EXEC_INFO",
        serde_json::json!({"apiVersion": api, "kind": "ExecCredential", "spec": {"interactive": false}})
            .to_string(),
    );
    let out = cmd
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| err(e.to_string()))?;
    if !out.status.success() {
        return Err(err(format!("exited with {}", out.status)));
    }
    let cred: serde_json::Value =
        serde_json::from_slice(&out.stdout).map_err(|e| err(format!("output is not JSON: {e}")))?;
    cred.pointer("/status/token")
        .and_then(|t| t.as_str())
        .map(String::from)
        .ok_or_else(|| AccessError::NoToken("exec plugin gave no token".into()))
}

/// The pods named, then those matching `selector`, in `namespace`; each
/// must be scheduled, and have `container` when one is given.
pub async fn targets(
    client: &kube::Client,
    namespace: &str,
    names: &[String],
    selector: Option<&str>,
    container: Option<&str>,
) -> Result<Vec<Target>, AccessError> {
    let api: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let mut pods = Vec::new();
    for name in names {
        match api.get_opt(name).await? {
            Some(p) => pods.push(p),
            None => {
                return Err(AccessError::NoPod {
                    namespace: namespace.into(),
                    name: name.clone(),
                })
            }
        }
    }
    if let Some(sel) = selector {
        let listed = api.list(&ListParams::default().labels(sel)).await?;
        let running: Vec<Pod> = listed
            .items
            .into_iter()
            .filter(|p| {
                let phase = p.status.as_ref().and_then(|s| s.phase.as_deref());
                !matches!(phase, Some("Succeeded" | "Failed"))
            })
            .collect();
        if running.is_empty() {
            return Err(AccessError::NoMatch {
                namespace: namespace.into(),
                selector: sel.into(),
            });
        }
        pods.extend(running);
    }
    let mut out: Vec<Target> = Vec::new();
    for p in pods {
        let name = p.metadata.name.clone().unwrap_or_default();
        let spec = p.spec.unwrap_or_default();
        if let Some(c) = container {
            let have: Vec<&str> = spec.containers.iter().map(|c| c.name.as_str()).collect();
            if !have.contains(&c) {
                return Err(AccessError::NoContainer {
                    namespace: namespace.into(),
                    name,
                    container: c.into(),
                    have: have.join(", "),
                });
            }
        }
        let Some(node) = spec.node_name.clone() else {
            return Err(AccessError::Unscheduled {
                namespace: namespace.into(),
                name,
            });
        };
        let t = Target {
            namespace: namespace.into(),
            name,
            node,
            host_network: spec.host_network.unwrap_or(false),
        };
        if !out.contains(&t) {
            out.push(t);
        }
    }
    Ok(out)
}

/// The running agent of each node, from the agents' namespace.
pub async fn agents(
    client: &kube::Client,
    namespace: &str,
) -> Result<BTreeMap<String, Agent>, AccessError> {
    let api: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let listed = api.list(&ListParams::default().labels(AGENT_LABEL)).await?;
    let mut out = BTreeMap::new();
    for p in listed.items {
        let running = p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running");
        let Some(spec) = p.spec.as_ref() else {
            continue;
        };
        let (Some(node), Some(name), true) =
            (spec.node_name.clone(), p.metadata.name.clone(), running)
        else {
            continue;
        };
        let named = |want: &str| {
            spec.containers
                .iter()
                .flat_map(|c| c.ports.iter().flatten())
                .find(|port| port.name.as_deref() == Some(want))
                .and_then(|port| u16::try_from(port.container_port).ok())
        };
        let (port, tls) = match (named("https"), named("http")) {
            (Some(p), _) => (p, true),
            (None, Some(p)) => (p, false),
            (None, None) => (DEFAULT_AGENT_PORT, false),
        };
        out.insert(
            node,
            Agent {
                namespace: namespace.into(),
                pod: name,
                port,
                tls,
            },
        );
    }
    Ok(out)
}

/// The agent for `target`, or why there is none.
pub fn agent_for<'a>(
    agents: &'a BTreeMap<String, Agent>,
    target: &Target,
    agents_ns: &str,
) -> Result<&'a Agent, AccessError> {
    agents
        .get(&target.node)
        .ok_or_else(|| AccessError::NoAgent {
            node: target.node.clone(),
            pods: format!("{}/{}", target.namespace, target.name),
            agents_ns: agents_ns.into(),
        })
}

/// `GET path_and_query` on `agent` through the API server's pod proxy,
/// with the user's token for the agent; the answer's status and its body
/// as a stream of byte chunks.
pub async fn proxy_get(
    client: &kube::Client,
    agent: &Agent,
    path_and_query: &str,
    token: &str,
) -> Result<
    (
        u16,
        futures_util::stream::BoxStream<'static, Result<bytes::Bytes, String>>,
    ),
    AccessError,
> {
    let scheme = if agent.tls { "https:" } else { "" };
    let uri = format!(
        "/api/v1/namespaces/{}/pods/{scheme}{}:{}/proxy{}",
        agent.namespace, agent.pod, agent.port, path_and_query
    );
    let req = http::Request::get(uri)
        .header("X-Podwire-Token", token)
        .body(kube::client::Body::empty())
        .map_err(|e| AccessError::Kubeconfig(e.to_string()))?;
    let res = client.send(req).await?;
    let status = res.status().as_u16();
    let body = http_body_util::BodyDataStream::new(res.into_body())
        .map(|r| r.map_err(|e| e.to_string()))
        .boxed();
    Ok((status, body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::config::ExecConfig;

    #[test]
    fn token_from_literal_file_or_exec_plugin() {
        let literal = AuthInfo {
            token: Some("t-literal".to_string().into()),
            ..AuthInfo::default()
        };
        assert_eq!(bearer_token(&literal).unwrap(), "t-literal");

        let dir = std::env::temp_dir().join(format!("podwire-access-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("token");
        std::fs::write(&file, "t-file\n").unwrap();
        let from_file = AuthInfo {
            token_file: Some(file.display().to_string()),
            ..AuthInfo::default()
        };
        assert_eq!(bearer_token(&from_file).unwrap(), "t-file");

        // A client-go credential plugin: prints an ExecCredential and sees
        // KUBERNETES_EXEC_INFO and its configured environment.
        let script = r#"test -n "$KUBERNETES_EXEC_INFO" && printf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"%s"}}' "$PLUGIN_TOKEN""#;
        let exec = AuthInfo {
            exec: Some(ExecConfig {
                command: Some("sh".into()),
                args: Some(vec!["-c".into(), script.into()]),
                env: Some(vec![[
                    ("name".to_string(), "PLUGIN_TOKEN".to_string()),
                    ("value".to_string(), "t-exec".to_string()),
                ]
                .into_iter()
                .collect()]),
                ..ExecConfig::default()
            }),
            ..AuthInfo::default()
        };
        assert_eq!(bearer_token(&exec).unwrap(), "t-exec");

        let failing = AuthInfo {
            exec: Some(ExecConfig {
                command: Some("false".into()),
                ..ExecConfig::default()
            }),
            ..AuthInfo::default()
        };
        assert!(matches!(
            bearer_token(&failing),
            Err(AccessError::Exec { .. })
        ));

        let cert = AuthInfo {
            client_certificate: Some("/x.crt".into()),
            ..AuthInfo::default()
        };
        let err = bearer_token(&cert).unwrap_err().to_string();
        assert!(
            err.contains("client certificate") && err.contains("--token"),
            "{err}"
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}
