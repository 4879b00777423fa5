//! `RuntimeConfig`: what an operator decides about a Runtime (profiles and limits). It
//! deserializes from TOML (or any serde format) so a runtime process and the Backend's embedded
//! adapter read the same settings; unknown keys are errors so a typo cannot pass silently.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::id::{IdError, RuntimeId, validate_id};
use crate::model_config::ModelSettings;

/// The name of the profile used when a create request names none, and of the profile a Runtime
/// gets when its configuration defines no profiles at all.
pub const DEFAULT_PROFILE: &str = "default";

/// The longest display name accepted, in characters.
pub const MAX_DISPLAY_NAME_CHARS: usize = 128;

/// A Runtime's configuration.
///
/// ```toml
/// id = "gpu-box"
/// display_name = "GPU box"
///
/// [profiles.default]
/// engine = "echo"
///
/// [profiles.shout]
/// engine = "command"
/// program = "tr"
/// args = ["a-z", "A-Z"]
/// timeout_ms = 30000
///
/// [limits]
/// max_workers = 100
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuntimeConfig {
    /// The Runtime's id.
    pub id: RuntimeId,
    /// A name for people; the id when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Profiles by name. Empty means one profile, `default`, with the `echo` engine.
    #[serde(default)]
    pub profiles: BTreeMap<String, EngineSettings>,
    /// Bounds on what the Runtime holds and accepts.
    #[serde(default)]
    pub limits: Limits,
}

impl RuntimeConfig {
    /// A configuration with default limits and the single `default` echo profile.
    pub fn new(id: RuntimeId) -> Self {
        Self {
            id,
            display_name: None,
            profiles: BTreeMap::new(),
            limits: Limits::default(),
        }
    }

    /// The profiles the Runtime serves: the configured ones, or `default` -> echo when none are.
    pub fn effective_profiles(&self) -> BTreeMap<String, EngineSettings> {
        if self.profiles.is_empty() {
            BTreeMap::from([(
                DEFAULT_PROFILE.to_owned(),
                EngineSettings::Echo(EchoSettings::default()),
            )])
        } else {
            self.profiles.clone()
        }
    }

    /// Checks what serde cannot: positive limits, well-formed profile names and engine settings.
    pub fn validate(&self) -> Result<(), RuntimeConfigError> {
        if let Some(name) = &self.display_name {
            check_display_name(name).map_err(RuntimeConfigError::DisplayName)?;
        }
        self.limits.validate()?;
        for (name, engine) in &self.profiles {
            validate_id("profile name", name).map_err(RuntimeConfigError::ProfileName)?;
            if let Some(model) = engine.model() {
                model
                    .validate()
                    .map_err(|(key, problem)| RuntimeConfigError::ProfileKey {
                        profile: name.clone(),
                        key,
                        problem: problem.to_owned(),
                    })?;
            }
            engine
                .validate()
                .map_err(|problem| RuntimeConfigError::Profile {
                    profile: name.clone(),
                    problem,
                })?;
        }
        Ok(())
    }

    /// Reads the API key of every model profile from its `api_key_env` or `api_key_file` (a
    /// relative file from `folder`), at start-up, so that a missing variable or unreadable file
    /// is a configuration error.
    pub fn resolve_api_keys(&mut self, folder: &std::path::Path) -> Result<(), RuntimeConfigError> {
        for (name, engine) in &mut self.profiles {
            let Some(model) = engine.model_mut() else {
                continue;
            };
            model.resolve_api_key(folder).map_err(|(key, problem)| {
                RuntimeConfigError::ProfileKey {
                    profile: name.clone(),
                    key,
                    problem,
                }
            })?;
        }
        Ok(())
    }
}

/// Checks a display name: 1 to [`MAX_DISPLAY_NAME_CHARS`] characters, no control characters.
pub(crate) fn check_display_name(name: &str) -> Result<(), &'static str> {
    if name.trim().is_empty() {
        Err("display name is empty")
    } else if name.chars().count() > MAX_DISPLAY_NAME_CHARS {
        Err("display name is longer than 128 characters")
    } else if name.chars().any(char::is_control) {
        Err("display name contains a control character")
    } else {
        Ok(())
    }
}

