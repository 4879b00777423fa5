//! Request bodies that must be a JSON object sent as JSON. Shared with the Workspace Backend, so
//! both servers accept and refuse bodies alike.

use axum::http::HeaderMap;
use axum::http::header::CONTENT_TYPE;
use serde::de::DeserializeOwned;

/// The longest message about a refused body, so a huge body cannot make a huge error.
const MAX_MESSAGE_LEN: usize = 200;

/// `body` as a `T`. A content type other than `application/json` (or `application/*+json`), JSON
/// that is not an object (serde would let `[]` fill a struct whose fields all have defaults) and
/// JSON that does not fit `T` are refused with a message for people, at most 200 bytes long.
pub fn parse_json_object<T: DeserializeOwned>(
    headers: &HeaderMap,
    body: &[u8],
) -> Result<T, String> {
    if !is_json(headers) {
        return Err("the body must be JSON, sent with content-type application/json".into());
    }
    if body.trim_ascii_start().first() != Some(&b'{') {
        return Err("the body must be a JSON object".into());
    }
    serde_json::from_slice(body).map_err(|error| {
        let mut message = format!("the body is not acceptable: {error}");
        if message.len() > MAX_MESSAGE_LEN {
            let mut end = MAX_MESSAGE_LEN - 3;
            while !message.is_char_boundary(end) {
                end -= 1;
            }
            message.truncate(end);
            message.push_str("...");
        }
        message
    })
}

/// Whether the content type is `application/json` or `application/<something>+json`.
fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
    else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or_default().trim();
    let Some((kind, subtype)) = essence.split_once('/') else {
        return false;
    };
    kind.eq_ignore_ascii_case("application")
        && (subtype.eq_ignore_ascii_case("json") || subtype.to_ascii_lowercase().ends_with("+json"))
}
