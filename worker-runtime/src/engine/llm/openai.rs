//! The OpenAI-compatible Chat Completions format: `POST {base_url}/chat/completions` with
//! `"stream": true`, answered by `data: {chunk}` events ending with `data: [DONE]`. Ollama, vLLM,
//! llama.cpp and LM Studio differ in small ways (a missing `role`, `null` content, usage in the
//! last chunk or none), which all read the same here.

use reqwest::RequestBuilder;
use reqwest::header::AUTHORIZATION;
use serde_json::{Value, json};

use super::{MALFORMED, Piece};
use crate::event::Role;
use crate::model_config::{ModelSettings, Secret};
use crate::transcript::TranscriptEntry;

/// The request: the system prompt, then the conversation in order, streamed with usage.
pub(super) fn body(settings: &ModelSettings, conversation: &[TranscriptEntry]) -> Value {
    let prompt = settings
        .system_prompt
        .iter()
        .map(|prompt| json!({ "role": "system", "content": prompt }));
    let turns = super::sendable(conversation).map(|entry| {
        let role = match entry.role {
            Role::User => "user",
            Role::System => "system",
            Role::Assistant => "assistant",
        };
        json!({ "role": role, "content": entry.content })
    });
    let mut body = json!({
        "model": settings.model,
        "messages": prompt.chain(turns).collect::<Vec<_>>(),
        "stream": true,
        "stream_options": { "include_usage": true },
    });
    if let Some(max_tokens) = settings.max_tokens {
        body["max_tokens"] = json!(max_tokens);
    }
    if let Some(temperature) = settings.temperature {
        body["temperature"] = json!(temperature);
    }
    body
}

/// The key as a bearer token (local servers need none).
pub(super) fn authorize(request: RequestBuilder, key: Option<&Secret>) -> RequestBuilder {
    match key {
        Some(key) => request.header(AUTHORIZATION, format!("Bearer {}", key.expose())),
        None => request,
    }
}

/// What one event's `data:` says.
pub(super) fn pieces(data: &str) -> Result<Vec<Piece>, String> {
    let data = data.trim();
    if data == "[DONE]" {
        return Ok(vec![Piece::Done]);
    }
    let chunk: Value = serde_json::from_str(data).map_err(|_| MALFORMED.to_owned())?;
    if let Some(message) = chunk["error"]["message"].as_str() {
        let message = message.to_owned();
        return Ok(vec![Piece::Failed {
            message,
            retryable: false,
        }]);
    }
    let choices = match &chunk["choices"] {
        Value::Array(choices) => choices.as_slice(),
        Value::Null => &[],
        _ => return Err(MALFORMED.to_owned()),
    };
    let mut pieces: Vec<Piece> = Vec::new();
    for choice in choices {
        if let Some(text) = choice["delta"]["content"].as_str() {
            pieces.push(Piece::Text(text.to_owned()));
        }
        if !choice["finish_reason"].is_null() {
            pieces.push(Piece::Finished);
        }
    }
    let usage = &chunk["usage"];
    if usage.is_object() {
        pieces.push(Piece::Usage {
            input: usage["prompt_tokens"].as_u64(),
            output: usage["completion_tokens"].as_u64(),
        });
    }
    Ok(pieces)
}
