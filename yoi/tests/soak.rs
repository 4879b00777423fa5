//! Soak: browsers and writers on workers of an embedded and a remote runtime, through a real
//! `yoi serve` and `yoi runtime serve`, for a bounded time. Browsers drop their connections now
//! and then and resume with `Last-Event-ID`. At the end every browser must have every event of
//! its worker exactly once, in order, and the Backend's memory must be back near where it
//! started. It prints its figures.
//!
//! Not part of the default test run:
//!
//! ```text
//! cargo test --release -p yoi --test soak -- --ignored --nocapture
//! ```
//!
//! `YOI_SOAK_SECS` (60), `YOI_SOAK_CLIENTS` (200) and `YOI_SOAK_WRITERS` (20) change its size.

#[allow(
    dead_code,
    reason = "each test binary uses its own part of the helpers"
)]
mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{Backend, TOKEN_VAR, serve_runtime};
use futures::StreamExt;
use serde_json::{Value, json};
use sse_stream::SseByteStream;

/// Events a runtime keeps per worker: as many as a Backend channel buffers (1024), so that a
/// browser the Backend resets for falling behind can still resume from the runtime; small, so
/// that the runtimes reach their steady size during the warm-up.
const RETAINED_EVENTS: u64 = 1024;

/// How much the Backend's resident memory may stay above its start once the browsers are gone.
const MEMORY_SLACK_KIB: u64 = 4 * 1024;

/// The warm-up round of browsers and writers before the Backend's memory is measured.
const WARM_UP: Duration = Duration::from_secs(5);

/// How long the end (stopping, draining, memory settling) may take.
const END_DEADLINE: Duration = Duration::from_secs(60);

/// The soak's size.
struct Settings {
    duration: Duration,
    clients: usize,
    writers: usize,
    /// The pause of a writer after each accepted input.
    pace: Duration,
}

impl Settings {
    fn from_env() -> Self {
        let number = |name: &str, default: u64| {
            std::env::var(name)
                .ok()
                .map(|value| value.parse().unwrap_or_else(|_| panic!("{name}: {value}")))
                .unwrap_or(default)
        };
        Self {
            duration: Duration::from_secs(number("YOI_SOAK_SECS", 60)),
            clients: usize::try_from(number("YOI_SOAK_CLIENTS", 200)).unwrap(),
            writers: usize::try_from(number("YOI_SOAK_WRITERS", 20)).unwrap(),
            pace: Duration::from_millis(10),
        }
    }
}

/// A process's resident memory in KiB and its CPU time, from `/proc`.
fn usage(pid: u32) -> (u64, Duration) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let rss = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // The fields after the command name (which may hold spaces), from `state`; utime and stime
    // are the 12th and 13th of them, in clock ticks (100 per second on Linux).
    let fields: Vec<u64> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .map(|field| field.parse().unwrap_or(0))
        .collect();
    let ticks = fields[11] + fields[12];
    (rss, Duration::from_millis(ticks * 10))
}

/// What one browser saw.
#[derive(Debug, Default)]
struct Seen {
    first: Option<u64>,
    last: Option<u64>,
    events: u64,
    /// Events out of order: a gap or a repeat.
    disorder: Vec<String>,
    reconnects: u64,
    resets: u64,
}

/// A browser on `worker`: follows its events until `worker_stopped`, dropping its connection
/// every few seconds while `churn` holds and resuming after the last event it has.
async fn browser(
    client: reqwest::Client,
    url: String,
    start: Option<u64>,
    churn: Arc<AtomicBool>,
    seed: u64,
) -> Seen {
    let mut seen = Seen {
        last: start,
        ..Seen::default()
    };
    let mut random = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    loop {
        let mut request = client.get(&url);
        if let Some(last) = seen.last {
            request = request.header("last-event-id", last.to_string());
        }
        let response = request.send().await.unwrap();
        match response.status().as_u16() {
            204 => return seen,
            200 => {}
            status => panic!(
                "{url} after {:?}: {status} {}",
                seen.last,
                response.text().await.unwrap()
            ),
        }
        random = random
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let lifetime = Duration::from_millis(1000 + (random >> 33) % 3000);
        let until = tokio::time::Instant::now() + lifetime;
        let mut frames = SseByteStream::new(response.bytes_stream());
        loop {
            let frame = if churn.load(Ordering::Relaxed) {
                match tokio::time::timeout_at(until, frames.next()).await {
                    Ok(frame) => frame,
                    Err(_) => break,
                }
            } else {
                frames.next().await
            };
            let Some(Ok(frame)) = frame else { break };
            match frame.event.as_deref().unwrap_or("message") {
                "reset" => {
                    seen.resets += 1;
                    break;
                }
                "runtime_status" => {}
                "error" => panic!("{url}: {:?}", frame.data),
                kind => {
                    let sequence: u64 = frame.id.as_deref().unwrap().parse().unwrap();
                    if seen.last.is_some_and(|last| sequence != last + 1) {
                        seen.disorder
                            .push(format!("{sequence} after {}", seen.last.unwrap()));
                    }
                    seen.first.get_or_insert(sequence);
                    seen.last = Some(sequence);
                    seen.events += 1;
                    if kind == "worker_stopped" {
                        return seen;
                    }
                }
            }
        }
        seen.reconnects += 1;
    }
}

