//! Who is calling, and may they: the checks every guarded route of the
//! agent's API makes (reads of records and metrics, packet captures).
//!
//! - In Kubernetes: the caller's bearer token goes to the API server
//!   (TokenReview), and the user it names must be allowed the access the
//!   route needs (SubjectAccessReview). RBAC stays the one place where
//!   access is granted or taken away.
//! - Standalone: a token file, one token per line with an optional name for
//!   the audit log (`TOKEN NAME`); re-read on every request, so rotating it
//!   needs no restart. Any listed token may do what the file is for.
//! - Neither: the guarded thing is off, and the refusal says how to turn it
//!   on.
//!
//! Tokens are compared in constant time. The token is read from
//! `Authorization: Bearer` or, because the API server's pod proxy deletes
//! `Authorization` after authenticating the caller itself, `X-Podwire-Token`.

use axum::http::{HeaderMap, StatusCode};
use podwire_k8s::auth::{review_access, review_token, Access, User};
use podwire_k8s::Client;
use std::path::PathBuf;

/// How callers are checked.
pub enum Auth {
    /// Nobody may; the reason tells the caller how to turn it on.
    Off(&'static str),
    TokenFile(PathBuf),
    Kubernetes(Client),
}

/// A refusal, as an HTTP status and a message for the caller.
#[derive(Clone, Debug)]
pub struct Refusal {
    pub status: StatusCode,
    pub message: String,
}

impl Refusal {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Refusal {
        Refusal {
            status,
            message: message.into(),
        }
    }
}

/// The bearer token of a request, if it carries one.
pub fn token(headers: &HeaderMap) -> Option<&str> {
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let own = headers.get("x-podwire-token").and_then(|v| v.to_str().ok());
    own.or(bearer).map(str::trim).filter(|t| !t.is_empty())
}

impl Auth {
    /// Who the caller is. `what` names the guarded thing in messages
    /// (`a capture`, `reading records`).
    pub async fn authenticate(&self, token: Option<&str>, what: &str) -> Result<User, Refusal> {
        let unauthorized = |m: &str| Refusal::new(StatusCode::UNAUTHORIZED, m);
        match self {
            Auth::Off(why) => Err(Refusal::new(StatusCode::FORBIDDEN, *why)),
            _ if token.is_none() => Err(unauthorized(&format!(
                "{what} needs a bearer token (Authorization: Bearer or X-Podwire-Token)"
            ))),
            Auth::TokenFile(path) => {
                let token = token.unwrap_or_default();
                let text = std::fs::read_to_string(path).map_err(|e| {
                    eprintln!("podwire: token file {}: {e}", path.display());
                    Refusal::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "the agent cannot read its token file",
                    )
                })?;
                match_token(&text, token)
                    .map(|name| User {
                        username: name,
                        ..User::default()
                    })
                    .ok_or_else(|| unauthorized("unknown token"))
            }
            Auth::Kubernetes(client) => {
                match review_token(client, token.unwrap_or_default()).await {
                    Ok(Ok(user)) => Ok(user),
                    Ok(Err(why)) => Err(unauthorized(&format!("token not accepted: {why}"))),
                    Err(e) => {
                        eprintln!("podwire: TokenReview failed: {e}");
                        Err(Refusal::new(
                            StatusCode::SERVICE_UNAVAILABLE,
                            "the agent could not review the token with the API server",
                        ))
                    }
                }
            }
        }
    }

    /// Whether `user` may do `access`; `what` says it in RBAC's words for
    /// the refusal (`capture resource "pods" (web-0) in namespace "shop"`).
    /// A token file's tokens may do anything the file is for.
    pub async fn authorize(&self, user: &User, access: &Access, what: &str) -> Result<(), Refusal> {
        let Auth::Kubernetes(client) = self else {
            return Ok(());
        };
        match review_access(client, user, access).await {
            Ok(d) if d.allowed => Ok(()),
            Ok(d) => {
                let mut message = format!("user \"{}\" cannot {what}", user.username);
                if !d.reason.is_empty() {
                    message.push_str(": ");
                    message.push_str(&d.reason);
                }
                Err(Refusal::new(StatusCode::FORBIDDEN, message))
            }
            Err(e) => {
                eprintln!("podwire: SubjectAccessReview failed: {e}");
                Err(Refusal::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("the agent could not ask the API server whether the caller may {what}"),
                ))
            }
        }
    }
}

/// The name of the line of `file` that holds `token` (`token` itself is
/// never logged: a line without a name is `token-N`).
fn match_token(file: &str, token: &str) -> Option<String> {
    let mut found = None;
    for (i, line) in file.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut parts = line.split_whitespace();
        let t = parts.next().unwrap_or_default();
        // Every line is compared, and in constant time, so timing tells
        // nothing about which token (or how much of one) matched.
        if constant_time_eq(t.as_bytes(), token.as_bytes()) && found.is_none() {
            found = Some(
                parts
                    .next()
                    .map_or_else(|| format!("token-{}", i + 1), String::from),
            );
        }
    }
    found
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_file_lines() {
        let file = "# capture tokens\n\nabc123 alice\n  def456  \nghi\tbob extra\n";
        assert_eq!(match_token(file, "abc123").as_deref(), Some("alice"));
        assert_eq!(match_token(file, "def456").as_deref(), Some("token-4"));
        assert_eq!(match_token(file, "ghi").as_deref(), Some("bob"));
        assert_eq!(match_token(file, "abc12"), None);
        assert_eq!(match_token(file, "# capture"), None);
        assert_eq!(match_token(file, ""), None);
    }

    #[test]
    fn token_from_either_header() {
        let mut h = HeaderMap::new();
        assert_eq!(token(&h), None);
        h.insert("authorization", "Bearer  t1 ".parse().unwrap());
        assert_eq!(token(&h), Some("t1"));
        h.insert("x-podwire-token", "t2".parse().unwrap());
        assert_eq!(token(&h), Some("t2"), "the proxy-safe header wins");
        let mut basic = HeaderMap::new();
        basic.insert("authorization", "Basic dTpw".parse().unwrap());
        assert_eq!(token(&basic), None);
    }
}