/// Which engine a profile runs, with that engine's settings (`engine = "echo"` or
/// `engine = "command"` in TOML).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "engine", rename_all = "snake_case")]
pub enum EngineSettings {
    /// Answers each input back, streamed in chunks.
    Echo(EchoSettings),
    /// Runs a configured program with the input on stdin.
    Command(CommandSettings),
    /// A model behind the OpenAI-compatible Chat Completions API (OpenAI, Ollama, vLLM,
    /// llama.cpp, LM Studio, most gateways).
    Openai(ModelSettings),
    /// A model behind the Anthropic Messages API.
    Anthropic(ModelSettings),
}

impl EngineSettings {
    /// The engine's name as written in configuration.
    pub fn engine_name(&self) -> &'static str {
        match self {
            Self::Echo(_) => "echo",
            Self::Command(_) => "command",
            Self::Openai(_) => "openai",
            Self::Anthropic(_) => "anthropic",
        }
    }

    /// A model profile's settings.
    pub fn model(&self) -> Option<&ModelSettings> {
        match self {
            Self::Openai(model) | Self::Anthropic(model) => Some(model),
            Self::Echo(_) | Self::Command(_) => None,
        }
    }

    fn model_mut(&mut self) -> Option<&mut ModelSettings> {
        match self {
            Self::Openai(model) | Self::Anthropic(model) => Some(model),
            Self::Echo(_) | Self::Command(_) => None,
        }
    }

    fn validate(&self) -> Result<(), &'static str> {
        match self {
            Self::Echo(echo) if echo.chunk_chars == 0 => Err("chunk_chars must be at least 1"),
            Self::Command(command) if command.program.trim().is_empty() => Err("program is empty"),
            Self::Command(command) if command.timeout_ms == 0 => {
                Err("timeout_ms must be at least 1")
            }
            Self::Openai(_) | Self::Anthropic(_) if !cfg!(feature = "llm") => {
                Err("model engines are not compiled into this build (enable cargo feature llm)")
            }
            _ => Ok(()),
        }
    }
}

/// Settings of the `echo` engine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EchoSettings {
    /// Characters per `output_delta` event.
    pub chunk_chars: usize,
    /// Pause between two deltas, in milliseconds (0: none).
    pub delay_ms: u64,
}

impl Default for EchoSettings {
    fn default() -> Self {
        Self {
            chunk_chars: 4,
            delay_ms: 0,
        }
    }
}

/// Settings of the `command` engine. The program and its arguments come only from here, never
/// from a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandSettings {
    /// The program: a path, or a name looked up on `PATH`.
    pub program: String,
    /// Its arguments.
    #[serde(default)]
    pub args: Vec<String>,
    /// A run that lasts longer is killed (with its whole process group) and fails.
    #[serde(default = "default_command_timeout_ms")]
    pub timeout_ms: u64,
}

fn default_command_timeout_ms() -> u64 {
    600_000
}

/// Bounds on what a Runtime holds and accepts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// How many Workers (of any status) the Runtime holds.
    pub max_workers: usize,
    /// The largest input accepted, in bytes of UTF-8.
    pub max_input_bytes: usize,
    /// Events retained per Worker for replay; older ones answer `cursor_expired`.
    pub retained_events: usize,
    /// Transcript entries retained per Worker; older ones are dropped.
    pub retained_transcript: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_workers: 10_000,
            max_input_bytes: 256 * 1024,
            retained_events: 2048,
            retained_transcript: 1000,
        }
    }
}

impl Limits {
    fn validate(&self) -> Result<(), RuntimeConfigError> {
        let limits = [
            ("max_workers", self.max_workers),
            ("max_input_bytes", self.max_input_bytes),
            ("retained_events", self.retained_events),
            ("retained_transcript", self.retained_transcript),
        ];
        match limits.into_iter().find(|(_, value)| *value == 0) {
            Some((name, _)) => Err(RuntimeConfigError::ZeroLimit(name)),
            None => Ok(()),
        }
    }
}

/// A configuration that deserialized but cannot run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuntimeConfigError {
    /// A limit is zero.
    #[error("limits.{0} must be at least 1")]
    ZeroLimit(&'static str),
    /// A profile name breaks the id rule.
    #[error(transparent)]
    ProfileName(IdError),
    /// One key of a profile is unusable.
    #[error("profile {profile}: {key}: {problem}")]
    ProfileKey {
        /// The profile's name.
        profile: String,
        /// The key at fault (`base_url`, `api_key_env`, ...).
        key: &'static str,
        /// What is wrong with it.
        problem: String,
    },
    /// A profile's engine settings are unusable.
    #[error("profile {profile}: {problem}")]
    Profile {
        /// The profile's name.
        profile: String,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// The display name is unusable.
    #[error("{0}")]
    DisplayName(&'static str),
}
