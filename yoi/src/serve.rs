//! `yoi serve`: the Workspace Backend over every runtime of `workspace.toml` (or the default
//! configuration: one embedded runtime, plus the legacy pod store when there is one), read
//! again on SIGHUP.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use worker_runtime::http::{BearerToken, ServeOptions};
use yoi_config::{ConfigErrors, SecretRef, WorkspaceConfig};
use yoi_workspace_server::{AppState, AuditError, ServerOptions, StartError, app};

use crate::pid_file::{self, PidFile};
use crate::reload::ConfigSource;
use crate::runtime_serve::HttpArgs;
use crate::shutdown::BindError;

/// Where the Backend listens unless told otherwise.
const DEFAULT_BIND: &str = "127.0.0.1:7878";

/// Options of `yoi serve`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// The workspace.toml to serve (default: ./workspace.toml when present, else one embedded
    /// runtime).
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,
    /// The address to listen on (default: [server] bind, else 127.0.0.1:7878).
    #[arg(long)]
    bind: Option<SocketAddr>,
    /// Allow a non-loopback address without a browser token ([server] token_env or token_file):
    /// anyone who reaches it controls every runtime.
    #[arg(long)]
    insecure_no_auth: bool,
    /// Serve HTTPS (HTTP/2 or HTTP/1.1 by ALPN) with this certificate chain (PEM, with
    /// --tls-key; default: [server] tls_cert).
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The private key (PEM) of --tls-cert (default: [server] tls_key).
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Allow a non-loopback address without TLS: the browser token and all traffic then cross
    /// the network in clear text.
    #[arg(long, conflicts_with = "tls_cert")]
    insecure_plain_http: bool,
    #[command(flatten)]
    http: HttpArgs,
}

impl From<StartError> for ServeError {
    fn from(error: StartError) -> Self {
        match error {
            StartError::Config(errors) => Self::Config(errors),
            StartError::Audit(error) => Self::Audit(error),
        }
    }
}

