//! The `local-pod-compat` adapter: a read-only view of the legacy on-disk pod store, kept so old
//! pods stay visible. It is a compatibility adapter, never the Runtime authority: it cannot
//! create, send input, stop, cancel, stream events or read transcripts.
//!
//! It reads `<data_dir>/pods/<name>/metadata.json` and shows the pods whose `workspace_root` is
//! this workspace's root. A pod's worker id is its name made safe plus a short stable hash, never
//! a path. A file that cannot be read or parsed is a diagnostic, never a failed listing.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use serde::Deserialize;
use worker_runtime::{Diagnostic, MAX_ID_LEN, Severity, Timestamp};
use yoi_registry_core::{
    AdapterConfigError, AdapterFactory, AdapterInput, CreateWorker, Input, InputAck, PageRequest,
    Policy, RegistryError, RuntimeDescriptor, RuntimeHandle, RuntimeKind, RuntimeOverview,
    RuntimeStatus, TranscriptPage, WorkerEvents, WorkerId, WorkerState, WorkerView, WorkerViewPage,
};

/// The table's own keys.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CompatSettings {
    /// The legacy data folder holding `pods/` (`~` is the home folder; relative paths start at
    /// the workspace root). Defaults to the workspace's data folder.
    #[serde(default)]
    data_dir: Option<String>,
}

/// A pod's `metadata.json`, as far as this view reads it.
#[derive(Deserialize)]
struct PodMetadata {
    worker_name: String,
    workspace_root: PathBuf,
    #[serde(default)]
    active: Option<ActiveSession>,
    #[serde(default)]
    resolved_manifest_snapshot: Option<ManifestSnapshot>,
}

/// Only the presence of an active session matters; its ids are never shown.
#[derive(Deserialize)]
struct ActiveSession {}

#[derive(Deserialize)]
struct ManifestSnapshot {
    role: Option<String>,
    profile_selector: Option<String>,
}

struct CompatHandle {
    descriptor: RuntimeDescriptor,
    store: Arc<PodStore>,
}

/// Where the pods are and which workspace they must belong to.
struct PodStore {
    pods_dir: PathBuf,
    workspace_root: PathBuf,
}

/// What one scan of the pod store found.
struct Scan {
    workers: Vec<WorkerView>,
    diagnostics: Vec<Diagnostic>,
}

fn build(input: AdapterInput) -> Result<Arc<dyn RuntimeHandle>, AdapterConfigError> {
    let settings: CompatSettings = input.settings()?;
    let data_dir = match settings.data_dir {
        None => input.data_dir.clone(),
        Some(dir) => expand(&dir, &input.workspace_root)
            .ok_or_else(|| AdapterConfigError::at("data_dir", "`~` needs HOME to be set"))?,
    };
    Ok(Arc::new(CompatHandle {
        descriptor: RuntimeDescriptor {
            display_name: input.display_name.unwrap_or_else(|| input.id.to_string()),
            id: input.id,
            kind: RuntimeKind::LocalCompatibility,
            // Read-only whatever the table says: it can change nothing anyway.
            policy: Policy {
                read_only: true,
                ..input.policy
            },
            timeout: input.timeout,
        },
        store: Arc::new(PodStore {
            pods_dir: data_dir.join("pods"),
            workspace_root: canonical(&input.workspace_root),
        }),
    }))
}

/// `~/x` under HOME, a relative path under `root`, an absolute one as it is.
fn expand(dir: &str, root: &Path) -> Option<PathBuf> {
    match dir.strip_prefix("~") {
        Some(rest) => {
            let home = PathBuf::from(std::env::var_os("HOME")?);
            Some(home.join(rest.trim_start_matches('/')))
        }
        None => Some(root.join(dir)),
    }
}

fn canonical(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned())
}

