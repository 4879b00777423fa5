//! The floor of scenario 3: a bare axum handler answering the Backend's worker detail body as
//! fixed bytes at the same path, with nothing else in the way.

use std::path::Path;

use axum::http::header::CONTENT_TYPE;
use bytes::Bytes;

use super::bind;
use crate::child::announce;

/// Serves `body` as `application/json` at `/api/runtimes/{runtime}/workers/{worker}`.
pub(super) async fn serve(body: &Path) {
    let body = Bytes::from(std::fs::read(body).expect("the body file is readable"));
    let app = axum::Router::new().route(
        "/api/runtimes/{runtime}/workers/{worker}",
        axum::routing::get(move || async move { ([(CONTENT_TYPE, "application/json")], body) }),
    );
    let listener = bind().await;
    announce(&format!(
        "listening {}",
        listener.local_addr().expect("bound")
    ));
    announce("ready");
    // Served as the Backend is, so that the comparison is of the handlers alone.
    worker_runtime::http::serve(
        listener,
        app,
        worker_runtime::http::ServeOptions::default(),
        std::future::pending(),
    )
    .await
    .expect("the bare handler serves");
}
