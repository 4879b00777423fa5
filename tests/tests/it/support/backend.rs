//! The Backend over the fixture workspace, served on 127.0.0.1, as a browser sees it; and the
//! log of the test binary, captured in memory.

use std::ops::Deref;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use worker_runtime::Runtime;
use yoi_registry_core::RuntimeHandle;
use yoi_test_support::{Api, ServedBackend, serve_backend};
use yoi_workspace_server::ServerOptions;

use super::{ServedRuntime, Workspace, workspace};

/// The Backend over the fixture workspace, served on 127.0.0.1; it derefs to its [`Api`] client,
/// which records everything it answered.
pub(crate) struct Backend {
    backend: ServedBackend,
    pub(crate) dir: tempfile::TempDir,
    pub(crate) beta: Runtime,
    pub(crate) served: Option<ServedRuntime>,
}

impl Deref for Backend {
    type Target = Api;

    fn deref(&self) -> &Api {
        &self.backend.api
    }
}

impl Backend {
    /// The registry's handle of the runtime `id`, for changes made behind the API.
    pub(crate) fn handle(&self, id: &str) -> Arc<dyn RuntimeHandle> {
        Arc::clone(self.backend.state.registry().get(&super::rid(id)).unwrap())
    }
}

/// Serves the Backend over a fresh fixture workspace.
pub(crate) async fn backend() -> Backend {
    backend_with(workspace().await).await
}

/// Serves the Backend over `workspace`.
pub(crate) async fn backend_with(workspace: Workspace) -> Backend {
    let options = options(workspace.dir.path());
    Backend {
        backend: serve_backend(workspace.registry, options).await,
        dir: workspace.dir,
        beta: workspace.beta,
        served: Some(workspace.served),
    }
}

/// The Backend's options for a workspace in `dir`: auditing to `<dir>/.yoi/audit.jsonl`, and a
/// short grace before an unwatched stream closes.
pub(crate) fn options(dir: &Path) -> ServerOptions {
    let mut options = ServerOptions::new(dir.join(".yoi/audit.jsonl"));
    options.stream_grace = Duration::from_millis(200);
    options
}

/// The log of every test of this binary, at the level the Backend logs by default (`info`),
/// written to memory. (Debug logs of the HTTP client library name the addresses it connects to.)
pub(crate) fn log_capture() -> LogCapture {
    static CAPTURE: std::sync::OnceLock<LogCapture> = std::sync::OnceLock::new();
    CAPTURE
        .get_or_init(|| {
            let capture = LogCapture::default();
            let subscriber = tracing_subscriber::fmt()
                .with_writer(capture.clone())
                .with_ansi(false)
                .with_max_level(tracing::Level::INFO)
                .finish();
            tracing::subscriber::set_global_default(subscriber)
                .expect("no other test sets a global subscriber");
            capture
        })
        .clone()
}

/// A log written to memory.
#[derive(Clone, Default)]
pub(crate) struct LogCapture(Arc<Mutex<Vec<u8>>>);

impl LogCapture {
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for LogCapture {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogCapture {
    type Writer = Self;

    fn make_writer(&'a self) -> Self {
        self.clone()
    }
}
