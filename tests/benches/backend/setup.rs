//! Starting the processes a scenario needs, and the plain calls that prepare them.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::Bench;
use crate::child::{Child, start_role};
use crate::load::Target;
use crate::roles::{RUNTIME_TOKEN, TOKEN_VAR};

/// How long a setup step may take before it counts as a hang.
pub(crate) const SETUP_LIMIT: Duration = Duration::from_secs(60);

/// Starts `count` runtimes in one process, each request waiting `work_us` first.
pub(crate) fn runtimes(bench: &Bench, name: &str, count: usize, work_us: u64) -> Child {
    let (count, work_us) = (count.to_string(), work_us.to_string());
    let role = ["runtime", "--count", &count, "--work-us", &work_us];
    start_role(&role, &[], &bench.dir.path().join(format!("{name}.log")))
}

/// Starts one runtime process with the role's `args` (e.g. `--data-dir DIR`).
pub(crate) fn runtime_with(bench: &Bench, name: &str, args: &[&str]) -> Child {
    let role: Vec<&str> = std::iter::once("runtime")
        .chain(args.iter().copied())
        .collect();
    start_role(&role, &[], &bench.dir.path().join(format!("{name}.log")))
}

/// Starts one runtime serving HTTPS with `cert.pem` and `key.pem` of `certs` (every connection
/// a full handshake, counted).
pub(crate) fn tls_runtime(bench: &Bench, name: &str, certs: &Path) -> Child {
    let certs = certs.to_str().expect("a UTF-8 path");
    let role = ["runtime", "--tls", certs];
    start_role(&role, &[], &bench.dir.path().join(format!("{name}.log")))
}

/// Writes a self-signed certificate for 127.0.0.1 (not a CA: it is trusted as itself) and its
/// key into `dir`, as `cert.pem` and `key.pem`.
pub(crate) fn write_certificate(dir: &Path) {
    let made = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()])
        .expect("a certificate can be made");
    std::fs::create_dir_all(dir).expect("the certificates' folder can be made");
    std::fs::write(dir.join("cert.pem"), made.cert.pem()).expect("the certificate is written");
    let key = made.key_pair.serialize_pem();
    std::fs::write(dir.join("key.pem"), key).expect("the key is written");
}

/// Starts one runtime whose `default` profile streams from the OpenAI-compatible provider at
/// `openai` (its base URL, e.g. `http://127.0.0.1:PORT/v1`), each Worker retaining `retained`
/// events.
pub(crate) fn model_runtime(bench: &Bench, name: &str, openai: &str, retained: usize) -> Child {
    let retained = retained.to_string();
    let role = [
        "runtime",
        "--openai",
        openai,
        "--retained-events",
        &retained,
    ];
    start_role(&role, &[], &bench.dir.path().join(format!("{name}.log")))
}

/// Starts a Backend over the `[[runtime]]` tables `runtimes`, in a folder `name` of its own.
pub(crate) fn backend(bench: &Bench, name: &str, runtimes: &str) -> Child {
    backend_logging(bench, name, runtimes, "info")
}

/// [`backend`], its log filtered by `log` (a `RUST_LOG` value: `warn` leaves the request log
/// out).
pub(crate) fn backend_logging(bench: &Bench, name: &str, runtimes: &str, log: &str) -> Child {
    let dir = bench.dir.path().join(name);
    std::fs::create_dir_all(&dir).expect("the Backend's folder can be made");
    let config = dir.join("workspace.toml");
    let text =
        format!("[workspace]\nid = \"bench\"\nroot = \".\"\ndata_dir = \".yoi\"\n\n{runtimes}");
    std::fs::write(&config, text).expect("workspace.toml can be written");
    let config = config.to_str().expect("a UTF-8 path").to_owned();
    start_role(
        &["backend", config.as_str()],
        &[(TOKEN_VAR, RUNTIME_TOKEN), ("RUST_LOG", log)],
        &dir.join("backend.log"),
    )
}

/// The `[[runtime]]` table of a remote runtime `id` at `address`, calls bounded by `timeout_ms`.
pub(crate) fn remote_table(id: &str, address: SocketAddr, timeout_ms: u64) -> String {
    format!(
        "[[runtime]]\nid = \"{id}\"\nadapter = \"http-client\"\nbase_url = \"http://{address}\"\n\
         token_env = \"{TOKEN_VAR}\"\ntimeout_ms = {timeout_ms}\n\n"
    )
}

