//! Settings of the LLM engines (`engine = "openai"` and `engine = "anthropic"`) and their API
//! keys. A key is named by the environment variable or file that holds it, read once at
//! start-up ([`crate::RuntimeConfig::resolve_api_keys`]), and never printed: neither the key
//! nor the provider's URL appears in `Debug` output, an error, an event or a capability.

use std::fmt;
use std::path::PathBuf;

use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};

/// Settings of one model profile.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSettings {
    /// The provider's API root; the engine's default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// The model's name, as the provider knows it.
    pub model: String,
    /// The environment variable holding the API key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_env: Option<String>,
    /// The file holding the API key (surrounding whitespace trimmed); a relative path starts at
    /// the configuration's folder (runtime.toml's, or the workspace root for an embedded
    /// runtime).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_file: Option<PathBuf>,
    /// Sent first, as the system's instructions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_prompt: Option<String>,
    /// The longest answer, in tokens (Anthropic requires one: 1024 when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// Sampling temperature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// How many of the newest transcript entries each run sends.
    #[serde(default = "default_context_entries")]
    pub context_entries: usize,
    /// A provider silent this long (no byte at all) fails the run.
    #[serde(default = "default_request_timeout_ms")]
    pub request_timeout_ms: u64,
    /// The longest a whole run may take.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Retries of a request refused as busy or failed before its first token.
    #[serde(default = "default_max_retries")]
    pub max_retries: u32,
    /// An inline `api_key`: accepted by the parser only to be refused by name, never kept.
    #[serde(default, rename = "api_key", skip_serializing)]
    pub inline_api_key: Option<IgnoredAny>,
    /// The key, once read from `api_key_env` or `api_key_file`.
    #[serde(skip)]
    pub api_key: Option<Secret>,
}

fn default_context_entries() -> usize {
    200
}

fn default_request_timeout_ms() -> u64 {
    120_000
}

fn default_timeout_ms() -> u64 {
    600_000
}

fn default_max_retries() -> u32 {
    3
}

impl ModelSettings {
    /// Settings for `model` with every default.
    pub fn new(model: impl Into<String>) -> Self {
        Self {
            base_url: None,
            model: model.into(),
            api_key_env: None,
            api_key_file: None,
            system_prompt: None,
            max_tokens: None,
            temperature: None,
            context_entries: default_context_entries(),
            request_timeout_ms: default_request_timeout_ms(),
            timeout_ms: default_timeout_ms(),
            max_retries: default_max_retries(),
            inline_api_key: None,
            api_key: None,
        }
    }

    /// What serde cannot check, with the key at fault.
    pub(crate) fn validate(&self) -> Result<(), (&'static str, &'static str)> {
        let checks = [
            (self.inline_api_key.is_some(), "api_key", INLINE_KEY),
            (self.model.trim().is_empty(), "model", "model is empty"),
            (
                self.context_entries == 0,
                "context_entries",
                "must be at least 1",
            ),
            (
                self.request_timeout_ms == 0,
                "request_timeout_ms",
                "must be at least 1",
            ),
            (self.timeout_ms == 0, "timeout_ms", "must be at least 1"),
            (
                self.max_tokens == Some(0),
                "max_tokens",
                "must be at least 1",
            ),
            (
                !self.temperature.is_none_or(f64::is_finite),
                "temperature",
                "must be a number",
            ),
            (
                self.api_key_env.is_some() && self.api_key_file.is_some(),
                "api_key_file",
                "give api_key_env or api_key_file, not both",
            ),
        ];
        if let Some((_, key, problem)) = checks.into_iter().find(|(failed, ..)| *failed) {
            return Err((key, problem));
        }
        match &self.base_url {
            Some(url) if !is_base_url(url) => Err(("base_url", BAD_URL)),
            _ => Ok(()),
        }
    }

    /// Reads the key from `api_key_env` or `api_key_file`, if either is set. Answers the key at
    /// fault and why, naming the variable or file but never a value.
    pub(crate) fn resolve_api_key(
        &mut self,
        folder: &std::path::Path,
    ) -> Result<(), (&'static str, String)> {
        let (key, text) = match (&self.api_key_env, &self.api_key_file) {
            (Some(name), _) => (
                "api_key_env",
                crate::secret_env::var(name)
                    .map_err(|error| ("api_key_env", error.to_string()))?
                    .expose()
                    .to_owned(),
            ),
            (None, Some(path)) => (
                "api_key_file",
                std::fs::read_to_string(folder.join(path)).map_err(|error| {
                    let why = error.kind();
                    (
                        "api_key_file",
                        format!("cannot read the key file {}: {why}", path.display()),
                    )
                })?,
            ),
            (None, None) => return Ok(()),
        };
        match text.trim() {
            "" => Err((key, "the key is empty".to_owned())),
            value => {
                self.api_key = Some(Secret::new(value));
                Ok(())
            }
        }
    }
}

const INLINE_KEY: &str = "inline keys are refused; use api_key_env or api_key_file";

const BAD_URL: &str = "must be an http:// or https:// URL without credentials, query or fragment";

/// An `http` or `https` URL with a host and without credentials, query, fragment or spaces.
fn is_base_url(url: &str) -> bool {
    let Some(rest) = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
    else {
        return false;
    };
    let authority = rest.split('/').next().unwrap_or_default();
    !authority.is_empty()
        && !authority.contains('@')
        && !rest.contains(['?', '#'])
        && !url.contains(char::is_whitespace)
}

/// The provider URL and the key are left out, so that a printed configuration shows neither.
impl fmt::Debug for ModelSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ModelSettings")
            .field("model", &self.model)
            .field("api_key_env", &self.api_key_env)
            .field("context_entries", &self.context_entries)
            .field("max_retries", &self.max_retries)
            .finish_non_exhaustive()
    }
}

/// A secret (an API key, a bearer token) read from its reference. `Debug` prints no part of it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}
