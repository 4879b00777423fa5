//! The model engines (feature `llm`): one HTTP transport, and one module per wire format
//! (`openai`, `anthropic`) that decides the request's body and headers and what each event of the
//! provider's stream means. A run sends the system prompt and the Worker's conversation, streams
//! every text delta into the Worker's events as it arrives, and ends with the whole answer and the
//! usage the provider reported.
//!
//! A request refused as busy (429, 5xx) or a connection lost before the first token is tried
//! again with backoff (honouring `Retry-After`); after output has started, a failure fails the
//! run and the partial text stays in the events. Cancel, stop and the run's timeout drop the
//! request, which closes the connection to the provider. No reason, event or log line carries
//! the key or the provider's URL: `reqwest`'s errors, which name the URL, are never shown.

mod anthropic;
mod openai;

use std::hash::{BuildHasher, Hasher, RandomState};
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use reqwest::header::{CONTENT_TYPE, HeaderMap, RETRY_AFTER};
use reqwest::{Response, StatusCode};
use sse_stream::SseByteStream;
use tokio_util::sync::CancellationToken;

use super::{Engine, RunInput, RunOutcome};
use crate::event::Usage;
use crate::model_config::{ModelSettings, Secret};
use crate::transcript::TranscriptEntry;
use crate::worker_cell::OutputSink;

/// The longest pause before a retry, whatever `Retry-After` asks for.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// The first pause before a retry, doubled after each.
const FIRST_BACKOFF: Duration = Duration::from_millis(500);

/// The longest part of a provider's error message shown in a failure.
const MAX_MESSAGE_BYTES: usize = 1024;

/// Which wire format a provider speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wire {
    /// The OpenAI-compatible Chat Completions API.
    OpenAi,
    /// The Anthropic Messages API.
    Anthropic,
}

/// What one event of a provider's stream says.
#[derive(Debug, PartialEq)]
enum Piece {
    /// A piece of the answer.
    Text(String),
    /// Token counts; a count that is absent leaves the one known before.
    Usage {
        input: Option<u64>,
        output: Option<u64>,
    },
    /// The answer is complete.
    Done,
    /// The last choice is finished (`[DONE]` may still follow, with usage before it).
    Finished,
    /// The provider reports an error in the stream; `retryable` when another request may
    /// succeed (the provider is overloaded).
    Failed { message: String, retryable: bool },
}

/// A model engine: one wire format, one profile's settings and one pooled client.
pub(crate) struct ModelEngine {
    wire: Wire,
    settings: ModelSettings,
    /// The API root, scrubbed from whatever the provider writes back.
    base: String,
    endpoint: String,
    client: reqwest::Client,
}

