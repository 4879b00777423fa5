//! The Worker Console in a real browser (headless Chromium through WebDriver) against a real
//! `yoi serve` with an embedded runtime, a remote `yoi runtime serve` and the read-only
//! compatibility store: what a person sees and does, reloads, a runtime lost and back, hostile
//! worker output, and the browser token. Screenshots of the main views (and of a failing one)
//! are saved under `target/console-screenshots/`.

mod common;

use std::path::Path;

use common::{Backend, RUNTIME_TOKEN, TOKEN_VAR, serve_runtime, start_runtime};
use serde_json::{Value, json};
use yoi_test_support::browser::{Browser, with_browser};

/// The variable of the Backend's browser token in the token test.
const BROWSER_TOKEN_VAR: &str = "YOI_E2E_BROWSER_TOKEN";
const BROWSER_TOKEN: &str = "browser-Hq3Zt8Lw2Kx9";

/// WebDriver's Enter key.
const ENTER: &str = "\u{E007}";

/// A workspace.toml: `local` (embedded, with a `slow` profile that streams two characters every
/// 40 ms), `gpu-box` (the runtime process at `address`) and `legacy` (the compatibility store),
/// with a browser token when `token` is set.
fn workspace(address: &str, token: bool) -> String {
    let server = match token {
        true => format!("[server]\ntoken_env = \"{BROWSER_TOKEN_VAR}\"\n\n"),
        false => String::new(),
    };
    format!(
        "{server}[[runtime]]\nid = \"local\"\nadapter = \"embedded\"\n\n\
         [runtime.profiles.default]\nengine = \"echo\"\n\n\
         [runtime.profiles.slow]\nengine = \"echo\"\nchunk_chars = 2\ndelay_ms = 40\n\n\
         [[runtime]]\nid = \"gpu-box\"\nadapter = \"http-client\"\nbase_url = \"http://{address}\"\n\
         token_env = \"{TOKEN_VAR}\"\ntimeout_ms = 2000\n\n\
         [[runtime]]\nid = \"legacy\"\nadapter = \"local-pod-compat\"\nread_only = true\n"
    )
}

/// A legacy pod `reviewer` in the workspace at `root`.
fn pod_store(root: &Path) {
    let pod = root.join(".yoi/pods/reviewer");
    std::fs::create_dir_all(&pod).unwrap();
    let root = serde_json::to_string(&std::fs::canonicalize(root).unwrap()).unwrap();
    let metadata = format!(r#"{{"worker_name":"reviewer","workspace_root":{root}}}"#);
    std::fs::write(pod.join("metadata.json"), metadata).unwrap();
}

/// The runtimes' rows once all three are shown: `id kind-and-badges status` each.
async fn runtime_rows(browser: &Browser) -> Vec<String> {
    let rows = browser
        .until(
            "the three runtimes, each available",
            "const rows = [...document.querySelectorAll('tr[data-runtime]')];
             const shown = rows.map(r => [r.dataset.runtime, r.cells[1].innerText, r.cells[2].innerText].join(' '));
             return rows.length === 3 && shown.every(s => s.endsWith('available')) ? shown : null;",
        )
        .await;
    rows.as_array()
        .unwrap()
        .iter()
        .map(|row| row.as_str().unwrap().to_owned())
        .collect()
}

/// The console's transcript entries, `role: content` each.
async fn entries(browser: &Browser) -> Vec<String> {
    let entries = browser
        .run(
            "return [...document.querySelectorAll('.transcript .entry')].map(e =>
               e.querySelector('.role').textContent + ': ' + e.querySelector('.content').textContent)",
            Vec::new(),
        )
        .await;
    serde_json::from_value(entries).unwrap()
}

/// Waits until the last entry is a finished answer that reads `text`.
async fn answered(browser: &Browser, text: &str) {
    let script = format!(
        "const last = [...document.querySelectorAll('.transcript .entry.assistant')].at(-1);
         return last && !last.classList.contains('streaming')
           && last.querySelector('.content').textContent === {text:?}"
    );
    browser
        .until(&format!("the answer {text:?}"), &script)
        .await;
}

