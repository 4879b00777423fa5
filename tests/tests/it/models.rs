use rstest::rstest;
use serde_json::{Value, json};
use worker_runtime::{EngineSettings, ModelSettings, Runtime, RuntimeConfig, Secret};
use yoi_test_support::{Frames, Reply, ScriptedProvider, until};

use crate::support::backend::{Backend, backend_with, log_capture};
use crate::support::{Kind, in_memory_runtime, rid, workspace_with};

/// The API key of every model profile here; no answer or log line may show it.
const KEY: &str = "sk-models-through-the-backend-never-shown";

/// The Backend over the fixture workspace, where the case's runtime has the model profile
/// `assistant` talking to a scripted provider: `alpha` (embedded) in OpenAI's format with its
/// key in a file, `beta` (remote, served in-process) in Anthropic's with its key in code.
struct ModelBackend {
    backend: Backend,
    provider: ScriptedProvider,
    runtime: &'static str,
    /// Every event frame read, for the leak scan.
    frames: std::sync::Mutex<Vec<String>>,
    /// Holds the key file of the embedded profile.
    _keys: tempfile::TempDir,
}

/// The Backend for `kind`'s case, its provider scripted with `replies`.
async fn model_backend(kind: Kind, replies: impl IntoIterator<Item = Reply>) -> ModelBackend {
    let provider = ScriptedProvider::start().await;
    for reply in replies {
        provider.push(reply);
    }
    let keys = tempfile::tempdir().unwrap();
    let workspace = match kind {
        Kind::Embedded => {
            let key_file = keys.path().join("provider.key");
            std::fs::write(&key_file, format!("{KEY}\n")).unwrap();
            let alpha = format!(
                "persist = false\n[runtime.profiles.assistant]\nengine = \"openai\"\n\
                 model = \"test-model\"\nbase_url = \"{}/v1\"\napi_key_file = {}\n",
                provider.base_url(),
                serde_json::to_string(&key_file).unwrap(),
            );
            workspace_with(&alpha, in_memory_runtime("beta")).await
        }
        Kind::HttpClient => {
            let mut model = ModelSettings::new("test-model");
            model.base_url = Some(provider.base_url());
            model.api_key = Some(Secret::new(KEY));
            let mut config = RuntimeConfig::new(rid("beta"));
            config
                .profiles
                .insert("assistant".into(), EngineSettings::Anthropic(model));
            workspace_with("", Runtime::new(config).unwrap()).await
        }
        Kind::LocalPodCompat => unreachable!("the compatibility runtime runs no models"),
    };
    ModelBackend {
        backend: backend_with(workspace).await,
        provider,
        runtime: kind.runtime(),
        frames: std::sync::Mutex::default(),
        _keys: keys,
    }
}

impl ModelBackend {
    /// The path of the Worker `w1`, plus `rest`.
    fn worker(&self, rest: &str) -> String {
        format!("/api/runtimes/{}/workers/w1{rest}", self.runtime)
    }

    /// Creates the Worker `w1` with the model profile and opens its event stream.
    async fn create(&self) -> Frames {
        let workers = format!("/api/runtimes/{}/workers", self.runtime);
        let body = json!({ "worker_id": "w1", "profile": "assistant" });
        let (status, created) = self.backend.post(&workers, body).await;
        assert_eq!(status, 201, "{created}");
        assert_eq!(created["profile"], "assistant");
        self.backend.events(self.runtime, "w1", None).await
    }

    /// The frames of `stream` through the first of `kind`, each kept for the leak scan.
    async fn until(&self, stream: &mut Frames, kind: &str) -> Vec<yoi_test_support::Frame> {
        let frames = until(stream, kind).await;
        let mut seen = self.frames.lock().unwrap();
        seen.extend(frames.iter().map(|frame| format!("{frame:?}")));
        frames
    }

    /// Sends `content` to `w1`; it must be accepted.
    async fn send(&self, content: &str) {
        let input = json!({ "kind": "user", "content": content });
        let (status, ack) = self.backend.post(&self.worker("/input"), input).await;
        assert_eq!(status, 202, "{ack}");
    }

    /// Sends `content` and reads `stream` through the run's end: the texts of its
    /// `output_delta` frames in order, and the `run_completed` frame's data.
    async fn exchange(&self, stream: &mut Frames, content: &str) -> (Vec<String>, Value) {
        self.send(content).await;
        let frames = self.until(stream, "run_completed").await;
        let data = |frame: &yoi_test_support::Frame| -> Value {
            serde_json::from_str(&frame.data).unwrap()
        };
        let deltas = frames
            .iter()
            .filter(|frame| frame.event == "output_delta")
            .map(|frame| data(frame)["text"].as_str().unwrap().to_owned())
            .collect();
        (deltas, data(frames.last().unwrap()))
    }

