//! Secrets named by environment variable (`token_env`, `api_key_env`). A process reads each one
//! from its environment at start-up, removes it there (so that programs started for Workers do
//! not inherit it) and keeps its value here, so that a later read, such as a reload of the
//! configuration, finds it again. Once the process is [`seal`]ed (its threads run, and removing
//! a variable is no longer sound), a variable it did not keep is refused rather than read and
//! left in the environment.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{LazyLock, Mutex, PoisonError};

use crate::model_config::Secret;

/// The values of the variables taken out of the environment, by name.
static KEPT: LazyLock<Mutex<HashMap<String, Secret>>> = LazyLock::new(Mutex::default);

/// Whether variables not kept may still be read from the environment.
static SEALED: AtomicBool = AtomicBool::new(false);

/// Why a variable's value cannot be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretVarError {
    /// It is not set (or not Unicode).
    #[error("environment variable {0} is not set")]
    Missing(String),
    /// It was not read at start-up, and this process no longer reads new ones.
    #[error(
        "environment variable {0} was not read when the process started, and is not read \
         later (name a file instead, or restart the process)"
    )]
    NotReadAtStart(String),
}

/// Keeps `value` as variable `name`'s, for later reads; the caller removes the variable from
/// the environment.
pub fn keep(name: &str, value: String) {
    let mut kept = KEPT.lock().unwrap_or_else(PoisonError::into_inner);
    kept.insert(name.to_owned(), Secret::new(value));
}

/// From now on, only kept variables are read.
pub fn seal() {
    SEALED.store(true, Ordering::SeqCst);
}

/// The value of variable `name`: the kept one, else (before [`seal`]) the environment's.
pub fn var(name: &str) -> Result<Secret, SecretVarError> {
    let kept = KEPT.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(value) = kept.get(name) {
        return Ok(value.clone());
    }
    drop(kept);
    // Reading the environment is sound with threads running; only changing it is not.
    let value = std::env::var(name).map_err(|_| SecretVarError::Missing(name.to_owned()))?;
    if SEALED.load(Ordering::SeqCst) {
        return Err(SecretVarError::NotReadAtStart(name.to_owned()));
    }
    Ok(Secret::new(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_variable_is_read_after_it_left_the_environment() {
        keep("YOI_SECRET_ENV_TEST_KEPT", "s3cret".into());
        let value = var("YOI_SECRET_ENV_TEST_KEPT").expect("kept");
        assert_eq!(value.expose(), "s3cret");
        assert_eq!(
            var("YOI_SECRET_ENV_TEST_NEVER_SET"),
            Err(SecretVarError::Missing(
                "YOI_SECRET_ENV_TEST_NEVER_SET".into()
            ))
        );
    }
}
