//! A Backend served on 127.0.0.1:0 until dropped, and the registry of a workspace.toml.

use std::path::Path;

use tokio_util::sync::CancellationToken;
use yoi_config::WorkspaceConfig;
use yoi_registry_core::RuntimeRegistry;
use yoi_workspace_server::{AppState, ServerOptions, app};

use crate::Api;

/// A Backend served on a free port of 127.0.0.1; it shuts down when dropped.
pub struct ServedBackend {
    /// A client of it.
    pub api: Api,
    /// Its state, for what only the server can tell (e.g. its shared streams).
    pub state: AppState,
    shutdown: CancellationToken,
}

impl Drop for ServedBackend {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Serves the Backend over `registry` with `options`.
pub async fn serve_backend(registry: RuntimeRegistry, options: ServerOptions) -> ServedBackend {
    serve_backend_with(
        registry,
        options,
        worker_runtime::http::ServeOptions::default(),
    )
    .await
}

/// Serves the Backend like [`serve_backend`], its connections treated as `serving` says (e.g.
/// over TLS; its [`Api`] then names the address with `http://` all the same).
pub async fn serve_backend_with(
    registry: RuntimeRegistry,
    options: ServerOptions,
    serving: worker_runtime::http::ServeOptions,
) -> ServedBackend {
    let shutdown = options.shutdown.clone();
    serve_state(AppState::new(registry, options).unwrap(), shutdown, serving).await
}

/// Serves the Backend over the runtimes of `config` with `options`; it can be reloaded
/// ([`AppState::reload`]) with the file's next version.
pub async fn serve_workspace(config: &WorkspaceConfig, options: ServerOptions) -> ServedBackend {
    let shutdown = options.shutdown.clone();
    let state = AppState::configured(config, options).unwrap();
    serve_state(
        state,
        shutdown,
        worker_runtime::http::ServeOptions::default(),
    )
    .await
}

async fn serve_state(
    state: AppState,
    shutdown: CancellationToken,
    serving: worker_runtime::http::ServeOptions,
) -> ServedBackend {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let router = app(state.clone());
    let stop = shutdown.clone();
    tokio::spawn(async move {
        worker_runtime::http::serve(listener, router, serving, stop.cancelled_owned())
            .await
            .unwrap();
    });
    ServedBackend {
        api: Api::new(format!("http://{address}")),
        state,
        shutdown,
    }
}

/// Writes `toml` to `dir/workspace.toml`, loads it and builds its registry.
pub fn load_registry(dir: &Path, toml: &str) -> (WorkspaceConfig, RuntimeRegistry) {
    let file = dir.join("workspace.toml");
    std::fs::write(&file, toml).unwrap();
    let config = WorkspaceConfig::load(&file).unwrap();
    let registry = yoi_workspace_server::build_registry(&config).unwrap();
    (config, registry)
}
