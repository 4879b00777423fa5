//! Cross-crate integration tests: one binary, a module per area.

// The adapters register themselves; naming the crate keeps the linker from dropping them.
use yoi_adapters as _;

/// The browser-facing API across adapter kinds: routing, the shared event stream of a remote
/// runtime, its loss and recovery, and nothing of a runtime's address or token in any answer.
mod backend;
/// A corpus of bad requests through the Backend API: each refused with its typed error, audited
/// when it is a mutation, and changing nothing.
mod bad_input;
/// Faults through the Backend: a dead, a silent, a garbling and a token-refusing runtime, and a
/// worker stopped under its watchers.
mod faults;
/// Runtime feeds through the registry across adapter kinds; none from the compatibility adapter.
mod feeds;
/// Model Workers through the Backend, embedded (OpenAI's format) and remote (Anthropic's),
/// against a scripted provider: two exchanges, streamed deltas, usage, cancel mid-stream, and
/// neither the API key nor the provider's URL in any answer or log line.
#[cfg(any(feature = "embedded", feature = "http-client"))]
mod models;
/// Reloading workspace.toml under browsers: added, removed and changed runtimes, an unchanged
/// one's streams untouched, a broken file refused whole, each reload audited.
#[cfg(all(feature = "embedded", feature = "http-client"))]
mod reload;
/// A remote runtime that misbehaves in every way the http-client adapter must survive.
#[cfg(feature = "http-client")]
mod remote_failures;
/// The http-client adapter against a real runtime process: every operation, auth, restarts.
#[cfg(feature = "http-client")]
mod remote_runtime;
/// Operations routed by `runtime_id + worker_id` through a registry built from workspace.toml,
/// across adapter kinds.
mod routing;
/// Fixtures: a served runtime process, a pod store, a workspace.toml.
mod support;
/// TLS on the runtime link through the Backend: ca_file, a client certificate, tls_server_name,
/// and each failure typed as tls_failed without a path or URL.
#[cfg(feature = "http-client")]
mod tls;
/// The workspace feed through HTTP: the picture, every change, a remote runtime lost and back,
/// one upstream feed per runtime for many browsers, narrowing, hidden runtimes, no leak.
mod workspace_feed;
