//! Serving a router on a TCP listener, for a runtime process and the Backend alike: hyper's
//! HTTP/1 server directly, one task per connection, `TCP_NODELAY` on every socket (an event is
//! written when it is ready, not when the previous one is acknowledged), and a graceful
//! shutdown. A connection holds only what HTTP/1 needs: an idle event stream costs a few KiB,
//! where a server that first detects the protocol, and a router rebuilt per connection, cost
//! several times that.

use std::future::Future;
use std::io;
use std::pin::pin;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;

/// How long accepting pauses after an error that is not a connection's own (such as too many
/// open files), so that it does not spin.
const ACCEPT_PAUSE: Duration = Duration::from_secs(1);

/// Serves `router` on `listener` until `shutdown` resolves; then stops accepting, lets every
/// connection finish its response in flight (event streams end by their own shutdown token),
/// and returns once all are closed.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let graceful = GracefulShutdown::new();
    let builder = hyper::server::conn::http1::Builder::new();
    let mut shutdown = pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(error) => {
                accept_failed(&error).await;
                continue;
            }
        };
        // A socket that refuses the option still serves, a little slower.
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(router.clone());
        let connection = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            // A client that goes away mid-request is its own business.
            let _ = connection.await;
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// Waits out an accept error that is not one connection's failure.
async fn accept_failed(error: &io::Error) {
    use io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        error.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::error!("accepting a connection failed: {error}");
    tokio::time::sleep(ACCEPT_PAUSE).await;
}
