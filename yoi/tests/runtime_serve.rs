//! `yoi runtime serve` as a process: the README's walk-through, graceful shutdown, restart from
//! the data directory, and the refusals that happen before anything is served.

use std::process::Command;
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{Value, json};
use yoi_test_support::{DEADLINE, Process, within};
const TOKEN: &str = "walkthrough-secret-0123";

/// `yoi runtime serve --bind 127.0.0.1:0 ARGS`, its token in `YOI_TEST_TOKEN`; answers it and
/// its API's base URL.
fn start(args: &[&str]) -> (Process, String) {
    let mut process = Process::spawn(
        "yoi runtime serve",
        Command::new(env!("CARGO_BIN_EXE_yoi"))
            .args(["runtime", "serve", "--bind", "127.0.0.1:0"])
            .args(args)
            .env("YOI_TEST_TOKEN", TOKEN)
            .env("RUST_LOG", "info"),
    );
    let address = process.listening_address();
    (process, format!("http://{address}/v1"))
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(DEADLINE)
        .build()
        .unwrap()
}

async fn transcript(client: &reqwest::Client, base: &str, worker: &str) -> Vec<Value> {
    let page: Value = client
        .get(format!("{base}/workers/{worker}/transcript"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    page["entries"].as_array().unwrap().clone()
}

/// Creates Worker `w1`, sends it `content` and waits for the reply; returns the transcript.
async fn converse(client: &reqwest::Client, base: &str, content: &str) -> Vec<Value> {
    let created = client
        .post(format!("{base}/workers"))
        .bearer_auth(TOKEN)
        .json(&json!({"worker_id": "w1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let accepted = client
        .post(format!("{base}/workers/w1/input"))
        .bearer_auth(TOKEN)
        .json(&json!({"kind": "user", "content": content}))
        .send()
        .await
        .unwrap();
    assert_eq!(accepted.status(), 202);
    let started = Instant::now();
    loop {
        let entries = transcript(client, base, "w1").await;
        if entries.len() == 2 {
            return entries;
        }
        assert!(started.elapsed() < DEADLINE, "the run did not finish");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn the_walkthrough_survives_a_graceful_restart() {
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().to_str().unwrap();
    let args = [
        "--id",
        "laptop",
        "--data-dir",
        data_dir,
        "--token-env",
        "YOI_TEST_TOKEN",
    ];
    let (mut process, base) = start(&args);
    let client = client();

    let unauthorized = client.get(format!("{base}/workers")).send().await.unwrap();
    assert_eq!(unauthorized.status(), 401);
    let entries = converse(&client, &base, "hello runtime").await;
    assert_eq!(entries[1]["content"], "hello runtime");

    // An open event stream ends when the process shuts down.
    let events = client
        .get(format!("{base}/workers/w1/events"))
        .bearer_auth(TOKEN)
        .header("last-event-id", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(events.status(), 200);
    let reader = tokio::spawn(async move {
        let mut body = events.bytes_stream();
        let mut text = String::new();
        while let Some(Ok(chunk)) = body.next().await {
            text.push_str(&String::from_utf8_lossy(&chunk));
        }
        text
    });
    process.wait_for_log("path=\"/v1/workers/w1/events\" status=200");
    let (status, log) = tokio::task::spawn_blocking(move || {
        let status = process.terminate();
        (status, process.stderr_text())
    })
    .await
    .unwrap();
    assert!(status.success(), "{status}: {log}");
    let streamed = within("the stream's end", reader).await.unwrap();
    assert!(
        streamed.starts_with("id: 2\nevent: input_accepted\n"),
        "{streamed}"
    );
    assert!(log.contains("stopped"), "{log}");
    assert!(!log.contains(TOKEN), "the token reached the log");

    let (_restarted, base) = start(&args);
    assert_eq!(transcript(&client, &base, "w1").await, entries);
}

#[tokio::test]
async fn programs_started_for_workers_do_not_inherit_the_token_variable() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("runtime.toml");
    std::fs::write(
        &config,
        "[profiles.default]\nengine = \"command\"\nprogram = \"sh\"\n\
         args = [\"-c\", \"printenv YOI_TEST_TOKEN || echo absent\"]\n",
    )
    .unwrap();
    let (_process, base) = start(&[
        "--id",
        "envcheck",
        "--config",
        config.to_str().unwrap(),
        "--token-env",
        "YOI_TEST_TOKEN",
    ]);
    let entries = converse(&client(), &base, "x").await;
    assert_eq!(entries[1]["content"], "absent\n");
}

/// Runs `yoi runtime serve` with `args` expecting it to refuse to start; returns its stderr.
fn refusal(args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_yoi"))
        .args(["runtime", "serve"])
        .args(args)
        .env_remove("YOI_MISSING_TOKEN")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    String::from_utf8(output.stderr).unwrap()
}

#[test]
fn bad_setups_are_refused_before_serving_with_clear_messages() {
    // The refusal happens before any socket is bound.
    let exposed = refusal(&["--id", "r", "--bind", "0.0.0.0:0"]);
    assert!(
        exposed.contains("refusing to serve 0.0.0.0:0 without a token"),
        "{exposed}"
    );

    // A token is not enough off loopback: the link needs TLS, or the operator's word.
    let plain = refusal(&["--id", "r", "--bind", "0.0.0.0:0", "--insecure-no-auth"]);
    assert!(
        plain
            .contains("refusing to serve 0.0.0.0:0 over plain HTTP: pass --tls-cert and --tls-key"),
        "{plain}"
    );
    // A certificate that cannot be read is named by its option, never by its path.
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("absent.pem");
    let cert = cert.to_str().unwrap();
    let unreadable = refusal(&["--id", "r", "--tls-cert", cert, "--tls-key", cert]);
    assert!(
        unreadable.contains("--tls-cert: cannot be read"),
        "{unreadable}"
    );
    assert!(!unreadable.contains(cert), "{unreadable}");

    let missing = refusal(&["--id", "r", "--token-env", "YOI_MISSING_TOKEN"]);
    assert!(
        missing.contains("environment variable YOI_MISSING_TOKEN is not set"),
        "{missing}"
    );

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("runtime.toml");
    let config_arg = config.to_str().unwrap();
    // Each message is the file, the line and column, the key and what is wrong.
    for (text, expected) in [
        ("colour = 1\n", ":1:1: colour: unknown field `colour`"),
        (
            "id = \"other\"\n",
            ":1:6: id: the runtime id comes from --id",
        ),
        (
            "[limits]\nmax_workers = 0\n",
            ":2:15: limits.max_workers: must be at least 1",
        ),
        ("[profiles.default\n", ":1:18: unclosed table"),
    ] {
        std::fs::write(&config, text).unwrap();
        let message = refusal(&["--id", "r", "--config", config_arg]);
        assert!(
            message.contains(&format!("{config_arg}{expected}")),
            "{text:?}: {message}"
        );
    }
    let folder = dir.path().to_str().unwrap();
    let unreadable = refusal(&["--id", "r", "--config", folder]);
    assert!(
        unreadable.contains(&format!("{folder}: cannot read the file")),
        "{unreadable}"
    );
}

#[test]
fn usage_errors_are_reported_by_the_argument_parser() {
    for args in [
        &["--id", "r", "--keep-alive", "0s"][..],
        &["--id", "../r"][..],
        &["--id", "r", "--token-env", "A", "--token-file", "B"][..],
        &["--id", "r", "--insecure-no-auth", "--token-env", "A"][..],
        &["--id", "r", "--tls-cert", "cert.pem"][..],
        &["--id", "r", "--client-ca", "ca.pem"][..],
        &["--id", "r", "--header-timeout", "0s"][..],
        &["--id", "r", "--max-connections", "0"][..],
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_yoi"))
            .args(["runtime", "serve"])
            .args(args)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}: {output:?}");
        assert!(String::from_utf8_lossy(&output.stderr).contains("error:"));
    }
}
