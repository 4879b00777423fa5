//! The configuration files: `workspace.toml` (the Backend's runtimes) and `runtime.toml` (what a
//! runtime process serves): their schema, parsing, validation and secret references. This is the
//! only crate that knows the file formats.
//!
//! Every error names the file, the line and column, and the key ([`ConfigError`]); all errors of
//! a `workspace.toml` are reported at once ([`ConfigErrors`]). Common keys of a `[[runtime]]` table (`id`,
//! `adapter`, `display_name`, `visible`, `read_only`, `timeout_ms`, `token_env`, `token_file`) are
//! checked here; the rest goes to the adapter's factory ([`RuntimeEntry::adapter_input`]), whose
//! complaints are placed back at their key ([`RuntimeEntry::adapter_error`]). A `runtime.toml`
//! becomes a validated `worker_runtime::RuntimeConfig` ([`parse_runtime_file`]); its id comes
//! from the command line.

mod error;
mod location;
mod runtime_file;
mod secret;
mod toml_file;
mod workspace;

pub use error::{ConfigError, ConfigErrors};
pub use location::Location;
pub use runtime_file::{load_runtime_file, parse_runtime_file};
pub use secret::{SecretError, SecretRef};
pub use workspace::{
    DEFAULT_COMPAT_RUNTIME, DEFAULT_RUNTIME, DEFAULT_TIMEOUT, FILE_NAME, RuntimeEntry,
    ServerConfig, WorkspaceConfig,
};
