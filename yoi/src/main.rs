//! `yoi`: the one binary of the workspace. `yoi serve` runs the Workspace Backend; `yoi runtime
//! serve` runs a standalone runtime process; `yoi adapters` and `yoi config check` describe what
//! this build can serve; `yoi config reload` makes a running Backend read its configuration
//! again; `yoi runtimes`, `workers`, `create`, `send`, `transcript`, `watch`, `stop` and
//! `cancel` are clients of a running Backend.

/// A proxied request makes many small allocations that live a few microseconds; mimalloc
/// serves them for about a fifth less of the Backend's CPU than the system allocator
/// (BENCHMARKS.md, scenario 1).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod client;
mod pid_file;
mod reload;
mod runtime_serve;
mod serve;
mod shutdown;
mod token;
mod workspace_commands;

use std::path::PathBuf;

// The adapters register themselves; naming the crate keeps the linker from dropping them.
use yoi_adapters as _;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Long-lived LLM agent Workers on several machines, behind one Workspace Backend.
#[derive(Parser)]
#[command(name = "yoi", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// The Backend the client commands talk to.
    #[arg(
        long,
        global = true,
        env = "YOI_BACKEND",
        default_value = "http://127.0.0.1:7878",
        value_name = "URL"
    )]
    backend: String,
    /// Client commands print the API's JSON instead of tables.
    #[arg(long, global = true)]
    json: bool,
    /// Client commands trust this CA (PEM) for an https:// Backend instead of the system's roots.
    #[arg(long, global = true, env = "YOI_CA_FILE", value_name = "PEM")]
    ca_file: Option<std::path::PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the Workspace Backend: one browser-facing API over every configured runtime.
    Serve(serve::Args),
    /// Commands of a standalone runtime process.
    #[command(subcommand)]
    Runtime(RuntimeCommand),
    /// List the runtime adapters compiled into this build.
    Adapters,
    /// Commands about workspace.toml.
    #[command(subcommand)]
    Config(ConfigCommand),
    #[command(flatten)]
    Client(client::ClientCommand),
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Check a workspace.toml (default: ./workspace.toml, else the default configuration):
    /// prints "ok" and the runtimes, or every error with its file, line and key.
    Check {
        /// The file to check.
        path: Option<PathBuf>,
    },
    /// Check a workspace.toml's syntax and keys, then ask the Backend serving it (named by
    /// `<data_dir>/serve.pid`) to read it again (SIGHUP); the Backend checks the rest (adapters,
    /// secrets). Runtimes whose table did not change keep running untouched; the Backend's log
    /// says what changed, or why nothing did.
    Reload {
        /// The file the Backend serves (default: ./workspace.toml).
        path: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum RuntimeCommand {
    /// Serve one Runtime over HTTP (REST commands + SSE events) for a Workspace Backend.
    Serve(runtime_serve::Args),
}

/// Writes a command's report to stdout.
fn print(report: &str) {
    #[expect(clippy::print_stdout, reason = "the command's report")]
    {
        print!("{report}");
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve::run(args).map_err(|error| error.to_string()),
        Command::Runtime(RuntimeCommand::Serve(args)) => {
            runtime_serve::run(args).map_err(|error| error.to_string())
        }
        Command::Adapters => workspace_commands::adapters().map(|report| print(&report)),
        Command::Config(ConfigCommand::Check { path }) => {
            workspace_commands::check(path.as_deref())
                .map(|report| print(&report))
                .map_err(|errors| errors.to_string())
        }
        Command::Config(ConfigCommand::Reload { path }) => {
            workspace_commands::reload(path.as_deref()).map(|report| print(&report))
        }
        Command::Client(command) => {
            let backend = client::Target {
                url: &cli.backend,
                ca_file: cli.ca_file.as_deref(),
            };
            client::run(command, backend, cli.json).map_err(|error| error.to_string())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            #[expect(clippy::print_stderr, reason = "the command's one error report")]
            {
                eprintln!("yoi: {message}");
            }
            ExitCode::FAILURE
        }
    }
}
