//! Scenarios 15 and 16: what keeping Workers on disk costs. 15: one Worker's events per second
//! on a runtime with `--data-dir` against one in memory, side by side (each event is journaled
//! before any subscriber sees it). 16: a runtime restarted on a folder of many Workers with
//! their events: how long until it answers, and its memory against the process that made them.

use std::time::{Duration, Instant};

use futures::StreamExt;

use crate::report::Row;
use crate::setup::{self, Calls, direct};
use crate::sse::{Subscriber, wait_all};
use crate::stats::median;
use crate::{Bench, procfs};

/// Characters of scenario 15's input, one delta each: a run's events stay within what a Worker
/// retains (2,048), so that a subscriber is never reset.
const INPUT_CHARS: usize = 1_000;

/// Scenario 16's Workers, each given one input of [`EVENTS_INPUT`] characters (about 100 events).
fn stored_workers(bench: &Bench) -> usize {
    if bench.quick { 200 } else { 10_000 }
}

/// An input that makes about 100 events with one character per delta.
const EVENTS_INPUT: usize = 95;

/// How many setup calls are in flight at once.
const IN_FLIGHT: usize = 32;

pub(super) async fn run(bench: &mut Bench, fifteen: bool, sixteen: bool) {
    if fifteen {
        events_per_second(bench).await;
    }
    if sixteen {
        restart(bench).await;
    }
}

/// Scenario 15.
async fn events_per_second(bench: &mut Bench) {
    let folder = bench.dir.path().join("s15-data");
    let memory = setup::runtime_with(bench, "s15-memory", &["--chunk-chars", "1"]);
    let folder_arg = folder.to_str().expect("a UTF-8 path");
    let args = ["--chunk-chars", "1", "--data-dir", folder_arg];
    let disk = setup::runtime_with(bench, "s15-disk", &args);
    let calls = Calls::new();
    let mut sides = Vec::new();
    for runtime in [&memory, &disk] {
        calls
            .create_worker(&direct(runtime.address(), "/v1/workers"), "w1")
            .await;
        let events = direct(runtime.address(), "/v1/workers/w1/events");
        let input = direct(runtime.address(), "/v1/workers/w1/input");
        sides.push((Subscriber::open(&events).await, input));
    }
    let text = "x".repeat(INPUT_CHARS);
    let mut per_input = 0;
    let mut rates = [Vec::new(), Vec::new()];
    // The first run of each side is not measured: it tells how many events a run makes.
    for round in 0..=bench.rounds() {
        for (side, (subscriber, input)) in sides.iter().enumerate() {
            let (first, sent) = calls.send_input(input, &text).await;
            if round == 0 {
                let detail = direct(input.address, "/v1/workers/w1");
                per_input = calls.wait_idle(&detail).await - first + 1;
            }
            wait_all(std::slice::from_ref(subscriber), first + per_input - 1).await;
            let elapsed = sent.elapsed().as_secs_f64();
            if round > 0 {
                rates[side].push(per_input as f64 / elapsed);
            }
            let detail = direct(input.address, "/v1/workers/w1");
            calls.wait_idle(&detail).await;
        }
    }
    let ratios: Vec<f64> = rates[1]
        .iter()
        .zip(&rates[0])
        .map(|(disk, memory)| disk / memory)
        .collect();
    let ratio = median(&ratios);
    bench.push(Row::judged(
        15,
        &format!("events/s of one Worker, --data-dir / in memory, runs of {per_input} events"),
        format!(
            "{ratio:.2} ({:.0} vs {:.0} events/s)",
            median(&rates[1]),
            median(&rates[0])
        ),
        ">= 0.5",
        ratio >= 0.5,
    ));
}

/// Scenario 16.
async fn restart(bench: &mut Bench) {
    let folder = bench.dir.path().join("s16-data");
    let folder_arg = folder.to_str().expect("a UTF-8 path").to_owned();
    let args = ["--chunk-chars", "1", "--data-dir", folder_arg.as_str()];
    let workers = stored_workers(bench);
    let first = setup::runtime_with(bench, "s16-first", &args);
    let events = fill(first.address(), workers).await;
    let made_rss = procfs::resident_bytes(first.pid());
    drop(first);
    let started = Instant::now();
    let again = setup::runtime_with(bench, "s16-again", &args);
    let detail = Calls::new()
        .get(&direct(again.address(), "/v1/workers/w0"))
        .await;
    let answered = started.elapsed();
    assert_eq!(
        detail["status"], "idle",
        "the stored Worker is back: {detail}"
    );
    let again_rss = procfs::resident_bytes(again.pid());
    bench.push(Row::judged(
        16,
        &format!(
            "restart on {workers} Workers x about 100 events ({events} in all), to first answer"
        ),
        format!("{} ms", answered.as_millis()),
        "<= 2 s",
        answered <= Duration::from_secs(2),
    ));
    let ratio = again_rss as f64 / made_rss as f64;
    bench.push(Row::judged(
        16,
        "RSS after the restart / the process that made them",
        format!(
            "{ratio:.2} ({:.0} MiB vs {:.0} MiB)",
            mib(again_rss),
            mib(made_rss)
        ),
        "<= 2.0",
        ratio <= 2.0,
    ));
}

/// Creates `workers` Workers `w0`, `w1`, ... on the runtime at `address`, each given one input
/// of [`EVENTS_INPUT`] characters, and waits until all are idle; answers how many events they
/// hold.
async fn fill(address: std::net::SocketAddr, workers: usize) -> u64 {
    let calls = Calls::new();
    let calls = &calls;
    let text = "x".repeat(EVENTS_INPUT);
    let text = text.as_str();
    futures::stream::iter(0..workers)
        .map(|index| async move {
            let worker = format!("w{index}");
            calls
                .create_worker(&direct(address, "/v1/workers"), &worker)
                .await;
            let input = direct(address, &format!("/v1/workers/{worker}/input"));
            calls.send_input(&input, text).await;
            let detail = direct(address, &format!("/v1/workers/{worker}"));
            calls.wait_idle(&detail).await
        })
        .buffer_unordered(IN_FLIGHT)
        .fold(0, |sum, last| async move { sum + last })
        .await
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}
