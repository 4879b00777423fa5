//! The registry's routing, its concurrent listing, its errors and the adapter lookup, over
//! embedded runtimes whose overview the test kit delays or withholds.

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use worker_runtime::RuntimeError;
use yoi_registry_core::{
    AdapterConfigError, AdapterFactory, AdapterInput, AdapterLookupError, CreateWorker, ErrorCode,
    Policy, RegistryError, RuntimeHandle, RuntimeId, RuntimeRegistry, RuntimeStatus, WorkerId,
    find_adapter,
};
use yoi_test_support::{Instrumented, Overview};

/// An embedded runtime `id` (in memory, timeout 200 ms) whose overview answers as `overview` says.
fn fake(id: &str, overview: Overview) -> Arc<dyn RuntimeHandle> {
    let mut settings = input(serde_json::json!({ "persist": false }));
    settings.id = rid(id);
    settings.timeout = Duration::from_millis(200);
    let embedded = (yoi_adapters::find("embedded").unwrap().build)(settings).unwrap();
    Arc::new(Instrumented::new(embedded).answering(overview))
}

fn rid(id: &str) -> RuntimeId {
    RuntimeId::new(id).unwrap()
}

fn wid(id: &str) -> WorkerId {
    WorkerId::new(id).unwrap()
}

#[tokio::test]
async fn operations_route_by_runtime_id_and_same_worker_ids_stay_apart() {
    let registry = RuntimeRegistry::new(vec![
        fake("alpha", Overview::Answers),
        fake("beta", Overview::Answers),
    ])
    .unwrap();
    for runtime in ["alpha", "beta"] {
        let handle = registry.get(&rid(runtime)).unwrap();
        let request = CreateWorker {
            worker_id: Some(wid("w1")),
            display_name: Some(format!("on {runtime}")),
            ..CreateWorker::default()
        };
        handle.create_worker(request).await.unwrap();
    }
    for runtime in ["alpha", "beta"] {
        let handle = registry.get(&rid(runtime)).unwrap();
        let worker = handle.get_worker(&wid("w1")).await.unwrap();
        assert_eq!(worker.display_name.unwrap(), format!("on {runtime}"));
    }
    let order: Vec<String> = registry
        .handles()
        .iter()
        .map(|handle| handle.descriptor().id.to_string())
        .collect();
    assert_eq!(order, ["alpha", "beta"]);

    let unknown = registry.get(&rid("gamma")).err().unwrap();
    assert_eq!(unknown.code, ErrorCode::UnknownRuntime);
    assert_eq!(unknown.runtime_id, Some(rid("gamma")));
    assert_eq!(unknown.message, "runtime gamma does not exist");
}

#[test]
fn duplicate_runtime_ids_are_refused() {
    let duplicate = RuntimeRegistry::new(vec![
        fake("alpha", Overview::Answers),
        fake("alpha", Overview::Answers),
    ]);
    assert_eq!(
        duplicate.err().unwrap().to_string(),
        "runtime id alpha is used twice"
    );
}

#[tokio::test(start_paused = true)]
async fn a_hung_runtime_costs_the_listing_its_timeout_and_shows_unavailable() {
    let registry = RuntimeRegistry::new(vec![
        fake("quick", Overview::Answers),
        fake("hung", Overview::Hangs),
        fake(
            "slowish",
            Overview::AnswersAfter(Duration::from_millis(150)),
        ),
    ])
    .unwrap();
    // The clock is paused and advances only when every task waits: elapsed time is exact.
    let started = tokio::time::Instant::now();
    let overviews: Vec<_> = registry
        .overviews()
        .await
        .into_iter()
        .map(|(_, overview)| overview)
        .collect();
    assert_eq!(
        started.elapsed(),
        Duration::from_millis(220),
        "the hung runtime's timeout plus the grace that lets adapters record their own timeouts"
    );

    let statuses: Vec<RuntimeStatus> = overviews.iter().map(|overview| overview.status).collect();
    assert_eq!(
        statuses,
        [
            RuntimeStatus::Available,
            RuntimeStatus::Unavailable,
            RuntimeStatus::Available
        ]
    );
    assert_eq!(overviews[1].diagnostics[0].code, "runtime_timeout");
    assert_eq!(
        overviews[1].diagnostics[0].message,
        "the runtime did not answer within 200 ms"
    );
}

