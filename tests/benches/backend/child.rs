//! Child processes of the harness: the harness's own binary started in a role, or nginx. Each
//! prints the addresses it listens on; dropping the handle kills it.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};

/// A running child process.
pub(crate) struct Child {
    process: std::process::Child,
    /// What it printed as `listening <address>`, in order.
    pub(crate) addresses: Vec<SocketAddr>,
    /// Its control address, if it printed `control <address>`.
    pub(crate) control: Option<SocketAddr>,
}

impl Child {
    /// Its process id, for `/proc`.
    pub(crate) fn pid(&self) -> u32 {
        self.process.id()
    }

    /// Its first listening address.
    pub(crate) fn address(&self) -> SocketAddr {
        self.addresses[0]
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// Starts this binary as `role` (the role's arguments), its log in `log`, and waits for it to
/// print `ready`.
pub(crate) fn start_role(role: &[&str], env: &[(&str, &str)], log: &Path) -> Child {
    let executable = std::env::current_exe().expect("the harness knows its own path");
    let mut command = Command::new(executable);
    command.args(role).envs(env.iter().copied());
    start(command, log)
}

/// Starts `command`, stdout piped and stderr into `log`, and reads its addresses until `ready`.
fn start(mut command: Command, log: &Path) -> Child {
    let log_file = std::fs::File::create(log).expect("the log file can be created");
    let mut process = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log_file)
        .spawn()
        .unwrap_or_else(|error| panic!("starting {command:?}: {error}"));
    let stdout = process.stdout.take().expect("stdout is piped");
    let mut child = Child {
        process,
        addresses: Vec::new(),
        control: None,
    };
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("the child's stdout is readable");
        if line == "ready" {
            return child;
        }
        if let Some(address) = line.strip_prefix("listening ") {
            child.addresses.push(address.parse().expect("an address"));
        } else if let Some(address) = line.strip_prefix("control ") {
            child.control = Some(address.parse().expect("an address"));
        }
    }
    let log_text = std::fs::read_to_string(log).unwrap_or_default();
    panic!("{command:?} ended before it was ready; its log:\n{log_text}");
}

/// Announces `address` to the harness (a role's side of [`start_role`]).
#[allow(
    clippy::print_stdout,
    reason = "the harness reads a role's addresses from its stdout"
)]
pub(crate) fn announce(line: &str) {
    println!("{line}");
}
