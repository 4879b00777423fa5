//! `yoi runtime serve`: one Runtime behind the REST + SSE server, for a Workspace Backend on
//! another host to reach.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use worker_runtime::http::{BearerToken, HttpOptions, router};
use worker_runtime::protocol::DEFAULT_BODY_LIMIT;
use worker_runtime::{OpenError, Runtime, RuntimeConfig, RuntimeId};
use yoi_config::{ConfigErrors, load_runtime_file};

use crate::shutdown::BindError;
use crate::token::{self, TokenSourceError};

/// Options of `yoi runtime serve`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// The runtime's id: 1 to 64 of A-Z, a-z, 0-9, '_' and '-'.
    #[arg(long)]
    id: RuntimeId,
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1:7979")]
    bind: SocketAddr,
    /// Keep Workers, events and transcripts under this folder and restore them on start
    /// (without it, everything is in memory and gone when the process ends).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// A runtime.toml with the display name, profiles and limits (the id comes from --id).
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,
    /// Require the bearer token held in this environment variable.
    #[arg(long, value_name = "VAR", conflicts_with = "token_file")]
    token_env: Option<String>,
    /// Require the bearer token held in this file.
    #[arg(long, value_name = "PATH")]
    token_file: Option<PathBuf>,
    /// Allow a non-loopback address without a token: anyone who reaches it controls the runtime.
    #[arg(long, conflicts_with_all = ["token_env", "token_file"])]
    insecure_no_auth: bool,
    /// Serve HTTPS with this certificate chain (PEM, with --tls-key).
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The private key (PEM) of --tls-cert.
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Also require a client certificate signed by this CA (PEM): mutual TLS. The token stays
    /// required on top.
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    client_ca: Option<PathBuf>,
    /// Allow a non-loopback address without TLS: the token and every Worker's input and output
    /// then cross the network in clear text.
    #[arg(long, conflicts_with = "tls_cert")]
    insecure_plain_http: bool,
    #[command(flatten)]
    http: HttpArgs,
}

/// The HTTP options both servers take.
#[derive(clap::Args)]
pub(crate) struct HttpArgs {
    /// The largest request body accepted, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_BODY_LIMIT)]
    pub(crate) body_limit: usize,
    /// How often idle event streams get a keep-alive comment (e.g. 15s, 500ms).
    #[arg(long, value_name = "DURATION", default_value = "15s", value_parser = positive_duration)]
    pub(crate) keep_alive: Duration,
    /// A connection that has not sent a whole request head this long after it opened, or after
    /// its previous answer, is closed (event streams in progress are not cut).
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = positive_duration)]
    pub(crate) header_timeout: Duration,
    /// How many connections are served at once; past it, a new one is answered 503 (default:
    /// three quarters of the process's open-file limit).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) max_connections: Option<u32>,
}

impl HttpArgs {
    /// How the server treats connections.
    pub(crate) fn serve_options(&self) -> worker_runtime::http::ServeOptions {
        let defaults = worker_runtime::http::ServeOptions::default();
        worker_runtime::http::ServeOptions {
            header_timeout: self.header_timeout,
            max_connections: self
                .max_connections
                .map_or(defaults.max_connections, |n| n as usize),
            tls: None,
        }
    }
}

