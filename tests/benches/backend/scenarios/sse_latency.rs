//! Scenario 4: one subscriber's event latency through the Backend against one subscribed to the
//! runtime directly, both open at once and fed by the same inputs; latency runs from sending
//! the input to the event's arrival.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::Bench;
use crate::report::Row;
use crate::setup::{self, Calls, direct, remote_table, via};
use crate::sse::{Subscriber, wait_all};
use crate::stats::{median, quantile};

use super::us;

/// Inputs sent per round.
fn inputs_per_round(bench: &Bench) -> usize {
    if bench.quick { 20 } else { 300 }
}

pub(super) async fn run(bench: &mut Bench) {
    let runtime = setup::runtimes(bench, "s4-runtime", 1, 0);
    let calls = Calls::new();
    calls
        .create_worker(&direct(runtime.address(), "/v1/workers"), "w1")
        .await;
    let table = remote_table("remote", runtime.address(), 5000);
    let backend = setup::backend(bench, "s4-backend", &table);
    let subscribers = [
        Subscriber::open(&direct(runtime.address(), "/v1/workers/w1/events")).await,
        Subscriber::open(&via(
            backend.address(),
            "/api/runtimes/remote/workers/w1/events",
        ))
        .await,
    ];
    let input = direct(runtime.address(), "/v1/workers/w1/input");
    let (first, _) = calls.send_input(&input, "x").await;
    let last = calls
        .wait_idle(&direct(runtime.address(), "/v1/workers/w1"))
        .await;
    let per_input = last - first + 1;
    wait_all(&subscribers, last).await;
    for subscriber in &subscribers {
        subscriber.record(true);
    }
    let (mut added, mut p99_ratios) = (Vec::new(), Vec::new());
    let (mut direct_p50s, mut backend_p50s) = (Vec::new(), Vec::new());
    for _ in 0..bench.rounds() {
        let mut sent_at = HashMap::new();
        for _ in 0..inputs_per_round(bench) {
            let (sequence, sent) = calls.send_input(&input, "x").await;
            for id in sequence..sequence + per_input {
                sent_at.insert(id, sent);
            }
            wait_all(&subscribers, sequence + per_input - 1).await;
        }
        let [mut to_direct, mut to_backend] =
            [0, 1].map(|side| latencies(&subscribers[side].take_arrivals(), &sent_at));
        added.push(median(&added_latencies(&to_direct, &to_backend)));
        direct_p50s.push(us(quantile(&mut to_direct, 0.5)));
        backend_p50s.push(us(quantile(&mut to_backend, 0.5)));
        p99_ratios.push(us(quantile(&mut to_backend, 0.99)) / us(quantile(&mut to_direct, 0.99)));
    }
    let added = median(&added);
    bench.push(Row::judged(
        4,
        "added p50 event latency, one subscriber",
        format!(
            "{added:.0} us (direct p50 {:.0} us, via Backend {:.0} us)",
            median(&direct_p50s),
            median(&backend_p50s)
        ),
        "<= 50 us",
        added <= 50.0,
    ));
    let ratio = median(&p99_ratios);
    bench.push(Row::judged(
        4,
        "p99 event latency, Backend / direct",
        format!("{ratio:.2}"),
        "<= 2.0",
        ratio <= 2.0,
    ));
}

/// What the Backend added to each event's latency, in us: `via`'s latency less `direct`'s, both
/// in id order.
pub(super) fn added_latencies(direct: &[Duration], via: &[Duration]) -> Vec<f64> {
    direct
        .iter()
        .zip(via)
        .map(|(direct, via)| us(*via) - us(*direct))
        .collect()
}

/// Each event's latency, from the sending of its input, in id order.
pub(super) fn latencies(
    arrivals: &[(u64, Instant)],
    sent_at: &HashMap<u64, Instant>,
) -> Vec<Duration> {
    let mut by_id: Vec<(u64, Duration)> = arrivals
        .iter()
        .filter_map(|(id, arrival)| Some((*id, *arrival - *sent_at.get(id)?)))
        .collect();
    by_id.sort_unstable_by_key(|(id, _)| *id);
    by_id.into_iter().map(|(_, latency)| latency).collect()
}
