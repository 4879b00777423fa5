//! A corpus of bad requests through the Backend API, sent byte for byte over a raw connection (so
//! that nothing resolves `..` or re-encodes a path on the way): malformed ids in paths and
//! bodies, wrong JSON types, unknown fields, a body over the limit, wrong or missing content
//! types, invalid UTF-8, bad paging and bad resume points, and operations aimed at nothing.
//!
//! Each must answer its typed error (status and code of the DESIGN table), each mutation must
//! leave exactly one audit line telling how it was decided, and afterwards the workers, the
//! transcript and the files of the Backend's data folder (where the embedded runtime keeps its
//! workers) must be exactly as they were.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use rstest::rstest;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::Kind;
use crate::support::backend::{Backend, backend};

/// How long one bad request may take before it counts as a hang.
const TIMEOUT: Duration = Duration::from_secs(10);

const INVALID: &str = "invalid_input";

/// What the audit log must hold for a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Audit {
    /// Nothing: not a mutation (a read, or no route at all).
    Nothing,
    /// One `rejected` line with the case's error code: refused before any runtime saw it.
    Rejected,
    /// One `allowed` line without a code: the Backend passed it on and the runtime refused it
    /// (the audit line records the Backend's decision; the request log the runtime's answer).
    Allowed,
}

/// One bad request and the answer it must get.
struct Case {
    method: &'static str,
    /// Sent as is: percent-escapes and dot segments reach the server untouched.
    path: String,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
    status: u16,
    code: &'static str,
    audit: Audit,
}

impl Case {
    fn get(path: impl Into<String>, status: u16, code: &'static str) -> Self {
        Self {
            method: "GET",
            path: path.into(),
            headers: Vec::new(),
            body: Vec::new(),
            status,
            code,
            audit: Audit::Nothing,
        }
    }

    /// A `GET` refused as invalid input.
    fn bad_get(path: impl Into<String>) -> Self {
        Self::get(path, 400, INVALID)
    }

    /// A `POST` (see [`Case::post`]) refused as invalid input.
    fn bad_post(path: impl Into<String>, body: impl Into<Vec<u8>>) -> Self {
        Self::post(path, body, 400, INVALID)
    }

    /// A `POST` with `content-type: application/json`.
    fn post(
        path: impl Into<String>,
        body: impl Into<Vec<u8>>,
        status: u16,
        code: &'static str,
    ) -> Self {
        Self {
            method: "POST",
            headers: vec![("content-type", "application/json".into())],
            body: body.into(),
            audit: Audit::Rejected,
            ..Self::get(path, status, code)
        }
    }

    fn method(mut self, method: &'static str) -> Self {
        self.method = method;
        self
    }

    fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// Replaces the content type; `None` sends none.
    fn content_type(mut self, value: Option<&str>) -> Self {
        self.headers.retain(|(name, _)| *name != "content-type");
        if let Some(value) = value {
            self.headers.push(("content-type", value.into()));
        }
        self
    }

    fn audit(mut self, audit: Audit) -> Self {
        self.audit = audit;
        self
    }

    fn describe(&self) -> String {
        let body = String::from_utf8_lossy(&self.body[..self.body.len().min(60)]);
        format!(
            "{} {} {:?} ({} body bytes: {body:?})",
            self.method,
            self.path,
            self.headers,
            self.body.len()
        )
    }
}

