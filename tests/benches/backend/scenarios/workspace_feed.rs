//! Scenario 11: the workspace feed. 1,000 Workers on 5 remote runtimes and 1,000 idle browsers
//! on `GET /api/events` through the Backend: the Backend's resident memory per idle subscriber
//! and the upstream feeds open at the runtimes; then bursts of status changes (an input to each
//! of 100 Workers at once, which makes each `running` and then `idle`): the latency from an
//! input's send (just before the runtime's change) to its `running` state at the last
//! subscriber, and the Backend's CPU per delivered change.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures::future::join_all;

use crate::load::Target;
use crate::report::Row;
use crate::setup::{self, Calls, direct, remote_table, via};
use crate::sse::Subscriber;
use crate::stats::quantile;
use crate::{Bench, procfs};

use super::{thousands, us};

/// The runtimes, each a process port of its own.
const RUNTIMES: usize = 5;

/// How many inputs one burst sends at once, each to a Worker of its own.
const BURST: usize = 100;

/// How many changes one input makes: `running`, then `idle`.
const CHANGES_PER_INPUT: u64 = 2;

/// The low bits of a state's key hold its `last_sequence`, the others its Worker's number.
const SEQUENCE_BITS: u32 = 20;
const SEQUENCE_MASK: u64 = (1 << SEQUENCE_BITS) - 1;

/// How long every subscriber may take to receive what it is owed.
const DELIVERY_LIMIT: Duration = Duration::from_secs(60);

/// The sizes of a run: Workers per runtime, subscribers, paced inputs, bursts.
struct Sizes {
    workers_each: usize,
    subscribers: usize,
    paced: usize,
    bursts: usize,
}

pub(super) async fn run(bench: &mut Bench) {
    let sizes = if bench.quick {
        Sizes {
            workers_each: 20,
            subscribers: 20,
            paced: 5,
            bursts: 2,
        }
    } else {
        Sizes {
            workers_each: 200,
            subscribers: 1000,
            paced: 50,
            bursts: 20,
        }
    };
    let runtimes = setup::runtimes(bench, "s11-runtimes", RUNTIMES, 0);
    let tables: String = (runtimes.addresses.iter().enumerate())
        .map(|(index, address)| remote_table(&format!("rt{index}"), *address, 5000))
        .collect();
    let backend = setup::backend(bench, "s11-backend", &tables);
    let calls = Calls::new();
    let workers = create_workers(&calls, &runtimes.addresses, sizes.workers_each).await;
    let feed = via(backend.address(), "/api/events");
    let total = workers.len() as u64;

    // One browser first: the upstream feeds and the picture are the Backend's, not a browser's.
    let first = Subscriber::open_keyed(&feed, state_key).await;
    wait_for(std::slice::from_ref(&first), total).await;
    let resident_before = procfs::resident_bytes(backend.pid());
    let mut open = Vec::with_capacity(sizes.subscribers);
    for _ in 0..sizes.subscribers {
        open.push(Subscriber::open_keyed(&feed, state_key).await);
    }
    wait_for(&open, total).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let per_idle = procfs::resident_bytes(backend.pid()).saturating_sub(resident_before) as f64
        / sizes.subscribers as f64;
    let upstream = setup::counts(&runtimes)
        .await
        .open_event_streams
        .get(worker_runtime::protocol::FEED)
        .copied()
        .unwrap_or(0);

    let mut owed = total;
    let paced = paced(&calls, &workers, &open, &mut owed, sizes.paced).await;
    let received = |open: &[Subscriber]| open.iter().map(Subscriber::events).sum::<u64>();
    let (before, cpu_before) = (received(&open), procfs::cpu_time(backend.pid()));
    let burst = bursts(&calls, &workers, &open, &mut owed, sizes.bursts).await;
    let cpu = procfs::cpu_time(backend.pid()) - cpu_before;
    let deliveries = (received(&open) - before) as f64;
    let figures = Figures {
        per_idle,
        upstream,
        paced,
        burst,
        cpu_per_delivery: us(cpu) / deliveries,
        deliveries,
    };
    report(bench, &sizes, &figures);
}

