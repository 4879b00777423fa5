//! `yoi`: the one binary of the workspace. `yoi runtime serve` runs a standalone runtime process;
//! `yoi adapters` and `yoi config check` describe what this build can serve; `yoi serve` (the
//! Workspace Backend) and the client commands land with later issues.

mod runtime_serve;
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
}

#[derive(Subcommand)]
enum Command {
    /// Run the Workspace Backend: one browser-facing API over every configured runtime.
    Serve,
    /// Commands of a standalone runtime process.
    #[command(subcommand)]
    Runtime(RuntimeCommand),
    /// List the runtime adapters compiled into this build.
    Adapters,
    /// Commands about workspace.toml.
    #[command(subcommand)]
    Config(ConfigCommand),
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Check a workspace.toml (default: ./workspace.toml, else the default configuration):
    /// prints "ok" and the runtimes, or every error with its file, line and key.
    Check {
        /// The file to check.
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
        Command::Serve => Err(
            "the Workspace Backend is not in this build yet; it arrives with the browser-facing \
             API issue. A runtime process is available: yoi runtime serve --help"
                .to_owned(),
        ),
        Command::Runtime(RuntimeCommand::Serve(args)) => {
            runtime_serve::run(args).map_err(|error| error.to_string())
        }
        Command::Adapters => workspace_commands::adapters().map(|report| print(&report)),
        Command::Config(ConfigCommand::Check { path }) => {
            workspace_commands::check(path.as_deref())
                .map(|report| print(&report))
                .map_err(|errors| errors.to_string())
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