/// A writer: sends inputs to its worker until `running` ends; answers how many were accepted.
async fn writer(
    client: reqwest::Client,
    url: String,
    running: Arc<AtomicBool>,
    pace: Duration,
    limit: u64,
) -> u64 {
    let mut accepted = 0;
    while running.load(Ordering::Relaxed) && accepted < limit {
        let response = client
            .post(&url)
            .json(&json!({ "kind": "user", "content": format!("soak {accepted}") }))
            .send()
            .await
            .unwrap();
        match response.status().as_u16() {
            202 => {
                accepted += 1;
                tokio::time::sleep(pace).await;
            }
            // Its previous run is still going.
            409 => tokio::time::sleep(Duration::from_millis(2)).await,
            status => panic!("{url}: {status} {}", response.text().await.unwrap()),
        }
    }
    accepted
}

/// `GET url` as JSON.
async fn get(client: &reqwest::Client, url: &str) -> Value {
    client.get(url).send().await.unwrap().json().await.unwrap()
}

#[test]
#[ignore = "a soak of about a minute; run it with --ignored (see the README)"]
fn browsers_and_writers_for_a_minute_lose_nothing_and_leave_no_memory_behind() {
    let settings = Settings::from_env();
    let runtime_data = tempfile::tempdir().unwrap();
    let runtime_config = runtime_data.path().join("runtime.toml");
    std::fs::write(
        &runtime_config,
        format!("[limits]\nretained_events = {RETAINED_EVENTS}\nretained_transcript = 64\n"),
    )
    .unwrap();
    let mut runtime = serve_runtime(
        "remote",
        runtime_data.path(),
        &[
            "--config",
            runtime_config.to_str().unwrap(),
            "--bind",
            "127.0.0.1:0",
        ],
    );
    let runtime_address = runtime.listening_address();
    let (_workspace, backend) = Backend::with_workspace(&format!(
        "[[runtime]]\nid = \"local\"\nadapter = \"embedded\"\n\
         limits = {{ retained_events = {RETAINED_EVENTS}, retained_transcript = 64 }}\n\n\
         [[runtime]]\nid = \"remote\"\nadapter = \"http-client\"\n\
         base_url = \"http://{runtime_address}\"\ntoken_env = \"{TOKEN_VAR}\"\n"
    ));
    let pid = backend.process.child.id();
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    tokio.block_on(soak(&settings, &backend.url, pid));
}

/// Browsers on `workers`, one in ten replaying the retained history first, the others starting
/// at the worker's newest event.
async fn spawn_browsers(
    client: &reqwest::Client,
    workers: &[String],
    count: usize,
    churn: &Arc<AtomicBool>,
) -> Vec<tokio::task::JoinHandle<Seen>> {
    let mut browsers = Vec::new();
    for index in 0..count {
        let worker = &workers[index % workers.len()];
        let start = if index % 10 == 0 {
            None
        } else {
            get(client, worker).await["last_sequence"].as_u64()
        };
        browsers.push(tokio::spawn(browser(
            client.clone(),
            format!("{worker}/events"),
            start,
            Arc::clone(churn),
            index as u64,
        )));
    }
    browsers
}

/// A writer per worker, sending at most `limit` inputs each while `running` holds.
fn spawn_writers(
    client: &reqwest::Client,
    workers: &[String],
    running: &Arc<AtomicBool>,
    pace: Duration,
    limit: u64,
) -> Vec<tokio::task::JoinHandle<u64>> {
    workers
        .iter()
        .map(|worker| {
            tokio::spawn(writer(
                client.clone(),
                format!("{worker}/input"),
                Arc::clone(running),
                pace,
                limit,
            ))
        })
        .collect()
}

/// Waits until the Backend's resident memory holds still (within 256 KiB over a second) after
/// the warm-up's browsers left and their shared subscriptions closed; answers it.
async fn settled_rss(pid: u32) -> u64 {
    let started = Instant::now();
    let mut previous = usage(pid).0;
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let rss = usage(pid).0;
        if rss.abs_diff(previous) <= 256 || started.elapsed() > END_DEADLINE {
            return rss;
        }
        previous = rss;
    }
}

