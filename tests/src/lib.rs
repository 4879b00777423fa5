//! Cross-crate integration tests of the yoi workspace. The suites live in `tests/it/` (one test
//! binary, a module per area); this library is empty.
