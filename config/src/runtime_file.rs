//! `runtime.toml`: the display name, profiles and limits of a runtime process
//! (`yoi runtime serve --config`). Its id comes from the command line, never from the file.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use worker_runtime::{EngineSettings, Limits, RuntimeConfig, RuntimeId, validate_id};

use crate::error::{ConfigError, ConfigErrors};
use crate::toml_file;

/// Reads and checks the `runtime.toml` at `path` for the runtime `id`.
pub fn load_runtime_file(path: &Path, id: RuntimeId) -> Result<RuntimeConfig, ConfigErrors> {
    parse_runtime_file(&toml_file::read(path)?, path, id)
}

/// Checks `text`, the content of the `runtime.toml` at `path`, and gives the runtime `id` the
/// configuration it describes. The result has passed [`RuntimeConfig::validate`], and its model
/// profiles hold their API keys ([`RuntimeConfig::resolve_api_keys`]): a variable that is not set
/// or a file that cannot be read is an error at its key.
///
/// A syntax error or a key serde refuses is the one error of the file; otherwise every profile
/// whose settings do not deserialize is reported; otherwise the first validation error is.
pub fn parse_runtime_file(
    text: &str,
    path: &Path,
    id: RuntimeId,
) -> Result<RuntimeConfig, ConfigErrors> {
    let report = |refusals: Vec<Refusal>| {
        ConfigErrors(
            refusals
                .into_iter()
                .map(|refusal| refusal.into_error(text, path))
                .collect(),
        )
    };
    // Checked before deserializing so that the list of expected keys never offers `id`.
    if toml_file::find_key(text, &["id"]).is_some() {
        return Err(report(vec![Refusal::of_value(
            vec!["id".to_owned()],
            "the runtime id comes from --id; remove `id` from this file".to_owned(),
        )]));
    }
    let raw: RawFile = toml_file::deserialize(text, path)?;
    let mut profiles = BTreeMap::new();
    let mut refusals = Vec::new();
    for (name, table) in raw.profiles {
        match engine_settings(&name, table) {
            Ok(settings) => {
                profiles.insert(name, settings);
            }
            Err(refusal) => refusals.push(refusal),
        }
    }
    if !refusals.is_empty() {
        return Err(report(refusals));
    }
    let mut config = RuntimeConfig {
        id,
        display_name: raw.display_name,
        profiles,
        limits: raw.limits,
    };
    let folder = path.parent().unwrap_or(Path::new("."));
    let checked = config
        .validate()
        .and_then(|()| config.resolve_api_keys(folder));
    match checked {
        Ok(()) => Ok(config),
        Err(error) => Err(report(vec![Refusal::of_invalid(&config, error)])),
    }
}

/// The file as written: a [`RuntimeConfig`] without its id, each profile still a table.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    display_name: Option<String>,
    #[serde(default)]
    profiles: BTreeMap<String, toml::Table>,
    #[serde(default)]
    limits: Limits,
}

/// The engine settings of profile `name`. Deserialized as the tagged [`EngineSettings`], a
/// setting of the wrong type would be reported without its key, so a known engine's settings
/// are deserialized on their own; any other engine goes through [`EngineSettings`], whose error
/// names the engines there are.
fn engine_settings(name: &str, mut table: toml::Table) -> Result<EngineSettings, Refusal> {
    type Known = fn(toml::Table) -> Result<EngineSettings, Refusal>;
    let known: Option<Known> = match table.get("engine").and_then(toml::Value::as_str) {
        Some("echo") => Some(|table| settings(table).map(EngineSettings::Echo)),
        Some("command") => Some(|table| settings(table).map(EngineSettings::Command)),
        Some("openai") => Some(|table| settings(table).map(EngineSettings::Openai)),
        Some("anthropic") => Some(|table| settings(table).map(EngineSettings::Anthropic)),
        _ => None,
    };
    let settings = match known {
        Some(parse) => {
            table.remove("engine");
            parse(table)
        }
        None => settings(table),
    };
    settings.map_err(|mut refusal| {
        refusal
            .key
            .splice(0..0, ["profiles".to_owned(), name.to_owned()]);
        refusal
    })
}

