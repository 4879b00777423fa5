//! Load on an HTTP server: `wrk` (Debian's package) holding a number of keep-alive
//! connections, each sending the next request (a `GET`, or an empty `POST`) as soon as the
//! previous answer is read, for a fixed time; and single requests over a connection of the
//! harness's own.

use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;

/// Where Debian's package puts wrk.
const WRK: &str = "/usr/bin/wrk";

/// Makes wrk print what the harness reads: counts, duration and the median latency (in us).
const REPORT_SCRIPT: &str = r#"
done = function(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format("requests %d\nduration_us %d\np50_us %d\nerrors %d\n",
    summary.requests, summary.duration, latency:percentile(50),
    errors.connect + errors.read + errors.write + errors.status + errors.timeout))
end
"#;

/// Where a load goes.
#[derive(Clone)]
pub(crate) struct Target {
    /// The server.
    pub(crate) address: SocketAddr,
    /// The path and query requested.
    pub(crate) path: String,
    /// A bearer token to send, if the server wants one.
    pub(crate) token: Option<&'static str>,
    /// Whether wrk's load is an empty `POST` (a `GET` otherwise).
    pub(crate) post: bool,
}

impl Target {
    /// The same server and token, an empty `POST` to `path`.
    pub(crate) fn post(&self, path: &str) -> Self {
        Self {
            path: path.to_owned(),
            post: true,
            ..self.clone()
        }
    }
}

/// What a load measured.
pub(crate) struct Load {
    /// Answers received.
    pub(crate) requests: u64,
    /// Median latency.
    pub(crate) p50: Duration,
    /// How long the load ran.
    pub(crate) elapsed: Duration,
}

impl Load {
    /// Answers per second.
    pub(crate) fn throughput(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }
}

/// Whether wrk is installed (`scripts/bench-tools` installs it).
pub(crate) fn installed() -> bool {
    std::path::Path::new(WRK).exists()
}

/// Runs `connections` keep-alive connections (one wrk thread) against `target` for `duration`;
/// panics on any error or answer but 2xx.
pub(crate) async fn run(target: &Target, connections: usize, duration: Duration) -> Load {
    let script = std::env::temp_dir().join(format!("yoi-bench-wrk-{}.lua", std::process::id()));
    let method = match target.post {
        true => "wrk.method = \"POST\"\n",
        false => "",
    };
    std::fs::write(&script, format!("{method}{REPORT_SCRIPT}"))
        .expect("the wrk script can be written");
    let mut command = Command::new(WRK);
    command
        .args(["--threads", "1", "--connections", &connections.to_string()])
        .args(["--duration", &format!("{}s", duration.as_secs().max(1))])
        .arg("--script")
        .arg(&script);
    if let Some(token) = target.token {
        command.args(["--header", &format!("Authorization: Bearer {token}")]);
    }
    command.arg(format!("http://{}{}", target.address, target.path));
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("waiting for wrk does not panic")
        .unwrap_or_else(|error| panic!("running {WRK}: {error}"));
    let text = String::from_utf8_lossy(&output.stdout);
    let field = |name: &str| -> u64 {
        text.lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("wrk printed no {name}: {text}"))
    };
    assert_eq!(field("errors"), 0, "wrk against {}: {text}", target.path);
    Load {
        requests: field("requests"),
        p50: Duration::from_micros(field("p50_us")),
        elapsed: Duration::from_micros(field("duration_us")),
    }
}

/// One `GET` on a fresh connection: how long it took.
pub(crate) async fn once(target: &Target) -> Duration {
    let mut sender = connect(target.address).await;
    let sent = Instant::now();
    get(&mut sender, target).await;
    sent.elapsed()
}

/// Opens a keep-alive HTTP/1.1 connection to `address`.
pub(crate) async fn connect(address: SocketAddr) -> SendRequest<Empty<Bytes>> {
    let stream = tokio::net::TcpStream::connect(address)
        .await
        .unwrap_or_else(|error| panic!("connecting to {address}: {error}"));
    stream.set_nodelay(true).expect("TCP_NODELAY can be set");
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("an HTTP/1.1 handshake");
    tokio::spawn(connection);
    sender
}

/// `GET target.path`, with its host and bearer token, before the body.
pub(crate) fn request(target: &Target) -> hyper::http::request::Builder {
    let request = hyper::Request::get(target.path.as_str())
        .header(hyper::header::HOST, target.address.to_string());
    match target.token {
        Some(token) => request.header(hyper::header::AUTHORIZATION, format!("Bearer {token}")),
        None => request,
    }
}

/// Sends `GET target.path` on `sender` and reads the whole answer, which must be 200.
pub(crate) async fn get(sender: &mut SendRequest<Empty<Bytes>>, target: &Target) -> Bytes {
    let request = request(target).body(Empty::new()).expect("a valid request");
    sender.ready().await.expect("the connection stays open");
    let response = sender
        .send_request(request)
        .await
        .unwrap_or_else(|error| panic!("GET {}: {error}", target.path));
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("the whole body arrives")
        .to_bytes();
    assert_eq!(
        status,
        200,
        "GET {}: {}",
        target.path,
        String::from_utf8_lossy(&body)
    );
    body
}
