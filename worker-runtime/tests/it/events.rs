use std::time::{SystemTime, UNIX_EPOCH};

use futures::StreamExt;
use worker_runtime::{EchoSettings, EngineSettings, Input, Runtime, RuntimeError, WorkerStatus};

use crate::support::{
    DEADLINE, create, eventually, kinds, run_events, runtime, runtime_with, send,
};

/// A small xorshift generator: enough randomness for cursors, reproducible from its seed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % bound.max(1)
    }
}

fn chunked_echo(retained_events: usize) -> Runtime {
    runtime_with(|config| {
        config.limits.retained_events = retained_events;
        config.profiles.insert(
            "default".into(),
            EngineSettings::Echo(EchoSettings {
                chunk_chars: 1,
                delay_ms: 0,
            }),
        );
    })
}

/// Drains a stream to its end under the deadline; returns the sequences it delivered.
async fn drain(mut stream: worker_runtime::EventStream) -> Vec<u64> {
    tokio::time::timeout(DEADLINE, async {
        let mut sequences = Vec::new();
        while let Some(event) = stream.next().await {
            sequences.push(event.unwrap().sequence);
        }
        sequences
    })
    .await
    .expect("the stream ended within the deadline")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribers_at_random_cursors_see_exact_contiguous_sequences_across_the_seam() {
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    let mut rng = Rng(seed);
    let runtime = chunked_echo(100_000);
    let id = create(&runtime).await;

    // A producer sends inputs back to back while subscribers join at random cursors.
    let producer = {
        let (runtime, id) = (runtime.clone(), id.clone());
        tokio::spawn(async move {
            for round in 0..40 {
                let input = Input::user(format!("round {round} of the seam test"));
                loop {
                    match runtime.send_input(&id, input.clone()).await {
                        Ok(_) => break,
                        Err(RuntimeError::WorkerBusy(_)) => tokio::task::yield_now().await,
                        Err(other) => panic!("{other}"),
                    }
                }
            }
            let idle = || runtime.get_worker(&id).unwrap().status == WorkerStatus::Idle;
            eventually("the last run to end", idle).await;
            runtime.stop_worker(&id).await.unwrap();
        })
    };

    let mut subscribers = Vec::new();
    while !producer.is_finished() || subscribers.len() < 8 {
        let newest = runtime.get_worker(&id).unwrap().last_sequence;
        let cursor = rng.below(newest + 1);
        let stream = runtime.subscribe(&id, Some(cursor)).unwrap();
        subscribers.push((cursor, tokio::spawn(drain(stream))));
        for _ in 0..rng.below(50) {
            tokio::task::yield_now().await;
        }
        if subscribers.len() >= 64 {
            break;
        }
    }
    producer.await.unwrap();
    let last = runtime.get_worker(&id).unwrap().last_sequence;
    assert!(last > 40 * 25, "the producer ran: {last} events");
    for (cursor, subscriber) in subscribers {
        let sequences = subscriber.await.unwrap();
        let expected: Vec<u64> = (cursor + 1..=last).collect();
        assert!(
            sequences == expected,
            "seed {seed}: cursor {cursor}: gap or duplicate"
        );
    }
}

#[tokio::test]
async fn no_cursor_replays_everything_retained() {
    let runtime = chunked_echo(5);
    let id = create(&runtime).await;
    let ack = send(&runtime, &id, "abcdef").await.unwrap();
    run_events(&runtime, &id, ack.sequence).await;
    runtime.stop_worker(&id).await.unwrap();
    let last = runtime.get_worker(&id).unwrap().last_sequence;
    let sequences = drain(runtime.subscribe(&id, None).unwrap()).await;
    assert_eq!(sequences, (last - 4..=last).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_cursor_older_than_retention_is_cursor_expired() {
    let runtime = chunked_echo(4);
    let id = create(&runtime).await;
    let ack = send(&runtime, &id, "abcdefgh").await.unwrap();
    let events = run_events(&runtime, &id, ack.sequence).await;
    let last = events.last().unwrap().sequence;
    let oldest = last - 3;

    let error = runtime.subscribe(&id, Some(1)).unwrap_err();
    assert_eq!(error.code(), "cursor_expired");
    assert_eq!(error, RuntimeError::CursorExpired { cursor: 1, oldest });
    // The oldest retained event itself can still be resumed to, exactly.
    let stream = runtime.subscribe(&id, Some(oldest - 1)).unwrap();
    let first = stream.take(1).collect::<Vec<_>>().await;
    assert_eq!(first[0].as_ref().unwrap().sequence, oldest);
}

#[tokio::test]
async fn a_subscriber_that_falls_behind_gets_cursor_expired_not_a_gap() {
    let runtime = chunked_echo(4);
    let id = create(&runtime).await;
    let mut stream = runtime.subscribe(&id, Some(1)).unwrap();
    // The subscriber does not read while a run records many more events than are retained.
    let ack = send(&runtime, &id, "abcdefgh").await.unwrap();
    let idle = || runtime.get_worker(&id).unwrap().status == WorkerStatus::Idle;
    eventually("the run to end", idle).await;
    assert!(runtime.get_worker(&id).unwrap().last_sequence > ack.sequence + 4);

    let first = stream.next().await.unwrap();
    assert_eq!(first.unwrap_err().code(), "cursor_expired");
    assert!(
        stream.next().await.is_none(),
        "the stream ends after cursor_expired"
    );
}

#[tokio::test]
async fn a_cursor_beyond_the_newest_event_is_invalid_input() {
    let runtime = runtime();
    let id = create(&runtime).await;
    assert!(
        runtime.subscribe(&id, Some(1)).is_ok(),
        "the newest event is a valid cursor"
    );
    let error = runtime.subscribe(&id, Some(2)).unwrap_err();
    assert_eq!(error.code(), "invalid_input");
}

#[tokio::test]
async fn live_streams_end_after_worker_stopped() {
    let runtime = runtime();
    let id = create(&runtime).await;
    let watcher = tokio::spawn({
        let stream = runtime.subscribe(&id, Some(1)).unwrap();
        async move {
            tokio::time::timeout(DEADLINE, stream.collect::<Vec<_>>())
                .await
                .expect("the stream ends")
        }
    });
    let ack = runtime.send_input(&id, Input::user("hi")).await.unwrap();
    run_events(&runtime, &id, ack.sequence).await;
    runtime.stop_worker(&id).await.unwrap();
    let events: Vec<_> = watcher
        .await
        .unwrap()
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(kinds(&events).last(), Some(&"worker_stopped"));
    assert_eq!(events[0].sequence, 2);
}

#[tokio::test]
async fn streams_end_when_the_runtime_is_dropped() {
    let runtime = runtime();
    let id = create(&runtime).await;
    let mut stream = runtime.subscribe(&id, Some(1)).unwrap();
    let waiting = tokio::spawn(async move {
        tokio::time::timeout(DEADLINE, stream.next())
            .await
            .expect("the stream ends")
            .is_none()
    });
    tokio::task::yield_now().await;
    drop(runtime);
    assert!(waiting.await.unwrap());
}