/// `table` deserialized into `T`; a refusal names its key relative to the table.
fn settings<T: DeserializeOwned>(table: toml::Table) -> Result<T, Refusal> {
    serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(
        |error: serde_path_to_error::Error<toml::de::Error>| {
            let message = error.inner().message().trim().to_owned();
            let key = toml_file::error_key(error.path(), &message);
            let key = key.map_or_else(Vec::new, |key| {
                key.split('.').map(str::to_owned).collect::<Vec<_>>()
            });
            if message.starts_with("unknown field") {
                Refusal::of_key(key, message)
            } else {
                Refusal::of_value(key, message)
            }
        },
    )
}

/// One key of the file refused, and what is wrong with it.
struct Refusal {
    /// The key, part by part (`["limits", "max_workers"]`).
    key: Vec<String>,
    /// Whether the error is placed at the key itself (a bad name) rather than at its value.
    at_key: bool,
    message: String,
}

impl Refusal {
    fn of_key(key: Vec<String>, message: String) -> Self {
        Self {
            key,
            at_key: true,
            message,
        }
    }

    fn of_value(key: Vec<String>, message: String) -> Self {
        Self {
            key,
            at_key: false,
            message,
        }
    }

    /// What [`RuntimeConfig::validate`] refused, at the key it is about.
    fn of_invalid(config: &RuntimeConfig, error: worker_runtime::RuntimeConfigError) -> Self {
        use worker_runtime::RuntimeConfigError::{
            DisplayName, Profile, ProfileKey, ProfileName, ZeroLimit,
        };
        match error {
            ZeroLimit(limit) => Self::of_value(
                vec!["limits".to_owned(), limit.to_owned()],
                "must be at least 1".to_owned(),
            ),
            DisplayName(problem) => {
                Self::of_value(vec!["display_name".to_owned()], problem.to_owned())
            }
            // The error does not say which profile: the first whose name breaks the rule.
            ProfileName(problem) => {
                let name = config
                    .profiles
                    .keys()
                    .find(|name| validate_id("profile name", name).is_err());
                let key = ["profiles".to_owned()].into_iter().chain(name.cloned());
                Self::of_key(key.collect(), problem.to_string())
            }
            Profile { profile, problem } => {
                Self::of_key(vec!["profiles".to_owned(), profile], problem.to_owned())
            }
            ProfileKey {
                profile,
                key,
                problem,
            } => Self::of_value(
                vec!["profiles".to_owned(), profile, key.to_owned()],
                problem,
            ),
        }
    }

    /// The error in `file`, placed at the deepest part of the key that `text` spells out (an
    /// array element has no key of its own).
    fn into_error(self, text: &str, file: &Path) -> ConfigError {
        let parts: Vec<&str> = self
            .key
            .iter()
            .map(|part| part.split_once('[').map_or(part.as_str(), |(name, _)| name))
            .collect();
        let location = (1..=parts.len())
            .rev()
            .find_map(|known| toml_file::find_key(text, &parts[..known]))
            .map(|at| if self.at_key { at.key } else { at.value });
        ConfigError {
            file: file.to_owned(),
            location,
            key: (!self.key.is_empty()).then(|| {
                let key: Vec<String> = self.key.iter().map(|part| written(part)).collect();
                key.join(".")
            }),
            message: self.message,
        }
    }
}

/// A key part as TOML writes it: bare (with any array index after it, `args[0]`) when it can
/// be, quoted otherwise (`"../x"`).
fn written(part: &str) -> String {
    let bare = |c: char| c.is_ascii_alphanumeric() || "_-[]".contains(c);
    if !part.is_empty() && part.chars().all(bare) {
        part.to_owned()
    } else {
        toml::Value::String(part.to_owned()).to_string()
    }
}
