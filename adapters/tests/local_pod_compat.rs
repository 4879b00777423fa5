//! The local-pod-compat adapter over a fixture pod store.
#![cfg(feature = "local-pod-compat")]

use std::path::Path;
use std::time::Duration;

use yoi_adapters as _;
use yoi_registry_core::{
    AdapterInput, CreateWorker, ErrorCode, Input, PageRequest, Policy, RuntimeHandle, RuntimeId,
    RuntimeKind, RuntimeStatus, Severity, WorkerId, WorkerState,
};

fn pod(store: &Path, name: &str, metadata: &str) {
    let dir = store.join("pods").join(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("metadata.json"), metadata).unwrap();
}

/// A workspace with a pod store: two pods of its own, one of another workspace, two broken.
fn fixture() -> (tempfile::TempDir, std::sync::Arc<dyn RuntimeHandle>) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("project");
    std::fs::create_dir(&root).unwrap();
    let store = root.join(".yoi");
    let root_json = serde_json::to_string(&root).unwrap();
    pod(
        &store,
        "reviewer",
        &format!(
            r#"{{"worker_name":"reviewer","workspace_root":{root_json},
               "active":{{"session_id":"sess-1","segment_id":"seg-9"}},
               "resolved_manifest_snapshot":{{"role":"review","profile_selector":"careful"}}}}"#
        ),
    );
    pod(
        &store,
        "notes bot",
        &format!(r#"{{"worker_name":"notes bot","workspace_root":{root_json}}}"#),
    );
    pod(
        &store,
        "elsewhere",
        r#"{"worker_name":"elsewhere","workspace_root":"/some/other/project"}"#,
    );
    pod(&store, "broken", "{not json");
    std::fs::create_dir_all(store.join("pods/empty")).unwrap();

    let input = AdapterInput {
        id: RuntimeId::new("legacy").unwrap(),
        display_name: None,
        policy: Policy::default(),
        timeout: Duration::from_secs(5),
        workspace_root: root.clone(),
        data_dir: store,
        secret: None,
        settings: serde_json::Map::new(),
    };
    let handle = (yoi_adapters::find("local-pod-compat").unwrap().build)(input).unwrap();
    (dir, handle)
}

#[tokio::test]
async fn only_this_workspaces_pods_are_listed_by_safe_ids() {
    let (dir, handle) = fixture();
    assert_eq!(handle.descriptor().kind, RuntimeKind::LocalCompatibility);
    let page = handle.list_workers(&PageRequest::default()).await.unwrap();
    let listed: Vec<(&str, Option<&str>, WorkerState)> = page
        .workers
        .iter()
        .map(|worker| {
            (
                worker.worker_id.as_str(),
                worker.display_name.as_deref(),
                worker.status,
            )
        })
        .collect();
    assert_eq!(
        listed,
        [
            (
                "notes-bot-622d5e4f",
                Some("notes bot"),
                WorkerState::MetadataOnly
            ),
            ("reviewer-4736781a", Some("reviewer"), WorkerState::Active),
        ]
    );
    let reviewer = &page.workers[1];
    assert_eq!(reviewer.profile.as_deref(), Some("careful"));
    assert_eq!(reviewer.role.as_deref(), Some("review"));

    // Nothing shown carries a path or a session.
    let json = serde_json::to_string(&page).unwrap();
    assert!(!json.contains(&dir.path().display().to_string()), "{json}");
    assert!(
        !json.contains("sess-1") && !json.contains("seg-9"),
        "{json}"
    );

    let first = handle
        .list_workers(&PageRequest {
            limit: Some(1),
            after: None,
        })
        .await
        .unwrap();
    assert_eq!(
        first.next_after.as_ref().map(WorkerId::as_str),
        Some("notes-bot-622d5e4f")
    );
    let bad_limit = handle
        .list_workers(&PageRequest {
            limit: Some(0),
            after: None,
        })
        .await;
    assert_eq!(bad_limit.unwrap_err().code, ErrorCode::InvalidInput);
}

#[tokio::test]
async fn broken_pods_are_diagnostics_and_the_summary_says_compatibility() {
    let (dir, handle) = fixture();
    let overview = handle.overview().await;
    assert_eq!(overview.status, RuntimeStatus::Degraded);
    assert!(!overview.capabilities.create_worker && !overview.capabilities.events);
    let codes: Vec<(&str, Severity)> = overview
        .diagnostics
        .iter()
        .map(|diagnostic| (diagnostic.code.as_str(), diagnostic.severity))
        .collect();
    assert_eq!(codes.len(), 3, "{:?}", overview.diagnostics);
    assert_eq!(codes[0], ("compatibility_adapter", Severity::Info));
    assert!(
        codes[1..]
            .iter()
            .all(|code| *code == ("pod_metadata_unreadable", Severity::Warning))
    );
    for diagnostic in &overview.diagnostics {
        assert!(
            !diagnostic
                .message
                .contains(&dir.path().display().to_string())
        );
    }
}

#[tokio::test]
async fn it_is_read_only_and_has_no_events_or_transcripts() {
    let (_dir, handle) = fixture();
    let id = WorkerId::new("reviewer-4736781a").unwrap();
    assert_eq!(
        handle.get_worker(&id).await.unwrap().status,
        WorkerState::Active
    );
    let ghost = handle
        .get_worker(&WorkerId::new("ghost").unwrap())
        .await
        .unwrap_err();
    assert_eq!(ghost.code, ErrorCode::UnknownWorker);

    let refusals = [
        handle
            .create_worker(CreateWorker::default())
            .await
            .map(drop),
        handle.send_input(&id, Input::user("hi")).await.map(drop),
        handle.stop_worker(&id).await.map(drop),
        handle.cancel_worker(&id).await.map(drop),
        handle.transcript(&id, 0, None).await.map(drop),
        handle.subscribe(&id, None).await.map(drop),
    ];
    for refusal in refusals {
        let error = refusal.unwrap_err();
        assert_eq!(error.code, ErrorCode::UnsupportedOperation, "{error}");
        assert_eq!(error.runtime_id, Some(RuntimeId::new("legacy").unwrap()));
    }
}

#[tokio::test]
async fn a_missing_store_is_an_empty_list_with_a_diagnostic() {
    let dir = tempfile::tempdir().unwrap();
    let input = AdapterInput {
        id: RuntimeId::new("legacy").unwrap(),
        display_name: Some("Old pods".into()),
        policy: Policy::default(),
        timeout: Duration::from_secs(5),
        workspace_root: dir.path().to_owned(),
        data_dir: dir.path().join(".yoi"),
        secret: None,
        settings: serde_json::json!({"data_dir": "old-store"})
            .as_object()
            .unwrap()
            .clone(),
    };
    let handle = (yoi_adapters::find("local-pod-compat").unwrap().build)(input).unwrap();
    assert!(
        handle
            .list_workers(&PageRequest::default())
            .await
            .unwrap()
            .workers
            .is_empty()
    );
    let overview = handle.overview().await;
    assert_eq!(overview.diagnostics[1].code, "pod_store_unreadable");
}