/// What the scenario measured.
struct Figures {
    per_idle: f64,
    upstream: u64,
    /// p50 and p99 of one change at a time, to the last subscriber.
    paced: (Duration, Duration),
    /// p50 and p99 of the changes of bursts, to the last subscriber.
    burst: (Duration, Duration),
    cpu_per_delivery: f64,
    deliveries: f64,
}

/// `count` inputs one at a time, each delivered to every subscriber before the next: the p50
/// and p99 of the latency to the last. `owed` counts the states every subscriber is owed.
async fn paced(
    calls: &Calls,
    workers: &[Worker],
    open: &[Subscriber],
    owed: &mut u64,
    count: usize,
) -> (Duration, Duration) {
    let rounds = workers.iter().rev().take(count).map(|worker| vec![worker]);
    measure_rounds(calls, open, owed, rounds).await
}

/// `count` bursts of [`BURST`] inputs sent at once, each burst delivered to every subscriber
/// before the next: the p50 and p99 of the latency to the last.
async fn bursts(
    calls: &Calls,
    workers: &[Worker],
    open: &[Subscriber],
    owed: &mut u64,
    count: usize,
) -> (Duration, Duration) {
    let rounds = (0..count).map(|burst| {
        (0..BURST)
            .map(|index| &workers[(burst * BURST + index) % workers.len()])
            .collect::<Vec<_>>()
    });
    measure_rounds(calls, open, owed, rounds).await
}

/// Sends each round's inputs at once and waits until every subscriber has what it is owed
/// before the next: the p50 and p99 of the latency to the last.
async fn measure_rounds<'a>(
    calls: &Calls,
    open: &[Subscriber],
    owed: &mut u64,
    rounds: impl Iterator<Item = Vec<&'a Worker>>,
) -> (Duration, Duration) {
    for subscriber in open {
        subscriber.record(true);
    }
    let mut sends = Vec::new();
    for round in rounds {
        *owed += CHANGES_PER_INPUT * round.len() as u64;
        sends.extend(join_all(round.iter().map(|worker| worker.send(calls))).await);
        wait_for(open, *owed).await;
    }
    latency_to_last(open, &sends)
}

/// A Worker of the scenario: its number and where its runtime takes its input.
struct Worker {
    number: u64,
    input: Target,
}

impl Worker {
    /// Sends it an input (its previous run ended bursts ago): its number, the input's sequence
    /// and when it was sent.
    async fn send(&self, calls: &Calls) -> (u64, u64, Instant) {
        let (sequence, sent) = calls.send_input(&self.input, "x").await;
        (self.number, sequence, sent)
    }
}

/// Creates `each` Workers on every runtime at `addresses`, named `f<runtime><index>` (all
/// digits after the `f`, which is the Worker's number in a key).
async fn create_workers(calls: &Calls, addresses: &[SocketAddr], each: usize) -> Vec<Worker> {
    let mut workers = Vec::new();
    for (runtime, address) in addresses.iter().enumerate() {
        for index in 0..each {
            let id = format!("f{runtime}{index:04}");
            calls
                .create_worker(&direct(*address, "/v1/workers"), &id)
                .await;
            workers.push(Worker {
                number: id[1..].parse().expect("digits"),
                input: direct(*address, &format!("/v1/workers/{id}/input")),
            });
        }
    }
    workers
}

/// The key of a `worker_status` frame: the Worker's number, shifted, and its `last_sequence`.
fn state_key(frame: &[u8]) -> Option<u64> {
    if !frame.starts_with(b"event: worker_status\n") {
        return None;
    }
    let number = number_after(frame, b"\"worker_id\":\"f")?;
    let sequence = number_after(frame, b"\"last_sequence\":")?;
    Some(number << SEQUENCE_BITS | sequence)
}

