//! A closed-loop HTTP/1.1 load: a number of keep-alive connections, each sending the next `GET`
//! as soon as the previous answer's body is read, for a fixed time.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;

/// The most requests one connection sends in one run, whatever the time allows.
const MAX_REQUESTS_PER_CONNECTION: usize = 2_000_000;

/// Where a load goes.
#[derive(Clone)]
pub(crate) struct Target {
    /// The server.
    pub(crate) address: SocketAddr,
    /// The path and query requested.
    pub(crate) path: String,
    /// A bearer token to send, if the server wants one.
    pub(crate) token: Option<&'static str>,
}

/// What a load measured.
pub(crate) struct Load {
    /// Each request's time from sending to its whole body read.
    pub(crate) latencies: Vec<Duration>,
    /// From the first request to the last answer.
    pub(crate) elapsed: Duration,
}

impl Load {
    /// Answers per second.
    pub(crate) fn throughput(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64()
    }
}

/// Runs `connections` keep-alive connections against `target` for `duration`; panics on any
/// answer but 200.
pub(crate) async fn run(target: &Target, connections: usize, duration: Duration) -> Load {
    let mut senders = Vec::with_capacity(connections);
    for _ in 0..connections {
        senders.push(connect(target.address).await);
    }
    let started = Instant::now();
    let deadline = started + duration;
    let tasks: Vec<_> = senders
        .into_iter()
        .map(|mut sender| {
            let target = target.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                while Instant::now() < deadline && latencies.len() < MAX_REQUESTS_PER_CONNECTION {
                    let sent = Instant::now();
                    get(&mut sender, &target).await;
                    latencies.push(sent.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.expect("a load connection does not panic"));
    }
    Load {
        latencies,
        elapsed: started.elapsed(),
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

/// Sends `GET target.path` on `sender` and reads the whole answer, which must be 200.
pub(crate) async fn get(sender: &mut SendRequest<Empty<Bytes>>, target: &Target) -> Bytes {
    let mut request = hyper::Request::get(target.path.as_str())
        .header(hyper::header::HOST, target.address.to_string());
    if let Some(token) = target.token {
        request = request.header(hyper::header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let request = request.body(Empty::new()).expect("a valid request");
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
