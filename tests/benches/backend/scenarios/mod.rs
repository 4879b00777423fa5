//! The scenarios of the issue, and the interleaved comparison they share.

mod audit;
mod console;
mod embedded;
mod fanout;
mod listing;
mod persistence;
mod proxy;
mod sse_latency;
mod streaming;
mod tls_link;
mod workspace_feed;

use std::time::Duration;

use crate::cli::Args;
use crate::load::{self, Target};
use crate::stats::median;
pub(crate) use crate::stats::us;
use crate::{Bench, procfs};

/// Runs every scenario `args` selects.
pub(crate) async fn run_all(bench: &mut Bench, args: &Args) {
    if args.runs(1) || args.runs(2) || args.runs(9) || args.runs(14) {
        proxy::run(bench, args).await;
    }
    if args.runs(3) || args.runs(8) {
        embedded::run(bench, args).await;
    }
    if args.runs(4) {
        sse_latency::run(bench).await;
    }
    if args.runs(5) || args.runs(6) {
        fanout::run(bench).await;
    }
    if args.runs(7) {
        listing::run(bench).await;
    }
    if args.runs(10) {
        streaming::run(bench).await;
    }
    if args.runs(11) {
        workspace_feed::run(bench).await;
    }
    if args.runs(12) {
        console::run(bench).await;
    }
    if args.runs(13) {
        tls_link::run(bench).await;
    }
    if args.runs(15) || args.runs(16) {
        persistence::run(bench, args.runs(15), args.runs(16)).await;
    }
    if args.runs(17) {
        audit::run(bench).await;
    }
}

/// One side of a comparison: where the load goes, and the processes whose CPU time it costs.
pub(crate) struct Side {
    target: Target,
    cpu_of: Vec<u32>,
}

impl Side {
    /// A side whose cost is not measured.
    pub(crate) fn new(target: Target) -> Self {
        Self {
            target,
            cpu_of: Vec::new(),
        }
    }

    /// A side whose CPU time is that of processes `pids`.
    pub(crate) fn costing(target: Target, pids: Vec<u32>) -> Self {
        Self {
            target,
            cpu_of: pids,
        }
    }

    /// The user and system CPU time of the side's processes so far.
    fn cpu_times(&self) -> Option<(Duration, Duration)> {
        (!self.cpu_of.is_empty()).then(|| {
            self.cpu_of
                .iter()
                .map(|&pid| procfs::cpu_times(pid))
                .fold(Default::default(), |(user, system), (u, s)| {
                    (user + u, system + s)
                })
        })
    }
}

/// What one side measured in one round.
#[derive(Clone, Copy)]
pub(crate) struct Measured {
    /// Median latency.
    pub(crate) p50: Duration,
    /// Answers per second.
    pub(crate) throughput: f64,
    /// CPU time of the side's process per answer, when measured.
    pub(crate) cpu_per_request: Option<Duration>,
    /// The user part of `cpu_per_request` (the rest is the kernel's).
    pub(crate) user_per_request: Option<Duration>,
}

/// Runs `sides` one after the other for the round time, `bench.rounds()` times, after a
/// warm-up round (full mode): `result[round][side]`.
pub(crate) async fn interleave(
    bench: &Bench,
    sides: &[Side],
    connections: usize,
) -> Vec<Vec<Measured>> {
    if !bench.quick {
        for side in sides {
            load::run(&side.target, connections, bench.round_time()).await;
        }
    }
    let mut rounds = Vec::new();
    for _ in 0..bench.rounds() {
        let mut round = Vec::new();
        for side in sides {
            let before = side.cpu_times();
            let measured = load::run(&side.target, connections, bench.round_time()).await;
            let requests = u32::try_from(measured.requests.max(1)).unwrap_or(u32::MAX);
            let spent = side.cpu_times().zip(before).map(|(after, before)| {
                (
                    (after.0 - before.0) / requests,
                    (after.1 - before.1) / requests,
                )
            });
            round.push(Measured {
                p50: measured.p50,
                throughput: measured.throughput(),
                cpu_per_request: spent.map(|(user, system)| user + system),
                user_per_request: spent.map(|(user, _)| user),
            });
        }
        rounds.push(round);
    }
    rounds
}

/// The median over rounds of `figure` of each round.
pub(crate) fn median_of(rounds: &[Vec<Measured>], figure: impl Fn(&[Measured]) -> f64) -> f64 {
    median(&rounds.iter().map(|round| figure(round)).collect::<Vec<_>>())
}

/// Side `side`'s throughput against side `base`'s: the median over rounds of the per-round
/// ratio, and each side's median as `12,345 vs 23,456 req/s`.
pub(crate) fn throughput_ratio(
    rounds: &[Vec<Measured>],
    side: usize,
    base: usize,
) -> (f64, String) {
    let ratio = median_of(rounds, |r| r[side].throughput / r[base].throughput);
    let rates = format!(
        "{} vs {} req/s",
        thousands(median_of(rounds, |r| r[side].throughput)),
        thousands(median_of(rounds, |r| r[base].throughput)),
    );
    (ratio, rates)
}

/// A number with thousands separators, e.g. `12,345`.
pub(crate) fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value.max(0.0));
    let mut out = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    out
}
