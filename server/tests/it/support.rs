//! A Backend served on 127.0.0.1:0 from a workspace.toml, with a client, its audit log, and a
//! count of the upstream subscriptions its runtimes were asked for.

use std::ops::Deref;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

use serde_json::Value;
use yoi_registry_core::{RuntimeHandle, RuntimeRegistry};
use yoi_test_support::{Api, Instrumented, ServedBackend, load_registry, serve_backend};
use yoi_workspace_server::{AppState, ServerOptions};

pub(crate) use yoi_test_support::{DEADLINE, eventually};

/// Three embedded runtimes: `alpha` (with a slow profile, and a bulky one that streams big
/// pieces), `hidden` (not visible) and `frozen` (read-only).
pub(crate) const WORKSPACE: &str = r#"
[[runtime]]
id = "alpha"
adapter = "embedded"
persist = false
[runtime.profiles.default]
engine = "echo"
[runtime.profiles.slow]
engine = "echo"
chunk_chars = 1
delay_ms = 100
[runtime.profiles.bulky]
engine = "echo"
chunk_chars = 4096
delay_ms = 1

[[runtime]]
id = "hidden"
adapter = "embedded"
persist = false
visible = false

[[runtime]]
id = "frozen"
adapter = "embedded"
persist = false
read_only = true
"#;

/// A served Backend; it derefs to its [`Api`] client.
pub(crate) struct Backend {
    served: ServedBackend,
    pub(crate) state: AppState,
    pub(crate) audit: PathBuf,
    /// Subscriptions the Backend opened at its runtimes.
    pub(crate) upstream: Arc<AtomicUsize>,
    _dir: tempfile::TempDir,
}

impl Deref for Backend {
    type Target = Api;

    fn deref(&self) -> &Api {
        &self.served.api
    }
}

/// The Backend of [`WORKSPACE`] with default options.
pub(crate) async fn backend() -> Backend {
    backend_with(WORKSPACE, |_| {}).await
}

/// The Backend of `toml`, its options adjusted by `adjust`.
pub(crate) async fn backend_with(toml: &str, adjust: impl FnOnce(&mut ServerOptions)) -> Backend {
    let dir = tempfile::tempdir().unwrap();
    let (config, built) = load_registry(dir.path(), toml);
    let upstream = Arc::new(AtomicUsize::new(0));
    let handles = built
        .handles()
        .iter()
        .map(|inner| {
            let counted = Instrumented::new(Arc::clone(inner)).counting(Arc::clone(&upstream));
            Arc::new(counted) as Arc<dyn RuntimeHandle>
        })
        .collect();
    let registry = RuntimeRegistry::new(handles).unwrap();
    let audit = config.data_dir.join("audit.jsonl");
    let mut options = ServerOptions::new(audit.clone());
    adjust(&mut options);
    let served = serve_backend(registry, options).await;
    Backend {
        state: served.state.clone(),
        served,
        audit,
        upstream,
        _dir: dir,
    }
}

impl Backend {
    /// Creates worker `id` on `runtime` with `profile`.
    pub(crate) async fn create(&self, runtime: &str, id: &str, profile: &str) {
        let body = serde_json::json!({ "worker_id": id, "profile": profile });
        let (status, created) = self
            .post(&format!("/api/runtimes/{runtime}/workers"), body)
            .await;
        assert_eq!(status, 201, "{created}");
    }

    /// Sends `content` to `runtime/worker`; answers the `input_accepted` sequence.
    pub(crate) async fn send(&self, runtime: &str, worker: &str, content: &str) -> u64 {
        let path = format!("/api/runtimes/{runtime}/workers/{worker}/input");
        let (status, ack) = self.post(&path, user(content)).await;
        assert_eq!(status, 202, "{ack}");
        ack["sequence"].as_u64().unwrap()
    }

    /// The audit log's lines.
    pub(crate) fn audit_lines(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.audit)
            .unwrap_or_default()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }
}

/// Asserts an error answer: its status, its code, and a message.
/// A user input's body.
pub(crate) fn user(content: &str) -> Value {
    serde_json::json!({ "kind": "user", "content": content })
}

pub(crate) fn assert_error(answer: &(u16, Value), status: u16, code: &str) {
    assert_eq!(answer.0, status, "{}", answer.1);
    assert_eq!(answer.1["error"]["code"], code, "{}", answer.1);
    assert!(
        answer.1["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty())
    );
}
