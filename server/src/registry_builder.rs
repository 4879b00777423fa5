//! From `workspace.toml` to a `RuntimeRegistry`: each `[[runtime]]` table's adapter is looked up
//! among the factories this build registered, its secret resolved, and its handle built (or,
//! on a reload, the running handle kept when its table did not change).

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::Path;
use std::sync::Arc;

use serde_json::Value;

use yoi_adapters as adapters;
use yoi_config::{ConfigError, ConfigErrors, RuntimeEntry, SecretRef, WorkspaceConfig};
use yoi_registry_core::{AdapterInput, RuntimeHandle, RuntimeId, RuntimeRegistry, Secret};

/// What a runtime's handle was built from: its adapter, everything its factory got, and what
/// the files its settings name held. Equal recipes build the same runtime.
#[derive(Clone, PartialEq)]
pub(crate) struct Recipe {
    adapter: String,
    input: AdapterInput,
    files: Vec<(String, Option<u64>)>,
}

impl Recipe {
    /// The id of the runtime it builds.
    pub(crate) fn runtime_id(&self) -> &RuntimeId {
        &self.input.id
    }

    fn new(adapter: &str, input: AdapterInput) -> Self {
        let mut files = Vec::new();
        for (key, value) in &input.settings {
            digest_files(key, value, &input.workspace_root, &mut files);
        }
        Self {
            adapter: adapter.to_owned(),
            input,
            files,
        }
    }
}

/// Appends a digest of each file named under `key` (a key ending in `_file`, at any depth; a
/// relative path is the workspace root's, as the adapters read it), `None` when unreadable: a
/// certificate, key or API key replaced at the same path changes the recipe.
fn digest_files(key: &str, value: &Value, root: &Path, out: &mut Vec<(String, Option<u64>)>) {
    match value {
        Value::String(path) if key.ends_with("_file") => {
            let digest = std::fs::read(root.join(path)).ok().map(|bytes| {
                let mut hasher = DefaultHasher::new();
                bytes.hash(&mut hasher);
                hasher.finish()
            });
            out.push((path.clone(), digest));
        }
        Value::Object(entries) => {
            for (inner, value) in entries {
                digest_files(inner, value, root, out);
            }
        }
        _ => {}
    }
}

/// A runtime of the configuration: its handle and what built it.
pub(crate) struct Built {
    pub(crate) handle: Arc<dyn RuntimeHandle>,
    pub(crate) recipe: Recipe,
}

/// The registry of `config`'s runtimes, or every reason it cannot be built, each at its key: an
/// adapter this build lacks (with the cargo feature that adds it), a secret that cannot be read
/// (named, never shown), settings the adapter refuses.
pub fn build_registry(config: &WorkspaceConfig) -> Result<RuntimeRegistry, ConfigErrors> {
    let built = build_runtimes(config, &|_| None)?;
    Ok(registry_of(&built))
}

/// The registry of `built`, in its order.
pub(crate) fn registry_of(built: &[Built]) -> RuntimeRegistry {
    let handles = built
        .iter()
        .map(|built| Arc::clone(&built.handle))
        .collect();
    RuntimeRegistry::new(handles).expect("the configuration refuses duplicate runtime ids")
}

/// Every runtime of `config`, in its order; a runtime whose recipe `running` knows keeps that
/// handle instead of a new one. Fails with every reason, as [`build_registry`] does.
pub(crate) fn build_runtimes(
    config: &WorkspaceConfig,
    running: &dyn Fn(&Recipe) -> Option<Arc<dyn RuntimeHandle>>,
) -> Result<Vec<Built>, ConfigErrors> {
    let mut built = Vec::new();
    let mut errors: Vec<ConfigError> = Vec::new();
    for entry in &config.runtimes {
        let factory = match adapters::find(&entry.adapter) {
            Ok(factory) => factory,
            Err(message) => {
                errors.push(entry.error(config, Some("adapter"), message));
                continue;
            }
        };
        let secret = resolve_secret(config, entry, &mut errors);
        let recipe = Recipe::new(
            &entry.adapter,
            entry.adapter_input(config, secret.clone().flatten()),
        );
        if let Some(handle) = running(&recipe) {
            built.push(Built { handle, recipe });
            continue;
        }
        // Built even without its secret, so that its settings are checked too.
        match (factory.build)(recipe.input.clone()) {
            Ok(handle) if secret.is_some() => built.push(Built { handle, recipe }),
            Ok(_) => {}
            Err(error) => errors.push(entry.adapter_error(config, &error)),
        }
    }
    if !errors.is_empty() {
        errors.sort_by_key(|error| error.location.map(|at| (at.line, at.column)));
        return Err(ConfigErrors(errors));
    }
    Ok(built)
}

/// The secret `entry` references: `Some(None)` without a reference, `None` when it cannot be
/// read (the reason is added to `errors`).
fn resolve_secret(
    config: &WorkspaceConfig,
    entry: &RuntimeEntry,
    errors: &mut Vec<ConfigError>,
) -> Option<Option<Secret>> {
    let Some(reference) = &entry.secret else {
        return Some(None);
    };
    match reference.resolve() {
        Ok(secret) => Some(Some(secret)),
        Err(error) => {
            let key = match reference {
                SecretRef::Env(_) => "token_env",
                SecretRef::File(_) => "token_file",
            };
            errors.push(entry.error(config, Some(key), error.to_string()));
            None
        }
    }
}
