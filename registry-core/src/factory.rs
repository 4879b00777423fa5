//! `AdapterFactory`: how an adapter makes a `RuntimeHandle` from one `[[runtime]]` table. Each
//! adapter submits one factory with `inventory`; the lookup by name is built once.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde::de::DeserializeOwned;
use worker_runtime::{RuntimeId, Secret};

use crate::handle::{Policy, RuntimeHandle};

/// Builds the handle of one runtime from its configuration.
pub struct AdapterFactory {
    /// The name a `[[runtime]]` table gives as `adapter = "..."`.
    pub name: &'static str,
    /// Builds the handle. Must not block, connect or spawn: `yoi config check` builds handles to
    /// validate them.
    pub build: fn(AdapterInput) -> Result<Arc<dyn RuntimeHandle>, AdapterConfigError>,
}

impl AdapterFactory {
    /// A factory named `name`.
    pub const fn new(
        name: &'static str,
        build: fn(AdapterInput) -> Result<Arc<dyn RuntimeHandle>, AdapterConfigError>,
    ) -> Self {
        Self { name, build }
    }
}

inventory::collect!(AdapterFactory);

/// Everything a factory gets: the common keys, already checked, and the adapter's own settings.
#[derive(Clone, PartialEq)]
pub struct AdapterInput {
    /// The runtime's id.
    pub id: RuntimeId,
    /// Its name for people, if configured.
    pub display_name: Option<String>,
    /// Visibility and read-only policy.
    pub policy: Policy,
    /// How long one call may take.
    pub timeout: Duration,
    /// The workspace's root folder.
    pub workspace_root: PathBuf,
    /// The workspace's data folder (audit log, embedded stores).
    pub data_dir: PathBuf,
    /// The secret the table references (`token_env` or `token_file`), resolved.
    pub secret: Option<Secret>,
    /// The table's other keys, for the adapter to deserialize.
    pub settings: serde_json::Map<String, serde_json::Value>,
}

/// Shows the setting keys, not their values: a `base_url` must not reach a log.
impl fmt::Debug for AdapterInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdapterInput")
            .field("id", &self.id)
            .field("policy", &self.policy)
            .field("timeout", &self.timeout)
            .field("secret", &self.secret)
            .field("settings", &self.settings.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl AdapterInput {
    /// The adapter's settings. Use `#[serde(deny_unknown_fields)]` so that a typo is an error
    /// naming its key.
    pub fn settings<T: DeserializeOwned>(&self) -> Result<T, AdapterConfigError> {
        let value = serde_json::Value::Object(self.settings.clone());
        serde_path_to_error::deserialize(value).map_err(|error| {
            let message = error.inner().to_string();
            AdapterConfigError {
                key: serde_error_key(&error.path().to_string(), &message),
                message,
            }
        })
    }
}

/// The key a serde error (with `serde_path_to_error`'s `path`) is about. A missing field is not
/// part of the path (an unknown one is), so its name comes from the message.
pub fn serde_error_key(path: &str, message: &str) -> Option<String> {
    let field = ["unknown field `", "missing field `"]
        .iter()
        .find_map(|prefix| message.strip_prefix(prefix))
        .and_then(|rest| rest.split_once('`'))
        .map(|(field, _)| field);
    let path = (path != "." && !path.is_empty()).then_some(path);
    match (path, field) {
        (Some(path), Some(field)) if path == field || path.ends_with(&format!(".{field}")) => {
            Some(path.to_owned())
        }
        (Some(path), Some(field)) => Some(format!("{path}.{field}")),
        (Some(path), None) => Some(path.to_owned()),
        (None, Some(field)) => Some(field.to_owned()),
        (None, None) => None,
    }
}

/// A `[[runtime]]` table an adapter cannot use. `key` lets the configuration point at the line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct AdapterConfigError {
    /// The key at fault, when one is.
    pub key: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl AdapterConfigError {
    /// An error about `key`.
    pub fn at(key: &str, message: impl Into<String>) -> Self {
        Self {
            key: Some(key.to_owned()),
            message: message.into(),
        }
    }
}

/// Why an adapter name cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdapterLookupError {
    /// No factory has this name in this build.
    #[error("unknown adapter `{name}`; this build has: {}", available.join(", "))]
    Unknown {
        /// The name asked for.
        name: String,
        /// The names this build has, sorted.
        available: Vec<&'static str>,
    },
    /// Two factories claim one name.
    #[error("two adapters are registered as `{0}`")]
    Duplicate(&'static str),
}

/// Every submitted factory by name, built once.
pub fn adapter_factories()
-> Result<&'static BTreeMap<&'static str, &'static AdapterFactory>, AdapterLookupError> {
    static FACTORIES: OnceLock<
        Result<BTreeMap<&'static str, &'static AdapterFactory>, AdapterLookupError>,
    > = OnceLock::new();
    FACTORIES
        .get_or_init(|| {
            let mut factories = BTreeMap::new();
            for factory in inventory::iter::<AdapterFactory> {
                if factories.insert(factory.name, factory).is_some() {
                    return Err(AdapterLookupError::Duplicate(factory.name));
                }
            }
            Ok(factories)
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// The factory named `name`.
pub fn find_adapter(name: &str) -> Result<&'static AdapterFactory, AdapterLookupError> {
    let factories = adapter_factories()?;
    factories
        .get(name)
        .copied()
        .ok_or_else(|| AdapterLookupError::Unknown {
            name: name.to_owned(),
            available: factories.keys().copied().collect(),
        })
}
