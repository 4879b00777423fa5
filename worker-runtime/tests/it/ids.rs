use rstest::rstest;
use worker_runtime::{CreateWorker, RuntimeError, RuntimeId, WorkerId, WorkerRef, validate_id};

#[rstest]
#[case::single_char("a")]
#[case::digit_first("0abc")]
#[case::mixed("Worker_01-b")]
#[case::max_len(&"a".repeat(64))]
fn valid_ids_are_accepted(#[case] id: &str) {
    assert_eq!(WorkerId::new(id).unwrap().as_str(), id);
    assert_eq!(RuntimeId::new(id).unwrap().as_str(), id);
}

#[rstest]
#[case::empty("")]
#[case::parent_dir("../x")]
#[case::slash("a/b")]
#[case::dot("a.b")]
#[case::encoded_dots("%2e%2e")]
#[case::nul("a\0b")]
#[case::space("a b")]
#[case::unicode("wörker")]
#[case::leading_dash("-a")]
#[case::leading_underscore("_a")]
#[case::too_long(&"a".repeat(65))]
fn invalid_ids_are_invalid_input(#[case] id: &str) {
    let error = RuntimeError::from(WorkerId::new(id).unwrap_err());
    assert_eq!(error.code(), "invalid_input");
    assert!(RuntimeId::new(id).is_err());
    assert!(validate_id("worker id", id).is_err());
    // The message states the rule; it never reflects the rejected value.
    if !id.is_empty() {
        assert!(!error.to_string().contains(id), "{error}");
    }
}

#[test]
fn deserializing_an_invalid_id_fails() {
    assert!(serde_json::from_str::<WorkerId>(r#""../x""#).is_err());
    assert!(serde_json::from_str::<CreateWorker>(r#"{"worker_id":"a/b"}"#).is_err());
    let ok: CreateWorker = serde_json::from_str(r#"{"worker_id":"w1"}"#).unwrap();
    assert_eq!(ok.worker_id.unwrap().as_str(), "w1");
}

#[test]
fn worker_refs_display_and_parse_as_worker_at_runtime() {
    let reference = WorkerRef::new(
        RuntimeId::new("gpu-box").unwrap(),
        WorkerId::new("w1").unwrap(),
    );
    assert_eq!(reference.to_string(), "w1@gpu-box");
    assert_eq!("w1@gpu-box".parse::<WorkerRef>().unwrap(), reference);
    assert!("w1".parse::<WorkerRef>().is_err());
    assert!("../w@gpu-box".parse::<WorkerRef>().is_err());
    assert!("w1@".parse::<WorkerRef>().is_err());
}