/// Every bad request, against runtime `runtime` whose worker `w1` has events up to `newest`.
fn corpus(runtime: &str, newest: u64) -> Vec<Case> {
    let workers = format!("/api/runtimes/{runtime}/workers");
    let w1 = format!("{workers}/w1");
    let long = "a".repeat(65);
    let input = br#"{"kind":"user","content":"hi"}"#.to_vec();
    let mut huge = br#"{"kind":"user","content":""#.to_vec();
    huge.resize(10 * 1024 * 1024, b'a');
    huge.extend_from_slice(br#""}"#);
    let beyond = newest + 1_000;
    let overflow = "99999999999999999999999";

    let mut cases = Vec::new();
    // Worker ids in paths: read, then every mutation.
    for id in [
        "..",
        "%2e%2e",
        "%2E%2E",
        "..%2fw1",
        "%2e%2e%2fw1",
        "%00",
        "a%00b",
        "w1%00",
        "%C3%A9",
        "w%C3%A91",
        "%ff",
        "w1%20",
        "%20",
        long.as_str(),
    ] {
        cases.push(Case::bad_get(format!("{workers}/{id}")));
        cases.push(Case::bad_post(
            format!("{workers}/{id}/input"),
            input.clone(),
        ));
    }
    for id in ["%2e%2e", "%00", "%C3%A9", long.as_str()] {
        cases.push(Case::bad_post(format!("{workers}/{id}/stop"), ""));
        cases.push(Case::bad_post(format!("{workers}/{id}/cancel"), ""));
        cases.push(Case::bad_get(format!("{workers}/{id}/transcript")));
        cases.push(Case::bad_get(format!("{workers}/{id}/events")));
    }
    // The empty id.
    cases.push(Case::bad_post(format!("{workers}//input"), input.clone()));
    cases.push(Case::bad_post(format!("{workers}//stop"), ""));
    cases.push(Case::bad_get(format!("{workers}//transcript")));
    // Dot segments are not resolved: none of these reaches `w1` or the list.
    for path in [
        format!("{workers}/ghost/../w1"),
        format!("{workers}/w1/.."),
        format!("{workers}/w1/%2e%2e"),
    ] {
        cases.push(Case::get(path, 404, "not_found"));
    }
    let dotted = format!("{workers}/../w1/input");
    cases.push(Case::post(dotted, input.clone(), 404, "not_found").audit(Audit::Nothing));
    cases.push(
        Case::post(format!("{workers}/x/../../w1/stop"), "", 404, "not_found")
            .audit(Audit::Nothing),
    );

    // Runtime ids in paths.
    for id in ["..", "%2e%2e", "%00", "%C3%A9", "%ff", long.as_str()] {
        cases.push(Case::bad_get(format!("/api/runtimes/{id}")));
        cases.push(Case::bad_get(format!("/api/runtimes/{id}/workers")));
        cases.push(Case::bad_post(format!("/api/runtimes/{id}/workers"), "{}"));
        cases.push(Case::bad_post(
            format!("/api/runtimes/{id}/workers/w1/input"),
            input.clone(),
        ));
    }
    cases.push(Case::bad_get("/api/runtimes//workers"));
    cases.push(Case::bad_post("/api/runtimes//workers/w1/stop", ""));

    // Create bodies.
    for body in [
        r#"{"worker_id":"../x"}"#,
        r#"{"worker_id":".."}"#,
        r#"{"worker_id":"a\u0000b"}"#,
        r#"{"worker_id":"w1\u0000"}"#,
        r#"{"worker_id":""}"#,
        r#"{"worker_id":"é"}"#,
        r#"{"worker_id":" w2"}"#,
        r#"{"worker_id":5}"#,
        r#"{"worker_id":null,"display_name":7}"#,
        r#"{"worker_id":["w2"]}"#,
        r#"{"worker_id":"w2","colour":"red"}"#,
        r#"{"worker_id":"w2""#,
        r#"{"worker_id":"w2"}{"worker_id":"w3"}"#,
        "[]",
        r#"[{"worker_id":"w2"}]"#,
        "null",
        r#""w2""#,
        "5",
        "",
    ] {
        cases.push(Case::bad_post(&workers, body));
    }
    cases.push(Case::bad_post(
        &workers,
        format!(r#"{{"worker_id":"{long}"}}"#),
    ));
    let w2 = r#"{"worker_id":"w2"}"#;
    cases.push(Case::bad_post(&workers, w2).content_type(None));
    cases.push(Case::bad_post(&workers, w2).content_type(Some("text/plain")));
    cases
        .push(Case::bad_post(&workers, w2).content_type(Some("application/x-www-form-urlencoded")));
    cases.push(Case::bad_post(
        &workers,
        b"{\"worker_id\":\"w\xff2\"}".to_vec(),
    ));
    cases.push(Case::post(&workers, huge.clone(), 413, "payload_too_large"));
    // A taken id: the runtime refuses it, and `w1` is not reset.
    cases.push(
        Case::post(&workers, r#"{"worker_id":"w1"}"#, 409, "worker_exists").audit(Audit::Allowed),
    );

    // Input bodies.
    let to_w1 = format!("{w1}/input");
    for body in [
        r#"{"kind":"user","content":5}"#,
        r#"{"kind":"user","content":null}"#,
        r#"{"kind":"user","content":["hi"]}"#,
        r#"{"kind":"shout","content":"x"}"#,
        r#"{"kind":5,"content":"x"}"#,
        r#"{"kind":"user"}"#,
        r#"{"content":"x"}"#,
        r#"{"kind":"user","content":"x","extra":1}"#,
        r#"{"kind":"user","content":"x","kind":"system"}"#,
        r#"{"kind":"user","content":"x""#,
        "[]",
        "null",
        r#""hi""#,
        "",
    ] {
        cases.push(Case::bad_post(&to_w1, body));
    }
    cases.push(Case::bad_post(&to_w1, input.clone()).content_type(None));
    cases.push(Case::bad_post(&to_w1, input.clone()).content_type(Some("text/plain")));
    cases.push(Case::bad_post(
        &to_w1,
        b"{\"kind\":\"user\",\"content\":\"\xff\"}".to_vec(),
    ));
    cases.push(Case::bad_post(
        &to_w1,
        b"\xef\xbb\xbf{\"kind\":\"user\",\"content\":\"x\"}".to_vec(),
    ));
    cases.push(Case::post(&to_w1, huge.clone(), 413, "payload_too_large"));
    let stop = format!("{w1}/stop");
    cases.push(Case::post(stop, huge, 413, "payload_too_large"));

    // Operations aimed at nothing.
    for operation in ["input", "stop", "cancel"] {
        let ghost = format!("{workers}/ghost/{operation}");
        let ghost = Case::post(ghost, input.clone(), 404, "unknown_worker");
        cases.push(ghost.audit(Audit::Allowed));
        let path = format!("/api/runtimes/nowhere/workers/w1/{operation}");
        cases.push(Case::post(path, input.clone(), 404, "unknown_runtime"));
    }
    let nowhere = "/api/runtimes/nowhere/workers";
    cases.push(Case::post(nowhere, w2, 404, "unknown_runtime"));
    for suffix in ["", "/transcript", "/events"] {
        let ghost = format!("{workers}/ghost{suffix}");
        cases.push(Case::get(ghost, 404, "unknown_worker"));
    }
    cases.push(Case::get(nowhere, 404, "unknown_runtime"));
    // The workspace feed, narrowed to runtimes: each must exist, be visible and be a valid id.
    cases.push(Case::get(
        "/api/events?runtime=nowhere",
        404,
        "unknown_runtime",
    ));
    let known = Kind::Embedded.runtime();
    cases.push(Case::get(
        format!("/api/events?runtime={known}&runtime=nowhere"),
        404,
        "unknown_runtime",
    ));
    for query in [
        "runtime=",
        "runtime=..",
        "runtime=%C3%A9",
        "limit=3",
        "runtime",
    ] {
        cases.push(Case::bad_get(format!("/api/events?{query}")));
    }
    cases.push(Case::get(&w1, 405, "method_not_allowed").method("DELETE"));
    cases.push(Case::get(&workers, 405, "method_not_allowed").method("PUT"));

    // Paging. A limit above the maximum (1000) is refused, not shortened (worker_runtime::page).
    for query in [
        "limit=-1".to_owned(),
        "limit=0".to_owned(),
        "limit=1001".to_owned(),
        format!("limit={overflow}"),
        "limit=abc".to_owned(),
        "limit=1.5".to_owned(),
        "limit=".to_owned(),
        "after=..".to_owned(),
        "after=%00".to_owned(),
        "after=%C3%A9".to_owned(),
        "colour=red".to_owned(),
    ] {
        cases.push(Case::bad_get(format!("{workers}?{query}")));
    }
    for query in [
        "start=-1".to_owned(),
        "start=abc".to_owned(),
        format!("start={overflow}"),
        "limit=-1".to_owned(),
        "limit=0".to_owned(),
        "limit=1001".to_owned(),
        format!("limit={overflow}"),
        "limit=abc".to_owned(),
        "colour=red".to_owned(),
    ] {
        cases.push(Case::bad_get(format!("{w1}/transcript?{query}")));
    }

    // Resume points.
    let events = format!("{w1}/events");
    for value in [
        "abc".to_owned(),
        "-1".to_owned(),
        "1.5".to_owned(),
        "0x10".to_owned(),
        "1 2".to_owned(),
        overflow.to_owned(),
        beyond.to_string(),
    ] {
        cases.push(Case::bad_get(&events).header("last-event-id", value));
    }
    for query in [
        "cursor=abc".to_owned(),
        "cursor=-1".to_owned(),
        format!("cursor={overflow}"),
        format!("cursor={beyond}"),
        "colour=red".to_owned(),
    ] {
        cases.push(Case::bad_get(format!("{events}?{query}")));
    }
    // A good cursor does not rescue a bad Last-Event-ID: the header wins.
    cases.push(Case::bad_get(format!("{events}?cursor=1")).header("last-event-id", "abc"));
    cases
}

/// Sends `case` over a fresh connection, exactly as built, with `x-request-id: id`; the status
/// and JSON body of the answer, or what went wrong.
async fn send(address: &str, case: &Case, id: &str) -> Result<(u16, Value), String> {
    let mut request = format!(
        "{} {} HTTP/1.1\r\nhost: backend\r\nconnection: close\r\nx-request-id: {id}\r\n",
        case.method, case.path
    );
    if case.method != "GET" {
        request.push_str(&format!("content-length: {}\r\n", case.body.len()));
    }
    for (name, value) in &case.headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    let mut request = request.into_bytes();
    request.extend_from_slice(&case.body);

    let exchange = async {
        let stream = tokio::net::TcpStream::connect(address)
            .await
            .map_err(|error| format!("connect: {error}"))?;
        let (mut reader, mut writer) = stream.into_split();
        // The server may answer (413) before it has read the whole body; the write half stays
        // open (a half-close would end the request) until the answer has been read.
        let writing = tokio::spawn(async move {
            let written = writer.write_all(&request).await;
            (writer, written)
        });
        let mut answer = Vec::new();
        let read = reader.read_to_end(&mut answer).await;
        writing.abort();
        if answer.is_empty() {
            return Err(format!("no answer: {read:?}"));
        }
        Ok(answer)
    };
    let answer = tokio::time::timeout(TIMEOUT, exchange)
        .await
        .map_err(|_| format!("no answer within {TIMEOUT:?}"))??;
    let end = answer
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .ok_or_else(|| format!("no header end: {}", String::from_utf8_lossy(&answer)))?;
    let head = String::from_utf8_lossy(&answer[..end]);
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|status| status.parse().ok())
        .ok_or_else(|| format!("no status: {head}"))?;
    let body = &answer[end + 4..];
    let json = serde_json::from_slice(body).map_err(|error| {
        format!(
            "{status}, body not JSON ({error}): {head}\r\n\r\n{}",
            String::from_utf8_lossy(body)
        )
    })?;
    Ok((status, json))
}

/// What the API shows of the worker state: the runtime's workers, `w1` and its transcript, and
/// the compatibility listing of every worker.
async fn snapshot(backend: &Backend, runtime: &str) -> Value {
    let workers = format!("/api/runtimes/{runtime}/workers");
    let mut snapshot = serde_json::Map::new();
    for (name, path) in [
        ("workers", workers.clone()),
        ("w1", format!("{workers}/w1")),
        ("transcript", format!("{workers}/w1/transcript")),
        ("all", "/api/workers".to_owned()),
    ] {
        let (status, body) = backend.get(&path).await;
        assert_eq!(status, 200, "{path}: {body}");
        snapshot.insert(name.to_owned(), body);
    }
    Value::Object(snapshot)
}

/// Every file under `dir` (recursively) with its content, but the audit log.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut folders = vec![dir.to_owned()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            let name = path
                .strip_prefix(dir)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            if path.is_dir() {
                files.insert(format!("{name}/"), Vec::new());
                folders.push(path);
            } else if name != "audit.jsonl" {
                files.insert(name, std::fs::read(&path).unwrap());
            }
        }
    }
    files
}

