//! The Worker Console: the Backend's own web page, plain ES modules and CSS from `server/web/`
//! embedded in the binary. Served without the browser token (the files hold no data; every
//! `/api` route the page calls needs it), with a Content-Security-Policy that allows only the
//! Backend's own scripts, styles and connections, and `nosniff`. The page's paths (`/`,
//! `/runtimes/{runtime_id}/workers`, `/runtimes/{runtime_id}/workers/{worker_id}`) all answer the
//! same page, which shows what its URL names, so that a reload or a shared link opens the same
//! view.

use axum::Router;
use axum::extract::Path;
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, ETAG, IF_NONE_MATCH, REFERRER_POLICY,
    X_CONTENT_TYPE_OPTIONS,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::error;
use crate::state::AppState;

/// What the page may load and connect to: the Backend alone, no inline script, no framing.
const POLICY: &str =
    "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// One embedded file.
struct Asset {
    /// Its path under `/assets/` (the page itself has none).
    path: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

/// The page every console path answers.
const PAGE: Asset = Asset {
    path: "",
    content_type: "text/html; charset=utf-8",
    bytes: include_bytes!("../web/index.html"),
};

const JS: &str = "text/javascript; charset=utf-8";

/// The asset at `path` under `web/`, of type `content_type`.
macro_rules! asset {
    ($path:literal, $content_type:expr) => {
        Asset {
            path: $path,
            content_type: $content_type,
            bytes: include_bytes!(concat!("../web/", $path)),
        }
    };
}

/// The files under `/assets/`.
const ASSETS: &[Asset] = &[
    asset!("app.css", "text/css; charset=utf-8"),
    asset!("js/main.js", JS),
    asset!("js/api.js", JS),
    asset!("js/dom.js", JS),
    asset!("js/stream.js", JS),
    asset!("js/feed.js", JS),
    asset!("js/views/runtimes.js", JS),
    asset!("js/views/workers.js", JS),
    asset!("js/views/console.js", JS),
];

/// The console's routes; none needs the browser token.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(page))
        .route("/runtimes/{runtime_id}/workers", get(page))
        .route("/runtimes/{runtime_id}/workers/{worker_id}", get(page))
        .route("/assets/{*path}", get(asset))
}

async fn page(headers: HeaderMap) -> Response {
    serve(&PAGE, &headers)
}

async fn asset(Path(path): Path<String>, headers: HeaderMap) -> Response {
    match ASSETS.iter().find(|asset| asset.path == path) {
        Some(asset) => serve(asset, &headers),
        None => error::no_route().await.into_response(),
    }
}

/// `asset` with the console's headers; `304` when the browser holds this very version.
fn serve(asset: &Asset, headers: &HeaderMap) -> Response {
    let tag = etag(asset.bytes);
    let fresh = headers
        .get(IF_NONE_MATCH)
        .is_some_and(|held| held.as_bytes() == tag.as_bytes());
    let common = [
        (CONTENT_SECURITY_POLICY, HeaderValue::from_static(POLICY)),
        (X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        (REFERRER_POLICY, HeaderValue::from_static("no-referrer")),
        // Revalidated each time (cheaply, by its tag): a new binary's page is never stale.
        (CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        (ETAG, HeaderValue::from_str(&tag).expect("a tag is ASCII")),
    ];
    if fresh {
        return (StatusCode::NOT_MODIFIED, common).into_response();
    }
    let content_type = [(CONTENT_TYPE, HeaderValue::from_static(asset.content_type))];
    (common, content_type, asset.bytes).into_response()
}

/// The entity tag of `bytes`: their FNV-1a hash, so that it changes with the file.
fn etag(bytes: &[u8]) -> String {
    let hash = bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("\"{hash:016x}\"")
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::ASSETS;

    /// Every file under `web/` but the page is served, so that none is forgotten.
    #[test]
    fn every_file_of_the_console_is_embedded() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("web");
        let mut files = Vec::new();
        let mut folders = vec![root.clone()];
        while let Some(folder) = folders.pop() {
            for entry in std::fs::read_dir(folder).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    folders.push(path);
                } else {
                    let relative = path.strip_prefix(&root).unwrap().to_str().unwrap();
                    files.push(relative.replace('\\', "/"));
                }
            }
        }
        files.retain(|file| file != "index.html");
        files.sort();
        let mut embedded: Vec<String> = ASSETS.iter().map(|asset| asset.path.to_owned()).collect();
        embedded.sort();
        assert_eq!(files, embedded);
    }
}
