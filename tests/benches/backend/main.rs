//! Benchmarks of the Workspace Backend against the direct runtime, nginx and a bare handler,
//! all on 127.0.0.1: `cargo bench -p yoi-tests` writes BENCHMARKS.md; `-- --quick` runs every
//! scenario briefly (CI). Every figure is a ratio of things measured side by side in one run
//! (interleaved rounds, median of the per-round ratios) or CPU time read from `/proc`.

/// The allocator `yoi` serves with, so that the roles cost what `yoi serve` costs.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod child;
mod cli;
mod load;
mod nginx;
mod procfs;
mod report;
mod roles;
mod scenarios;
mod setup;
mod sse;
mod stats;

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use clap::Parser;

use cli::Args;
use report::Row;

/// The full mode's command, as BENCHMARKS.md records it.
const COMMAND: &str = "cargo bench -p yoi-tests --bench backend";

/// One run of the harness: its mode, its scratch folder and the rows measured so far.
pub(crate) struct Bench {
    /// The quick mode: brief rounds, goals not judged.
    pub(crate) quick: bool,
    /// Scratch space for configs, logs and data, removed at the end.
    pub(crate) dir: tempfile::TempDir,
    rows: Vec<Row>,
}

impl Bench {
    /// How many interleaved rounds a comparison runs.
    pub(crate) fn rounds(&self) -> usize {
        if self.quick { 1 } else { 7 }
    }

    /// How long one side of one round runs (whole seconds: wrk's unit).
    pub(crate) fn round_time(&self) -> Duration {
        Duration::from_secs(1)
    }

    /// Records `row` and prints it at once.
    #[allow(clippy::print_stdout, reason = "the harness reports on stdout")]
    pub(crate) fn push(&mut self, row: Row) {
        println!("{}", row.markdown(!self.quick));
        self.rows.push(row);
    }
}

fn main() {
    let args = Args::parse();
    if let Some(role) = args.role {
        roles::run(role);
        return;
    }
    let mut bench = Bench {
        quick: args.quick,
        dir: tempfile::tempdir().expect("a scratch folder"),
        rows: Vec::new(),
    };
    assert!(
        nginx::installed() && load::installed(),
        "nginx and wrk are needed: run scripts/bench-tools (Debian's nginx-light and wrk) first"
    );
    report_start(&bench);
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a Tokio runtime");
    tokio.block_on(scenarios::run_all(&mut bench, &args));
    if !bench.quick {
        let path = args.write.clone().unwrap_or_else(default_report_path);
        let date = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
        let section = report::section(&bench.rows, &procfs::machine(), &date[..10], COMMAND);
        report::write(&path, &section)
            .unwrap_or_else(|error| panic!("writing {}: {error}", path.display()));
        report_written(&path);
    }
}

#[allow(clippy::print_stdout, reason = "the harness reports on stdout")]
fn report_start(bench: &Bench) {
    let mode = if bench.quick {
        "quick (goals not judged)"
    } else {
        "full"
    };
    println!("yoi benchmarks, {mode}, on {}\n", procfs::machine());
    println!("{}", report::HEAD);
}

#[allow(clippy::print_stdout, reason = "the harness reports on stdout")]
fn report_written(path: &std::path::Path) {
    println!("\nwritten to {}", path.display());
}

/// BENCHMARKS.md at the workspace root.
fn default_report_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../BENCHMARKS.md")
}
