//! The Anthropic Messages format: `POST {base_url}/v1/messages` with `"stream": true`, headers
//! `x-api-key` and `anthropic-version`, answered by `message_start`, `content_block_delta`,
//! `message_delta`, `message_stop`, `ping` and `error` events.

use reqwest::RequestBuilder;
use serde_json::{Value, json};

use super::{MALFORMED, Piece};
use crate::event::Role;
use crate::model_config::{ModelSettings, Secret};
use crate::transcript::TranscriptEntry;

/// The API version this format is written against.
const VERSION: &str = "2023-06-01";

/// The answer's length when the profile sets none: the API requires one.
const DEFAULT_MAX_TOKENS: u32 = 1024;

/// The request: the system prompt on its own, then the conversation in order. The API knows only
/// `user` and `assistant` turns, so system inputs are sent as the user's, and it must start with
/// the user's, so a window that begins with an answer drops it.
pub(super) fn body(settings: &ModelSettings, conversation: &[TranscriptEntry]) -> Value {
    let messages: Vec<Value> = super::sendable(conversation)
        .skip_while(|entry| entry.role == Role::Assistant)
        .map(|entry| {
            let role = match entry.role {
                Role::Assistant => "assistant",
                Role::User | Role::System => "user",
            };
            json!({ "role": role, "content": entry.content })
        })
        .collect();
    let mut body = json!({
        "model": settings.model,
        "max_tokens": settings.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS),
        "messages": messages,
        "stream": true,
    });
    if let Some(prompt) = &settings.system_prompt {
        body["system"] = json!(prompt);
    }
    if let Some(temperature) = settings.temperature {
        body["temperature"] = json!(temperature);
    }
    body
}

/// The key in `x-api-key`, and the API version.
pub(super) fn authorize(request: RequestBuilder, key: Option<&Secret>) -> RequestBuilder {
    let request = request.header("anthropic-version", VERSION);
    match key {
        Some(key) => request.header("x-api-key", key.expose()),
        None => request,
    }
}

/// What one event (its `event:` name, when it has one, and its `data:`) says.
pub(super) fn pieces(event: Option<&str>, data: &str) -> Result<Vec<Piece>, String> {
    let data: Value = serde_json::from_str(data).map_err(|_| MALFORMED.to_owned())?;
    let piece = match data["type"].as_str().or(event).unwrap_or("message") {
        "message_start" => {
            let usage = &data["message"]["usage"];
            Piece::Usage {
                input: usage["input_tokens"].as_u64(),
                output: usage["output_tokens"].as_u64(),
            }
        }
        "content_block_delta" => match data["delta"]["text"].as_str() {
            Some(text) => Piece::Text(text.to_owned()),
            // Other deltas (tool input, thinking signatures) carry no answer text.
            None => return Ok(Vec::new()),
        },
        "message_delta" => {
            let usage = Piece::Usage {
                input: data["usage"]["input_tokens"].as_u64(),
                output: data["usage"]["output_tokens"].as_u64(),
            };
            let finished = !data["delta"]["stop_reason"].is_null();
            return Ok(std::iter::once(usage)
                .chain(finished.then_some(Piece::Finished))
                .collect());
        }
        "message_stop" => Piece::Done,
        "error" => {
            let error = &data["error"];
            let message = error["message"]
                .as_str()
                .unwrap_or("unknown error")
                .to_owned();
            // The conditions a 429, 500 or 529 answer would report, before any output.
            let retryable = matches!(
                error["type"].as_str(),
                Some("overloaded_error" | "api_error" | "rate_limit_error")
            );
            Piece::Failed { message, retryable }
        }
        _ => return Ok(Vec::new()),
    };
    Ok(vec![piece])
}