    /// Asserts that no answer the Backend gave (event frames included) and no line of the log
    /// shows the API key or the provider's address.
    fn assert_nothing_leaks(&self, log: &str) {
        assert!(log.contains("request"), "the log was captured: {log}");
        let mut answers = self.backend.answers.lock().unwrap().join("\n");
        answers.push_str(&self.frames.lock().unwrap().join("\n"));
        let base_url = self.provider.base_url();
        let address = base_url.trim_start_matches("http://").to_owned();
        for leak in [KEY.to_owned(), base_url, address] {
            assert!(!answers.contains(&leak), "{leak} in an answer");
            assert!(!log.contains(&leak), "{leak} in the log");
        }
    }
}

/// The (role, content) pairs of a recorded request's messages; Anthropic's carry no system
/// prompt here and OpenAI's profile has none, so both are the conversation alone.
fn conversation(body: &Value) -> Vec<(String, String)> {
    let messages = body["messages"].as_array().unwrap().iter();
    messages
        .map(|message| {
            let text = |key: &str| message[key].as_str().unwrap().to_owned();
            (text("role"), text("content"))
        })
        .collect()
}

#[rstest]
#[cfg_attr(feature = "embedded", case::embedded(Kind::Embedded))]
#[cfg_attr(feature = "http-client", case::http_client(Kind::HttpClient))]
#[tokio::test]
async fn a_model_worker_converses_streams_and_counts_usage_through_the_backend(#[case] kind: Kind) {
    let capture = log_capture();
    let replies = [
        Reply::stream(["Hel", "lo"]).usage(12, 2),
        Reply::stream(["Fine", "."]).usage(20, 3),
    ];
    let models = model_backend(kind, replies).await;
    let mut stream = models.create().await;

    let (deltas, completed) = models.exchange(&mut stream, "Hi").await;
    assert_eq!(deltas, ["Hel", "lo"]);
    assert_eq!(
        completed["usage"],
        json!({ "input_tokens": 12, "output_tokens": 2 })
    );
    let (deltas, completed) = models.exchange(&mut stream, "How are you?").await;
    assert_eq!(deltas, ["Fine", "."]);
    assert_eq!(
        completed["usage"],
        json!({ "input_tokens": 20, "output_tokens": 3 })
    );

    let (status, transcript) = models.backend.get(&models.worker("/transcript")).await;
    assert_eq!(status, 200, "{transcript}");
    let turns: Vec<(&str, &str)> = transcript["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| {
            let text = |key: &str| entry[key].as_str().unwrap();
            (text("role"), text("content"))
        })
        .collect();
    let exchanges = [
        ("user", "Hi"),
        ("assistant", "Hello"),
        ("user", "How are you?"),
        ("assistant", "Fine."),
    ];
    assert_eq!(turns, exchanges);
    let detail = models.backend.wait_idle(models.runtime, "w1").await;
    assert_eq!(
        detail["usage"],
        json!({ "input_tokens": 32, "output_tokens": 5 })
    );

    let requests = models.provider.requests();
    assert_eq!(requests.len(), 2);
    let expected: Vec<(String, String)> = exchanges[..3]
        .iter()
        .map(|(role, text)| ((*role).into(), (*text).into()))
        .collect();
    assert_eq!(conversation(&requests[1].body), expected);
    assert_eq!(requests[1].body["stream"], true);
    drop(stream);
    models.assert_nothing_leaks(&capture.text());
}

#[rstest]
#[cfg_attr(feature = "embedded", case::embedded(Kind::Embedded))]
#[cfg_attr(feature = "http-client", case::http_client(Kind::HttpClient))]
#[tokio::test]
async fn cancelling_mid_stream_closes_the_provider_connection(#[case] kind: Kind) {
    let capture = log_capture();
    let stalling = Reply::stream(["Par", "tial"]).stall_after(1);
    let models = model_backend(kind, [stalling]).await;
    let mut stream = models.create().await;
    models.send("Tell me everything").await;
    let started = models.until(&mut stream, "output_delta").await;
    let delta: Value = serde_json::from_str(&started.last().unwrap().data).unwrap();
    assert_eq!(delta["text"], "Par");

    let (status, cancelled) = models
        .backend
        .post(&models.worker("/cancel"), Value::Null)
        .await;
    assert_eq!(status, 200, "{cancelled}");
    let rest = models.until(&mut stream, "run_cancelled").await;
    let kinds: Vec<&str> = rest.iter().map(|frame| frame.event.as_str()).collect();
    assert!(
        !kinds.contains(&"output_delta") && !kinds.contains(&"run_completed"),
        "nothing streams into a cancelled run: {kinds:?}"
    );
    models.provider.wait_for_disconnect().await;
    models.backend.wait_idle(models.runtime, "w1").await;
    drop(stream);
    models.assert_nothing_leaks(&capture.text());
}
