//! A scripted LLM provider on 127.0.0.1: it answers OpenAI's Chat Completions
//! (`POST …/chat/completions`) and Anthropic's Messages (`POST /v1/messages`) with the replies a
//! test pushed, byte for byte in each provider's documented streaming format, and records every
//! request it received.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::eventually;

/// How long apart the pieces of a split frame are written, so that they reach the client in
/// separate reads rather than coalesced in one segment.
const SPLIT_PAUSE: Duration = Duration::from_millis(1);

/// A scripted provider served on a free port of 127.0.0.1; it stops when dropped.
pub struct ScriptedProvider {
    base_url: String,
    shared: Arc<Shared>,
}

/// What the server and the test share.
struct Shared {
    script: Mutex<Script>,
    requests: Mutex<Vec<Recorded>>,
    disconnected: AtomicUsize,
    shutdown: CancellationToken,
}

/// The replies not used yet, and the last one used, which answers when they run out.
#[derive(Default)]
struct Script {
    ahead: VecDeque<Reply>,
    last: Option<Reply>,
}

/// One request the provider received.
#[derive(Clone, Debug)]
pub struct Recorded {
    /// The method, e.g. `POST`.
    pub method: String,
    /// The path, e.g. `/v1/chat/completions`.
    pub path: String,
    /// The headers by lowercase name; repeated ones joined with `, `.
    pub headers: BTreeMap<String, String>,
    /// The body as JSON; a body that is not JSON is kept as a JSON string of its text.
    pub body: Value,
}

/// One scripted answer. It renders in the format of the endpoint it is requested on, with the
/// request's `model`; every stream is sent whatever the request's `stream` says.
#[derive(Clone, Debug)]
pub struct Reply {
    error: Option<(u16, String)>,
    retry_after: Option<u64>,
    pieces: Vec<String>,
    usage: Option<(u64, u64)>,
    end: End,
    malformed: bool,
    split: bool,
    crlf: bool,
    keep_alive: bool,
    delay: Duration,
}

/// How a stream ends.
#[derive(Clone, Copy, Debug)]
enum End {
    /// All pieces, then the format's closing frames.
    Complete,
    /// After this many pieces, the connection is held open without another byte.
    Stall(usize),
    /// After this many pieces, the connection is closed without the closing frames.
    Cut(usize),
    /// All pieces and the stop reason (and usage), then the end of the body without the final
    /// frame (`[DONE]`, `message_stop`), as some servers close.
    Unterminated,
    /// After this many pieces, the format's mid-stream error frame, then the end of the body.
    Error(usize),
}

/// Which provider's format an endpoint speaks.
#[derive(Clone, Copy)]
enum Format {
    OpenAi,
    Anthropic,
}

/// What the body of a streamed answer does next.
enum Step {
    Write(Vec<u8>),
    Pause(Duration),
    Stall,
    Cut,
}

impl ScriptedProvider {
    /// Starts a provider with an empty script: until a reply is pushed it answers 500.
    pub async fn start() -> Self {
        let shared = Arc::new(Shared {
            script: Mutex::default(),
            requests: Mutex::new(Vec::new()),
            disconnected: AtomicUsize::new(0),
            shutdown: CancellationToken::new(),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let router = Router::new().fallback(answer).with_state(shared.clone());
        let stop = shared.shutdown.clone();
        tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(stop.cancelled_owned())
                .await
                .unwrap();
        });
        Self {
            base_url: format!("http://{address}"),
            shared,
        }
    }

    /// Its base URL, `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn base_url(&self) -> String {
        self.base_url.clone()
    }

    /// Appends `reply` to the script. Replies answer requests in order, one each; once they
    /// run out, the last one used answers again, until another is pushed.
    pub fn push(&self, reply: Reply) {
        self.shared.script.lock().unwrap().ahead.push_back(reply);
    }

    /// Every request received so far, in the order they arrived.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.requests.lock().unwrap().clone()
    }

    /// Waits until at least `count` requests have arrived and answers them all.
    pub async fn wait_for_requests(&self, count: usize) -> Vec<Recorded> {
        let what = format!("{count} requests at the scripted provider");
        eventually(&what, || {
            self.shared.requests.lock().unwrap().len() >= count
        })
        .await;
        self.requests()
    }

    /// How many streamed answers lost their client before they ended.
    pub fn disconnected(&self) -> usize {
        self.shared.disconnected.load(Ordering::SeqCst)
    }

    /// Waits until at least one streamed answer has lost its client before it ended.
    pub async fn wait_for_disconnect(&self) {
        eventually("a client going away mid-stream", || {
            self.disconnected() >= 1
        })
        .await;
    }
}

