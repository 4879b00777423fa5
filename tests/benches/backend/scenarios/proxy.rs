//! Scenarios 1, 2, 9 and 14: a remote worker's detail through the Backend, straight from the
//! runtime, and through nginx; the same with a slow runtime handler; how rarely the Backend
//! opens a connection to the runtime; and what its request log costs.

use crate::cli::Args;
use crate::load::{self, Target};
use crate::report::Row;
use crate::roles::RUNTIME_TOKEN;
use crate::setup::{self, Calls, direct, remote_table, via};
use crate::{Bench, nginx};

use super::{Side, interleave, median_of, thousands, throughput_ratio, us};

/// The keep-alive connection counts of scenarios 1 and 2.
const CONNECTIONS: [usize; 3] = [1, 8, 32];

/// What scenario 2's runtime handler waits before answering.
const SLOW_HANDLER_US: u64 = 1000;

const DETAIL: &str = "/v1/workers/w1";
const BACKEND_DETAIL: &str = "/api/runtimes/remote/workers/w1";

pub(super) async fn run(bench: &mut Bench, args: &Args) {
    if args.runs(1) {
        against_nginx(bench).await;
    }
    if args.runs(2) {
        slow_handler(bench).await;
    }
    if args.runs(9) {
        connection_reuse(bench).await;
    }
    if args.runs(14) {
        request_log(bench).await;
    }
}

/// Starts a runtime (each request waiting `work_us`) with worker `w1`, and a Backend over it.
pub(super) async fn remote_worker(
    bench: &Bench,
    name: &str,
    work_us: u64,
) -> (crate::child::Child, crate::child::Child) {
    let runtime = setup::runtimes(bench, &format!("{name}-runtime"), 1, work_us);
    Calls::new()
        .create_worker(&direct(runtime.address(), "/v1/workers"), "w1")
        .await;
    let table = remote_table("remote", runtime.address(), 5000);
    let backend = setup::backend(bench, &format!("{name}-backend"), &table);
    (runtime, backend)
}

/// The worker's detail through `nginx`.
fn through_nginx(nginx: &nginx::Nginx) -> Target {
    Target {
        address: nginx.address,
        path: DETAIL.to_owned(),
        token: Some(RUNTIME_TOKEN),
        post: false,
    }
}

/// Scenario 1.
async fn against_nginx(bench: &mut Bench) {
    let (runtime, backend) = remote_worker(bench, "s1", 0).await;
    let nginx = nginx::start(bench.dir.path(), runtime.address());
    let sides = [
        Side::costing(direct(runtime.address(), DETAIL), vec![runtime.pid()]),
        Side::costing(via(backend.address(), BACKEND_DETAIL), vec![backend.pid()]),
        Side::costing(through_nginx(&nginx), nginx.pids()),
    ];
    for connections in CONNECTIONS {
        let rounds = interleave(bench, &sides, connections).await;
        let added = |side: usize| median_of(&rounds, |r| us(r[side].p50) - us(r[0].p50));
        let ratio = median_of(&rounds, |r| {
            (us(r[1].p50) - us(r[0].p50)) / (us(r[2].p50) - us(r[0].p50))
        });
        bench.push(Row::judged(
            1,
            &format!("added p50 latency, Backend / nginx, {connections} conn"),
            format!(
                "{ratio:.2} (Backend +{:.0} us, nginx +{:.0} us)",
                added(1),
                added(2)
            ),
            "<= 1.0",
            ratio <= 1.0,
        ));
        let (throughput, rates) = throughput_ratio(&rounds, 1, 0);
        bench.push(Row::judged(
            1,
            &format!("throughput, Backend / direct, {connections} conn"),
            format!("{throughput:.2} ({rates})"),
            ">= 0.5",
            throughput >= 0.5,
        ));
        bench.push(cpu_against_nginx(&rounds, connections));
    }
}

/// Scenario 1's CPU row: the Backend's CPU per request against nginx's, judged where the
/// proxies are busy (8 and 32 connections); at one connection both mostly wait.
fn cpu_against_nginx(rounds: &[Vec<super::Measured>], connections: usize) -> Row {
    let cpu = |side: usize| median_of(rounds, |r| us(r[side].cpu_per_request.unwrap_or_default()));
    // A round in which nginx's CPU time stayed within one tick gives no ratio (NaN, which the
    // median leaves out).
    let ratio = median_of(rounds, |r| {
        let nginx = us(r[2].cpu_per_request.unwrap_or_default());
        match nginx > 0.0 {
            true => us(r[1].cpu_per_request.unwrap_or_default()) / nginx,
            false => f64::NAN,
        }
    });
    let user =
        |side: usize| median_of(rounds, |r| us(r[side].user_per_request.unwrap_or_default()));
    let figure = format!("Backend CPU per request / nginx's, {connections} conn");
    let value = format!(
        "{ratio:.2} ({:.1} us, {:.1} of it user, vs {:.1} us, {:.1} user; the runtime itself {:.1} us)",
        cpu(1),
        user(1),
        cpu(2),
        user(2),
        cpu(0)
    );
    match connections {
        1 => Row::context(1, &figure, value),
        _ => Row::judged(1, &figure, value, "<= 1.5", ratio <= 1.5),
    }
}

