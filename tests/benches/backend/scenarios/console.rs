//! Scenario 12: the Worker Console in headless Chromium against a Backend with one embedded
//! runtime. The bytes the runtimes page and a worker's console transfer on a first load (the
//! browser's own count, `PerformanceResourceTiming.transferSize`, each page in a fresh session),
//! and what the console's main thread spends rendering a run of 5,000 streamed deltas
//! (Chromium's DevTools performance metrics `TaskDuration`, all of the thread's work, judged
//! against the goal, and `ScriptDuration`, read before the input and after the answer is shown),
//! with the wall time from the input's send to the whole answer on screen.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use yoi_test_support::browser::{Browser, with_browser};

use crate::Bench;
use crate::report::Row;
use crate::setup::{self, Calls, via};

/// The runtime: the echo engine, one character per delta, as fast as it can.
const TABLE: &str = "[[runtime]]\nid = \"local\"\nadapter = \"embedded\"\npersist = false\n\n\
                     [runtime.profiles.default]\nengine = \"echo\"\n\n\
                     [runtime.profiles.fast]\nengine = \"echo\"\nchunk_chars = 1\ndelay_ms = 0\n\n";

/// The page-weight goal, for each page.
const PAGE_GOAL_BYTES: f64 = 100.0 * 1024.0;

/// What one load of a page transferred.
#[derive(Default, Clone, Copy)]
struct Weight {
    bytes: f64,
    requests: usize,
}

/// What the scenario measured.
#[derive(Default)]
struct Figures {
    home: Weight,
    console: Weight,
    /// What rendering the run cost.
    render: Option<Render>,
}

pub(super) async fn run(bench: &mut Bench) {
    let deltas = if bench.quick { 500 } else { 5000 };
    let backend = setup::backend(bench, "s12-backend", TABLE);
    let calls = Calls::new();
    let workers = via(backend.address(), "/api/runtimes/local/workers");
    calls
        .post(&workers, json!({ "worker_id": "w1", "profile": "fast" }))
        .await;
    let base = format!("http://{}", backend.address());
    let figures = Arc::new(Mutex::new(Figures::default()));

    let home = format!("{base}/");
    let shared = Arc::clone(&figures);
    with_browser("bench-home", |browser| async move {
        browser.open(&home).await;
        browser
            .until(
                "the runtime",
                "return document.querySelector('tr[data-runtime]') !== null",
            )
            .await;
        shared.lock().expect("not poisoned").home = weight(&browser).await;
        browser
    })
    .await;

    let console = format!("{base}/runtimes/local/workers/w1");
    let input = via(backend.address(), "/api/runtimes/local/workers/w1/input");
    let shared = Arc::clone(&figures);
    with_browser("bench-console", |browser| async move {
        browser.open(&console).await;
        browser
            .until(
                "the console",
                "return document.querySelector('h1')?.textContent === 'w1@local'",
            )
            .await;
        let loaded = weight(&browser).await;
        let render = render_run(&browser, &calls, &input, deltas).await;
        let mut figures = shared.lock().expect("not poisoned");
        figures.console = loaded;
        figures.render = Some(render);
        drop(figures);
        browser
    })
    .await;
    let figures = figures.lock().expect("not poisoned");
    report(bench, &figures, deltas);
}

/// The bytes the page transferred so far: the document, every file and every API answer it
/// loaded from the Backend (its streams are still open and count nothing yet).
async fn weight(browser: &Browser) -> Weight {
    let counted = browser
        .run(
            "const entries = [...performance.getEntriesByType('navigation'), ...performance.getEntriesByType('resource')];
             return entries.map(entry => entry.transferSize);",
            Vec::new(),
        )
        .await;
    let sizes: Vec<f64> = counted
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(Value::as_f64)
        .collect();
    Weight {
        bytes: sizes.iter().sum(),
        requests: sizes.len(),
    }
}

/// What rendering one run cost the page.
#[derive(Clone, Copy)]
struct Render {
    /// The main thread's busy time.
    busy: Duration,
    /// Its script time alone.
    script: Duration,
    /// From the input's send to the whole answer on screen.
    wall: Duration,
}

/// Sends `deltas` characters to the worker, streamed back one per delta: what the page spent
/// until the whole answer was shown.
async fn render_run(
    browser: &Browser,
    calls: &Calls,
    input: &crate::load::Target,
    deltas: usize,
) -> Render {
    browser.devtools("Performance.enable", json!({})).await;
    let (busy_before, script_before) = main_thread(browser).await;
    let text: String = "abcdefghij".repeat(deltas / 10);
    let sent = Instant::now();
    calls
        .post(input, json!({ "kind": "user", "content": text }))
        .await;
    let done = format!(
        "const last = [...document.querySelectorAll('.transcript .entry.assistant')].at(-1);
         return last && !last.classList.contains('streaming')
           && last.querySelector('.content').textContent.length === {}",
        text.len()
    );
    browser.until("the whole answer on screen", &done).await;
    let wall = sent.elapsed();
    let (busy, script) = main_thread(browser).await;
    Render {
        busy: busy - busy_before,
        script: script - script_before,
        wall,
    }
}

/// Chromium's busy time of the page's main thread so far (`TaskDuration`: scripts, style,
/// layout and everything else it ran), and of its scripts alone (`ScriptDuration`).
async fn main_thread(browser: &Browser) -> (Duration, Duration) {
    let metrics = browser.devtools("Performance.getMetrics", json!({})).await;
    let metric = |name: &str| {
        let seconds = metrics["metrics"]
            .as_array()
            .expect("metrics")
            .iter()
            .find(|metric| metric["name"] == name)
            .and_then(|metric| metric["value"].as_f64())
            .unwrap_or_else(|| panic!("no {name} metric"));
        Duration::from_secs_f64(seconds)
    };
    (metric("TaskDuration"), metric("ScriptDuration"))
}

fn report(bench: &mut Bench, figures: &Figures, deltas: usize) {
    for (page, weight) in [
        ("the runtimes page", figures.home),
        ("a worker's console", figures.console),
    ] {
        bench.push(Row::judged(
            12,
            &format!("bytes {page} transfers on a first load (served uncompressed)"),
            format!(
                "{:.1} KiB in {} requests",
                weight.bytes / 1024.0,
                weight.requests
            ),
            "< 100 KiB compressed",
            weight.bytes < PAGE_GOAL_BYTES,
        ));
    }
    let render = figures.render.expect("the run was rendered");
    let ms = |duration: Duration| duration.as_secs_f64() * 1000.0;
    bench.push(Row::judged(
        12,
        &format!("main-thread time to render {deltas} streamed deltas in the console"),
        format!(
            "{:.0} ms, of which scripts {:.1} ms (send to the whole answer on screen: {:.0} ms)",
            ms(render.busy),
            ms(render.script),
            ms(render.wall)
        ),
        "< 1 s of script time",
        render.busy < Duration::from_secs(1),
    ));
}
