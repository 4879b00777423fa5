//! Reading the bearer token from the place the operator named. Errors name the variable or file,
//! never the value.

use std::path::{Path, PathBuf};

use worker_runtime::http::{BearerToken, TokenError};
use worker_runtime::secret_env::{self, SecretVarError};

/// Why the token could not be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TokenSourceError {
    /// The variable is not set (or not Unicode).
    #[error(transparent)]
    Variable(#[from] SecretVarError),
    /// The file cannot be read.
    #[error("cannot read the token file {}: {source}", path.display())]
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The value is not a usable token.
    #[error("the token from {origin} is unusable: {source}")]
    Unusable { origin: String, source: TokenError },
}

/// The token in environment variable `name`, which is then removed from this process's
/// environment so that programs the runtime starts for its Workers do not inherit it.
///
/// Must be called before any thread is started.
pub(crate) fn take_from_env(name: &str) -> Result<BearerToken, TokenSourceError> {
    forget_variable(name);
    let secret = secret_env::var(name)?;
    BearerToken::new(secret.expose()).map_err(|source| TokenSourceError::Unusable {
        origin: format!("environment variable {name}"),
        source,
    })
}

/// Moves environment variable `name`, when set, out of this process's environment into
/// `secret_env`, where the configuration's secrets are read from (a reload reads it again).
///
/// Must be called before any thread is started.
pub(crate) fn forget_variable(name: &str) {
    let Ok(value) = std::env::var(name) else {
        return;
    };
    secret_env::keep(name, value);
    #[expect(
        unsafe_code,
        reason = "removing a variable is unsound only with other threads"
    )]
    // SAFETY: the process is still single-threaded here: `yoi runtime serve` and `yoi serve` read
    // their tokens before they build the Tokio runtime, and nothing earlier starts a thread.
    unsafe {
        std::env::remove_var(name);
    }
}

/// No variable is taken from the environment after this: the process starts its threads.
pub(crate) fn seal() {
    secret_env::seal();
}

/// The token in the file at `path` (surrounding whitespace trimmed).
pub(crate) fn from_file(path: &Path) -> Result<BearerToken, TokenSourceError> {
    let text = std::fs::read_to_string(path).map_err(|source| TokenSourceError::Unreadable {
        path: path.to_owned(),
        source,
    })?;
    BearerToken::new(&text).map_err(|source| TokenSourceError::Unusable {
        origin: format!("file {}", path.display()),
        source,
    })
}