/// The decimal number right after the first `marker` in `frame`.
fn number_after(frame: &[u8], marker: &[u8]) -> Option<u64> {
    let start = frame
        .windows(marker.len())
        .position(|window| window == marker)?
        + marker.len();
    let digits = frame[start..]
        .iter()
        .take_while(|byte| byte.is_ascii_digit());
    let digits: Vec<u8> = digits.copied().collect();
    std::str::from_utf8(&digits).ok()?.parse().ok()
}

/// Waits until every one of `subscribers` has received `owed` states.
async fn wait_for(subscribers: &[Subscriber], owed: u64) {
    let started = Instant::now();
    loop {
        let behind = subscribers.iter().filter(|s| s.events() < owed).count();
        if behind == 0 {
            return;
        }
        assert!(
            started.elapsed() < DELIVERY_LIMIT,
            "{behind} of {} subscribers never got {owed} states",
            subscribers.len()
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// The p50 and p99, over the inputs `sends`, of the time from the send to the arrival of the
/// Worker's next state at the last of `open`.
fn latency_to_last(open: &[Subscriber], sends: &[(u64, u64, Instant)]) -> (Duration, Duration) {
    let mut last_arrival = HashMap::<(u64, u64), Instant>::new();
    for subscriber in open {
        subscriber.record(false);
        // Per Worker, its states' sequences and arrivals, in order of sequence.
        let mut by_worker = HashMap::<u64, Vec<(u64, Instant)>>::new();
        for (key, arrival) in subscriber.take_arrivals() {
            by_worker
                .entry(key >> SEQUENCE_BITS)
                .or_default()
                .push((key & SEQUENCE_MASK, arrival));
        }
        for states in by_worker.values_mut() {
            states.sort_unstable();
        }
        for &(number, sequence, _) in sends {
            let Some(states) = by_worker.get(&number) else {
                continue;
            };
            // The first state at or after the input's sequence.
            let at = states.partition_point(|(state, _)| *state < sequence);
            if let Some(&(_, arrival)) = states.get(at) {
                let latest = last_arrival.entry((number, sequence)).or_insert(arrival);
                *latest = (*latest).max(arrival);
            }
        }
    }
    let mut latencies: Vec<Duration> = sends
        .iter()
        .filter_map(|(number, sequence, sent)| {
            Some(*last_arrival.get(&(*number, *sequence))? - *sent)
        })
        .collect();
    (
        quantile(&mut latencies, 0.5),
        quantile(&mut latencies, 0.99),
    )
}

fn report(bench: &mut Bench, sizes: &Sizes, figures: &Figures) {
    let n = sizes.subscribers;
    let workers = sizes.workers_each * RUNTIMES;
    let per_idle = figures.per_idle;
    bench.push(Row::judged(
        11,
        &format!("Backend RSS per idle feed subscriber, N = {n}, {workers} Workers"),
        format!("{:.1} KiB", per_idle / 1024.0),
        "<= 16 KiB",
        per_idle <= 16.0 * 1024.0,
    ));
    bench.push(Row::judged(
        11,
        &format!("upstream feeds open at the {RUNTIMES} runtimes, N = {n}"),
        figures.upstream.to_string(),
        "exactly 5",
        figures.upstream == RUNTIMES as u64,
    ));
    let latency = |(p50, p99): (Duration, Duration)| {
        format!(
            "p99 {:.2} ms (p50 {:.2} ms)",
            us(p99) / 1000.0,
            us(p50) / 1000.0
        )
    };
    bench.push(Row::context(
        11,
        &format!("latency of one change to the last subscriber, N = {n}"),
        latency(figures.paced),
    ));
    bench.push(Row::context(
        11,
        &format!("latency of a change to the last subscriber, bursts of {BURST} inputs, N = {n}"),
        latency(figures.burst),
    ));
    let cpu_per_delivery = figures.cpu_per_delivery;
    bench.push(Row::judged(
        11,
        &format!(
            "Backend CPU per delivered change in bursts, N = {n} ({} deliveries)",
            thousands(figures.deliveries)
        ),
        format!("{cpu_per_delivery:.2} us"),
        "<= 1 us",
        cpu_per_delivery <= 1.0,
    ));
}