#[test]
fn runtime_errors_keep_their_codes_and_name_the_worker() {
    let id = wid("w1");
    let cases = [
        (
            RuntimeError::UnknownWorker(id.clone()),
            ErrorCode::UnknownWorker,
            true,
        ),
        (
            RuntimeError::WorkerBusy(id.clone()),
            ErrorCode::WorkerBusy,
            true,
        ),
        (
            RuntimeError::WorkerExists(id.clone()),
            ErrorCode::WorkerExists,
            true,
        ),
        (
            RuntimeError::WorkerStopped(id.clone()),
            ErrorCode::WorkerStopped,
            true,
        ),
        (
            RuntimeError::InvalidInput("x".into()),
            ErrorCode::InvalidInput,
            false,
        ),
        (
            RuntimeError::PayloadTooLarge { size: 2, limit: 1 },
            ErrorCode::PayloadTooLarge,
            false,
        ),
        (
            RuntimeError::WorkerLimitReached { limit: 1 },
            ErrorCode::ForbiddenByPolicy,
            false,
        ),
        (
            RuntimeError::CursorExpired {
                cursor: 1,
                oldest: 5,
            },
            ErrorCode::CursorExpired,
            false,
        ),
    ];
    for (error, code, names_worker) in cases {
        assert_eq!(
            error.code(),
            code.as_str(),
            "a runtime process sends the same code"
        );
        let message = error.to_string();
        let mapped = RegistryError::from(error);
        assert_eq!(mapped.code, code);
        assert_eq!(mapped.message, message);
        assert_eq!(mapped.worker_id.is_some(), names_worker, "{code}");
    }
}

#[test]
fn every_code_round_trips_through_its_name() {
    for code in ErrorCode::ALL {
        assert_eq!(ErrorCode::parse(code.as_str()), Some(code));
        let json = serde_json::to_string(&code).unwrap();
        assert_eq!(json, format!("\"{}\"", code.as_str()));
    }
    assert_eq!(ErrorCode::parse("teapot"), None);
}

fn build_fake(input: AdapterInput) -> Result<Arc<dyn RuntimeHandle>, AdapterConfigError> {
    input.settings::<FakeSettings>()?;
    Ok(fake(input.id.as_str(), Overview::Answers))
}

yoi_registry_core::inventory::submit! { AdapterFactory::new("fake", build_fake) }

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[expect(dead_code, reason = "read only to validate settings")]
struct FakeSettings {
    size: u32,
    #[serde(default)]
    label: Option<String>,
}

fn input(settings: serde_json::Value) -> AdapterInput {
    AdapterInput {
        id: rid("built"),
        display_name: None,
        policy: Policy::default(),
        timeout: Duration::from_secs(1),
        workspace_root: "/workspace".into(),
        data_dir: "/workspace/.yoi".into(),
        secret: None,
        settings: settings.as_object().unwrap().clone(),
    }
}

#[test]
fn factories_are_found_by_name_and_build_from_settings() {
    let factory = find_adapter("fake").unwrap();
    let handle = (factory.build)(input(serde_json::json!({"size": 3}))).unwrap();
    assert_eq!(handle.descriptor().id, rid("built"));

    // Linked in: this file's `fake` and whichever adapters the build's features enable.
    let registered = yoi_adapters::enabled_adapters().unwrap();
    assert!(registered.is_sorted(), "{registered:?}");
    for name in ["embedded", "fake"] {
        assert!(registered.contains(&name), "{registered:?}");
    }
    let unknown = find_adapter("gpu").err().unwrap();
    assert_eq!(
        unknown,
        AdapterLookupError::Unknown {
            name: "gpu".into(),
            available: registered.clone()
        }
    );
    assert_eq!(
        unknown.to_string(),
        format!(
            "unknown adapter `gpu`; this build has: {}",
            registered.join(", ")
        )
    );
}

#[test]
fn settings_errors_name_the_key_at_fault() {
    let key_of = |settings: serde_json::Value| {
        let error = input(settings).settings::<FakeSettings>().unwrap_err();
        (error.key.unwrap(), error.message)
    };
    let (key, message) = key_of(serde_json::json!({"size": 1, "colour": "red"}));
    assert_eq!(key, "colour");
    assert!(message.starts_with("unknown field `colour`"), "{message}");
    assert_eq!(key_of(serde_json::json!({"size": "big"})).0, "size");
    assert_eq!(
        key_of(serde_json::json!({"size": 1, "label": 7})).0,
        "label"
    );
    assert_eq!(key_of(serde_json::json!({})).0, "size");
}