/// The audit log's lines.
fn audit_lines(backend: &Backend) -> Vec<Value> {
    std::fs::read_to_string(backend.dir.path().join(".yoi/audit.jsonl"))
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

#[rstest]
#[cfg_attr(feature = "embedded", case::embedded(Kind::Embedded))]
#[cfg_attr(feature = "http-client", case::http_client(Kind::HttpClient))]
#[tokio::test]
async fn bad_input_is_refused_typed_audited_and_changes_nothing(#[case] kind: Kind) {
    let backend = backend().await;
    let runtime = kind.runtime();
    let workers = format!("/api/runtimes/{runtime}/workers");
    let (status, created) = backend.post(&workers, json!({ "worker_id": "w1" })).await;
    assert_eq!(status, 201, "{created}");
    let (status, ack) = backend
        .post(
            &format!("{workers}/w1/input"),
            json!({ "kind": "user", "content": "hello" }),
        )
        .await;
    assert_eq!(status, 202, "{ack}");
    let newest = backend.idle_sequence(runtime, "w1").await;
    let before = snapshot(&backend, runtime).await;
    let files_before = files(&backend.dir.path().join(".yoi"));
    let audited = audit_lines(&backend).len();

    let cases = corpus(runtime, newest);
    let address = backend.base.trim_start_matches("http://").to_owned();
    let mut wrong = Vec::new();
    for (index, case) in cases.iter().enumerate() {
        match send(&address, case, &format!("bad-{index}")).await {
            Ok((status, body)) if status == case.status && body["error"]["code"] == case.code => {}
            Ok((status, body)) => wrong.push(format!(
                "{}\n  expected {} {}, got {status} {body}",
                case.describe(),
                case.status,
                case.code
            )),
            Err(error) => wrong.push(format!("{}\n  {error}", case.describe())),
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} cases answered wrongly:\n{}",
        wrong.len(),
        cases.len(),
        wrong.join("\n")
    );

    let lines = audit_lines(&backend);
    let new = &lines[audited..];
    for (index, case) in cases.iter().enumerate() {
        let id = format!("bad-{index}");
        let mine: Vec<_> = new.iter().filter(|line| line["request_id"] == id).collect();
        let expected = match case.audit {
            Audit::Nothing => vec![],
            Audit::Rejected => vec![(json!("rejected"), json!(case.code))],
            Audit::Allowed => vec![(json!("allowed"), Value::Null)],
        };
        let got: Vec<_> = mine
            .iter()
            .map(|line| (line["outcome"].clone(), line["error_code"].clone()))
            .collect();
        assert_eq!(got, expected, "audit of {}: {mine:?}", case.describe());
    }
    let expected_lines = cases
        .iter()
        .filter(|case| case.audit != Audit::Nothing)
        .count();
    assert_eq!(new.len(), expected_lines, "{new:#?}");

    assert_eq!(snapshot(&backend, runtime).await, before);
    assert_eq!(files(&backend.dir.path().join(".yoi")), files_before);
}