impl Drop for ScriptedProvider {
    fn drop(&mut self) {
        self.shared.shutdown.cancel();
    }
}

impl Reply {
    /// A stream of `pieces` of text, each a delta of its own.
    pub fn stream<S: Into<String>>(pieces: impl IntoIterator<Item = S>) -> Self {
        Self {
            error: None,
            retry_after: None,
            pieces: pieces.into_iter().map(Into::into).collect(),
            usage: None,
            end: End::Complete,
            malformed: false,
            split: false,
            crlf: false,
            keep_alive: false,
            delay: Duration::ZERO,
        }
    }

    /// The stream ends cleanly after its stop reason (and usage) without the format's final
    /// frame.
    pub fn unterminated(mut self) -> Self {
        self.end = End::Unterminated;
        self
    }

    /// An error answer: `status` with the format's JSON error body carrying `message`.
    pub fn error(status: u16, message: impl Into<String>) -> Self {
        Self {
            error: Some((status, message.into())),
            ..Self::stream(Vec::<String>::new())
        }
    }

    /// A stream of one piece whose delta frame's data is cut in half, so it is not JSON.
    pub fn malformed() -> Self {
        Self {
            malformed: true,
            ..Self::stream(["Hel"])
        }
    }

    /// Reports `input` prompt tokens and `output` completion tokens: OpenAI in a last chunk
    /// before `[DONE]`, Anthropic in `message_start` and `message_delta` (0 and 0 without it).
    pub fn usage(mut self, input: u64, output: u64) -> Self {
        self.usage = Some((input, output));
        self
    }

    /// Adds a `Retry-After: seconds` header to the answer.
    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// Sends `pieces` pieces, then holds the connection open without another byte.
    pub fn stall_after(mut self, pieces: usize) -> Self {
        self.end = End::Stall(pieces);
        self
    }

    /// Sends `pieces` pieces, then closes the connection mid-stream.
    pub fn cut_after(mut self, pieces: usize) -> Self {
        self.end = End::Cut(pieces);
        self
    }

    /// Sends `pieces` pieces, then the format's mid-stream error (Anthropic `event: error`
    /// with an `overloaded_error`, OpenAI a `data:` frame with an `error`), then ends.
    pub fn error_after(mut self, pieces: usize) -> Self {
        self.end = End::Error(pieces);
        self
    }

    /// Splits every frame across several writes (inside `data:`, inside the JSON and before
    /// its last byte) and joins every third frame with the next one in one write.
    pub fn split_writes(mut self) -> Self {
        self.split = true;
        self
    }

    /// Ends lines with CRLF instead of LF.
    pub fn crlf(mut self) -> Self {
        self.crlf = true;
        self
    }

    /// Sends a `: keep-alive` comment between every two frames, and on Anthropic also a
    /// `ping` event.
    pub fn keep_alive(mut self) -> Self {
        self.keep_alive = true;
        self
    }

    /// Pauses `delay` between pieces.
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// The pieces sent before the stream's end.
    fn sent(&self) -> &[String] {
        let count = match self.end {
            End::Complete | End::Unterminated => self.pieces.len(),
            End::Stall(count) | End::Cut(count) | End::Error(count) => count,
        };
        &self.pieces[..count.min(self.pieces.len())]
    }
}

/// Records the request and answers it with the next scripted reply.
async fn answer(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let body = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    let path = parts.uri.path().to_owned();
    let model = body["model"].as_str().unwrap_or_default().to_owned();
    shared.requests.lock().unwrap().push(Recorded {
        method: parts.method.to_string(),
        path: path.clone(),
        headers: recorded_headers(&parts.headers),
        body,
    });
    let format = match path.as_str() {
        _ if parts.method != "POST" => None,
        "/v1/messages" => Some(Format::Anthropic),
        _ if path.ends_with("/chat/completions") => Some(Format::OpenAi),
        _ => None,
    };
    let Some(format) = format else {
        return json_response(404, None, openai_error("no such endpoint", 404));
    };
    let Some(reply) = next_reply(&shared) else {
        return json_response(500, None, format.error("no reply scripted", 500));
    };
    match &reply.error {
        Some((status, message)) => {
            json_response(*status, reply.retry_after, format.error(message, *status))
        }
        None => stream_response(&shared, &reply, format, &model),
    }
}

