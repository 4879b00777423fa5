//! Serving a router on a TCP listener, for a runtime process and the Backend alike: hyper's
//! HTTP/1 server directly, one task per connection, `TCP_NODELAY` on every socket (an event is
//! written when it is ready, not when the previous one is acknowledged), and a graceful
//! shutdown. A connection holds only what HTTP/1 needs: an idle event stream costs a few KiB,
//! where a server that first detects the protocol, and a router rebuilt per connection, cost
//! several times that.
//!
//! Hygiene: a connection that has not sent a whole request head within
//! [`ServeOptions::header_timeout`] of opening, or of its previous answer, is closed (so one
//! that sends half a request, or idles between requests, costs nothing for long); a response in
//! progress, such as an event stream, is never cut by it. At most
//! [`ServeOptions::max_connections`] are served at once; a connection past that is answered
//! `503 too_many_connections` with `Retry-After` and closed, and the others go on. A connection
//! closed while its client still sends lingers (`linger.rs`), so that an early answer such as
//! `413` reaches any client.

use std::future::Future;
use std::io;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1::Builder;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;

use super::linger::Lingering;
use crate::protocol::ErrorBody;

/// How long accepting pauses after an error that is not a connection's own (such as too many
/// open files), so that it does not spin.
const ACCEPT_PAUSE: Duration = Duration::from_secs(1);

/// How long a refused connection may take to receive its `503`.
const REFUSAL_WRITE_LIMIT: Duration = Duration::from_secs(1);

/// The default of [`ServeOptions::header_timeout`].
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// The share of the process's file-descriptor limit that connections may take by default; the
/// rest is for files, upstream connections and the listener.
const CONNECTION_SHARE: (u64, u64) = (3, 4);

/// How [`serve`] treats connections.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// How long a connection may take to send a whole request head (after its TLS handshake),
    /// from its opening or from its previous answer; then it is closed. A TLS handshake gets as
    /// long.
    pub header_timeout: Duration,
    /// How many connections are served at once.
    pub max_connections: usize,
    /// Serve HTTPS with this configuration (see [`super::server_config`]); plain HTTP when
    /// `None`.
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            max_connections: default_max_connections(),
            tls: None,
        }
    }
}

/// Three quarters of the process's soft limit of open files (1,024 when it cannot be read, or
/// is unlimited, 64 at least).
pub fn default_max_connections() -> usize {
    let limit = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .map(|(soft, _)| soft)
        .ok()
        .filter(|soft| *soft != nix::sys::resource::RLIM_INFINITY)
        .unwrap_or(1024);
    let share = limit / CONNECTION_SHARE.1 * CONNECTION_SHARE.0;
    usize::try_from(share).unwrap_or(usize::MAX).max(64)
}

/// Serves `router` on `listener` with `options` until `shutdown` resolves; then stops
/// accepting, lets every connection finish its response in flight (event streams end by their
/// own shutdown token), and returns once all are closed.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    options: ServeOptions,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let graceful = GracefulShutdown::new();
    let mut builder = Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(options.header_timeout);
    let slots = Arc::new(Semaphore::new(options.max_connections));
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
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            tokio::spawn(refuse(stream));
            continue;
        };
        // A socket that refuses the option still serves, a little slower.
        let _ = stream.set_nodelay(true);
        let io = Lingering::new(stream);
        let (builder, router, watcher) = (builder.clone(), router.clone(), graceful.watcher());
        let tls = options.tls.clone().map(TlsAcceptor::from);
        let handshake_limit = options.header_timeout;
        tokio::spawn(async move {
            match tls {
                None => connection(&builder, io, router, watcher).await,
                Some(acceptor) => {
                    // A client that does not finish its handshake in time, or fails it, is
                    // closed; the others are not held up by it.
                    let handshake = tokio::time::timeout(handshake_limit, acceptor.accept(io));
                    let Ok(Ok(io)) = handshake.await else {
                        drop(slot);
                        return;
                    };
                    if io.get_ref().1.alpn_protocol() == Some(b"h2") {
                        http2_connection(io, router, watcher).await;
                    } else {
                        connection(&builder, io, router, watcher).await;
                    }
                }
            }
            drop(slot);
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// Serves one connection until it closes (a client that goes away mid-request is its own
/// business).
async fn connection<I>(builder: &Builder, io: I, router: Router, watcher: Watcher)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = TowerToHyperService::new(router);
    let _ = watcher
        .watch(builder.serve_connection(TokioIo::new(io), service))
        .await;
}

/// Serves one HTTP/2 connection (negotiated by ALPN) until it closes.
async fn http2_connection<I>(io: I, router: Router, watcher: Watcher)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = TowerToHyperService::new(router);
    let mut builder = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
    builder.timer(TokioTimer::new());
    let _ = watcher
        .watch(builder.serve_connection(TokioIo::new(io), service))
        .await;
}

/// Answers a connection past the cap with `503 too_many_connections` and closes it.
async fn refuse(mut stream: TcpStream) {
    let body = serde_json::to_string(&ErrorBody::new(
        "too_many_connections",
        "this server has as many connections as it serves at once; retry shortly",
    ))
    .expect("an error body serializes");
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
         retry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let write = async {
        stream.write_all(answer.as_bytes()).await?;
        stream.shutdown().await
    };
    // A client that does not read its answer in time is dropped.
    let _ = tokio::time::timeout(REFUSAL_WRITE_LIMIT, write).await;
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
