//! The embedded adapter through the `RuntimeHandle` trait.
#![cfg(feature = "embedded")]

use std::time::Duration;

use futures::StreamExt;
use yoi_adapters as _;
use yoi_registry_core::{
    AdapterInput, CreateWorker, ErrorCode, Input, PageRequest, Policy, RuntimeId, RuntimeKind,
    RuntimeStatus, StreamItem, WorkerId, WorkerState,
};

fn input(data_dir: &std::path::Path, settings: serde_json::Value) -> AdapterInput {
    AdapterInput {
        id: RuntimeId::new("inside").unwrap(),
        display_name: Some("Inside".into()),
        policy: Policy::default(),
        timeout: Duration::from_secs(5),
        workspace_root: data_dir.to_owned(),
        data_dir: data_dir.join(".yoi"),
        secret: None,
        settings: settings.as_object().unwrap().clone(),
    }
}

#[tokio::test]
async fn the_embedded_adapter_calls_its_runtime_directly_and_stores_it_on_first_use() {
    let dir = tempfile::tempdir().unwrap();
    let factory = yoi_adapters::find("embedded").unwrap();
    let settings = serde_json::json!({"limits": {"max_workers": 5}});
    let handle = (factory.build)(input(dir.path(), settings)).unwrap();
    assert!(
        !dir.path().join(".yoi").exists(),
        "building touches nothing on disk"
    );
    assert_eq!(handle.descriptor().kind, RuntimeKind::Embedded);
    assert_eq!(handle.descriptor().display_name, "Inside");

    let overview = handle.overview().await;
    assert_eq!(overview.status, RuntimeStatus::Available);
    assert!(dir.path().join(".yoi/runtimes/inside/workers").is_dir());

    let worker = WorkerId::new("w1").unwrap();
    let request = CreateWorker {
        worker_id: Some(worker.clone()),
        ..CreateWorker::default()
    };
    let created = handle.create_worker(request).await.unwrap();
    assert_eq!(created.status, WorkerState::Idle);
    let ack = handle.send_input(&worker, Input::user("hi")).await.unwrap();
    let events: Vec<_> = handle
        .subscribe(&worker, Some(ack.sequence - 1))
        .await
        .unwrap()
        .filter_map(|item| futures::future::ready(item.map(StreamItem::into_event).transpose()))
        .take_while(|event| {
            futures::future::ready(
                event
                    .as_ref()
                    .is_ok_and(|e| e.kind.name() != "run_completed"),
            )
        })
        .collect()
        .await;
    assert_eq!(events[0].as_ref().unwrap().sequence, ack.sequence);
    let page = handle.list_workers(&PageRequest::default()).await.unwrap();
    assert_eq!(page.workers.len(), 1);

    let missing = handle
        .get_worker(&WorkerId::new("ghost").unwrap())
        .await
        .unwrap_err();
    assert_eq!(missing.code, ErrorCode::UnknownWorker);
    assert_eq!(missing.runtime_id, Some(RuntimeId::new("inside").unwrap()));
    assert_eq!(missing.worker_id, Some(WorkerId::new("ghost").unwrap()));
}

#[test]
fn embedded_settings_are_checked_when_built() {
    let dir = tempfile::tempdir().unwrap();
    let factory = yoi_adapters::find("embedded").unwrap();
    let typo = (factory.build)(input(dir.path(), serde_json::json!({"limit": {}})))
        .err()
        .unwrap();
    assert_eq!(typo.key.as_deref(), Some("limit"));
    let zero = (factory.build)(input(
        dir.path(),
        serde_json::json!({"limits": {"max_workers": 0}}),
    ))
    .err()
    .unwrap();
    assert_eq!(zero.message, "limits.max_workers must be at least 1");
    let memory = (factory.build)(input(dir.path(), serde_json::json!({"persist": false}))).unwrap();
    assert_eq!(memory.descriptor().id.as_str(), "inside");
}

#[tokio::test]
async fn an_unusable_store_makes_only_this_runtime_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    // A file where the data folder should be: the store cannot be created.
    std::fs::write(dir.path().join(".yoi"), "not a folder").unwrap();
    let handle =
        (yoi_adapters::find("embedded").unwrap().build)(input(dir.path(), serde_json::json!({})))
            .unwrap();
    let overview = handle.overview().await;
    assert_eq!(overview.status, RuntimeStatus::Unavailable);
    let message = &overview.diagnostics[0].message;
    assert!(message.contains("its store cannot be opened"), "{message}");
    assert!(
        !message.contains(&dir.path().display().to_string()),
        "no path: {message}"
    );
    let error = handle
        .list_workers(&PageRequest::default())
        .await
        .unwrap_err();
    assert_eq!(error.code, ErrorCode::RuntimeUnavailable);
}
