//! Scenario 10: a model's answer streamed as fast as the provider can write it. The scripted
//! provider (in the harness's process) answers every run with the same stream of deltas; a
//! runtime process runs the `openai` engine against it, and a Backend serves that runtime over
//! the http-client adapter. Two workers, so that each side's streams stay open all along: on
//! `direct`, one subscriber at the runtime (the provider -> runtime path); on `via`, one subscriber
//! through the Backend and one at the runtime, fed by the same run, so that each delta's two
//! arrivals compare directly. Rounds alternate the two.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use yoi_test_support::{Reply, ScriptedProvider};

use crate::child::Child;
use crate::load::Target;
use crate::report::Row;
use crate::setup::{self, Calls, direct, remote_table, via};
use crate::sse::{Subscriber, wait_all};
use crate::stats::median;
use crate::{Bench, procfs};

use super::sse_latency::{added_latencies, latencies};
use super::{thousands, us};

/// The scenario's number in the table.
const SCENARIO: u8 = 10;

/// The events of a run besides its deltas: `input_accepted` and `run_started` before them,
/// `message` and `run_completed` after.
const EVENTS_BEFORE_DELTAS: u64 = 2;
const EVENTS_AFTER_DELTAS: u64 = 2;

/// Deltas per answer.
fn deltas(bench: &Bench) -> u64 {
    if bench.quick { 1_000 } else { 10_000 }
}

/// The events of one run.
fn events_per_run(bench: &Bench) -> u64 {
    deltas(bench) + EVENTS_BEFORE_DELTAS + EVENTS_AFTER_DELTAS
}

/// One side: the worker's input, its subscribers, and the processes whose CPU time it costs.
struct Side {
    input: Target,
    subscribers: Vec<Subscriber>,
    pids: Vec<u32>,
    /// Events per run.
    per_input: u64,
}

/// What one run of one side measured.
struct Run {
    /// CPU time of each of the side's processes, from the input's send to the last event.
    cpu: Vec<Duration>,
    /// Each subscriber's latency to each delta, from the input's send, in id order.
    latencies: Vec<Vec<Duration>>,
}

/// Totals over a side's measured runs.
#[derive(Default)]
struct Totals {
    deltas: u64,
    cpu: Vec<Duration>,
    /// Deltas per second at the side's last subscriber, one per run.
    rates: Vec<f64>,
    /// The Backend's added latency to the first delta (before any queue forms), and its median
    /// and p99 over the deltas, one per run.
    added_first: Vec<f64>,
    added_p50: Vec<f64>,
    added_p99: Vec<f64>,
}

pub(super) async fn run(bench: &mut Bench) {
    let provider = ScriptedProvider::start().await;
    let pieces = (0..deltas(bench)).map(|index| format!("t{} ", index % 10));
    provider.push(Reply::stream(pieces));
    // A run's deltas come faster than the runtime's streams send them: its subscribers fall
    // behind by up to a run's events, which its Workers retain so that none is reset.
    let retained = usize::try_from(2 * events_per_run(bench)).expect("fits");
    let openai = format!("{}/v1", provider.base_url());
    let runtime = setup::model_runtime(bench, "s10-runtime", &openai, retained);
    let table = remote_table("remote", runtime.address(), 5000);
    let backend = setup::backend(bench, "s10-backend", &table);
    let calls = Calls::new();
    let mut direct_side = open_side(&calls, &runtime, None, "direct").await;
    let mut via_side = open_side(&calls, &runtime, Some(&backend), "via").await;
    for side in [&mut direct_side, &mut via_side] {
        warm_up(bench, &calls, side).await;
    }
    let (mut direct_totals, mut via_totals) = (Totals::default(), Totals::default());
    for _ in 0..bench.rounds() {
        let measured = run_once(bench, &calls, &direct_side).await;
        direct_totals.add(bench, &measured, None);
        let measured = run_once(bench, &calls, &via_side).await;
        via_totals.add(bench, &measured, Some((1, 0)));
    }
    report(bench, &direct_totals, &via_totals);
}

/// Creates worker `worker` and opens its subscribers: at the runtime, then through `backend`
/// when given. The side's CPU is the Backend's (when given), then the runtime's.
async fn open_side(calls: &Calls, runtime: &Child, backend: Option<&Child>, worker: &str) -> Side {
    calls
        .create_worker(&direct(runtime.address(), "/v1/workers"), worker)
        .await;
    let mut subscribers = vec![
        Subscriber::open(&direct(
            runtime.address(),
            &format!("/v1/workers/{worker}/events"),
        ))
        .await,
    ];
    let mut pids = vec![runtime.pid()];
    if let Some(backend) = backend {
        let events = format!("/api/runtimes/remote/workers/{worker}/events");
        subscribers.push(Subscriber::open(&via(backend.address(), &events)).await);
        pids.insert(0, backend.pid());
    }
    Side {
        input: direct(runtime.address(), &format!("/v1/workers/{worker}/input")),
        subscribers,
        pids,
        per_input: 0,
    }
}