/// Why the runtime process could not start or keep serving.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ServeError {
    /// runtime.toml cannot be read, is malformed or is unusable; each error names the file.
    #[error(transparent)]
    Config(#[from] ConfigErrors),
    /// The Runtime refused its configuration (one that runtime.toml's checks let through).
    #[error("the runtime configuration is unusable: {0}")]
    Unusable(#[from] worker_runtime::RuntimeConfigError),
    /// The data directory cannot be used.
    #[error("cannot use the data directory {}: {source}", path.display())]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The token could not be read.
    #[error(transparent)]
    Token(#[from] TokenSourceError),
    /// A non-loopback address without a token and without `--insecure-no-auth`.
    #[error(
        "refusing to serve {0} without a token: pass --token-env or --token-file \
         (or --insecure-no-auth to accept that anyone who reaches it controls this runtime)"
    )]
    NeedsToken(SocketAddr),
    /// A non-loopback address without TLS and without `--insecure-plain-http`.
    #[error(
        "refusing to serve {0} over plain HTTP: pass --tls-cert and --tls-key \
         (or --insecure-plain-http to accept that the token and all traffic cross the network in clear text)"
    )]
    NeedsTls(SocketAddr),
    /// The TLS certificate, key or client CA cannot be used.
    #[error(transparent)]
    Tls(#[from] worker_runtime::http::TlsError),
    /// The address cannot be bound.
    #[error(transparent)]
    Bind(#[from] BindError),
    /// The async runtime or the server failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Runs the runtime process until SIGINT or SIGTERM.
pub(crate) fn run(args: Args) -> Result<(), ServeError> {
    let _log = worker_runtime::http::init_logging();
    let config = match &args.config {
        Some(path) => load_runtime_file(path, args.id.clone())?,
        None => RuntimeConfig::new(args.id.clone()),
    };
    // The keys are read: programs the runtime starts for its Workers must not inherit them.
    let key_variables = config
        .profiles
        .values()
        .filter_map(|profile| profile.model());
    for name in key_variables.filter_map(|model| model.api_key_env.as_deref()) {
        token::forget_variable(name);
    }
    let token = match (&args.token_env, &args.token_file) {
        (Some(name), _) => Some(token::take_from_env(name)?),
        (None, Some(path)) => Some(token::from_file(path)?),
        (None, None) => None,
    };
    if token.is_none() {
        if !args.bind.ip().is_loopback() && !args.insecure_no_auth {
            return Err(ServeError::NeedsToken(args.bind));
        }
        tracing::warn!("serving without authentication: anyone who reaches the port can use it");
    }
    let tls = tls_config(&args)?;
    let runtime = match &args.data_dir {
        Some(dir) => Runtime::open(config, dir).map_err(|error| match error {
            OpenError::Config(error) => ServeError::Unusable(error),
            OpenError::Io { path, source } => ServeError::DataDir { path, source },
        })?,
        None => Runtime::new(config)?,
    };
    for diagnostic in runtime.diagnostics() {
        tracing::warn!(code = diagnostic.code, "{}", diagnostic.message);
    }
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(serve(runtime, args, token, tls))
}

/// The TLS configuration of `--tls-cert`, `--tls-key` and `--client-ca`; none without them,
/// which a non-loopback address refuses unless `--insecure-plain-http` is given.
fn tls_config(args: &Args) -> Result<Option<Arc<rustls::ServerConfig>>, ServeError> {
    let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) else {
        if !args.bind.ip().is_loopback() && !args.insecure_plain_http {
            return Err(ServeError::NeedsTls(args.bind));
        }
        return Ok(None);
    };
    let files = worker_runtime::http::TlsFiles {
        cert,
        key,
        client_ca: args.client_ca.as_deref(),
    };
    Ok(Some(worker_runtime::http::server_config(files)?))
}

async fn serve(
    runtime: Runtime,
    args: Args,
    token: Option<BearerToken>,
    tls: Option<Arc<rustls::ServerConfig>>,
) -> Result<(), ServeError> {
    let listener = crate::shutdown::bind(args.bind).await?;
    let address = listener.local_addr()?;
    let shutdown = CancellationToken::new();
    let options = HttpOptions {
        token,
        body_limit: args.http.body_limit,
        keep_alive: args.http.keep_alive,
        shutdown: shutdown.clone(),
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    tracing::info!(runtime = %runtime.id(), "listening on {scheme}://{address}");
    let mut serving = args.http.serve_options();
    serving.tls = tls;
    crate::shutdown::serve_until_signal(
        listener,
        router(runtime.clone(), options),
        serving,
        shutdown,
    )
    .await?;
    runtime.shutdown().await;
    tracing::info!("stopped");
    Ok(())
}

/// A duration such as `15s` or `500ms`, above zero.
fn positive_duration(text: &str) -> Result<Duration, String> {
    match humantime::parse_duration(text) {
        Ok(duration) if duration.is_zero() => Err("must be above zero".to_owned()),
        Ok(duration) => Ok(duration),
        Err(error) => Err(error.to_string()),
    }
}
