//! `workspace.toml`: its schema, parsing, validation and secret references. This is the only
//! crate that knows the file format.
//!
//! Every error names the file, the line and column, and the key ([`ConfigError`]); all errors of
//! a file are reported at once ([`ConfigErrors`]). Common keys of a `[[runtime]]` table (`id`,
//! `adapter`, `display_name`, `visible`, `read_only`, `timeout_ms`, `token_env`, `token_file`) are
//! checked here; the rest goes to the adapter's factory ([`RuntimeEntry::adapter_input`]), whose
//! complaints are placed back at their key ([`RuntimeEntry::adapter_error`]).

mod error;
mod location;
mod secret;
mod workspace;

pub use error::{ConfigError, ConfigErrors};
pub use location::Location;
pub use secret::{SecretError, SecretRef};
pub use workspace::{
    DEFAULT_COMPAT_RUNTIME, DEFAULT_RUNTIME, DEFAULT_TIMEOUT, FILE_NAME, RuntimeEntry,
    ServerConfig, WorkspaceConfig,
};
