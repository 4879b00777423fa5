//! The Workspace Backend as `yoi serve` runs it: the registry built from a workspace.toml, the
//! request log at `info` on stderr (through `yoi serve`'s writer thread), the audit log under the
//! workspace's data dir.

use std::path::Path;

use yoi_config::WorkspaceConfig;
use yoi_workspace_server::{AppState, ServerOptions, app, build_registry};

use super::bind;
use crate::child::announce;

/// Serves the Backend over the workspace.toml at `config`.
pub(super) async fn serve(config: &Path) {
    let _log = worker_runtime::http::init_logging();
    let config = WorkspaceConfig::load(config).expect("the bench's workspace.toml is valid");
    let registry = build_registry(&config).expect("the bench's runtimes build");
    let options = ServerOptions::new(config.data_dir.join("audit.jsonl"));
    let state = AppState::new(registry, options).expect("the audit log opens");
    let listener = bind().await;
    announce(&format!(
        "listening {}",
        listener.local_addr().expect("bound")
    ));
    announce("ready");
    worker_runtime::http::serve(
        listener,
        app(state),
        worker_runtime::http::ServeOptions::default(),
        std::future::pending(),
    )
    .await
    .expect("the Backend serves");
}
