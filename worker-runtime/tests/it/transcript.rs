use worker_runtime::Role;

use crate::support::{create, run_events, runtime, runtime_with, send};

async fn converse(runtime: &worker_runtime::Runtime, id: &worker_runtime::WorkerId, turns: usize) {
    for turn in 0..turns {
        let ack = send(runtime, id, format!("turn {turn}")).await.unwrap();
        run_events(runtime, id, ack.sequence).await;
    }
}

#[tokio::test]
async fn pages_follow_next_start_through_the_whole_transcript() {
    let runtime = runtime();
    let id = create(&runtime).await;
    converse(&runtime, &id, 3).await;

    let mut entries = Vec::new();
    let mut start = 0;
    loop {
        let page = runtime.transcript(&id, start, Some(2)).unwrap();
        assert!(page.entries.len() <= 2);
        entries.extend(page.entries);
        match page.next_start {
            Some(next) => start = next,
            None => break,
        }
    }
    let turns: Vec<(Role, &str)> = entries
        .iter()
        .map(|entry| (entry.role, entry.content.as_str()))
        .collect();
    assert_eq!(
        turns,
        [
            (Role::User, "turn 0"),
            (Role::Assistant, "turn 0"),
            (Role::User, "turn 1"),
            (Role::Assistant, "turn 1"),
            (Role::User, "turn 2"),
            (Role::Assistant, "turn 2"),
        ]
    );
    assert!(
        entries
            .windows(2)
            .all(|pair| pair[0].sequence < pair[1].sequence)
    );

    // `start` is inclusive and may point between entries.
    let from_third = runtime
        .transcript(&id, entries[2].sequence, Some(1))
        .unwrap();
    assert_eq!(from_third.entries[0], entries[2]);
    let between = runtime
        .transcript(&id, entries[2].sequence + 1, Some(1))
        .unwrap();
    assert_eq!(between.entries[0], entries[3]);

    let beyond = runtime.transcript(&id, u64::MAX, None).unwrap();
    assert!(beyond.entries.is_empty());
    assert_eq!(beyond.next_start, None);
}

#[tokio::test]
async fn bad_limits_are_invalid_input() {
    let runtime = runtime();
    let id = create(&runtime).await;
    for limit in [0, 1001] {
        let error = runtime.transcript(&id, 0, Some(limit)).unwrap_err();
        assert_eq!(error.code(), "invalid_input");
    }
}

#[tokio::test]
async fn retention_keeps_the_newest_entries() {
    let runtime = runtime_with(|config| config.limits.retained_transcript = 3);
    let id = create(&runtime).await;
    converse(&runtime, &id, 3).await;
    let page = runtime.transcript(&id, 0, None).unwrap();
    let contents: Vec<(Role, &str)> = page
        .entries
        .iter()
        .map(|entry| (entry.role, entry.content.as_str()))
        .collect();
    assert_eq!(
        contents,
        [
            (Role::Assistant, "turn 1"),
            (Role::User, "turn 2"),
            (Role::Assistant, "turn 2")
        ]
    );
}
