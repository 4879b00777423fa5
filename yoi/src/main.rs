//! `yoi`: the one binary of the workspace. It will run the Workspace Backend (`yoi serve`), a
//! standalone runtime process (`yoi runtime serve`) and client commands; this build has the
//! command line only, because the server lands with a later issue.

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
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Serve => {
            #[expect(clippy::print_stderr, reason = "the one message this command has")]
            {
                eprintln!(
                    "yoi serve: the Workspace Backend is not in this build yet; it arrives with \
                     the browser-facing API issue. The embeddable runtime is ready: see the \
                     worker-runtime crate (cargo test -p worker-runtime)."
                );
            }
            ExitCode::FAILURE
        }
    }
}
