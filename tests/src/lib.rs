//! Cross-crate integration tests (run across adapter kinds with `rstest`) and benchmarks.
//!
//! The test suites live in `tests/`; this library holds shared fixtures once suites need them.
