//! Serving until SIGINT or SIGTERM: the first starts a graceful shutdown, a second one ends the
//! process at once.

use std::net::SocketAddr;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// The address to serve on cannot be bound.
#[derive(Debug, thiserror::Error)]
#[error("cannot listen on {addr}: {source}")]
pub(crate) struct BindError {
    addr: SocketAddr,
    source: std::io::Error,
}

/// A listener on `addr`.
pub(crate) async fn bind(addr: SocketAddr) -> Result<TcpListener, BindError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| BindError { addr, source })
}

/// Serves `router` on `listener` until the first signal, which cancels `shutdown` (ending open
/// event streams) and lets requests in flight finish.
pub(crate) async fn serve_until_signal(
    listener: TcpListener,
    router: axum::Router,
    options: worker_runtime::http::ServeOptions,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    worker_runtime::http::serve(listener, router, options, async move {
        signal().await;
        tracing::info!(
            "shutting down: ending event streams and finishing requests (signal again to exit now)"
        );
        // A second signal exits at once, for an operator who will not wait.
        tokio::spawn(async {
            signal().await;
            tracing::warn!("second signal: exiting without waiting");
            worker_runtime::http::flush_log();
            std::process::exit(130);
        });
        shutdown.cancel();
    })
    .await
}

/// Resolves on the first SIGINT (Ctrl-C) or SIGTERM.
async fn signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let terminate = async {
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                terminate.recv().await;
            }
            // Without a SIGTERM handler, Ctrl-C still works.
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
}
