//! In-memory worker runtimes behind the runtime's own HTTP router, counting what reaches them:
//! accepted connections, requests, event streams requested and open. The counts are served on a control port, so
//! reading them adds nothing to them.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use axum::serve::ListenerExt;
use futures::StreamExt;
use worker_runtime::http::{BearerToken, HttpOptions, ServeOptions, TlsFiles, router};
use worker_runtime::{
    DEFAULT_PROFILE, EchoSettings, EngineSettings, ModelSettings, Runtime, RuntimeConfig, RuntimeId,
};

use super::{RUNTIME_TOKEN, bind};
use crate::child::announce;

/// What reached the runtimes of this process.
#[derive(Default, serde::Serialize, serde::Deserialize)]
pub(crate) struct Counts {
    /// Connections accepted.
    pub(crate) accepted: u64,
    /// TLS handshakes (every one full: sessions are not resumed).
    pub(crate) handshakes: u64,
    /// Requests received.
    pub(crate) requests: u64,
    /// Requests for an event stream (a Worker's events or the feed).
    pub(crate) event_streams: u64,
    /// Event streams open now (the feed's at `/v1/feed`), by path.
    pub(crate) open_event_streams: BTreeMap<String, u64>,
}

#[derive(Default)]
struct Counters {
    accepted: AtomicU64,
    handshakes: Arc<AtomicU64>,
    requests: AtomicU64,
    event_streams: AtomicU64,
    open_event_streams: Mutex<BTreeMap<String, u64>>,
}

impl Counters {
    fn open_streams(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, u64>> {
        self.open_event_streams.lock().expect("not poisoned")
    }
}

/// Counts an event stream as open until its body is dropped.
struct OpenStream {
    counters: Arc<Counters>,
    path: String,
}

impl OpenStream {
    fn new(counters: &Arc<Counters>, path: String) -> Self {
        *counters.open_streams().entry(path.clone()).or_default() += 1;
        Self {
            counters: Arc::clone(counters),
            path,
        }
    }
}

impl Drop for OpenStream {
    fn drop(&mut self) {
        let mut open = self.counters.open_streams();
        if let Some(count) = open.get_mut(&self.path) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.path);
            }
        }
    }
}

/// How the runtimes of a runtime process are served.
pub(crate) struct Served<'a> {
    /// Their `default` profile is the `openai` engine at this base URL (echo otherwise).
    pub(crate) openai: Option<&'a str>,
    /// HTTPS with `cert.pem` and `key.pem` of this folder, counting handshakes.
    pub(crate) tls: Option<&'a Path>,
    /// Each runtime is stored under this folder (memory only otherwise).
    pub(crate) data_dir: Option<&'a Path>,
    /// Characters per delta of the echo profile.
    pub(crate) chunk_chars: usize,
    /// Events each Worker retains, when not the runtime's default.
    pub(crate) retained_events: Option<usize>,
}

/// Serves `count` runtimes `rt0`, `rt1`, ..., each request first waiting `work_us`, as `served`
/// says. Over HTTPS they are served by the runtime's own server loop, counting handshakes;
/// over plain HTTP, counting accepted connections. Each announces its address once it is open
/// (a stored one after reading its store).
pub(super) async fn serve(count: usize, work_us: u64, served: Served<'_>) {
    let counters = Arc::new(Counters::default());
    let tls = served
        .tls
        .map(|dir| counting_tls(dir, Arc::clone(&counters.handshakes)));
    let work = Duration::from_micros(work_us);
    for index in 0..count {
        let id = RuntimeId::new(format!("rt{index}")).expect("a valid id");
        let config = config(id.clone(), &served);
        let runtime = match served.data_dir {
            Some(dir) => Runtime::open(config, dir),
            None => Runtime::new(config).map_err(Into::into),
        }
        .expect("the bench's runtime starts");
        let options = HttpOptions {
            token: Some(BearerToken::new(RUNTIME_TOKEN).expect("a valid token")),
            ..HttpOptions::default()
        };
        let app = router(runtime, options).layer(axum::middleware::from_fn_with_state(
            (Arc::clone(&counters), work),
            count_and_work,
        ));
        let listener = bind().await;
        announce(&format!(
            "listening {}",
            listener.local_addr().expect("bound")
        ));
        if let Some(tls) = &tls {
            let serving = ServeOptions {
                tls: Some(Arc::clone(tls)),
                ..ServeOptions::default()
            };
            let forever = std::future::pending();
            tokio::spawn(async move {
                worker_runtime::http::serve(listener, app, serving, forever).await
            });
            continue;
        }
        let accepted = Arc::clone(&counters);
        let listener = listener.tap_io(move |_| {
            accepted.accepted.fetch_add(1, Ordering::Relaxed);
        });
        tokio::spawn(async move { axum::serve(listener, app.into_make_service()).await });
    }
    let control = bind().await;
    announce(&format!("control {}", control.local_addr().expect("bound")));
    announce("ready");
    let app = axum::Router::new().route(
        "/counts",
        axum::routing::get(move || {
            let counters = Arc::clone(&counters);
            async move {
                axum::Json(Counts {
                    accepted: counters.accepted.load(Ordering::Relaxed),
                    handshakes: counters.handshakes.load(Ordering::Relaxed),
                    requests: counters.requests.load(Ordering::Relaxed),
                    event_streams: counters.event_streams.load(Ordering::Relaxed),
                    open_event_streams: counters.open_streams().clone(),
                })
            }
        }),
    );
    axum::serve(control, app)
        .await
        .expect("the control port serves");
}

