//! Scenarios 5 and 6: N browser subscribers on one remote worker through the Backend. The
//! Backend's resident memory with N idle subscribers; then the latency to the last subscriber of
//! paced inputs, and the delivery rate and Backend CPU per delivery of back-to-back inputs.
//!
//! The latency is measured twice. End to end: from an input's send to the last subscriber's
//! reader reaching the event. The Backend's side: from the kernel's receipt of the event at a
//! subscriber of the runtime itself (the runtime writes it to that subscriber and to the
//! Backend's upstream stream together) to the kernel's receipt of it at the last of the
//! Backend's subscribers, which does not wait for the harness's readers to get the cores.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime};

use crate::report::Row;
use crate::setup::{self, Calls, direct, remote_table, via};
use crate::sse::{Subscriber, wait_all};
use crate::stats::quantile;
use crate::{Bench, procfs};

use super::{thousands, us};

/// The text of a throughput input: the echo engine streams it 4 characters per event.
const LONG_INPUT_CHARS: usize = 1000;

/// What one N measured.
struct FanOut {
    subscribers: usize,
    cpu_per_delivery: f64,
    deliveries_per_second: f64,
    last_p50: Duration,
    last_p99: Duration,
    /// The Backend's side of the latency to the last subscriber (p50, p99).
    backend_side: (Duration, Duration),
    /// The Backend's CPU time over the paced inputs, delivered to every subscriber, and how
    /// many inputs.
    paced_cpu: (Duration, u32),
    /// Event streams open at the runtime while the subscribers are served.
    upstream_streams: u64,
}

