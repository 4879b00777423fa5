use rstest::rstest;
use yoi_registry_core::{CreateWorker, ErrorCode, Input, PageRequest, RuntimeStatus, WorkerState};

use crate::support::{
    Kind, POD_WORKER, events_only, named, rid, through_completion, wid, workspace,
};

#[rstest]
#[cfg_attr(feature = "embedded", case::embedded(Kind::Embedded))]
#[cfg_attr(feature = "http-client", case::http_client(Kind::HttpClient))]
#[tokio::test]
async fn a_runtime_that_owns_workers_serves_every_operation(#[case] kind: Kind) {
    let workspace = workspace().await;
    let handle = workspace.registry.get(&rid(kind.runtime())).unwrap();
    assert_eq!(handle.descriptor().kind, kind.expected());
    assert_eq!(handle.overview().await.status, RuntimeStatus::Available);

    let w1 = wid("w1");
    let created = handle.create_worker(named(&w1)).await.unwrap();
    assert_eq!(created.status, WorkerState::Idle);
    let listed = handle.list_workers(&PageRequest::default()).await.unwrap();
    assert_eq!(listed.workers[0].worker_id, w1);
    assert_eq!(handle.get_worker(&w1).await.unwrap().worker_id, w1);

    let ack = handle.send_input(&w1, Input::user("routed")).await.unwrap();
    let stream = handle.subscribe(&w1, Some(ack.sequence - 1)).await.unwrap();
    let events = through_completion(&mut events_only(stream)).await;
    let sequences: Vec<u64> = events.iter().map(|event| event.sequence).collect();
    let expected: Vec<u64> = (ack.sequence..ack.sequence + sequences.len() as u64).collect();
    assert_eq!(sequences, expected);
    let transcript = handle.transcript(&w1, 0, None).await.unwrap();
    assert_eq!(transcript.entries.len(), 2);
    assert_eq!(transcript.entries[1].content, "routed");

    let missing = handle.get_worker(&wid("ghost")).await.unwrap_err();
    assert_eq!(missing.code, ErrorCode::UnknownWorker);
    assert_eq!(missing.runtime_id, Some(rid(kind.runtime())));
}

#[rstest]
#[cfg_attr(
    feature = "local-pod-compat",
    case::local_pod_compat(Kind::LocalPodCompat)
)]
#[tokio::test]
async fn the_compatibility_runtime_lists_pods_and_refuses_everything_else(#[case] kind: Kind) {
    let workspace = workspace().await;
    let handle = workspace.registry.get(&rid(kind.runtime())).unwrap();
    assert_eq!(handle.descriptor().kind, kind.expected());
    assert!(handle.descriptor().policy.read_only);
    let listed = handle.list_workers(&PageRequest::default()).await.unwrap();
    assert_eq!(listed.workers.len(), 1);
    assert_eq!(listed.workers[0].worker_id, wid(POD_WORKER));
    let pod = handle.get_worker(&wid(POD_WORKER)).await.unwrap();
    assert_eq!(pod.status, WorkerState::MetadataOnly);

    let refused = [
        handle
            .create_worker(CreateWorker::default())
            .await
            .map(drop),
        handle
            .send_input(&pod.worker_id, Input::user("hi"))
            .await
            .map(drop),
        handle.transcript(&pod.worker_id, 0, None).await.map(drop),
        handle.subscribe(&pod.worker_id, None).await.map(drop),
    ];
    for refusal in refused {
        assert_eq!(refusal.unwrap_err().code, ErrorCode::UnsupportedOperation);
    }
}

#[cfg(all(feature = "embedded", feature = "http-client"))]
#[tokio::test]
async fn two_runtimes_with_the_same_worker_id_are_never_confused() {
    let workspace = workspace().await;
    let w1 = wid("w1");
    for runtime in ["alpha", "beta"] {
        let handle = workspace.registry.get(&rid(runtime)).unwrap();
        let request = CreateWorker {
            display_name: Some(format!("w1 on {runtime}")),
            ..named(&w1)
        };
        handle.create_worker(request).await.unwrap();
        let ack = handle
            .send_input(&w1, Input::user(format!("hello {runtime}")))
            .await
            .unwrap();
        let stream = handle.subscribe(&w1, Some(ack.sequence - 1)).await.unwrap();
        through_completion(&mut events_only(stream)).await;
    }
    for runtime in ["alpha", "beta"] {
        let handle = workspace.registry.get(&rid(runtime)).unwrap();
        let worker = handle.get_worker(&w1).await.unwrap();
        assert_eq!(worker.display_name.unwrap(), format!("w1 on {runtime}"));
        let transcript = handle.transcript(&w1, 0, None).await.unwrap();
        let contents: Vec<&str> = transcript
            .entries
            .iter()
            .map(|entry| entry.content.as_str())
            .collect();
        assert_eq!(
            contents,
            [format!("hello {runtime}"), format!("hello {runtime}")]
        );
    }
}

#[tokio::test]
async fn the_listing_covers_every_runtime_and_unknown_ids_are_unknown_runtime() {
    let workspace = workspace().await;
    let overviews = workspace.registry.overviews().await;
    assert_eq!(overviews.len(), workspace.registry.handles().len());
    assert!(
        overviews
            .iter()
            .all(|(_, overview)| overview.status == RuntimeStatus::Available)
    );
    let unknown = workspace.registry.get(&rid("nowhere")).err().unwrap();
    assert_eq!(unknown.code, ErrorCode::UnknownRuntime);
}