#[allow(clippy::print_stdout, reason = "the soak prints its figures")]
async fn soak(settings: &Settings, base: &str, pid: u32) {
    let client = reqwest::Client::new();
    let workers: Vec<String> = (0..settings.writers)
        .map(|index| {
            let runtime = if index % 2 == 0 { "local" } else { "remote" };
            format!("{base}/api/runtimes/{runtime}/workers/s{index}")
        })
        .collect();
    for (index, worker) in workers.iter().enumerate() {
        let (collection, _) = worker.rsplit_once('/').unwrap();
        let response = client
            .post(collection)
            .json(&json!({ "worker_id": format!("s{index}") }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
    }

    // Warm-up: every worker fills its retained history (so the runtimes reach their steady
    // size), then a short round of the same browsers and writers takes the Backend's allocator
    // to its working size. The memory measured after it is the start.
    let running = Arc::new(AtomicBool::new(true));
    let inputs = (RETAINED_EVENTS / 4) + 1;
    for task in spawn_writers(&client, &workers, &running, Duration::ZERO, inputs) {
        assert_eq!(task.await.unwrap(), inputs);
    }
    let churn = Arc::new(AtomicBool::new(true));
    let warm_browsers = spawn_browsers(&client, &workers, settings.clients, &churn).await;
    let warm_writers = spawn_writers(&client, &workers, &running, settings.pace, u64::MAX);
    tokio::time::sleep(WARM_UP).await;
    running.store(false, Ordering::Relaxed);
    for task in warm_writers {
        task.await.unwrap();
    }
    for task in warm_browsers {
        task.abort();
    }
    let start_rss = settled_rss(pid).await;
    let start_cpu = usage(pid).1;

    // The soak.
    running.store(true, Ordering::Relaxed);
    let browsers = spawn_browsers(&client, &workers, settings.clients, &churn).await;
    let started = Instant::now();
    let limit = settings.duration.as_millis() as u64 / settings.pace.as_millis().max(1) as u64 + 1;
    let writers = spawn_writers(&client, &workers, &running, settings.pace, limit);
    let peak_rss = Arc::new(AtomicU64::new(start_rss));
    let sampler = {
        let peak = Arc::clone(&peak_rss);
        tokio::spawn(async move {
            loop {
                peak.fetch_max(usage(pid).0, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        })
    };
    tokio::time::sleep(settings.duration).await;
    running.store(false, Ordering::Relaxed);
    churn.store(false, Ordering::Relaxed);
    let mut accepted = 0;
    for task in writers {
        accepted += task.await.unwrap();
    }
    let write_time = started.elapsed();

    // The end: every worker stops, every browser must then have all of its worker's events.
    let mut last = Vec::new();
    for worker in &workers {
        let response = client.post(format!("{worker}/stop")).send().await.unwrap();
        assert_eq!(response.status(), 200);
        let stopped: Value = response.json().await.unwrap();
        last.push(stopped["last_sequence"].as_u64().unwrap());
    }
    let mut delivered = 0;
    let (mut reconnects, mut resets) = (0, 0);
    for (index, task) in browsers.into_iter().enumerate() {
        let seen = tokio::time::timeout(END_DEADLINE, task)
            .await
            .expect("every browser ends after worker_stopped")
            .unwrap();
        let expected_last = last[index % workers.len()];
        assert!(seen.disorder.is_empty(), "browser {index}: {seen:?}");
        assert_eq!(seen.last, Some(expected_last), "browser {index}: {seen:?}");
        assert_eq!(
            seen.events,
            expected_last - seen.first.unwrap() + 1,
            "browser {index}: {seen:?}"
        );
        delivered += seen.events;
        reconnects += seen.reconnects;
        resets += seen.resets;
    }
    let busy = started.elapsed();
    sampler.abort();
    let peak = peak_rss.load(Ordering::Relaxed).max(usage(pid).0);

    // The browsers are gone; the Backend closes their shared subscriptions and its memory comes
    // back down.
    let settle = Instant::now();
    let (end_rss, end_cpu) = loop {
        let (rss, cpu) = usage(pid);
        if rss <= start_rss + MEMORY_SLACK_KIB || settle.elapsed() > END_DEADLINE {
            break (rss, cpu);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let cpu = end_cpu.saturating_sub(start_cpu);
    println!(
        "soak: {} s, {} browsers, {} writers on {} workers (embedded and remote)",
        settings.duration.as_secs(),
        settings.clients,
        settings.writers,
        workers.len()
    );
    println!(
        "  inputs accepted {accepted} ({:.0}/s); events delivered {delivered} ({:.0}/s)",
        accepted as f64 / write_time.as_secs_f64(),
        delivered as f64 / busy.as_secs_f64()
    );
    println!("  browser reconnects {reconnects}; resets {resets}; lost or repeated events 0");
    println!(
        "  backend RSS: start {} KiB, peak {} KiB, end {} KiB (settled in {:.1} s)",
        start_rss,
        peak,
        end_rss,
        settle.elapsed().as_secs_f64()
    );
    println!(
        "  backend CPU {:.1} s ({:.1} us per delivered event)",
        cpu.as_secs_f64(),
        cpu.as_secs_f64() * 1e6 / delivered.max(1) as f64
    );
    assert!(
        end_rss <= start_rss + MEMORY_SLACK_KIB,
        "the Backend kept {} KiB after the browsers left",
        end_rss.saturating_sub(start_rss)
    );
}
