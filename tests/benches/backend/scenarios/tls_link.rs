//! Scenario 13: TLS on the runtime link. Two Backends, each over one runtime with worker `w1`:
//! one reaching it over plain HTTP, one over HTTPS (`ca_file`). The same load of worker
//! details goes through each, side by side; the Backend's CPU per request is compared, and the
//! TLS runtime counts its handshakes (it resumes no session, so each connection is one).

use crate::Bench;
use crate::report::Row;
use crate::setup::{self, Calls, remote_table, tls_remote_table, via};

use super::{Side, interleave, median_of, thousands, us};

/// The keep-alive connection counts compared.
const CONNECTIONS: [usize; 2] = [8, 32];

const DETAIL: &str = "/api/runtimes/remote/workers/w1";

pub(super) async fn run(bench: &mut Bench) {
    let certs = bench.dir.path().join("s13-certs");
    setup::write_certificate(&certs);
    let plain = setup::runtimes(bench, "s13-plain-runtime", 1, 0);
    let tls = setup::tls_runtime(bench, "s13-tls-runtime", &certs);
    let plain_table = remote_table("remote", plain.address(), 5000);
    let tls_table = tls_remote_table("remote", tls.address(), &certs.join("cert.pem"), 5000);
    let plain_backend = setup::backend(bench, "s13-plain-backend", &plain_table);
    let tls_backend = setup::backend(bench, "s13-tls-backend", &tls_table);
    let calls = Calls::new();
    for backend in [&plain_backend, &tls_backend] {
        let workers = via(backend.address(), "/api/runtimes/remote/workers");
        calls.create_worker(&workers, "w1").await;
    }
    let before = setup::counts(&tls).await;
    let sides = [
        Side::costing(
            via(plain_backend.address(), DETAIL),
            vec![plain_backend.pid()],
        ),
        Side::costing(via(tls_backend.address(), DETAIL), vec![tls_backend.pid()]),
    ];
    for connections in CONNECTIONS {
        let rounds = interleave(bench, &sides, connections).await;
        let cpu =
            |side: usize| median_of(&rounds, |r| us(r[side].cpu_per_request.unwrap_or_default()));
        let ratio = median_of(&rounds, |r| {
            us(r[1].cpu_per_request.unwrap_or_default())
                / us(r[0].cpu_per_request.unwrap_or_default()).max(f64::MIN_POSITIVE)
        });
        bench.push(Row::judged(
            13,
            &format!("Backend CPU per request, TLS / plain runtime link, {connections} conn"),
            format!("{ratio:.2} ({:.1} us vs {:.1} us)", cpu(1), cpu(0)),
            "<= 1.3",
            ratio <= 1.3,
        ));
    }
    let after = setup::counts(&tls).await;
    let handshakes = after.handshakes - before.handshakes;
    let requests = after.requests - before.requests;
    let per_request = handshakes as f64 / requests.max(1) as f64;
    bench.push(Row::judged(
        13,
        "TLS handshakes / requests at the runtime",
        format!(
            "{per_request:.5} ({handshakes} / {}; {:.1} per 10,000)",
            thousands(requests as f64),
            per_request * 10_000.0
        ),
        "< 0.01",
        per_request < 0.01,
    ));
}
