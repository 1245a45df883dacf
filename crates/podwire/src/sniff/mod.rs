//! `podwire sniff` (and `kubectl podwire sniff`): pods' packets, captured
//! by the podwire agents on their nodes, merged into one pcapng.
//!
//! Nothing is copied into the pods and no privileged pod is started: the
//! agent already on each node captures on the pod's veth. The client finds
//! each pod's node and that node's agent with the user's kubeconfig, and
//! reaches the agent through the API server's pod proxy, so it needs no
//! network path of its own; the agent checks the user's token and RBAC
//! (see `agent::capture`). Streams are opened all at once and checked
//! before anything is written: one refused or unknown pod fails the
//! command with the agent's reason, instead of a file missing a pod.
//! `--agent URL` talks to one agent directly (standalone hosts, or a
//! port-forwarded agent).

mod merge;

use crate::cli::SniffArgs;
use anyhow::{bail, Context, Result};
use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use merge::{Event, StreamInfo};
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::Arc;

/// Chunks of one stream queued between the network and its reader.
const QUEUED_CHUNKS: usize = 64;
/// Packets queued for the merger, all streams together.
const QUEUED_PACKETS: usize = 8192;
/// Most of an error answer shown.
const MAX_ERROR: usize = 4096;

type Chunks = BoxStream<'static, Result<Bytes, String>>;

/// One capture stream being opened.
struct Opened {
    info: StreamInfo,
    body: Chunks,
}

