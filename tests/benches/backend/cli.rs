//! The harness's command line, and the hidden roles it starts itself in (one process each).

use std::path::PathBuf;

/// Benchmarks of the Workspace Backend, run against real processes on 127.0.0.1.
#[derive(clap::Parser)]
pub(crate) struct Args {
    /// A few seconds in all: every scenario once, briefly, to show they still work; the goals are
    /// not judged and BENCHMARKS.md is not written.
    #[arg(long)]
    pub(crate) quick: bool,
    /// Only these scenarios, by number (e.g. `--only 1,5`).
    #[arg(long, value_delimiter = ',', value_name = "N")]
    pub(crate) only: Vec<u8>,
    /// Where the full mode writes its table (default: BENCHMARKS.md at the workspace root).
    #[arg(long, value_name = "PATH")]
    pub(crate) write: Option<PathBuf>,
    /// Passed by `cargo bench`; nothing to do with it.
    #[arg(long, hide = true)]
    pub(crate) bench: bool,
    /// A process the harness starts itself as.
    #[command(subcommand)]
    pub(crate) role: Option<Role>,
}

/// A server the harness runs in a child process of its own, so that its CPU time and memory
/// are its own.
#[derive(clap::Subcommand)]
pub(crate) enum Role {
    /// In-memory worker runtimes, each on its own port, with a control port for counters.
    #[command(hide = true)]
    Runtime {
        /// How many runtimes to serve.
        #[arg(long, default_value_t = 1)]
        count: usize,
        /// Each request waits this long (off the async threads) before it is handled.
        #[arg(long, default_value_t = 0)]
        work_us: u64,
        /// Gives each runtime a `default` profile with the `openai` engine, talking to the
        /// OpenAI-compatible provider at this base URL (echo otherwise).
        #[arg(long, value_name = "URL")]
        openai: Option<String>,
        /// Serve HTTPS with `cert.pem` and `key.pem` of this folder, without session
        /// resumption, so that every connection costs a full handshake, counted.
        #[arg(long, value_name = "DIR")]
        tls: Option<PathBuf>,
        /// Keep each runtime's Workers under DIR (reopened from there), as `yoi runtime
        /// serve --data-dir` does; in memory otherwise.
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
        /// Characters per `output_delta` of the echo profile.
        #[arg(long, default_value_t = 4)]
        chunk_chars: usize,
        /// Events each Worker retains for replay (the runtime's default otherwise).
        #[arg(long, value_name = "N")]
        retained_events: Option<usize>,
    },
    /// The Workspace Backend over a workspace.toml, as `yoi serve` runs it.
    #[command(hide = true)]
    Backend {
        /// The workspace.toml.
        config: PathBuf,
    },
    /// A bare axum handler that answers a fixed JSON body at the Backend's worker detail path.
    #[command(hide = true)]
    Bare {
        /// The file holding the body.
        body: PathBuf,
    },
}

impl Args {
    /// Whether scenario `number` is to run.
    pub(crate) fn runs(&self, number: u8) -> bool {
        self.only.is_empty() || self.only.contains(&number)
    }
}
