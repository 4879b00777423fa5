//! Scenarios 3 and 8: a worker's detail on the Backend's embedded runtime against a bare axum
//! handler answering the same JSON; then the embedded runtime holding many idle workers.

use std::time::Instant;

use futures::StreamExt;

use crate::child::start_role;
use crate::cli::Args;
use crate::load;
use crate::report::Row;
use crate::setup::{self, Calls, SETUP_LIMIT, embedded_table, via};
use crate::{Bench, procfs};

use super::{Side, interleave, median_of, thousands, throughput_ratio, us};

/// The connection counts of scenario 3.
const CONNECTIONS: [usize; 2] = [1, 8];

/// How many requests create workers at once in scenario 8.
const CREATING_AT_ONCE: usize = 8;

const DETAIL: &str = "/api/runtimes/local/workers/w00000";

pub(super) async fn run(bench: &mut Bench, args: &Args) {
    let workers = if bench.quick { 1_000 } else { 10_000 };
    let backend = setup::backend(bench, "s3-backend", &embedded_table("local", workers));
    let calls = Calls::new();
    calls
        .create_worker(
            &via(backend.address(), "/api/runtimes/local/workers"),
            "w00000",
        )
        .await;
    if args.runs(3) {
        against_bare_handler(bench, &backend, &calls).await;
    }
    if args.runs(8) {
        many_idle_workers(bench, &backend, workers).await;
    }
}

/// The throughput goal of scenario 3 at `connections`: within 5 % of the bare handler on one
/// connection, within 10 % on 8.
fn bare_goal(connections: usize) -> f64 {
    match connections {
        1 => 0.95,
        _ => 0.9,
    }
}

/// Scenario 3.
async fn against_bare_handler(bench: &mut Bench, backend: &crate::child::Child, calls: &Calls) {
    let body = calls.get(&via(backend.address(), DETAIL)).await;
    let body_file = bench.dir.path().join("detail.json");
    std::fs::write(&body_file, serde_json::to_vec(&body).expect("JSON")).expect("written");
    let body_path = body_file.to_str().expect("a UTF-8 path");
    let bare = start_role(
        &["bare", body_path],
        &[],
        &bench.dir.path().join("bare.log"),
    );
    let sides = [
        Side::new(via(bare.address(), DETAIL)),
        Side::costing(via(backend.address(), DETAIL), vec![backend.pid()]),
    ];
    for connections in CONNECTIONS {
        let rounds = interleave(bench, &sides, connections).await;
        let (ratio, rates) = throughput_ratio(&rounds, 1, 0);
        bench.push(Row::judged(
            3,
            &format!("throughput, Backend / bare handler, {connections} conn"),
            format!("{ratio:.2} ({rates})"),
            &format!(">= {}", bare_goal(connections)),
            ratio >= bare_goal(connections),
        ));
        let added = median_of(&rounds, |r| us(r[1].p50) - us(r[0].p50));
        bench.push(Row::judged(
            3,
            &format!("added p50 latency, {connections} conn"),
            format!(
                "{added:.1} us ({:.1} vs {:.1} us)",
                median_of(&rounds, |r| us(r[1].p50)),
                median_of(&rounds, |r| us(r[0].p50)),
            ),
            "<= 5 us",
            added <= 5.0,
        ));
        let cpu = median_of(&rounds, |r| us(r[1].cpu_per_request.unwrap_or_default()));
        bench.push(Row::context(
            3,
            &format!("Backend CPU per request, {connections} conn"),
            format!("{cpu:.1} us"),
        ));
    }
}

/// Scenario 8: `count` workers in all (one exists), created through the Backend.
async fn many_idle_workers(bench: &mut Bench, backend: &crate::child::Child, count: usize) {
    let before = procfs::resident_bytes(backend.pid());
    let started = Instant::now();
    let collection = via(backend.address(), "/api/runtimes/local/workers");
    let calls = Calls::new();
    futures::stream::iter(1..count)
        .map(|index| {
            let (calls, collection) = (&calls, &collection);
            async move {
                calls
                    .create_worker(collection, &format!("w{index:05}"))
                    .await
            }
        })
        .buffer_unordered(CREATING_AT_ONCE)
        .collect::<Vec<()>>()
        .await;
    assert!(
        started.elapsed() < SETUP_LIMIT,
        "creating {count} workers took too long"
    );
    let per_worker =
        procfs::resident_bytes(backend.pid()).saturating_sub(before) as f64 / (count - 1) as f64;
    let mut pages = Vec::new();
    for after in ["", "&after=w05000"] {
        let page = via(
            backend.address(),
            &format!("/api/runtimes/local/workers?limit=100{after}"),
        );
        for _ in 0..bench.rounds() {
            pages.push(us(load::run(&page, 1, bench.round_time()).await.p50));
        }
    }
    let page = crate::stats::median(&pages);
    bench.push(Row::judged(
        8,
        &format!(
            "list page of 100 among {} workers, p50",
            thousands(count as f64)
        ),
        format!("{:.3} ms", page / 1000.0),
        "<= 1 ms",
        page <= 1000.0,
    ));
    bench.push(Row::judged(
        8,
        "Backend RSS per idle embedded worker",
        format!("{:.1} KiB", per_worker / 1024.0),
        "<= 8 KiB",
        per_worker <= 8.0 * 1024.0,
    ));
}