pub fn run(args: SniffArgs) -> Result<ExitCode> {
    let query = capture_query(&args)?;
    let token = match (&args.token, &args.token_file) {
        (Some(t), _) => Some(t.trim().to_string()),
        // The first word of the first line that is not a comment, so an
        // agent's token file (`TOKEN NAME` lines) works as it is.
        (None, Some(f)) => std::fs::read_to_string(f)
            .with_context(|| format!("reading {}", f.display()))?
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with('#'))
            .and_then(|l| l.split_whitespace().next())
            .map(String::from),
        _ => None,
    };
    // Checked now, opened once every stream is: a refused capture leaves no file.
    let output_path = args.output.clone();
    if output_path.is_none() && std::io::stdout().is_terminal() && !wireshark_installed() {
        bail!("standard output is a terminal and Wireshark is not installed: write a file (-o capture.pcapng) or pipe (-o - | tshark -r -)");
    }
    let stop = Arc::new(AtomicBool::new(false));
    let (events_tx, events_rx) = sync_channel::<Event>(QUEUED_PACKETS);
    let (opened_tx, opened_rx) = std::sync::mpsc::channel::<Result<Vec<StreamInfo>>>();
    let quiet = args.quiet;
    let stop_net = Arc::clone(&stop);
    let net = std::thread::Builder::new()
        .name("podwire-sniff-net".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = opened_tx.send(Err(e.into()));
                    return;
                }
            };
            rt.block_on(async move {
                let opened = match open_all(&args, &query, token).await {
                    Ok(o) => o,
                    Err(e) => {
                        let _ = opened_tx.send(Err(e));
                        return;
                    }
                };
                let (infos, bodies): (Vec<_>, Vec<_>) =
                    opened.into_iter().map(|o| (o.info, o.body)).unzip();
                let _ = opened_tx.send(Ok(infos));
                let pumps = bodies
                    .into_iter()
                    .enumerate()
                    .map(|(i, body)| pump(i, body, events_tx.clone()));
                let all = futures_util::future::join_all(pumps);
                tokio::select! {
                    _ = all => {}
                    _ = interrupted() => stop_net.store(true, Ordering::Relaxed),
                }
            });
        })
        .context("starting the network thread")?;
    let infos = opened_rx
        .recv()
        .context("the network thread ended early")??;
    let mut output = Output::choose(output_path.as_deref())?;
    if !quiet {
        for s in &infos {
            eprintln!("podwire: capturing {} ({})", s.name, s.description);
        }
    }
    let totals = merge::merge(&infos, events_rx, output.writer(), &stop);
    let _ = net.join();
    output.finish()?;
    let totals = match totals {
        Ok(t) => t,
        // The reader went away (Wireshark closed, `| head`): a clean end.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(ExitCode::SUCCESS),
        Err(e) => return Err(e).context("writing the capture"),
    };
    let mut failed = false;
    for (s, t) in infos.iter().zip(&totals) {
        if let Some(e) = &t.error {
            failed = true;
            eprintln!("podwire: {}: stream ended with an error: {e}", s.name);
        }
        let dropped = t.agent.as_ref().and_then(|a| a.dropped).unwrap_or(0);
        if dropped > 0 {
            eprintln!(
                "podwire: {}: the agent dropped {dropped} packets (ring full or over its capture rate cap)",
                s.name
            );
        }
        if !quiet {
            let why = t.agent.as_ref().and_then(|a| a.comment.as_deref());
            eprintln!(
                "podwire: {}: {} packets, {} bytes{}",
                s.name,
                t.packets,
                t.bytes,
                why.map(|w| format!(" ({w})")).unwrap_or_default()
            );
        }
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Feeds one stream's chunks to a reader thread that parses them.
async fn pump(stream: usize, mut body: Chunks, events: SyncSender<Event>) {
    let (tx, rx) = sync_channel::<Vec<u8>>(QUEUED_CHUNKS);
    let ev = events.clone();
    let reader = std::thread::Builder::new()
        .name(format!("podwire-sniff-{stream}"))
        .spawn(move || merge::read_stream(stream, merge::ChunkReader::new(rx), ev));
    if reader.is_err() {
        let _ = events.send(Event::End {
            stream,
            error: Some("cannot start a reader thread".into()),
            stats: None,
        });
        return;
    }
    while let Some(chunk) = body.next().await {
        match chunk {
            Ok(c) => {
                // The reader blocks on a full queue; wait for it off the runtime.
                let tx = tx.clone();
                if tokio::task::spawn_blocking(move || tx.send(c.to_vec()))
                    .await
                    .map_or(true, |r| r.is_err())
                {
                    return;
                }
            }
            Err(e) => {
                drop(tx);
                let _ = events.send(Event::End {
                    stream,
                    error: Some(format!("connection lost: {e}")),
                    stats: None,
                });
                return;
            }
        }
    }
}

async fn interrupted() {
    use tokio::signal::unix::{signal, SignalKind};
    match (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) {
        (Ok(mut i), Ok(mut t)) => {
            tokio::select! {
                _ = i.recv() => {}
                _ = t.recv() => {}
            }
        }
        _ => std::future::pending().await,
    }
}

/// The query every capture request shares (filter, limits).
fn capture_query(args: &SniffArgs) -> Result<String> {
    let mut q = Vec::new();
    if let Some(f) = &args.filter {
        q.push(format!("filter={}", encode(f)));
    }
    if let Some(s) = args.snaplen {
        q.push(format!("snaplen={s}"));
    }
    if let Some(d) = &args.duration {
        let parsed = humantime::parse_duration(d)
            .or_else(|_| d.parse::<u64>().map(std::time::Duration::from_secs))
            .map_err(|_| anyhow::anyhow!("--duration {d:?}: expected 30s, 5m, 1h, ..."))?;
        q.push(format!("duration={}ms", parsed.as_millis().max(1)));
    }
    if let Some(c) = args.count {
        q.push(format!("count={c}"));
    }
    if let Some(c) = &args.container {
        q.push(format!("container={}", encode(c)));
    }
    Ok(q.join("&"))
}

/// Percent-encodes everything but unreserved characters.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Opens every stream and checks each answered 200.
async fn open_all(args: &SniffArgs, query: &str, token: Option<String>) -> Result<Vec<Opened>> {
    let attempts = match &args.agent {
        Some(url) => open_direct(args, url, query, token).await?,
        None => open_via_kubernetes(args, query, token).await?,
    };
    let mut opened = Vec::new();
    let mut errors = Vec::new();
    for (info, answer) in attempts {
        match answer {
            Ok((200, body)) => opened.push(Opened { info, body }),
            Ok((status, body)) => {
                let text = error_text(body).await;
                errors.push(format!(
                    "{}: the agent answered {status}: {text}",
                    info.name
                ));
            }
            Err(e) => errors.push(format!("{}: {e:#}", info.name)),
        }
    }
    if !errors.is_empty() {
        bail!("{}", errors.join("\n  "));
    }
    Ok(opened)
}

/// The `error` of a JSON error answer, or its text.
async fn error_text(mut body: Chunks) -> String {
    let mut buf = Vec::new();
    while let Some(Ok(c)) = body.next().await {
        buf.extend_from_slice(&c);
        if buf.len() > MAX_ERROR {
            break;
        }
    }
    let text = String::from_utf8_lossy(&buf[..buf.len().min(MAX_ERROR)]).into_owned();
    serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(String::from))
        .or_else(|| {
            serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|v| v.get("message").and_then(|e| e.as_str()).map(String::from))
        })
        .unwrap_or_else(|| text.trim().to_string())
}