/// Why the Backend could not start or keep serving.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ServeError {
    /// workspace.toml is malformed, or a runtime in it cannot be built.
    #[error("{0}")]
    Config(#[from] ConfigErrors),
    /// The browser token cannot be read or used.
    #[error("[server] token: {0}")]
    Token(String),
    /// A non-loopback address without a browser token and without `--insecure-no-auth`.
    #[error(
        "refusing to serve {0} without a browser token: set [server] token_env or token_file \
         (or pass --insecure-no-auth to accept that anyone who reaches it controls every runtime)"
    )]
    NeedsToken(SocketAddr),
    /// A non-loopback address without TLS and without `--insecure-plain-http`.
    #[error(
        "refusing to serve {0} over plain HTTP: pass --tls-cert and --tls-key, or set [server] \
         tls_cert and tls_key (or pass --insecure-plain-http to accept that the token and all \
         traffic cross the network in clear text)"
    )]
    NeedsTls(SocketAddr),
    /// The TLS certificate or key cannot be used.
    #[error(transparent)]
    Tls(#[from] worker_runtime::http::TlsError),
    /// The audit log cannot be opened.
    #[error(transparent)]
    Audit(#[from] AuditError),
    /// The pid file cannot be written.
    #[error("cannot write the pid file: {0}")]
    PidFile(std::io::Error),
    /// The address cannot be bound.
    #[error(transparent)]
    Bind(#[from] BindError),
    /// The async runtime or the server failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Runs the Backend until SIGINT or SIGTERM; SIGHUP reloads the configuration.
pub(crate) fn run(args: Args) -> Result<(), ServeError> {
    let _log = worker_runtime::http::init_logging();
    let source = ConfigSource::new(args.config.as_deref())?;
    let config = source.load()?;
    // Every secret the file names is read from here on (a reload too), never from the
    // environment, which programs started for Workers inherit.
    forget_secret_variables(&config);
    crate::token::seal();
    let token = config
        .server
        .token
        .as_ref()
        .map(|reference| {
            let secret = reference
                .resolve()
                .map_err(|error| ServeError::Token(error.to_string()))?;
            BearerToken::new(secret.expose()).map_err(|error| ServeError::Token(error.to_string()))
        })
        .transpose()?;
    let bind = args
        .bind
        .or(config.server.bind)
        .unwrap_or_else(|| DEFAULT_BIND.parse().expect("the default address parses"));
    if token.is_none() {
        if !bind.ip().is_loopback() && !args.insecure_no_auth {
            return Err(ServeError::NeedsToken(bind));
        }
        tracing::info!("no browser token is set: anyone who can reach the port can use the API");
    }
    let mut options = ServerOptions::new(config.data_dir.join("audit.jsonl"));
    options.token = token;
    options.body_limit = args.http.body_limit;
    options.keep_alive = args.http.keep_alive;
    let mut serving = args.http.serve_options();
    serving.tls = tls_config(&args, &config, bind)?;
    let state = AppState::configured(&config, options.clone())?;
    let backend = Backend {
        state,
        options,
        serving,
        bind,
        pid_file: pid_file::path_in(&config.data_dir),
        reload: (source, config),
    };
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(backend.serve())
}

/// The TLS configuration of the listener (the flags, else `[server]`); a non-loopback `bind`
/// without one is refused unless `--insecure-plain-http`.
fn tls_config(
    args: &Args,
    config: &WorkspaceConfig,
    bind: SocketAddr,
) -> Result<Option<Arc<rustls::ServerConfig>>, ServeError> {
    let tls_files = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some((cert.clone(), key.clone())),
        _ => config.server.tls.clone(),
    };
    match &tls_files {
        Some((cert, key)) => Ok(Some(worker_runtime::http::server_config(
            worker_runtime::http::TlsFiles {
                cert,
                key,
                client_ca: None,
            },
        )?)),
        None if !bind.ip().is_loopback() && !args.insecure_plain_http => {
            Err(ServeError::NeedsTls(bind))
        }
        None => Ok(None),
    }
}

/// A Backend ready to serve.
struct Backend {
    state: AppState,
    options: ServerOptions,
    serving: ServeOptions,
    bind: SocketAddr,
    /// Where a reload reads the configuration, and the configuration read at start.
    reload: (ConfigSource, WorkspaceConfig),
    pid_file: PathBuf,
}

impl Backend {
    async fn serve(self) -> Result<(), ServeError> {
        let listener = crate::shutdown::bind(self.bind).await?;
        let address = listener.local_addr()?;
        let state = self.state;
        for handle in state.registry().handles() {
            let descriptor = handle.descriptor();
            tracing::info!(runtime = %descriptor.id, kind = ?descriptor.kind, "runtime registered");
        }
        let hangups = crate::reload::hangups()?;
        let shutdown = self.options.shutdown.clone();
        let reloads = tokio::spawn(crate::reload::reload_on_hangup(
            hangups,
            state.clone(),
            self.reload,
            shutdown.clone(),
        ));
        let pid_file = PidFile::write(self.pid_file).map_err(ServeError::PidFile)?;
        let scheme = match self.serving.tls {
            Some(_) => "https",
            None => "http",
        };
        crate::print(&format!(
            "yoi: the workspace backend listens on {scheme}://{address}\n"
        ));
        tracing::info!("listening on {scheme}://{address}");
        let router = app(state.clone());
        crate::shutdown::serve_until_signal(listener, router, self.serving, shutdown).await?;
        // A reload under way finishes, so that what it retired is shut down and what it serves
        // is shut down below.
        let _ = reloads.await;
        for handle in state.registry().handles() {
            handle.shutdown().await;
        }
        drop(pid_file);
        tracing::info!("stopped");
        Ok(())
    }
}

/// Removes every token and API key variable the configuration names from this process's
/// environment, once read, so that programs an embedded runtime starts for its Workers do not
/// inherit them.
fn forget_secret_variables(config: &WorkspaceConfig) {
    let references = config
        .runtimes
        .iter()
        .filter_map(|entry| entry.secret.as_ref())
        .chain(config.server.token.as_ref());
    for reference in references {
        if let SecretRef::Env(name) = reference {
            crate::token::forget_variable(name);
        }
    }
    // An embedded runtime's model profiles name their keys' variables in its table.
    let profiles = config
        .runtimes
        .iter()
        .filter_map(|entry| entry.settings.get("profiles")?.as_object());
    for profile in profiles.flat_map(|profiles| profiles.values()) {
        if let Some(name) = profile.get("api_key_env").and_then(|name| name.as_str()) {
            crate::token::forget_variable(name);
        }
    }
}
