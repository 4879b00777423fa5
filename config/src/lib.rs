//! `workspace.toml`: its schema, parsing with file/line/column errors, validation, and secret
//! references (`token_env`, `token_file`). This is the only crate that knows the file format.
//!
//! The parser lands with the registry issue; until then this crate is intentionally empty.