pub(super) async fn run(bench: &mut Bench) {
    let sizes: &[usize] = if bench.quick {
        &[1, 100]
    } else {
        &[1, 10, 100, 1000]
    };
    let runtime = setup::runtimes(bench, "s5-runtime", 1, 0);
    let table = remote_table("remote", runtime.address(), 5000);
    let backend = setup::backend(bench, "s5-backend", &table);
    let calls = Calls::new();
    let mut results = Vec::new();
    for &subscribers in sizes {
        let worker = format!("fan{subscribers}");
        calls
            .create_worker(&direct(runtime.address(), "/v1/workers"), &worker)
            .await;
        let resident_before = procfs::resident_bytes(backend.pid());
        let events = via(
            backend.address(),
            &format!("/api/runtimes/remote/workers/{worker}/events"),
        );
        let mut open = Vec::with_capacity(subscribers);
        for _ in 0..subscribers {
            open.push(Subscriber::open(&events).await);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        let per_idle = procfs::resident_bytes(backend.pid()).saturating_sub(resident_before) as f64
            / subscribers as f64;
        if subscribers == *sizes.last().expect("sizes") {
            bench.push(Row::judged(
                6,
                &format!("Backend RSS per idle subscriber, N = {subscribers}"),
                format!("{:.1} KiB", per_idle / 1024.0),
                "<= 12 KiB",
                per_idle <= 12.0 * 1024.0,
            ));
        }
        let at_runtime = Subscriber::open(&direct(
            runtime.address(),
            &format!("/v1/workers/{worker}/events"),
        ))
        .await;
        let sides = (open.as_slice(), &at_runtime);
        let latency = latency_to_last(bench, &calls, (&runtime, &backend), &worker, sides).await;
        let Latency {
            last_p50,
            last_p99,
            backend_side,
            paced_cpu,
        } = latency;
        let (cpu_per_delivery, deliveries_per_second) =
            throughput(bench, &calls, &runtime, &backend, &worker, &open).await;
        // Less the harness's own subscriber at the runtime, still open.
        let upstream_streams = setup::counts(&runtime)
            .await
            .open_event_streams
            .get(&format!("/v1/workers/{worker}/events"))
            .copied()
            .unwrap_or(0)
            .saturating_sub(1);
        results.push(FanOut {
            subscribers,
            cpu_per_delivery,
            deliveries_per_second,
            last_p50,
            last_p99,
            backend_side,
            paced_cpu,
            upstream_streams,
        });
    }
    report(bench, &results);
}

/// The latencies of paced inputs to the last subscriber.
struct Latency {
    last_p50: Duration,
    last_p99: Duration,
    /// From the receipt at the runtime's own subscriber to the last receipt (p50, p99).
    backend_side: (Duration, Duration),
    /// The Backend's CPU time over the inputs, and how many.
    paced_cpu: (Duration, u32),
}

/// Paced inputs, one at a time: each event's latency to the last of `open`, end to end and on
/// the Backend's side (against `at_runtime`, a subscriber of the runtime itself).
async fn latency_to_last(
    bench: &Bench,
    calls: &Calls,
    (runtime, backend): (&crate::child::Child, &crate::child::Child),
    worker: &str,
    (open, at_runtime): (&[Subscriber], &Subscriber),
) -> Latency {
    let input = direct(runtime.address(), &format!("/v1/workers/{worker}/input"));
    let (first, _) = calls.send_input(&input, "x").await;
    let detail = direct(runtime.address(), &format!("/v1/workers/{worker}"));
    let per_input = calls.wait_idle(&detail).await - first + 1;
    wait_all(open, first + per_input - 1).await;
    wait_all(std::slice::from_ref(at_runtime), first + per_input - 1).await;
    for subscriber in open.iter().chain([at_runtime]) {
        subscriber.record(true);
    }
    let mut sent_at = Vec::new();
    let inputs = if bench.quick { 10 } else { 100 };
    let cpu_before = procfs::cpu_time(backend.pid());
    for _ in 0..inputs {
        let (sequence, sent) = calls.send_input(&input, "x").await;
        sent_at.push((sequence, sent));
        wait_all(open, sequence + per_input - 1).await;
    }
    let paced_cpu = (procfs::cpu_time(backend.pid()) - cpu_before, inputs);
    at_runtime.record(false);
    let mut last_arrival = HashMap::<u64, Instant>::new();
    let mut last_receipt = HashMap::<u64, SystemTime>::new();
    for subscriber in open {
        subscriber.record(false);
        for (id, arrival) in subscriber.take_arrivals() {
            let latest = last_arrival.entry(id).or_insert(arrival);
            *latest = (*latest).max(arrival);
        }
        for (id, receipt) in subscriber.take_receipts() {
            let latest = last_receipt.entry(id).or_insert(receipt);
            *latest = (*latest).max(receipt);
        }
    }
    let mut latencies: Vec<Duration> = sent_at
        .iter()
        .flat_map(|&(sequence, sent)| (sequence..sequence + per_input).map(move |id| (id, sent)))
        .filter_map(|(id, sent)| Some(*last_arrival.get(&id)? - sent))
        .collect();
    let mut backend_side: Vec<Duration> = at_runtime
        .take_receipts()
        .into_iter()
        .filter_map(|(id, upstream)| last_receipt.get(&id)?.duration_since(upstream).ok())
        .collect();
    assert!(!backend_side.is_empty(), "no event was seen on both sides");
    Latency {
        last_p50: quantile(&mut latencies, 0.5),
        last_p99: quantile(&mut latencies, 0.99),
        backend_side: (
            quantile(&mut backend_side, 0.5),
            quantile(&mut backend_side, 0.99),
        ),
        paced_cpu,
    }
}

/// Back-to-back long inputs for the round time: Backend CPU per delivery (us) and deliveries
/// per second.
async fn throughput(
    bench: &Bench,
    calls: &Calls,
    runtime: &crate::child::Child,
    backend: &crate::child::Child,
    worker: &str,
    open: &[Subscriber],
) -> (f64, f64) {
    let input = direct(runtime.address(), &format!("/v1/workers/{worker}/input"));
    let text = "abcd".repeat(LONG_INPUT_CHARS / 4);
    let (first, _) = calls.send_input(&input, &text).await;
    let detail = direct(runtime.address(), &format!("/v1/workers/{worker}"));
    let per_input = calls.wait_idle(&detail).await - first + 1;
    wait_all(open, first + per_input - 1).await;
    let received = || open.iter().map(Subscriber::events).sum::<u64>();
    let (events_before, cpu_before) = (received(), procfs::cpu_time(backend.pid()));
    let started = Instant::now();
    let duration = bench.round_time() * if bench.quick { 2 } else { 5 };
    while started.elapsed() < duration {
        let (sequence, _) = calls.send_input(&input, &text).await;
        wait_all(open, sequence + per_input - 1).await;
    }
    let elapsed = started.elapsed();
    let deliveries = (received() - events_before) as f64;
    let cpu = procfs::cpu_time(backend.pid()) - cpu_before;
    (us(cpu) / deliveries, deliveries / elapsed.as_secs_f64())
}

fn report(bench: &mut Bench, results: &[FanOut]) {
    let base = results[0].cpu_per_delivery;
    let largest_n = results.last().expect("results").subscribers;
    for result in results {
        let n = result.subscribers;
        // The goals are judged at the largest N; the smaller ones give context.
        let row = |figure: &str, value: String, goal: &str, met: bool| {
            let figure = format!("{figure}, N = {n}");
            match n == largest_n {
                true => Row::judged(5, &figure, value, goal, met),
                false => Row::context(5, &figure, value),
            }
        };
        let ratio = result.cpu_per_delivery / base;
        bench.push(row(
            "Backend CPU per delivery",
            format!("{:.2} us, {ratio:.2}x N = 1", result.cpu_per_delivery),
            "<= 1.5x N = 1",
            ratio <= 1.5,
        ));
        bench.push(row(
            "deliveries per second",
            format!("{}/s", thousands(result.deliveries_per_second)),
            ">= 200,000/s",
            result.deliveries_per_second >= 200_000.0,
        ));
        bench.push(row(
            "latency to the last subscriber",
            p50_p99(result.last_p50, result.last_p99),
            "p99 <= 5 ms",
            us(result.last_p99) <= 5000.0,
        ));
        let (cpu, inputs) = result.paced_cpu;
        bench.push(Row::context(
            5,
            &format!("Backend CPU per paced input (all its events to every subscriber), N = {n}"),
            format!(
                "{:.2} ms, {:.1} us per subscriber ({:.0} ms over {inputs} inputs, in 10 ms ticks)",
                us(cpu) / 1000.0 / f64::from(inputs),
                us(cpu) / f64::from(inputs) / n as f64,
                us(cpu) / 1000.0
            ),
        ));
        let (side_p50, side_p99) = result.backend_side;
        bench.push(row(
            "Backend side: runtime's write to the last subscriber's socket",
            p50_p99(side_p50, side_p99),
            "p99 <= 2 ms",
            us(side_p99) <= 2000.0,
        ));
        bench.push(Row::judged(
            5,
            &format!("upstream event streams open, N = {n}"),
            result.upstream_streams.to_string(),
            "exactly 1",
            result.upstream_streams == 1,
        ));
    }
}

/// `p99 X ms (p50 Y ms)`.
fn p50_p99(p50: Duration, p99: Duration) -> String {
    format!(
        "p99 {:.2} ms (p50 {:.2} ms)",
        us(p99) / 1000.0,
        us(p50) / 1000.0
    )
}
