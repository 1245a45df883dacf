//! The built-in web UI: the files of `ui/` (one HTML page, ES modules, one
//! style sheet), embedded in the binary at build time, so an air-gapped
//! agent serves its own UI on the API port with nothing fetched or
//! installed. The page only talks to this API, through relative URLs
//! (`../api/v1/...`), so it also works behind a path prefix such as the
//! API server's pod proxy.
//!
//! * `/` redirects to `ui/` (relative, for the same reason);
//! * `/ui/` is the page, `/ui/<asset>` its scripts and styles; anything
//!   else under `/ui/` is a 404.
//!
//! Every answer says `Cache-Control: no-cache` (the files change with the
//! binary, and revalidating them is cheap next to a stale UI talking to a
//! newer API) and carries a strict Content-Security-Policy: scripts, styles
//! and connections from this origin only, no inline script, no framing.

use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// No inline script or style, nothing from another origin; records shown
/// by the page (HTTP paths, DNS names) are untrusted text, and this is the
/// second line of defence after the page's own escaping.
pub(crate) const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

/// One embedded file of `ui/`.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

macro_rules! asset {
    ($name:literal, $type:expr) => {
        Asset {
            name: $name,
            content_type: $type,
            body: include_bytes!(concat!("../../../ui/", $name)),
        }
    };
}

const JS: &str = "text/javascript; charset=utf-8";

/// Every file the page loads. The integration test `ui` checks that each
/// file of `ui/` is here, byte for byte.
const ASSETS: &[Asset] = &[
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("style.css", "text/css; charset=utf-8"),
    asset!("favicon.svg", "image/svg+xml"),
    asset!("app.js", JS),
    asset!("columns.js", JS),
    asset!("demo.js", JS),
    asset!("layout.js", JS),
    asset!("map.js", JS),
    asset!("model.js", JS),
    asset!("panel.js", JS),
    asset!("source.js", JS),
    asset!("table.js", JS),
    asset!("token.js", JS),
    asset!("util.js", JS),
];

/// The headers every answer of the UI carries.
fn secure(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    r
}

fn serve(name: &str) -> Response {
    match ASSETS.iter().find(|a| a.name == name) {
        Some(a) => secure(([(header::CONTENT_TYPE, a.content_type)], a.body).into_response()),
        None => secure(
            (
                StatusCode::NOT_FOUND,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                "no such file of the UI\n",
            )
                .into_response(),
        ),
    }
}

/// `GET /`: to the UI.
pub async fn root() -> Response {
    secure((StatusCode::FOUND, [(header::LOCATION, "ui/")]).into_response())
}

/// `GET /ui/`: the page.
pub async fn index() -> Response {
    serve("index.html")
}

/// `GET /ui/{asset}`: a script, the style sheet or the icon.
pub async fn asset(Path(name): Path<String>) -> Response {
    serve(&name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assets_are_unique_and_typed() {
        let mut names: Vec<&str> = ASSETS.iter().map(|a| a.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ASSETS.len(), "an asset is listed twice");
        for a in ASSETS {
            assert!(!a.body.is_empty(), "{} is empty", a.name);
            let ext = a.name.rsplit('.').next().unwrap_or("");
            let want = match ext {
                "html" => "text/html",
                "css" => "text/css",
                "js" => "text/javascript",
                "svg" => "image/svg+xml",
                _ => panic!("{}: no content type for .{ext}", a.name),
            };
            assert!(a.content_type.starts_with(want), "{}", a.name);
        }
    }

    #[test]
    fn the_page_has_no_inline_script() {
        let page = std::str::from_utf8(ASSETS[0].body).expect("utf-8");
        let mut rest = page;
        while let Some(at) = rest.find("<script") {
            let tag_end = rest[at..].find('>').expect("closed tag") + at;
            assert!(
                rest[at..tag_end].contains("src="),
                "inline script: {}",
                &rest[at..tag_end]
            );
            rest = &rest[tag_end..];
        }
        assert!(!page.contains(" style="), "inline style attribute");
        assert!(!page.contains("<style"), "inline style element");
    }
}