/// A worker id for pod `name`: its safe characters, then a hash of the whole name, so different
/// names never share an id and the id never carries a path.
fn pod_worker_id(name: &str) -> WorkerId {
    let hash = format!("{:08x}", fnv1a(name.as_bytes()) as u32);
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .skip_while(|c| !c.is_ascii_alphanumeric())
        .take(MAX_ID_LEN - hash.len() - 1)
        .collect();
    let prefix = if safe.is_empty() {
        "pod"
    } else {
        safe.as_str()
    };
    WorkerId::new(format!("{prefix}-{hash}")).expect("safe characters and a hex hash form an id")
}

/// FNV-1a, 64 bits: small, and stable across builds (unlike std's hasher), so ids are too.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

impl CompatHandle {
    /// Scans the store off the async threads, so a hung file system costs only this runtime its
    /// timeout, not the whole listing.
    async fn scan(&self) -> Scan {
        let store = Arc::clone(&self.store);
        tokio::task::spawn_blocking(move || store.scan())
            .await
            .unwrap_or_else(|_| Scan {
                workers: Vec::new(),
                diagnostics: Vec::new(),
            })
    }

    fn unsupported(&self, operation: &str) -> RegistryError {
        RegistryError::unsupported(&self.descriptor.id, operation)
    }
}

impl PodStore {
    /// Reads every pod of this workspace, in worker id order.
    fn scan(&self) -> Scan {
        let mut scan = Scan {
            workers: Vec::new(),
            diagnostics: vec![Diagnostic {
                code: "compatibility_adapter".into(),
                severity: Severity::Info,
                message:
                    "a read-only view of the legacy local pod store; not the runtime authority"
                        .into(),
            }],
        };
        let entries = match std::fs::read_dir(&self.pods_dir) {
            Ok(entries) => entries,
            Err(error) => {
                scan.warn(
                    "pod_store_unreadable",
                    format!("the pod store cannot be read ({})", error.kind()),
                );
                return scan;
            }
        };
        let folders = entries
            .filter_map(Result::ok)
            .filter(|entry| entry.file_type().is_ok_and(|kind| kind.is_dir()));
        for entry in folders {
            let name = entry.file_name().to_string_lossy().into_owned();
            let id = pod_worker_id(&name);
            match self.read_pod(id.clone(), &entry.path().join("metadata.json")) {
                Ok(Some(worker)) => scan.workers.push(worker),
                Ok(None) => {}
                Err(problem) => scan.warn(
                    "pod_metadata_unreadable",
                    format!("pod {id}: metadata.json {problem}; skipped"),
                ),
            }
        }
        scan.workers.sort_by(|a, b| a.worker_id.cmp(&b.worker_id));
        scan
    }

    /// The pod's view, `None` when it belongs to another workspace.
    fn read_pod(&self, worker_id: WorkerId, file: &Path) -> Result<Option<WorkerView>, String> {
        let bytes =
            std::fs::read(file).map_err(|error| format!("cannot be read ({})", error.kind()))?;
        let metadata: PodMetadata =
            serde_json::from_slice(&bytes).map_err(|_| "is not valid pod metadata".to_owned())?;
        if canonical(&metadata.workspace_root) != self.workspace_root {
            return Ok(None);
        }
        let modified = std::fs::metadata(file)
            .and_then(|meta| meta.modified())
            .ok()
            .map(Timestamp::from);
        let snapshot = metadata.resolved_manifest_snapshot;
        Ok(Some(WorkerView {
            worker_id,
            display_name: Some(metadata.worker_name),
            status: if metadata.active.is_some() {
                WorkerState::Active
            } else {
                WorkerState::MetadataOnly
            },
            profile: snapshot
                .as_ref()
                .and_then(|snapshot| snapshot.profile_selector.clone()),
            role: snapshot.and_then(|snapshot| snapshot.role),
            created_at: None,
            updated_at: modified,
            last_sequence: None,
            usage: None,
        }))
    }
}

impl Scan {
    fn warn(&mut self, code: &str, message: String) {
        self.diagnostics.push(Diagnostic {
            code: code.into(),
            severity: Severity::Warning,
            message,
        });
    }
}

