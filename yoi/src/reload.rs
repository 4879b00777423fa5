//! `yoi serve` reads workspace.toml again on SIGHUP (which `yoi config reload` sends): the
//! runtimes change as the file says, or, when it is invalid, nothing changes and every error is
//! logged as `yoi config check` prints it. What `[server]` sets is read at start only, and the
//! workspace's folders cannot move.

use std::path::{Path, PathBuf};

use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio_util::sync::CancellationToken;
use yoi_config::{ConfigError, ConfigErrors, ServerConfig, WorkspaceConfig};
use yoi_workspace_server::{AppState, ReloadError};

/// Where the configuration comes from: the file named on the command line, or the one
/// discovered in the working directory (the default configuration without one).
#[derive(Debug, Clone)]
pub(crate) enum ConfigSource {
    /// `--config`, or the path given to a `config` command.
    File(PathBuf),
    /// `./workspace.toml`, if there is one.
    Discovered(PathBuf),
}

impl ConfigSource {
    /// `path`, or the working directory's file.
    pub(crate) fn new(path: Option<&Path>) -> std::io::Result<Self> {
        Ok(match path {
            Some(path) => Self::File(path.to_owned()),
            None => Self::Discovered(std::env::current_dir()?),
        })
    }

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

/// Reloads the configuration from `source` on every SIGHUP until `shutdown` (a reload under
/// way is finished first). `started` is the configuration read at start.
pub(crate) async fn reload_on_hangup(
    mut hangups: Signal,
    state: AppState,
    (source, started): (ConfigSource, WorkspaceConfig),
    shutdown: CancellationToken,
) {
    loop {
        tokio::select! {
            hangup = hangups.recv() => if hangup.is_none() { return },
            () = shutdown.cancelled() => return,
        }
        tracing::info!("SIGHUP: reading the configuration again");
        let config = source.load().and_then(|config| {
            warn_server_changes(&started.server, &config.server);
            same_folders(&started, config)
        });
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

/// `read`, unless it moves the workspace's root or data folder: the audit log, the pid file
/// and the embedded stores stay where the Backend started, so such a file is refused.
fn same_folders(
    started: &WorkspaceConfig,
    read: WorkspaceConfig,
) -> Result<WorkspaceConfig, ConfigErrors> {
    let moved = |key: &str| ConfigError {
        file: read
            .file
            .clone()
            .unwrap_or_else(|| PathBuf::from("(default configuration)")),
        location: None,
        key: Some(format!("workspace.{key}")),
        message: "cannot change on reload: restart the Backend to move it".into(),
    };
    let mut errors = Vec::new();
    if read.root != started.root {
        errors.push(moved("root"));
    }
    if read.data_dir != started.data_dir {
        errors.push(moved("data_dir"));
    }
    match errors.is_empty() {
        true => Ok(read),
        false => Err(ConfigErrors(errors)),
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