/// The server configuration of `dir`'s `cert.pem` and `key.pem`, as `yoi runtime serve
/// --tls-cert --tls-key` builds it, but without session resumption (no tickets, no session
/// cache): every connection is a full handshake, and each is counted in `handshakes`.
fn counting_tls(dir: &Path, handshakes: Arc<AtomicU64>) -> Arc<rustls::ServerConfig> {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let files = TlsFiles {
        cert: &cert,
        key: &key,
        client_ca: None,
    };
    let served = worker_runtime::http::server_config(files).expect("the bench's certificate");
    let mut config = rustls::ServerConfig::clone(&served);
    config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    config.send_tls13_tickets = 0;
    config.cert_resolver = Arc::new(CountingResolver {
        inner: Arc::clone(&config.cert_resolver),
        handshakes,
    });
    Arc::new(config)
}

/// Resolves the certificate as the configuration would, counting each time (once per full
/// handshake).
#[derive(Debug)]
struct CountingResolver {
    inner: Arc<dyn rustls::server::ResolvesServerCert>,
    handshakes: Arc<AtomicU64>,
}

impl rustls::server::ResolvesServerCert for CountingResolver {
    fn resolve(
        &self,
        client_hello: rustls::server::ClientHello<'_>,
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        self.handshakes.fetch_add(1, Ordering::Relaxed);
        self.inner.resolve(client_hello)
    }
}

/// A runtime's configuration: a `default` echo profile of `served.chunk_chars`, or one with the
/// `openai` engine at `served.openai` that sends only the new input with each run (so that runs
/// stay alike as the transcript grows).
fn config(id: RuntimeId, served: &Served<'_>) -> RuntimeConfig {
    let mut config = RuntimeConfig::new(id);
    if let Some(retained) = served.retained_events {
        config.limits.retained_events = retained;
    }
    let echo = EchoSettings {
        chunk_chars: served.chunk_chars,
        delay_ms: 0,
    };
    config
        .profiles
        .insert(DEFAULT_PROFILE.to_owned(), EngineSettings::Echo(echo));
    if let Some(base_url) = served.openai {
        let mut model = ModelSettings::new("bench-model");
        model.base_url = Some(base_url.to_owned());
        model.context_entries = 1;
        config
            .profiles
            .insert(DEFAULT_PROFILE.to_owned(), EngineSettings::Openai(model));
    }
    config
}

/// Counts the request, then waits `work` on a blocking thread (a handler calling something slow)
/// before the runtime handles it.
async fn count_and_work(
    State((counters, work)): State<(Arc<Counters>, Duration)>,
    request: Request,
    next: Next,
) -> Response {
    counters.requests.fetch_add(1, Ordering::Relaxed);
    let path = request.uri().path().to_owned();
    let events = path.ends_with("/events") || path == worker_runtime::protocol::FEED;
    if events {
        counters.event_streams.fetch_add(1, Ordering::Relaxed);
    }
    if !work.is_zero() {
        tokio::task::spawn_blocking(move || std::thread::sleep(work))
            .await
            .expect("sleeping does not panic");
    }
    let response = next.run(request).await;
    if !events {
        return response;
    }
    let open = OpenStream::new(&counters, path);
    response.map(|body| {
        Body::from_stream(body.into_data_stream().map(move |chunk| {
            let _open = &open;
            chunk
        }))
    })
}