type Attempt = (StreamInfo, Result<(u16, Chunks)>);

async fn open_direct(
    args: &SniffArgs,
    url: &str,
    query: &str,
    token: Option<String>,
) -> Result<Vec<Attempt>> {
    let (rest, tls) = match (url.strip_prefix("http://"), url.strip_prefix("https://")) {
        (Some(rest), _) => (rest, None),
        (_, Some(rest)) => {
            let ca = args.agent_ca.as_deref().with_context(|| {
                format!("--agent {url:?}: an https:// agent needs --agent-ca FILE (the CA of its certificate)")
            })?;
            let connector = crate::tls_client::connector(ca)
                .with_context(|| format!("--agent-ca {}", ca.display()))?;
            (rest, Some(connector))
        }
        _ => bail!("--agent {url:?}: expected an http:// or https:// URL"),
    };
    let (host, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    let prefix = prefix.trim_end_matches('/');
    let prefix = if prefix.is_empty() {
        String::new()
    } else {
        format!("/{prefix}")
    };
    let and = if query.is_empty() { "" } else { "&" };
    let mut targets = Vec::new();
    if let Some(i) = &args.interface {
        targets.push((i.clone(), format!("interface={}{and}{query}", encode(i))));
    }
    let ns = args.namespace.clone().unwrap_or_else(|| "default".into());
    for p in &args.pods {
        targets.push((
            format!("{ns}/{p}"),
            format!("namespace={}&pod={}{and}{query}", encode(&ns), encode(p)),
        ));
    }
    if args.selector.is_some() {
        bail!("-l needs Kubernetes (without --agent): the agent alone does not list pods");
    }
    if targets.is_empty() {
        bail!("say what to capture: -i INTERFACE, or pods");
    }
    let attempts = targets.into_iter().map(|(name, q)| {
        let path = format!("{prefix}/api/v1/capture?{q}");
        let (host, token, tls) = (host.to_string(), token.clone(), tls.clone());
        async move {
            let answer = direct_get(&host, &path, token.as_deref(), tls.as_ref()).await;
            let description = format!("via {host}");
            (
                StreamInfo {
                    name,
                    description,
                    snaplen: args.snaplen.unwrap_or(262_144),
                },
                answer,
            )
        }
    });
    Ok(futures_util::future::join_all(attempts).await)
}

/// One streaming HTTP/1.1 GET to `host` (`HOST:PORT`), over TLS with
/// `tls` (the certificate checked against the host's name or address).
async fn direct_get(
    host: &str,
    path: &str,
    token: Option<&str>,
    tls: Option<&tokio_rustls::TlsConnector>,
) -> Result<(u16, Chunks)> {
    let stream = tokio::net::TcpStream::connect(host)
        .await
        .with_context(|| format!("connecting to {host}"))?;
    let _ = stream.set_nodelay(true);
    let mut sender = match tls {
        None => handshake(stream).await?,
        Some(connector) => {
            let name = host.rsplit_once(':').map_or(host, |(h, _)| h);
            let name = name.trim_start_matches('[').trim_end_matches(']');
            let server = rustls::pki_types::ServerName::try_from(name.to_string())
                .with_context(|| format!("{name:?} as a TLS server name"))?;
            let stream = connector
                .connect(server, stream)
                .await
                .with_context(|| format!("TLS with {host}"))?;
            handshake(stream).await?
        }
    };
    let mut req = hyper::Request::get(path).header(hyper::header::HOST, host);
    if let Some(t) = token {
        req = req.header(hyper::header::AUTHORIZATION, format!("Bearer {t}"));
    }
    let res = sender
        .send_request(req.body(Empty::<Bytes>::new())?)
        .await
        .context("sending the capture request")?;
    let status = res.status().as_u16();
    let body = http_body_util::BodyDataStream::new(res.into_body().map_err(|e| e.to_string()))
        .map(|r| r.map_err(|e| e.to_string()))
        .boxed();
    Ok((status, body))
}

/// HTTP/1.1 on `io`, its connection driven by a task of its own.
async fn handshake<S>(io: S) -> Result<hyper::client::conn::http1::SendRequest<Empty<Bytes>>>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .context("HTTP handshake")?;
    tokio::spawn(conn);
    Ok(sender)
}