/// One unmeasured run, which also learns how many events a run records.
async fn warm_up(bench: &Bench, calls: &Calls, side: &mut Side) {
    let (first, _) = calls.send_input(&side.input, "go").await;
    let detail = Target {
        path: side.input.path.trim_end_matches("/input").to_owned(),
        ..side.input.clone()
    };
    let last = calls.wait_idle(&detail).await;
    side.per_input = last - first + 1;
    assert_eq!(
        side.per_input,
        events_per_run(bench),
        "a run records its deltas and four other events (the provider answered something else?)"
    );
    wait_all(&side.subscribers, last).await;
}

/// One measured run: sends an input, waits until every subscriber has the run's last event.
async fn run_once(bench: &Bench, calls: &Calls, side: &Side) -> Run {
    for subscriber in &side.subscribers {
        subscriber.record(true);
    }
    let cpu_before: Vec<Duration> = side.pids.iter().map(|&pid| procfs::cpu_time(pid)).collect();
    let (sequence, sent) = calls.send_input(&side.input, "go").await;
    wait_all(&side.subscribers, sequence + side.per_input - 1).await;
    let cpu = side
        .pids
        .iter()
        .zip(cpu_before)
        .map(|(&pid, before)| procfs::cpu_time(pid) - before)
        .collect();
    let first_delta = sequence + EVENTS_BEFORE_DELTAS;
    let sent_at: HashMap<u64, Instant> = (first_delta..first_delta + deltas(bench))
        .map(|id| (id, sent))
        .collect();
    let latencies = side
        .subscribers
        .iter()
        .map(|subscriber| {
            subscriber.record(false);
            latencies(&subscriber.take_arrivals(), &sent_at)
        })
        .collect();
    Run { cpu, latencies }
}

impl Totals {
    /// Adds `run`; `pair` names the subscribers (via the Backend, direct) whose arrivals of the
    /// same deltas give the Backend's added latency.
    fn add(&mut self, bench: &Bench, run: &Run, pair: Option<(usize, usize)>) {
        let count = deltas(bench);
        self.deltas += count;
        self.cpu.resize(run.cpu.len(), Duration::ZERO);
        for (total, cpu) in self.cpu.iter_mut().zip(&run.cpu) {
            *total += *cpu;
        }
        let last = run.latencies.iter().filter_map(|each| each.last()).max();
        self.rates
            .push(count as f64 / last.map_or(f64::NAN, Duration::as_secs_f64));
        if let Some((through_backend, at_runtime)) = pair {
            let mut added =
                added_latencies(&run.latencies[at_runtime], &run.latencies[through_backend]);
            self.added_first
                .push(added.first().copied().unwrap_or(f64::NAN));
            added.sort_by(f64::total_cmp);
            self.added_p50.push(median(&added));
            let p99 = (0.99 * added.len() as f64).ceil() as usize;
            self.added_p99.push(
                added
                    .get(p99.saturating_sub(1))
                    .copied()
                    .unwrap_or(f64::NAN),
            );
        }
    }

    /// CPU time per delta of the side's process `index`, in us.
    fn cpu_per_delta(&self, index: usize) -> f64 {
        us(self.cpu[index]) / self.deltas.max(1) as f64
    }
}

fn report(bench: &mut Bench, direct_totals: &Totals, via_totals: &Totals) {
    let count = thousands(deltas(bench) as f64);
    let backend_cpu = via_totals.cpu_per_delta(0);
    bench.push(Row::judged(
        SCENARIO,
        &format!("Backend CPU per delta, {count} deltas as fast as the provider writes"),
        format!("{backend_cpu:.2} us"),
        "<= 5 us",
        backend_cpu <= 5.0,
    ));
    bench.push(Row::context(
        SCENARIO,
        "runtime CPU per delta (openai engine, its SSE)",
        format!(
            "{:.2} us with one direct subscriber, {:.2} us with the Backend's stream and one direct",
            direct_totals.cpu_per_delta(0),
            via_totals.cpu_per_delta(1)
        ),
    ));
    bench.push(Row::context(
        SCENARIO,
        "added latency per delta, Backend vs direct",
        format!(
            "p50 {:.0} us, p99 {:.0} us (first delta {:.0} us)",
            median(&via_totals.added_p50),
            median(&via_totals.added_p99),
            median(&via_totals.added_first)
        ),
    ));
    bench.push(Row::context(
        SCENARIO,
        "deltas per second, input sent to last delta",
        format!(
            "direct {}/s, via Backend {}/s",
            thousands(median(&direct_totals.rates)),
            thousands(median(&via_totals.rates))
        ),
    ));
}
