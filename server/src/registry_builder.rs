//! From `workspace.toml` to a `RuntimeRegistry`: each `[[runtime]]` table's adapter is looked up
//! among the factories this build registered, its secret resolved, and its handle built.

use yoi_adapters as adapters;
use yoi_config::{ConfigError, ConfigErrors, SecretRef, WorkspaceConfig};
use yoi_registry_core::RuntimeRegistry;

/// The registry of `config`'s runtimes, or every reason it cannot be built, each at its key: an
/// adapter this build lacks (with the cargo feature that adds it), a secret that cannot be read
/// (named, never shown), settings the adapter refuses.
pub fn build_registry(config: &WorkspaceConfig) -> Result<RuntimeRegistry, ConfigErrors> {
    let mut handles = Vec::new();
    let mut errors: Vec<ConfigError> = Vec::new();
    for entry in &config.runtimes {
        let factory = match adapters::find(&entry.adapter) {
            Ok(factory) => factory,
            Err(message) => {
                errors.push(entry.error(config, Some("adapter"), message));
                continue;
            }
        };
        let mut secret_missing = false;
        let secret = entry.secret.as_ref().and_then(|reference| {
            reference
                .resolve()
                .map_err(|error| {
                    let key = match reference {
                        SecretRef::Env(_) => "token_env",
                        SecretRef::File(_) => "token_file",
                    };
                    errors.push(entry.error(config, Some(key), error.to_string()));
                    secret_missing = true;
                })
                .ok()
        });
        // Built even without its secret, so that its settings are checked too.
        match (factory.build)(entry.adapter_input(config, secret)) {
            Ok(handle) if !secret_missing => handles.push(handle),
            Ok(_) => {}
            Err(error) => errors.push(entry.adapter_error(config, &error)),
        }
    }
    if !errors.is_empty() {
        errors.sort_by_key(|error| error.location.map(|at| (at.line, at.column)));
        return Err(ConfigErrors(errors));
    }
    Ok(RuntimeRegistry::new(handles).expect("the configuration refuses duplicate runtime ids"))
}