/// The next reply of the script, or the last one used again.
fn next_reply(shared: &Shared) -> Option<Reply> {
    let mut script = shared.script.lock().unwrap();
    if let Some(next) = script.ahead.pop_front() {
        script.last = Some(next);
    }
    script.last.clone()
}

/// `headers` by lowercase name, repeated ones joined.
fn recorded_headers(headers: &HeaderMap) -> BTreeMap<String, String> {
    let mut recorded = BTreeMap::<String, String>::new();
    for (name, value) in headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        recorded
            .entry(name.as_str().to_owned())
            .and_modify(|joined| {
                joined.push_str(", ");
                joined.push_str(&value);
            })
            .or_insert(value);
    }
    recorded
}

/// A JSON answer with `status`, and `Retry-After` when given.
fn json_response(status: u16, retry_after: Option<u64>, body: String) -> Response {
    let mut response = Response::builder()
        .status(StatusCode::from_u16(status).unwrap())
        .header(header::CONTENT_TYPE, "application/json");
    if let Some(seconds) = retry_after {
        response = response.header(header::RETRY_AFTER, seconds.to_string());
    }
    response.body(Body::from(body)).unwrap()
}

/// The event stream of `reply`, in `format`, for `model`.
fn stream_response(shared: &Arc<Shared>, reply: &Reply, format: Format, model: &str) -> Response {
    let steps = writes(reply, format, format.frames(reply, model));
    let playback = Playback {
        steps: steps.into_iter(),
        shutdown: shared.shutdown.clone(),
        guard: Unfinished(Some(shared.clone())),
    };
    let mut response = Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-cache");
    if let Some(seconds) = reply.retry_after {
        response = response.header(header::RETRY_AFTER, seconds.to_string());
    }
    response
        .body(Body::from_stream(futures::stream::unfold(playback, play)))
        .unwrap()
}

/// A streamed answer being written.
struct Playback {
    steps: std::vec::IntoIter<Step>,
    shutdown: CancellationToken,
    guard: Unfinished,
}

/// Counts a disconnect when dropped before [`Unfinished::finish`]: hyper drops the body of an
/// answer whose client went away, so this is how the provider sees the client leave.
struct Unfinished(Option<Arc<Shared>>);

impl Unfinished {
    /// The answer ended as scripted; dropping it no longer counts.
    fn finish(&mut self) {
        self.0 = None;
    }
}

