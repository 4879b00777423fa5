//! Scenario 17: what auditing a mutation costs. Every mutation the Backend performs writes its
//! audit line first (DESIGN.md's security rules), so no Backend runs without one; the nearest
//! comparison is the same Backend's read of the same Worker. Cancelling an idle Worker changes
//! nothing and answers its detail, as the read does, so the two differ by the audit line (and the
//! mutation's own path); the runtime alone, without any audit, shows what its side of the
//! difference is.

use crate::Bench;
use crate::report::Row;
use crate::setup::{direct, via};

use super::{Side, interleave, median_of, throughput_ratio, us};

/// The keep-alive connections of the load: enough that audit lines wait together.
const CONNECTIONS: usize = 8;

pub(super) async fn run(bench: &mut Bench) {
    let (runtime, backend) = super::proxy::remote_worker(bench, "s17", 0).await;
    let read = via(backend.address(), "/api/runtimes/remote/workers/w1");
    let direct_read = direct(runtime.address(), "/v1/workers/w1");
    let sides = [
        Side::costing(read.clone(), vec![backend.pid()]),
        Side::costing(
            read.post("/api/runtimes/remote/workers/w1/cancel"),
            vec![backend.pid()],
        ),
        Side::new(direct_read.clone()),
        Side::new(direct_read.post("/v1/workers/w1/cancel")),
    ];
    let rounds = interleave(bench, &sides, CONNECTIONS).await;
    let (ratio, rates) = throughput_ratio(&rounds, 1, 0);
    bench.push(Row::judged(
        17,
        &format!(
            "mutations/s with the audit log / the same Backend's reads, {CONNECTIONS} conn \
             (cancel of an idle Worker vs its detail)"
        ),
        format!("{ratio:.2} ({rates})"),
        ">= 0.8",
        ratio >= 0.8,
    ));
    let (at_runtime, runtime_rates) = throughput_ratio(&rounds, 3, 2);
    let cpu = |side: usize| median_of(&rounds, |r| us(r[side].cpu_per_request.unwrap_or_default()));
    bench.push(Row::context(
        17,
        "the same without any audit: cancel / detail at the runtime alone; Backend CPU per call",
        format!(
            "{at_runtime:.2} ({runtime_rates}); Backend {:.1} us per cancel, {:.1} us per detail",
            cpu(1),
            cpu(0),
        ),
    ));
}
