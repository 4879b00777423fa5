//! Secret references: a token is named by the environment variable or the file that holds it,
//! never written into the configuration. Errors name the variable or file, never a value.

use std::path::PathBuf;

use worker_runtime::secret_env::{self, SecretVarError};
use yoi_registry_core::Secret;

/// Where a secret is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretRef {
    /// In this environment variable (`token_env`).
    Env(String),
    /// In this file, surrounding whitespace trimmed (`token_file`).
    File(PathBuf),
}

/// Why a referenced secret cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// The variable is not set, or (in a reload) was not read at start-up.
    #[error(transparent)]
    Variable(#[from] SecretVarError),
    /// The file cannot be read.
    #[error("cannot read the token file {}: {reason}", path.display())]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// Why, without any of its content.
        reason: String,
    },
    /// The variable or file holds nothing but whitespace.
    #[error("the token in {0} is empty")]
    Empty(String),
}

impl SecretRef {
    /// Reads the secret now.
    pub fn resolve(&self) -> Result<Secret, SecretError> {
        let (text, origin) = match self {
            Self::Env(name) => (
                secret_env::var(name)
                    .map_err(SecretError::Variable)?
                    .expose()
                    .to_owned(),
                format!("environment variable {name}"),
            ),
            Self::File(path) => (
                std::fs::read_to_string(path).map_err(|error| SecretError::Unreadable {
                    path: path.clone(),
                    reason: error.kind().to_string(),
                })?,
                format!("file {}", path.display()),
            ),
        };
        match text.trim() {
            "" => Err(SecretError::Empty(origin)),
            token => Ok(Secret::new(token)),
        }
    }
}