impl Drop for Unfinished {
    fn drop(&mut self) {
        if let Some(shared) = &self.0 {
            shared.disconnected.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// The next write of `playback`; an error item makes hyper abort the connection.
async fn play(mut playback: Playback) -> Option<(Result<Vec<u8>, std::io::Error>, Playback)> {
    let cut = || std::io::Error::other("cut mid-stream");
    loop {
        match playback.steps.next() {
            Some(Step::Write(bytes)) => return Some((Ok(bytes), playback)),
            Some(Step::Pause(pause)) => tokio::time::sleep(pause).await,
            Some(Step::Stall) => {
                // Held until the provider stops, then cut so that the server can shut down.
                playback.shutdown.cancelled().await;
                playback.guard.finish();
                return Some((Err(cut()), playback));
            }
            Some(Step::Cut) => {
                // Hyper drops what it has buffered but not flushed when the body fails; being
                // pending once makes it flush the pieces before the cut.
                tokio::task::yield_now().await;
                playback.guard.finish();
                return Some((Err(cut()), playback));
            }
            None => {
                playback.guard.finish();
                return None;
            }
        }
    }
}

impl Format {
    /// The JSON error body of this format for `status`.
    fn error(self, message: &str, status: u16) -> String {
        match self {
            Self::OpenAi => openai_error(message, status),
            Self::Anthropic => anthropic_error(anthropic_error_type(status), message),
        }
    }

    /// The frames and pauses of `reply` for `model`, one frame a write, lines ending in LF.
    fn frames(self, reply: &Reply, model: &str) -> Vec<Step> {
        let model = json_string(model);
        match self {
            Self::OpenAi => openai_frames(reply, &model),
            Self::Anthropic => anthropic_frames(reply, &model),
        }
    }
}

/// OpenAI's error body.
fn openai_error(message: &str, status: u16) -> String {
    let kind = if status >= 500 {
        "server_error"
    } else {
        "invalid_request_error"
    };
    let message = json_string(message);
    format!(r#"{{"error":{{"message":{message},"type":"{kind}","code":null}}}}"#)
}

/// Anthropic's error body.
fn anthropic_error(kind: &str, message: &str) -> String {
    let message = json_string(message);
    format!(r#"{{"type":"error","error":{{"type":"{kind}","message":{message}}}}}"#)
}

/// Anthropic's documented error type for `status`.
fn anthropic_error_type(status: u16) -> &'static str {
    match status {
        400 => "invalid_request_error",
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        529 => "overloaded_error",
        _ => "api_error",
    }
}

/// `text` as a JSON string literal.
fn json_string(text: &str) -> String {
    serde_json::to_string(text).unwrap()
}

/// A frame of `data` alone, OpenAI's kind.
fn data_frame(data: &str) -> Step {
    Step::Write(format!("data: {data}\n\n").into_bytes())
}

/// A frame of `event` and `data`, Anthropic's kind.
fn event_frame(event: &str, data: &str) -> Step {
    Step::Write(format!("event: {event}\ndata: {data}\n\n").into_bytes())
}

/// `json` cut in half (on a byte, so possibly inside a character), for a malformed frame.
fn cut_json(json: &str) -> String {
    String::from_utf8_lossy(&json.as_bytes()[..json.len() / 2]).into_owned()
}

/// The delta frames of `reply`, with its pauses between them; `delta` renders one piece,
/// knowing whether it is the first.
fn deltas(
    reply: &Reply,
    frame: impl Fn(String) -> Step,
    delta: impl Fn(&str, bool) -> String,
) -> Vec<Step> {
    let mut steps = Vec::new();
    for (index, piece) in reply.sent().iter().enumerate() {
        if index > 0 && !reply.delay.is_zero() {
            steps.push(Step::Pause(reply.delay));
        }
        let json = delta(piece, index == 0);
        let malformed = reply.malformed && index == 0;
        steps.push(frame(if malformed { cut_json(&json) } else { json }));
    }
    steps
}

/// Chat Completions chunks: the deltas (the first with the role), a last one with
/// `finish_reason`, the usage when scripted, then `[DONE]`.
fn openai_frames(reply: &Reply, model: &str) -> Vec<Step> {
    let chunk = |choices: &str, usage: &str| {
        format!(
            r#"{{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":{model},"choices":[{choices}]{usage}}}"#
        )
    };
    let choice = |delta: &str, finish: &str| {
        format!(r#"{{"index":0,"delta":{{{delta}}},"finish_reason":{finish}}}"#)
    };
    let mut steps = deltas(
        reply,
        |json| data_frame(&json),
        |piece, first| {
            let role = if first { r#""role":"assistant","# } else { "" };
            chunk(
                &choice(
                    &format!(r#"{role}"content":{}"#, json_string(piece)),
                    "null",
                ),
                "",
            )
        },
    );
    match reply.end {
        End::Complete | End::Unterminated => {
            steps.push(data_frame(&chunk(&choice("", r#""stop""#), "")));
            if let Some((input, output)) = reply.usage {
                let total = input + output;
                let usage = format!(
                    r#","usage":{{"prompt_tokens":{input},"completion_tokens":{output},"total_tokens":{total}}}"#
                );
                steps.push(data_frame(&chunk("", &usage)));
            }
            if matches!(reply.end, End::Complete) {
                steps.push(data_frame("[DONE]"));
            }
        }
        End::Error(_) => steps.push(data_frame(&openai_error("Overloaded", 503))),
        End::Stall(_) => steps.push(Step::Stall),
        End::Cut(_) => steps.push(Step::Cut),
    }
    steps
}

/// Messages events: `message_start`, a text block with its deltas, `message_delta` with the
/// stop reason and usage, `message_stop`.
fn anthropic_frames(reply: &Reply, model: &str) -> Vec<Step> {
    let (input, output) = reply.usage.unwrap_or((0, 0));
    let mut steps = vec![
        event_frame(
            "message_start",
            &format!(
                r#"{{"type":"message_start","message":{{"id":"msg_1","type":"message","role":"assistant","model":{model},"content":[],"stop_reason":null,"usage":{{"input_tokens":{input},"output_tokens":1}}}}}}"#
            ),
        ),
        event_frame(
            "content_block_start",
            r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
        ),
        event_frame("ping", r#"{"type":"ping"}"#),
    ];
    steps.extend(deltas(reply, |json| event_frame("content_block_delta", &json), |piece, _| {
        format!(
            r#"{{"type":"content_block_delta","index":0,"delta":{{"type":"text_delta","text":{}}}}}"#,
            json_string(piece)
        )
    }));
    match reply.end {
        End::Complete | End::Unterminated => {
            steps.push(event_frame(
                "content_block_stop",
                r#"{"type":"content_block_stop","index":0}"#,
            ));
            steps.push(event_frame(
                "message_delta",
                &format!(
                    r#"{{"type":"message_delta","delta":{{"stop_reason":"end_turn","stop_sequence":null}},"usage":{{"output_tokens":{output}}}}}"#
                ),
            ));
            if matches!(reply.end, End::Complete) {
                steps.push(event_frame("message_stop", r#"{"type":"message_stop"}"#));
            }
        }
        End::Error(_) => steps.push(event_frame(
            "error",
            &anthropic_error("overloaded_error", "Overloaded"),
        )),
        End::Stall(_) => steps.push(Step::Stall),
        End::Cut(_) => steps.push(Step::Cut),
    }
    steps
}

/// The writes of `frames` as `reply` asks for them: keep-alives between frames, CRLF line
/// ends, frames split across writes.
fn writes(reply: &Reply, format: Format, frames: Vec<Step>) -> Vec<Step> {
    let mut steps = Vec::new();
    let mut first = true;
    for step in frames {
        if let Step::Write(_) = step {
            if reply.keep_alive && !first {
                steps.push(Step::Write(b": keep-alive\n\n".to_vec()));
                if let Format::Anthropic = format {
                    steps.push(event_frame("ping", r#"{"type":"ping"}"#));
                }
            }
            first = false;
        }
        steps.push(step);
    }
    if reply.crlf {
        for step in &mut steps {
            if let Step::Write(bytes) = step {
                *bytes = with_crlf(bytes);
            }
        }
    }
    if reply.split { split(steps) } else { steps }
}

/// `bytes` with every LF preceded by CR; byte-wise, since a malformed frame may not be UTF-8.
fn with_crlf(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + bytes.len() / 8);
    for &byte in bytes {
        if byte == b'\n' {
            out.push(b'\r');
        }
        out.push(byte);
    }
    out
}

/// Every frame of `steps` split in several writes a pause apart, except that every third frame
/// is joined with the next one in a single write.
fn split(steps: Vec<Step>) -> Vec<Step> {
    let mut out = Vec::new();
    let mut frames = 0;
    let mut steps = steps.into_iter().peekable();
    while let Some(step) = steps.next() {
        let Step::Write(mut frame) = step else {
            out.push(step);
            continue;
        };
        frames += 1;
        if frames % 3 == 0 {
            if let Some(Step::Write(next)) = steps.next_if(|step| matches!(step, Step::Write(_))) {
                frame.extend_from_slice(&next);
                out.push(Step::Write(frame));
                continue;
            }
        }
        for (index, piece) in pieces(&frame).into_iter().enumerate() {
            if index > 0 {
                out.push(Step::Pause(SPLIT_PAUSE));
            }
            out.push(Step::Write(piece.to_vec()));
        }
    }
    out
}

/// `frame` cut inside `data:`, in the middle of what follows and before its last byte (between
/// the two line ends of its blank line, or the CR and LF of one).
fn pieces(frame: &[u8]) -> Vec<&[u8]> {
    let data = frame
        .windows(5)
        .position(|window| window == b"data:")
        .unwrap_or(0);
    let mut cuts = vec![data + 2, (data + 5 + frame.len()) / 2, frame.len() - 1];
    cuts.retain(|&cut| cut > 0 && cut < frame.len());
    cuts.dedup();
    let mut pieces = Vec::new();
    let mut start = 0;
    for cut in cuts {
        pieces.push(&frame[start..cut]);
        start = cut;
    }
    pieces.push(&frame[start..]);
    pieces
}