/// The `[[runtime]]` table of a remote runtime `id` serving HTTPS at `address` with the
/// certificate `ca_file`, calls bounded by `timeout_ms`.
pub(crate) fn tls_remote_table(
    id: &str,
    address: SocketAddr,
    ca_file: &Path,
    timeout_ms: u64,
) -> String {
    let ca_file = ca_file.to_str().expect("a UTF-8 path");
    format!(
        "[[runtime]]\nid = \"{id}\"\nadapter = \"http-client\"\nbase_url = \"https://{address}\"\n\
         ca_file = \"{ca_file}\"\ntoken_env = \"{TOKEN_VAR}\"\ntimeout_ms = {timeout_ms}\n\n"
    )
}

/// The `[[runtime]]` table of an in-memory embedded runtime `id` allowing `max_workers`.
pub(crate) fn embedded_table(id: &str, max_workers: usize) -> String {
    format!(
        "[[runtime]]\nid = \"{id}\"\nadapter = \"embedded\"\npersist = false\n\n\
         [runtime.limits]\nmax_workers = {max_workers}\n\n"
    )
}

/// A runtime's worker `path`, directly.
pub(crate) fn direct(runtime: SocketAddr, path: &str) -> Target {
    Target {
        address: runtime,
        path: path.to_owned(),
        token: Some(RUNTIME_TOKEN),
        post: false,
    }
}

/// A Backend's `path`.
pub(crate) fn via(backend: SocketAddr, path: &str) -> Target {
    Target {
        address: backend,
        path: path.to_owned(),
        token: None,
        post: false,
    }
}

/// Plain calls for setting things up (not measured).
pub(crate) struct Calls {
    client: reqwest::Client,
}

impl Calls {
    /// A client for setup calls.
    pub(crate) fn new() -> Self {
        // Pooled connections are let go before a server's header timeout (10 s) would close
        // them under a request.
        let client = reqwest::Client::builder()
            .pool_idle_timeout(Duration::from_secs(5))
            .build()
            .expect("a client builds");
        Self { client }
    }

    /// `POST target.path` with `body`; the answer, which must be 2xx.
    pub(crate) async fn post(&self, target: &Target, body: Value) -> Value {
        self.send(target, self.client.post(url(target)).json(&body))
            .await
    }

    /// `GET target.path`; the answer, which must be 2xx.
    pub(crate) async fn get(&self, target: &Target) -> Value {
        self.send(target, self.client.get(url(target))).await
    }

    async fn send(&self, target: &Target, request: reqwest::RequestBuilder) -> Value {
        let request = match target.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        };
        let response = request
            .send()
            .await
            .unwrap_or_else(|error| panic!("{}: {error}", target.path));
        let status = response.status();
        let body = response.text().await.expect("a body");
        assert!(status.is_success(), "{} -> {status}: {body}", target.path);
        serde_json::from_str(&body).expect("a JSON answer")
    }

    /// Creates worker `worker` on the runtime (or Backend runtime collection) at `workers`.
    pub(crate) async fn create_worker(&self, workers: &Target, worker: &str) {
        self.post(workers, json!({ "worker_id": worker })).await;
    }

    /// Sends `content` to the worker whose input path is `input`, again while it is still
    /// finishing its previous run: the `input_accepted` event's sequence, and when the accepted
    /// attempt was sent.
    pub(crate) async fn send_input(&self, input: &Target, content: &str) -> (u64, Instant) {
        let body = json!({ "kind": "user", "content": content });
        let started = Instant::now();
        loop {
            let sent = Instant::now();
            let response = self
                .client
                .post(url(input))
                .bearer_auth(input.token.unwrap_or_default())
                .json(&body)
                .send()
                .await
                .unwrap_or_else(|error| panic!("{}: {error}", input.path));
            let status = response.status();
            let answer: Value = response.json().await.expect("a JSON answer");
            if status.is_success() {
                let sequence = answer["sequence"].as_u64().expect("an ack has a sequence");
                return (sequence, sent);
            }
            assert!(
                status == 409 && started.elapsed() < SETUP_LIMIT,
                "{} -> {status}: {answer}",
                input.path
            );
            tokio::time::sleep(Duration::from_micros(100)).await;
        }
    }

    /// Waits until the worker at `detail` is idle: its last event's sequence.
    pub(crate) async fn wait_idle(&self, detail: &Target) -> u64 {
        let started = Instant::now();
        loop {
            let view = self.get(detail).await;
            if view["status"] == "idle" {
                return view["last_sequence"].as_u64().expect("a last sequence");
            }
            assert!(started.elapsed() < SETUP_LIMIT, "never idle: {view}");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
}

fn url(target: &Target) -> String {
    format!("http://{}{}", target.address, target.path)
}

/// What reached the runtimes of a runtime process (its control port's counts).
pub(crate) async fn counts(runtimes: &Child) -> crate::roles::Counts {
    let control = runtimes
        .control
        .expect("a runtime process has a control port");
    let url = format!("http://{control}/counts");
    reqwest::get(url)
        .await
        .expect("the control port answers")
        .json()
        .await
        .expect("counts are JSON")
}