/// The throughput goal of scenario 2 at `connections`: within 5 % of the direct runtime, and
/// within 10 % at 32 connections, where the Backend's own work competes for the 2 cores.
fn slow_handler_goal(connections: usize) -> f64 {
    match connections {
        32 => 0.9,
        _ => 0.95,
    }
}

/// Scenario 2.
async fn slow_handler(bench: &mut Bench) {
    let (runtime, backend) = remote_worker(bench, "s2", SLOW_HANDLER_US).await;
    let nginx = nginx::start(bench.dir.path(), runtime.address());
    let sides = [
        Side::new(direct(runtime.address(), DETAIL)),
        Side::new(via(backend.address(), BACKEND_DETAIL)),
        Side::new(through_nginx(&nginx)),
    ];
    for connections in CONNECTIONS {
        let rounds = interleave(bench, &sides, connections).await;
        let (ratio, rates) = throughput_ratio(&rounds, 1, 0);
        let (nginx_ratio, _) = throughput_ratio(&rounds, 2, 0);
        bench.push(Row::judged(
            2,
            &format!("throughput, Backend / direct, 1 ms handler, {connections} conn"),
            format!("{ratio:.3} ({rates}; nginx / direct {nginx_ratio:.3})"),
            &format!(">= {}", slow_handler_goal(connections)),
            ratio >= slow_handler_goal(connections),
        ));
    }
}

/// Scenario 14: what the request log costs: two Backends over one runtime, one logging each
/// request (`info`, as `yoi serve` does), one not (`warn`), under the same load side by side.
async fn request_log(bench: &mut Bench) {
    let runtime = setup::runtimes(bench, "s14-runtime", 1, 0);
    Calls::new()
        .create_worker(&direct(runtime.address(), "/v1/workers"), "w1")
        .await;
    let table = remote_table("remote", runtime.address(), 5000);
    let logging = setup::backend(bench, "s14-logging", &table);
    let quiet = setup::backend_logging(bench, "s14-quiet", &table, "warn");
    let sides = [
        Side::costing(via(logging.address(), BACKEND_DETAIL), vec![logging.pid()]),
        Side::costing(via(quiet.address(), BACKEND_DETAIL), vec![quiet.pid()]),
    ];
    let connections = 8;
    let rounds = interleave(bench, &sides, connections).await;
    let cpu = |side: usize| median_of(&rounds, |r| us(r[side].cpu_per_request.unwrap_or_default()));
    let added = median_of(&rounds, |r| {
        us(r[0].cpu_per_request.unwrap_or_default()) - us(r[1].cpu_per_request.unwrap_or_default())
    });
    let latency = median_of(&rounds, |r| us(r[0].p50) - us(r[1].p50));
    bench.push(Row::context(
        14,
        &format!("the request log's cost per request, {connections} conn"),
        format!(
            "{added:.1} us of CPU ({:.1} us logging, {:.1} us not), {latency:+.0} us of p50 latency",
            cpu(0),
            cpu(1)
        ),
    ));
}

/// Scenario 9: a fresh Backend under the load of scenario 1, counted at the runtime.
async fn connection_reuse(bench: &mut Bench) {
    let (runtime, backend) = remote_worker(bench, "s9", 0).await;
    let target = via(backend.address(), BACKEND_DETAIL);
    let before = setup::counts(&runtime).await;
    for connections in CONNECTIONS {
        for _ in 0..bench.rounds() {
            load::run(&target, connections, bench.round_time()).await;
        }
    }
    let after = setup::counts(&runtime).await;
    let accepted = after.accepted - before.accepted;
    let requests = after.requests - before.requests;
    let ratio = accepted as f64 / requests.max(1) as f64;
    bench.push(Row::judged(
        9,
        "connections accepted / requests at the runtime",
        format!("{ratio:.5} ({accepted} / {})", thousands(requests as f64)),
        "<= 0.01",
        ratio <= 0.01,
    ));
}
