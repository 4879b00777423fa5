//! Scenario 7: `GET /api/runtimes` over 50 remote runtimes, one of which accepts connections and
//! never answers. The first listing waits out its timeout once; later listings are compared
//! with a Backend whose 50 runtimes all answer, and with one runtime's overview.

use std::time::Duration;

use crate::report::Row;
use crate::setup::{self, Calls, remote_table, via};
use crate::{Bench, load};

use super::{Side, interleave, median_of, us};

/// Remote runtimes per Backend.
const RUNTIMES: usize = 50;

/// The runtimes' `timeout_ms`.
const TIMEOUT_MS: u64 = 1000;

pub(super) async fn run(bench: &mut Bench) {
    let runtimes = setup::runtimes(bench, "s7-runtimes", RUNTIMES, 0);
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a free port");
    let silent_address = silent.local_addr().expect("bound");
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((connection, _)) = silent.accept().await {
            held.push(connection);
        }
    });
    let tables = |alive: usize| -> String {
        (0..alive)
            .map(|index| remote_table(&format!("r{index}"), runtimes.addresses[index], TIMEOUT_MS))
            .collect()
    };
    let one_silent = tables(RUNTIMES - 1) + &remote_table("silent", silent_address, TIMEOUT_MS);
    let with_silent = setup::backend(bench, "s7-with-silent", &one_silent);
    let all_alive = setup::backend(bench, "s7-all-alive", &tables(RUNTIMES));
    let listing = via(with_silent.address(), "/api/runtimes");
    let first = load::once(&listing).await;
    let answer = Calls::new().get(&listing).await;
    let silent_status = answer["runtimes"]
        .as_array()
        .and_then(|list| {
            list.iter()
                .find(|runtime| runtime["runtime_id"] == "silent")
        })
        .map(|runtime| runtime["status"].clone());
    assert_eq!(
        silent_status,
        Some(serde_json::json!("unavailable")),
        "the silent runtime is listed unavailable"
    );
    let limit = Duration::from_millis(TIMEOUT_MS) * 105 / 100 + Duration::from_millis(5);
    bench.push(Row::judged(
        7,
        "first listing with a silent runtime",
        format!("{:.0} ms (timeout {TIMEOUT_MS} ms)", us(first) / 1000.0),
        "<= 1.05 x timeout + 5 ms",
        first <= limit,
    ));
    let sides = [
        Side::new(listing),
        Side::new(via(all_alive.address(), "/api/runtimes")),
        Side::new(via(with_silent.address(), "/api/runtimes/r0")),
    ];
    let rounds = interleave(bench, &sides, 1).await;
    let vs_alive = median_of(&rounds, |r| us(r[0].p50) / us(r[1].p50));
    let vs_single = median_of(&rounds, |r| us(r[0].p50) / us(r[2].p50));
    bench.push(Row::judged(
        7,
        "later listing with the silent runtime, p50",
        format!(
            "{:.2} ms: {vs_single:.1}x one runtime's overview ({:.2} ms), {vs_alive:.2}x all 50 alive ({:.2} ms)",
            median_of(&rounds, |r| us(r[0].p50)) / 1000.0,
            median_of(&rounds, |r| us(r[2].p50)) / 1000.0,
            median_of(&rounds, |r| us(r[1].p50)) / 1000.0,
        ),
        "<= 3x a single-runtime call",
        vs_single <= 3.0,
    ));
    holder.abort();
}