impl ModelEngine {
    /// The engine of a profile. The client is built without a system library (rustls); if it
    /// cannot be built, the reason (never a fallback client, which would follow redirects).
    pub(crate) fn new(wire: Wire, settings: ModelSettings) -> Result<Self, &'static str> {
        let base = settings.base_url.as_deref().unwrap_or(match wire {
            Wire::OpenAi => "https://api.openai.com/v1",
            Wire::Anthropic => "https://api.anthropic.com",
        });
        let path = match wire {
            Wire::OpenAi => "chat/completions",
            Wire::Anthropic => "v1/messages",
        };
        let base = base.trim_end_matches('/').to_owned();
        let endpoint = format!("{base}/{path}");
        // No redirects: a key in a custom header (`x-api-key`) would follow one to another host.
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_millis(settings.request_timeout_ms))
            .tcp_nodelay(true)
            .build()
            .map_err(|_| "the HTTP client for the model provider could not be set up")?;
        Ok(Self {
            wire,
            settings,
            base,
            endpoint,
            client,
        })
    }

    /// Requests until one stream ends, retrying what may be retried.
    async fn attempts(&self, run: &RunInput, output: &OutputSink) -> RunOutcome {
        let body = match self.wire {
            Wire::OpenAi => openai::body(&self.settings, &run.conversation),
            Wire::Anthropic => anthropic::body(&self.settings, &run.conversation),
        };
        let body = serde_json::to_vec(&body).expect("request bodies serialize to JSON");
        let (mut backoff, mut retries) = (FIRST_BACKOFF, 0);
        loop {
            match self.attempt(&body, output).await {
                Ok(outcome) => return outcome,
                Err(Failure::Retry { after, .. }) if retries < self.settings.max_retries => {
                    retries += 1;
                    tokio::time::sleep(after.unwrap_or_else(|| jittered(backoff))).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
                Err(Failure::Retry { reason, .. } | Failure::Final(reason)) => {
                    return RunOutcome::failed(reason);
                }
            }
        }
    }

    /// One request and its stream.
    async fn attempt(&self, body: &[u8], output: &OutputSink) -> Result<RunOutcome, Failure> {
        let mut request = self
            .client
            .post(&self.endpoint)
            .header(CONTENT_TYPE, "application/json")
            .body(body.to_vec());
        request = match self.wire {
            Wire::OpenAi => openai::authorize(request, self.settings.api_key.as_ref()),
            Wire::Anthropic => anthropic::authorize(request, self.settings.api_key.as_ref()),
        };
        let silence = Duration::from_millis(self.settings.request_timeout_ms);
        let response = match tokio::time::timeout(silence, request.send()).await {
            Err(_) => return Err(Failure::Final(silent(silence))),
            Ok(Err(_)) => return Err(Failure::retry("the provider cannot be reached", None)),
            Ok(Ok(response)) => response,
        };
        let response = self.refused(response, silence).await?;
        self.read(response, silence, output).await
    }

    /// Reads a stream to its end, streaming the text into `output`.
    async fn read(
        &self,
        response: Response,
        silence: Duration,
        output: &OutputSink,
    ) -> Result<RunOutcome, Failure> {
        let bytes = futures::stream::unfold(response.bytes_stream(), move |mut bytes| async move {
            match tokio::time::timeout(silence, bytes.next()).await {
                Ok(Some(chunk)) => Some((chunk.map_err(|_| Gap::Broken), bytes)),
                Ok(None) => None,
                Err(_) => Some((Err(Gap::Silent), bytes)),
            }
        });
        let mut events = Box::pin(SseByteStream::new(bytes));
        let mut answer = Answer::default();
        let ended_cleanly = loop {
            let event = match events.next().await {
                None => break true,
                Some(Ok(event)) => event,
                Some(Err(sse_stream::Error::Body(gap))) => match gap.downcast_ref::<Gap>() {
                    Some(Gap::Silent) => return Err(Failure::Final(silent(silence))),
                    _ => break false,
                },
                Some(Err(_)) => return Err(Failure::Final(MALFORMED.into())),
            };
            // A block without data (only an `id:` or `retry:`) is not an event.
            let Some(data) = event.data.as_deref() else {
                continue;
            };
            let pieces = match self.wire {
                Wire::OpenAi => openai::pieces(data),
                Wire::Anthropic => anthropic::pieces(event.event.as_deref(), data),
            };
            for piece in pieces.map_err(Failure::Final)? {
                if let Some(end) = self.take(piece, &mut answer, output) {
                    return end;
                }
            }
        };
        match (answer.finished && ended_cleanly, answer.text.is_empty()) {
            // Some servers close after the last choice's `finish_reason`, without `[DONE]`.
            (true, _) => Ok(answer.completed()),
            (false, true) => Err(Failure::retry(
                "the provider's stream ended before any output",
                None,
            )),
            (false, false) => Err(Failure::Final("the provider's stream ended early".into())),
        }
    }

    /// Takes one piece of the stream into `answer`; the run's end when the piece ends it.
    fn take(
        &self,
        piece: Piece,
        answer: &mut Answer,
        output: &OutputSink,
    ) -> Option<Result<RunOutcome, Failure>> {
        match piece {
            Piece::Text(delta) if !delta.is_empty() => {
                output.delta(&delta);
                answer.text.push_str(&delta);
            }
            Piece::Text(_) => {}
            Piece::Usage { input, output } => answer.count(input, output),
            Piece::Finished => answer.finished = true,
            Piece::Done => return Some(Ok(answer.completed())),
            Piece::Failed { message, retryable } => {
                let reason = format!(
                    "the provider reported an error: {}",
                    self.provider_said(message)
                );
                let failure = match retryable && answer.text.is_empty() {
                    true => Failure::Retry {
                        reason,
                        after: None,
                    },
                    false => Failure::Final(reason),
                };
                return Some(Err(failure));
            }
        }
        None
    }

    /// What a provider wrote, without the key or the API root (should it write either back),
    /// cut to [`MAX_MESSAGE_BYTES`].
    fn provider_said(&self, mut text: String) -> String {
        let key = self.settings.api_key.as_ref().map(Secret::expose);
        let host = self
            .base
            .split("://")
            .nth(1)
            .and_then(|rest| rest.split('/').next());
        for secret in key.into_iter().chain([self.base.as_str()]).chain(host) {
            text = text.replace(secret, "[redacted]");
        }
        cut(text, MAX_MESSAGE_BYTES)
    }
}

#[async_trait]
impl Engine for ModelEngine {
    fn context_entries(&self) -> usize {
        self.settings.context_entries
    }