async fn open_via_kubernetes(
    args: &SniffArgs,
    query: &str,
    token: Option<String>,
) -> Result<Vec<Attempt>> {
    use podwire_k8s::access;
    if args.interface.is_some() {
        bail!("-i INTERFACE goes with --agent");
    }
    if args.pods.is_empty() && args.selector.is_none() {
        bail!("say which pods: POD... or -l SELECTOR (or --agent URL -i INTERFACE)");
    }
    let user = access::user_access(args.kubeconfig.as_deref(), args.context.as_deref()).await?;
    let token = match token {
        Some(t) => t,
        None => user.token?,
    };
    let ns = args.namespace.clone().unwrap_or(user.namespace.clone());
    let targets = access::targets(
        &user.client,
        &ns,
        &args.pods,
        args.selector.as_deref(),
        args.container.as_deref(),
    )
    .await?;
    if let Some(t) = targets.iter().find(|t| t.host_network) {
        bail!(
            "pod {}/{} uses its node's network and has no interface of its own; capture the node's interface through its agent (--agent URL -i INTERFACE) with a filter",
            t.namespace,
            t.name
        );
    }
    let agents = access::agents(&user.client, &args.agent_namespace).await?;
    let and = if query.is_empty() { "" } else { "&" };
    let mut plans = Vec::new();
    for t in &targets {
        let agent = access::agent_for(&agents, t, &args.agent_namespace)?.clone();
        let path = format!(
            "/api/v1/capture?namespace={}&pod={}{and}{query}",
            encode(&t.namespace),
            encode(&t.name)
        );
        plans.push((t.clone(), agent, path));
    }
    let attempts = plans.into_iter().map(|(t, agent, path)| {
        let (client, token) = (user.client.clone(), token.clone());
        async move {
            let answer = access::proxy_get(&client, &agent, &path, &token)
                .await
                .map_err(anyhow::Error::from);
            (
                StreamInfo {
                    name: format!("{}/{}", t.namespace, t.name),
                    description: format!("on {} via agent {}", t.node, agent.pod),
                    snaplen: args.snaplen.unwrap_or(262_144),
                },
                answer,
            )
        }
    });
    Ok(futures_util::future::join_all(attempts).await)
}

fn wireshark_installed() -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|d| d.join("wireshark").is_file()))
}

/// Where the merged pcapng goes.
enum Output {
    File(std::io::BufWriter<std::fs::File>),
    Stdout(std::io::Stdout),
    Wireshark(std::process::Child),
}

impl Output {
    fn choose(path: Option<&std::path::Path>) -> Result<Output> {
        match path {
            Some(p) if p.as_os_str() == "-" => Ok(Output::Stdout(std::io::stdout())),
            Some(p) => {
                let f = std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?;
                Ok(Output::File(std::io::BufWriter::new(f)))
            }
            None if !std::io::stdout().is_terminal() => Ok(Output::Stdout(std::io::stdout())),
            None => match std::process::Command::new("wireshark")
                .args(["-k", "-i", "-"])
                .stdin(std::process::Stdio::piped())
                .spawn()
            {
                Ok(child) => Ok(Output::Wireshark(child)),
                Err(_) => bail!(
                    "standard output is a terminal and Wireshark is not installed: write a file (-o capture.pcapng) or pipe (-o - | tshark -r -)"
                ),
            },
        }
    }

    fn writer(&mut self) -> Box<dyn Write + '_> {
        match self {
            Output::File(f) => Box::new(f),
            Output::Stdout(s) => Box::new(s.lock()),
            Output::Wireshark(c) => match c.stdin.as_mut() {
                Some(stdin) => Box::new(stdin),
                None => Box::new(std::io::sink()),
            },
        }
    }

    fn finish(self) -> Result<()> {
        match self {
            Output::File(mut f) => f.flush().context("writing the capture file"),
            Output::Stdout(mut s) => {
                let _ = s.flush();
                Ok(())
            }
            Output::Wireshark(mut c) => {
                drop(c.stdin.take());
                let _ = c.wait();
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_keeps_filters_intact() {
        assert_eq!(encode("tcp port 443"), "tcp%20port%20443");
        assert_eq!(encode("a&b=c+d"), "a%26b%3Dc%2Bd");
        assert_eq!(encode("web-1.x_y~"), "web-1.x_y~");
    }
}
