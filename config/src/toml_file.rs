//! A TOML configuration file: reading it, deserializing it into spanned raw types, and finding
//! where a key is, so that every error can name the file, the line and column, and the key.

use std::path::Path;

use serde::de::DeserializeOwned;
use toml::de::DeTable;
use yoi_registry_core::serde_error_key;

use crate::error::{ConfigError, ConfigErrors};
use crate::location::Location;

/// The text of the file at `path`; an unreadable file is one error naming it.
pub(crate) fn read(path: &Path) -> Result<String, ConfigErrors> {
    std::fs::read_to_string(path).map_err(|error| {
        ConfigErrors(vec![ConfigError {
            file: path.to_owned(),
            location: None,
            key: None,
            message: format!("cannot read the file: {error}"),
        }])
    })
}

/// Deserializes `text`, the content of `file`. A syntax error or a value serde refuses (wrong
/// type, unknown or missing key) is the one error of the file, at its line, column and key.
pub(crate) fn deserialize<T: DeserializeOwned>(text: &str, file: &Path) -> Result<T, ConfigErrors> {
    let error = |error: &toml::de::Error, key: Option<String>| {
        ConfigErrors(vec![ConfigError {
            file: file.to_owned(),
            location: error.span().map(|span| Location::of(text, span.start)),
            key,
            message: error.message().trim().to_owned(),
        }])
    };
    let document = toml::Deserializer::parse(text).map_err(|syntax| error(&syntax, None))?;
    serde_path_to_error::deserialize(document).map_err(|refused| {
        error(
            refused.inner(),
            error_key(refused.path(), refused.inner().message()),
        )
    })
}

/// The key a serde error at `path` is about, as `runtime[0].timeout_ms`.
pub(crate) fn error_key(path: &serde_path_to_error::Path, message: &str) -> Option<String> {
    let path = path.to_string();
    // `Spanned` fields show in the path as an internal segment, and a key that is itself
    // `Spanned` as `?`: the key ends before either.
    let path: Vec<&str> = path
        .split('.')
        .filter(|segment| !segment.starts_with("$__serde_spanned"))
        .take_while(|segment| *segment != "?")
        .collect();
    serde_error_key(&path.join("."), message)
}

/// Where a key of a parsed file is: the key itself and its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct KeyLocation {
    /// The key (for a table's header, the key's last part inside the brackets).
    pub(crate) key: Location,
    /// The value (for a table, where it is opened: its header, or its first dotted key).
    pub(crate) value: Location,
}

/// Where the key at `path` (`["limits", "max_workers"]`, or `["runtime[1]", "profiles", "a"]`
/// for a table of an array) is in `text`; `None` when the text does not parse or has no such
/// key.
pub(crate) fn find_key(text: &str, path: &[&str]) -> Option<KeyLocation> {
    let document = DeTable::parse(text).ok()?.into_inner();
    let (last, parents) = path.split_last()?;
    let mut table = &document;
    for parent in parents {
        let (name, index) = match parent.split_once('[') {
            Some((name, index)) => (name, Some(index.strip_suffix(']')?.parse::<usize>().ok()?)),
            None => (*parent, None),
        };
        let value = table.get(name)?.get_ref();
        let value = match (value, index) {
            (toml::de::DeValue::Array(items), Some(index)) => items.get(index)?.get_ref(),
            (value, None) => value,
            _ => return None,
        };
        match value {
            toml::de::DeValue::Table(inner) => table = inner,
            _ => return None,
        }
    }
    let (key, value) = table.get_key_value(*last)?;
    Some(KeyLocation {
        key: Location::of(text, key.span().start),
        value: Location::of(text, value.span().start),
    })
}