    async fn run(
        &self,
        run: &RunInput,
        output: &OutputSink,
        cancel: &CancellationToken,
    ) -> RunOutcome {
        let timeout = Duration::from_millis(self.settings.timeout_ms);
        // Dropping the request (cancel, timeout) closes its connection: nothing streams on.
        tokio::select! {
            biased;
            () = cancel.cancelled() => RunOutcome::Cancelled,
            outcome = tokio::time::timeout(timeout, self.attempts(run, output)) => {
                outcome.unwrap_or_else(|_| {
                    RunOutcome::failed(format!("the run timed out after {} ms", timeout.as_millis()))
                })
            }
        }
    }
}

/// Why an attempt failed, and whether another may succeed.
enum Failure {
    /// Worth another attempt (after `after`, when the provider said).
    Retry {
        reason: String,
        after: Option<Duration>,
    },
    /// Final.
    Final(String),
}

impl Failure {
    fn retry(reason: &str, after: Option<Duration>) -> Self {
        Self::Retry {
            reason: reason.to_owned(),
            after,
        }
    }
}

/// What a stream has given so far.
#[derive(Default)]
struct Answer {
    text: String,
    input: Option<u64>,
    output: Option<u64>,
    /// The provider said the answer is finished (OpenAI's `finish_reason`).
    finished: bool,
}

impl Answer {
    fn count(&mut self, input: Option<u64>, output: Option<u64>) {
        self.input = input.or(self.input);
        self.output = output.or(self.output);
    }

    /// The run's outcome: the whole text, and the usage when the provider reported any.
    fn completed(&mut self) -> RunOutcome {
        let usage = (self.input.is_some() || self.output.is_some()).then(|| Usage {
            input_tokens: self.input.unwrap_or(0),
            output_tokens: self.output.unwrap_or(0),
        });
        let output = std::mem::take(&mut self.text);
        RunOutcome::Completed { output, usage }
    }
}

impl ModelEngine {
    /// The response if it is a stream; the failure its status means otherwise.
    async fn refused(&self, response: Response, silence: Duration) -> Result<Response, Failure> {
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let after = retry_after(response.headers());
        let code = status.as_u16();
        if matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
            return Err(Failure::Final(format!(
                "the provider refused the credential (HTTP {code}); check the profile's api_key_env or api_key_file"
            )));
        }
        if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
            let reason = format!("the provider is busy (HTTP {code})");
            return Err(Failure::Retry { reason, after });
        }
        let body = tokio::time::timeout(silence, response.bytes()).await;
        let body = body.ok().and_then(Result::ok).unwrap_or_default();
        let message = self.provider_said(error_message(&body));
        Err(Failure::Final(format!(
            "the provider refused the request (HTTP {code}): {message}"
        )))
    }
}

/// The provider's own message in an error body (`{"error":{"message"}}` in both formats); the
/// raw body when it has none.
fn error_message(body: &[u8]) -> String {
    let parsed = serde_json::from_slice::<serde_json::Value>(body).ok();
    parsed
        .as_ref()
        .and_then(|value| value["error"]["message"].as_str().map(str::to_owned))
        .unwrap_or_else(|| String::from_utf8_lossy(body).trim().to_owned())
}

/// The conversation's entries a provider accepts: an empty answer (a run that ended with no text)
/// is refused by some providers and says nothing, so it is left out.
fn sendable(conversation: &[TranscriptEntry]) -> impl Iterator<Item = &TranscriptEntry> {
    conversation
        .iter()
        .filter(|entry| !entry.content.is_empty())
}

/// `text` cut to at most `limit` bytes, on a character boundary.
fn cut(mut text: String, limit: usize) -> String {
    if text.len() > limit {
        let mut end = limit;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

/// `Retry-After` in seconds, capped at [`MAX_BACKOFF`].
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let seconds: u64 = headers
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(seconds).min(MAX_BACKOFF))
}

/// How a provider's stream broke off.
#[derive(Debug, thiserror::Error)]
enum Gap {
    /// No byte came for the profile's `request_timeout_ms`.
    #[error("the provider went silent")]
    Silent,
    /// The connection failed.
    #[error("the connection to the provider failed")]
    Broken,
}

/// The failure of a stream that is not the format it should be.
const MALFORMED: &str = "the provider sent a malformed stream";

/// The failure of a provider silent for `silence`.
fn silent(silence: Duration) -> String {
    format!("the provider sent nothing for {} ms", silence.as_millis())
}

/// Half of `backoff` plus a random part of the other half, so that many Workers refused at once
/// do not all come back at the same instant.
fn jittered(backoff: Duration) -> Duration {
    let random = RandomState::new().build_hasher().finish();
    let half = backoff / 2;
    half + half.mul_f64((random % 1024) as f64 / 1024.0)
}