/// Asserts that the page shows none of `leaks`.
async fn shows_none(browser: &Browser, leaks: &[String]) {
    let html = browser
        .run("return document.documentElement.outerHTML", Vec::new())
        .await;
    let html = html.as_str().unwrap().to_owned();
    for leak in leaks {
        assert!(!html.contains(leak.as_str()), "{leak} on the page");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_creates_a_worker_watches_it_answer_and_reloads_without_duplicates() {
    let runtime_data = tempfile::tempdir().unwrap();
    let (_runtime, address) = start_runtime("gpu-box", runtime_data.path());
    let (dir, backend) = Backend::with_workspace(&workspace(&address, false));
    pod_store(dir.path());
    let leaks = vec![
        address.clone(),
        RUNTIME_TOKEN.to_owned(),
        dir.path().to_string_lossy().into_owned(),
        runtime_data.path().to_string_lossy().into_owned(),
    ];
    with_browser("person", |browser| async move {
        browser.open(&backend.url).await;
        let rows = runtime_rows(&browser).await;
        assert_eq!(
            rows,
            [
                "local embedded available",
                "gpu-box remote available",
                "legacy compatibility read-only available"
            ]
        );
        browser.shot("runtimes").await;
        shows_none(&browser, &leaks).await;

        browser.click("tr[data-runtime='local'] a").await;
        browser
            .until("the New worker button", "return !document.getElementById('new-worker')?.disabled")
            .await;
        browser.click("#new-worker").await;
        let profile = browser.client.find(fantoccini::Locator::Css("#new-profile")).await.unwrap();
        profile.select_by_value("slow").await.unwrap();
        browser.type_into("#new-name", "pair").await;
        browser.shot("new-worker").await;
        browser.click("dialog[open] button[type='submit']").await;
        browser
            .until("the new worker's console", "return document.querySelector('h1')?.textContent === 'pair@local'")
            .await;
        let url = browser.client.current_url().await.unwrap();
        assert!(url.path().starts_with("/runtimes/local/workers/"), "{url}");

        let text = "streamed, two characters at a time, before the run ends";
        browser.type_into("#composer-text", &format!("{text}{ENTER}")).await;
        let partial = browser
            .until(
                "part of the answer while the run goes on",
                "const streaming = document.querySelector('.entry.streaming .content');
                 return streaming && streaming.textContent.length > 0 ? streaming.textContent : null",
            )
            .await;
        let partial = partial.as_str().unwrap();
        assert!(text.starts_with(partial) && partial.len() < text.len(), "{partial:?}");
        let reason = browser.run("return document.getElementById('composer-reason').textContent", Vec::new()).await;
        assert!(reason.as_str().unwrap().contains("A run is active"), "{reason}");
        answered(&browser, text).await;
        browser.shot("console").await;

        // A reload shows the same transcript, each line once.
        browser.client.refresh().await.unwrap();
        answered(&browser, text).await;
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        assert_eq!(
            entries(&browser).await,
            [format!("user: {text}"), format!("assistant: {text}")]
        );
        shows_none(&browser, &leaks).await;

        // A reload while an answer streams: the part so far is replayed, the rest follows live,
        // and every line is shown once.
        let again = "a second answer, reloaded while it streams in, two characters at a time";
        browser.type_into("#composer-text", &format!("{again}{ENTER}")).await;
        browser
            .until(
                "the second answer streaming",
                "return document.querySelector('.entry.streaming .content')?.textContent.length > 4",
            )
            .await;
        browser.client.refresh().await.unwrap();
        answered(&browser, again).await;
        assert_eq!(
            entries(&browser).await,
            [
                format!("user: {text}"),
                format!("assistant: {text}"),
                format!("user: {again}"),
                format!("assistant: {again}")
            ]
        );

        // A long answer, cancelled from its button; then the worker stopped from its own.
        let long = "a long answer that the person cancels halfway through its streaming, ".repeat(3);
        browser.type_into("#composer-text", &format!("{long}{ENTER}")).await;
        browser
            .until("the run, cancellable", "return !document.getElementById('cancel-run').disabled")
            .await;
        browser.click("#cancel-run").await;
        browser
            .until(
                "the cancelled run",
                "return document.querySelector('.meta .badge')?.textContent === 'cancelled'
                   && document.querySelector('.transcript').textContent.includes('The run was cancelled.')",
            )
            .await;
        browser.click("#stop-worker").await;
        browser.click("#stop-worker").await;
        let reason = browser
            .until(
                "the stopped worker",
                "return document.querySelector('.meta .badge')?.textContent === 'stopped'
                   && document.getElementById('composer-reason').textContent",
            )
            .await;
        assert_eq!(reason, "This worker is stopped.");
        browser.shot("stopped").await;
        browser
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_remote_runtime_is_shown_and_the_stream_resumes_when_it_is_back() {
    let runtime_data = tempfile::tempdir().unwrap();
    let (mut runtime, address) = start_runtime("gpu-box", runtime_data.path());
    let (_dir, backend) = Backend::with_workspace(&workspace(&address, false));
    let created = post(
        &backend,
        "/api/runtimes/gpu-box/workers",
        json!({ "worker_id": "w1" }),
    )
    .await;
    assert_eq!(created["worker_id"], "w1");
    with_browser("remote", |browser| async move {
        browser
            .open(&format!("{}/runtimes/gpu-box/workers/w1", backend.url))
            .await;
        browser
            .until(
                "the console",
                "return document.querySelector('h1')?.textContent === 'w1@gpu-box'",
            )
            .await;
        browser
            .type_into("#composer-text", &format!("before{ENTER}"))
            .await;
        answered(&browser, "before").await;

        runtime.terminate();
        browser
            .until(
                "the lost connection",
                "const notice = document.querySelector('.connection');
                 return !notice.hidden && notice.textContent.includes('cannot be reached')",
            )
            .await;
        browser.shot("lost").await;
        let reason = browser
            .run(
                "return document.getElementById('composer-reason').textContent",
                Vec::new(),
            )
            .await;
        assert!(
            reason.as_str().unwrap().contains("cannot be reached"),
            "{reason}"
        );

        let _back = serve_runtime("gpu-box", runtime_data.path(), &["--bind", &address]);
        browser
            .until(
                "the runtime back",
                "return document.querySelector('.connection').textContent.includes('answers again')",
            )
            .await;
        browser
            .until(
                "the composer enabled again",
                "return !document.getElementById('send').disabled",
            )
            .await;
        browser
            .type_into("#composer-text", &format!("after{ENTER}"))
            .await;
        answered(&browser, "after").await;
        browser.shot("back").await;
        assert_eq!(
            entries(&browser).await,
            [
                "user: before",
                "assistant: before",
                "user: after",
                "assistant: after"
            ]
        );
        browser
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_runtimes_page_follows_a_runtime_lost_and_back_and_a_long_transcript_pages_up() {
    let runtime_data = tempfile::tempdir().unwrap();
    let (mut runtime, address) = start_runtime("gpu-box", runtime_data.path());
    let (_dir, backend) = Backend::with_workspace(&workspace(&address, false));
    post(
        &backend,
        "/api/runtimes/local/workers",
        json!({ "worker_id": "long" }),
    )
    .await;
    for turn in 0..60 {
        let input = json!({ "kind": "user", "content": format!("turn {turn}") });
        post_when_idle(&backend, "/api/runtimes/local/workers/long/input", input).await;
    }
    with_browser("live", |browser| async move {
        browser.open(&backend.url).await;
        runtime_rows(&browser).await;
        runtime.terminate();
        let gone = "const row = document.querySelector(\"tr[data-runtime='gpu-box']\");
                    return row.cells[2].innerText === 'unavailable'";
        browser.until("gpu-box unavailable, live", gone).await;
        browser.shot("unavailable").await;
        let _back = serve_runtime("gpu-box", runtime_data.path(), &["--bind", &address]);
        runtime_rows(&browser).await;

        // 120 entries: the newest 100 first, the older ones as the person scrolls up.
        browser
            .open(&format!("{}/runtimes/local/workers/long", backend.url))
            .await;
        answered(&browser, "turn 59").await;
        let shown = entries(&browser).await;
        assert_eq!((shown.len(), shown[0].as_str()), (100, "user: turn 10"));
        // Scrolling to the top shows the older ones, as the button would.
        browser
            .run(
                "document.querySelector('.scroller').scrollTop = 0",
                Vec::new(),
            )
            .await;
        browser
            .until(
                "every entry",
                "return document.querySelectorAll('.transcript .entry').length === 120",
            )
            .await;
        assert_eq!(entries(&browser).await[0], "user: turn 0");
        browser
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_runtime_refuses_with_its_reason_and_worker_output_stays_text() {
    let runtime_data = tempfile::tempdir().unwrap();
    let (_runtime, address) = start_runtime("gpu-box", runtime_data.path());
    let (dir, backend) = Backend::with_workspace(&workspace(&address, false));
    pod_store(dir.path());
    let hostile = r#"<img src=x onerror="window.__xss=1"><script>window.__xss=1</script>"#;
    let worker = json!({ "worker_id": "w1", "display_name": hostile });
    post(&backend, "/api/runtimes/local/workers", worker).await;
    let input = json!({ "kind": "user", "content": hostile });
    post(&backend, "/api/runtimes/local/workers/w1/input", input).await;
    with_browser("hostile", |browser| async move {
        browser.open(&format!("{}/runtimes/local/workers/w1", backend.url)).await;
        answered(&browser, hostile).await;
        assert_eq!(
            entries(&browser).await,
            [format!("user: {hostile}"), format!("assistant: {hostile}")]
        );
        let title = browser.run("return document.querySelector('h1').textContent", Vec::new()).await;
        assert_eq!(title, Value::from(format!("{hostile}@local")));
        // Every text the worker wrote is a text node: no element came of it.
        let injected = browser
            .run(
                "const texts = [...document.querySelectorAll('.transcript .content, h1')];
                 return [window.__xss === undefined, texts.length, texts.filter(node => node.children.length > 0).length]",
                Vec::new(),
            )
            .await;
        assert_eq!(injected, json!([true, 3, 0]));
        browser.shot("hostile").await;

        browser.open(&format!("{}/runtimes/legacy/workers", backend.url)).await;
        let reason = browser
            .until("the refusal to create", "return document.getElementById('create-reason')?.textContent || null")
            .await;
        assert_eq!(reason, "This runtime is read-only.");
        let disabled = browser.run("return document.getElementById('new-worker').disabled", Vec::new()).await;
        assert_eq!(disabled, true);
        browser.click("tr[data-worker] a").await;
        let reason = browser
            .until("the composer's reason", "return document.getElementById('composer-reason')?.textContent || null")
            .await;
        assert_eq!(reason, "This runtime is read-only: it cannot take input.");
        let disabled = browser.run("return document.getElementById('send').disabled", Vec::new()).await;
        assert_eq!(disabled, true);
        browser.shot("read-only").await;
        browser
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_browser_token_the_page_asks_for_it_and_refuses_before() {
    let runtime_data = tempfile::tempdir().unwrap();
    let (_runtime, address) = start_runtime("gpu-box", runtime_data.path());
    let workspace_dir = tempfile::tempdir().unwrap();
    let config = workspace_dir.path().join("workspace.toml");
    std::fs::write(&config, workspace(&address, true)).unwrap();
    let config = config.to_str().unwrap().to_owned();
    let backend = Backend::start_with_env(
        workspace_dir.path(),
        &["--config", &config, "--bind", "127.0.0.1:0"],
        &[(BROWSER_TOKEN_VAR, BROWSER_TOKEN)],
    );
    with_browser("token", |browser| async move {
        browser.open(&backend.url).await;
        browser.until("the token dialog", "return document.getElementById('token-dialog').open").await;
        let rows = browser.run("return document.querySelectorAll('tr[data-runtime]').length", Vec::new()).await;
        assert_eq!(rows, 0, "nothing shown without the token");
        browser.type_into("#token-input", &format!("not-the-token{ENTER}")).await;
        browser
            .until(
                "the refusal",
                "const dialog = document.getElementById('token-dialog');
                 return dialog.open && document.getElementById('token-error').textContent.includes('refused')",
            )
            .await;
        browser.shot("token-refused").await;
        browser.type_into("#token-input", &format!("{BROWSER_TOKEN}{ENTER}")).await;
        runtime_rows(&browser).await;
        let url = browser.client.current_url().await.unwrap();
        assert!(!url.as_str().contains(BROWSER_TOKEN), "{url}");
        assert!(!browser.text().await.contains(BROWSER_TOKEN));
        let log = backend.process.describe();
        assert!(!log.contains(BROWSER_TOKEN), "the token in the log: {log}");
        browser
    })
    .await;
}

/// `[[runtime]]` tables of in-memory embedded runtimes, one per id.
fn embedded_runtimes(ids: &[&str]) -> String {
    ids.iter()
        .map(|id| {
            format!("[[runtime]]\nid = \"{id}\"\nadapter = \"embedded\"\npersist = false\n\n")
        })
        .collect()
}

/// Writes `toml` as the workspace's file and sends SIGHUP to the Backend serving it.
fn reload(dir: &Path, toml: &str) {
    std::fs::write(dir.join("workspace.toml"), toml).unwrap();
    let pid = std::fs::read_to_string(dir.join(".yoi/serve.pid")).unwrap();
    let pid = nix::unistd::Pid::from_raw(pid.trim().parse().unwrap());
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGHUP).unwrap();
}

/// Waits until the runtimes page shows exactly the runtimes `ids`, in order.
async fn shows_runtimes(browser: &Browser, ids: &[&str]) {
    let script = format!(
        "const shown = [...document.querySelectorAll('tr[data-runtime]')].map(r => r.dataset.runtime);
         return JSON.stringify(shown) === {:?}",
        serde_json::to_string(ids).unwrap()
    );
    browser
        .until(&format!("the runtimes {ids:?}"), &script)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_takes_a_removed_runtime_off_the_page_and_ends_its_console() {
    let (dir, mut backend) = Backend::with_workspace(&embedded_runtimes(&["local", "spare"]));
    post(
        &backend,
        "/api/runtimes/spare/workers",
        json!({ "worker_id": "w1" }),
    )
    .await;
    with_browser("reload", |browser| async move {
        browser
            .open(&format!("{}/runtimes/spare/workers/w1", backend.url))
            .await;
        browser
            .until(
                "the console",
                "return document.querySelector('h1')?.textContent === 'w1@spare'",
            )
            .await;
        // The console's event stream is open (its answer's head is logged once it is ready).
        backend
            .process
            .wait_for_log("path=\"/api/runtimes/spare/workers/w1/events\" status=200");
        reload(dir.path(), &embedded_runtimes(&["local", "extra"]));
        browser
            .until(
                "the console told its runtime is gone",
                "const notice = document.querySelector('.connection');
                 return !notice.hidden && notice.textContent.includes('no longer in the workspace')",
            )
            .await;
        browser
            .until(
                "the composer and the buttons disabled, saying why",
                "return document.getElementById('send').disabled
                    && document.getElementById('stop-worker').disabled
                    && document.getElementById('composer-reason').textContent.includes('removed')",
            )
            .await;
        browser.shot("runtime-removed").await;

        browser.open(&backend.url).await;
        shows_runtimes(&browser, &["local", "extra"]).await;
        reload(dir.path(), &embedded_runtimes(&["local", "later"]));
        shows_runtimes(&browser, &["local", "later"]).await;
        browser
    })
    .await;
}

/// [`post`], again while the worker is still busy with its previous input.
async fn post_when_idle(backend: &Backend, path: &str, body: Value) {
    let client = reqwest::Client::new();
    let started = std::time::Instant::now();
    loop {
        let response = client
            .post(format!("{}{path}", backend.url))
            .json(&body)
            .send()
            .await
            .unwrap();
        if response.status().is_success() {
            return;
        }
        assert!(
            response.status() == 409 && started.elapsed() < yoi_test_support::DEADLINE,
            "POST {path}: {}",
            response.status()
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

/// `POST path` with `body` to the Backend, as a script would: the JSON answer.
async fn post(backend: &Backend, path: &str, body: Value) -> Value {
    let response = reqwest::Client::new()
        .post(format!("{}{path}", backend.url))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(
        response.status().is_success(),
        "POST {path}: {}",
        response.status()
    );
    response.json().await.unwrap()
}