#[async_trait]
impl RuntimeHandle for CompatHandle {
    fn descriptor(&self) -> &RuntimeDescriptor {
        &self.descriptor
    }

    async fn overview(&self) -> RuntimeOverview {
        let scan = self.scan().await;
        RuntimeOverview {
            status: RuntimeStatus::from_diagnostics(&scan.diagnostics),
            capabilities: RuntimeOverview::no_capabilities(),
            last_seen_at: Some(Timestamp::now()),
            diagnostics: scan.diagnostics,
            // Pods have no Runtime statuses to count.
            workers: None,
        }
    }

    async fn list_workers(&self, page: &PageRequest) -> Result<WorkerViewPage, RegistryError> {
        let limit = page.limit.unwrap_or(worker_runtime::DEFAULT_PAGE_LIMIT);
        if !(1..=worker_runtime::MAX_PAGE_LIMIT).contains(&limit) {
            return Err(RegistryError::new(
                yoi_registry_core::ErrorCode::InvalidInput,
                format!(
                    "limit must be between 1 and {}",
                    worker_runtime::MAX_PAGE_LIMIT
                ),
            ));
        }
        let mut workers: Vec<WorkerView> = self
            .scan()
            .await
            .workers
            .into_iter()
            .filter(|worker| {
                page.after
                    .as_ref()
                    .is_none_or(|after| &worker.worker_id > after)
            })
            .take(limit + 1)
            .collect();
        let more = workers.len() > limit;
        workers.truncate(limit);
        Ok(WorkerViewPage {
            next_after: more.then(|| workers[limit - 1].worker_id.clone()),
            workers,
        })
    }

    async fn get_worker(&self, worker: &WorkerId) -> Result<WorkerView, RegistryError> {
        self.scan()
            .await
            .workers
            .into_iter()
            .find(|view| &view.worker_id == worker)
            .ok_or_else(|| {
                RegistryError::new(
                    yoi_registry_core::ErrorCode::UnknownWorker,
                    format!("worker {worker} does not exist"),
                )
                .for_runtime(&self.descriptor.id)
                .for_worker(worker)
            })
    }

    async fn create_worker(&self, _: CreateWorker) -> Result<WorkerView, RegistryError> {
        Err(self.unsupported("creating workers"))
    }

    async fn send_input(&self, _: &WorkerId, _: Input) -> Result<InputAck, RegistryError> {
        Err(self.unsupported("input"))
    }

    async fn stop_worker(&self, _: &WorkerId) -> Result<WorkerView, RegistryError> {
        Err(self.unsupported("stopping workers"))
    }

    async fn cancel_worker(&self, _: &WorkerId) -> Result<WorkerView, RegistryError> {
        Err(self.unsupported("cancelling runs"))
    }

    async fn transcript(
        &self,
        _: &WorkerId,
        _: u64,
        _: Option<usize>,
    ) -> Result<TranscriptPage, RegistryError> {
        Err(self.unsupported("transcripts"))
    }

    async fn subscribe(&self, _: &WorkerId, _: Option<u64>) -> Result<WorkerEvents, RegistryError> {
        Err(self.unsupported("events"))
    }
}

yoi_registry_core::inventory::submit! { AdapterFactory::new("local-pod-compat", build) }

#[cfg(test)]
mod tests {
    use super::{fnv1a, pod_worker_id};

    #[test]
    fn pod_ids_are_safe_distinct_and_stable() {
        // Published FNV-1a 64 test vectors.
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(pod_worker_id("reviewer").as_str(), "reviewer-4736781a");
        let odd = pod_worker_id("../../etc/passwd");
        assert!(
            !odd.as_str().contains('/') && !odd.as_str().contains('.'),
            "{odd}"
        );
        assert_ne!(
            pod_worker_id("a b"),
            pod_worker_id("a/b"),
            "same safe form, different hash"
        );
        assert!(pod_worker_id("ボット").as_str().starts_with("pod-"));
        assert_eq!(pod_worker_id(&"x".repeat(200)).as_str().len(), 64);
    }
}
