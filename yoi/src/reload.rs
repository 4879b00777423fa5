//! `yoi serve` reads workspace.toml again on SIGHUP (which `yoi config reload` sends): the
//! runtimes change as the file says, or, when it is invalid, nothing changes and every error is
//! logged as `yoi config check` prints it. What `[server]` sets is read at start only.

use std::path::PathBuf;

use tokio::signal::unix::{Signal, SignalKind, signal};
use yoi_config::{ConfigErrors, ServerConfig, WorkspaceConfig};
use yoi_workspace_server::{AppState, ReloadError};

/// Where the configuration comes from: the file named on the command line, or the one
/// discovered in the working directory (the default configuration without one).
#[derive(Debug, Clone)]
pub(crate) enum ConfigSource {
    /// `--config`.
    File(PathBuf),
    /// `./workspace.toml`, if there is one.
    Discovered(PathBuf),
}

impl ConfigSource {
    /// Reads the configuration now.
    pub(crate) fn load(&self) -> Result<WorkspaceConfig, ConfigErrors> {
        match self {
            Self::File(path) => WorkspaceConfig::load(path),
            Self::Discovered(dir) => WorkspaceConfig::discover(dir),
        }
    }
}

/// The SIGHUP handler, installed before the Backend says it listens (a SIGHUP without one would
/// end the process).
pub(crate) fn hangups() -> std::io::Result<Signal> {
    signal(SignalKind::hangup())
}

/// Reloads the configuration from `source` on every SIGHUP, for as long as the Backend serves.
/// `server` is the `[server]` table read at start.
pub(crate) async fn reload_on_hangup(
    mut hangups: Signal,
    state: AppState,
    source: ConfigSource,
    server: ServerConfig,
) {
    while hangups.recv().await.is_some() {
        tracing::info!("SIGHUP: reading the configuration again");
        let config = source.load();
        if let Ok(config) = &config {
            warn_server_changes(&server, &config.server);
        }
        match state.reload(config).await {
            Ok(report) => tracing::info!("configuration reloaded: {report}"),
            Err(ReloadError::Invalid(errors)) => {
                for error in &errors.0 {
                    tracing::error!("{error}");
                }
                tracing::error!(
                    "the configuration was not reloaded: {} error(s); the running one stays",
                    errors.0.len()
                );
            }
            Err(error) => tracing::error!("the configuration was not reloaded: {error}"),
        }
    }
}

/// Logs each `[server]` key that differs from the one read at start: those take effect only
/// when the Backend restarts.
fn warn_server_changes(running: &ServerConfig, read: &ServerConfig) {
    if running.bind != read.bind {
        tracing::warn!(
            "[server] bind cannot change on reload: the Backend keeps listening where it does \
             until it restarts"
        );
    }
    if running.token != read.token {
        tracing::warn!("[server] token_env/token_file changes take effect at restart");
    }
    if running.tls != read.tls {
        tracing::warn!("[server] tls_cert/tls_key changes take effect at restart");
    }
}
