//! A child process whose output is collected as it comes, waited for with the deadline and
//! killed when dropped.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::DEADLINE;

/// Lines of one output stream, each with its line ending, as they arrive.
type Lines = Arc<Mutex<Vec<String>>>;

/// Collects the lines of `pipe` in a thread.
fn collect(pipe: impl Read + Send + 'static) -> (Lines, JoinHandle<()>) {
    let lines: Lines = Arc::default();
    let sink = Arc::clone(&lines);
    let reader = std::thread::spawn(move || {
        let mut pipe = BufReader::new(pipe);
        loop {
            let mut line = String::new();
            match pipe.read_line(&mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => sink.lock().unwrap().push(line),
            }
        }
    });
    (lines, reader)
}

/// One of a process's output streams.
#[derive(Debug, Clone, Copy)]
pub enum Stream {
    /// Its standard output.
    Stdout,
    /// Its standard error (where the binaries log).
    Stderr,
}

/// A child process whose stdout and stderr are collected as they come; killed when dropped.
pub struct Process {
    name: String,
    /// The child itself, e.g. for its pid or `try_wait`.
    pub child: Child,
    stdout: Lines,
    stderr: Lines,
    readers: Vec<JoinHandle<()>>,
}

impl Process {
    /// Starts `command` (called `name` in failures) with no stdin and both outputs collected.
    pub fn spawn(name: &str, command: &mut Command) -> Self {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (stdout, out_reader) = collect(child.stdout.take().unwrap());
        let (stderr, err_reader) = collect(child.stderr.take().unwrap());
        Self {
            name: name.to_owned(),
            child,
            stdout,
            stderr,
            readers: vec![out_reader, err_reader],
        }
    }

    /// Everything it printed on stdout so far.
    pub fn stdout_text(&self) -> String {
        self.stdout.lock().unwrap().concat()
    }

    /// Everything it printed on stderr so far.
    pub fn stderr_text(&self) -> String {
        self.stderr.lock().unwrap().concat()
    }

    /// Its name and both outputs, for failure messages.
    pub fn describe(&self) -> String {
        format!(
            "{}\n--- stdout ---\n{}--- stderr ---\n{}",
            self.name,
            self.stdout_text(),
            self.stderr_text()
        )
    }

    /// Waits for a line of `stream` containing `needle` and returns it (without its ending).
    pub fn wait_for_line(&mut self, stream: Stream, needle: &str) -> String {
        let lines = match stream {
            Stream::Stdout => Arc::clone(&self.stdout),
            Stream::Stderr => Arc::clone(&self.stderr),
        };
        let started = Instant::now();
        loop {
            let exited = self.child.try_wait().unwrap();
            if exited.is_some() {
                // The last lines may still be on their way through the pipe.
                self.join_readers();
            }
            let lines = lines.lock().unwrap();
            if let Some(line) = lines.iter().find(|line| line.contains(needle)) {
                return line.trim_end().to_owned();
            }
            drop(lines);
            if let Some(status) = exited {
                panic!("exited ({status}) before {needle:?}: {}", self.describe());
            }
            assert!(
                started.elapsed() < DEADLINE,
                "no {needle:?} within {DEADLINE:?}: {}",
                self.describe()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits for a log line (stderr) containing `needle`.
    pub fn wait_for_log(&mut self, needle: &str) -> String {
        self.wait_for_line(Stream::Stderr, needle)
    }

    /// Waits for the exit, then for the output to be read to its end.
    pub fn wait_exit(&mut self) -> ExitStatus {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                self.join_readers();
                return status;
            }
            assert!(
                started.elapsed() < DEADLINE,
                "no exit within {DEADLINE:?}: {}",
                self.describe()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn join_readers(&mut self) {
        for reader in self.readers.drain(..) {
            reader.join().unwrap();
        }
    }

    /// Sends SIGTERM and waits for the exit.
    pub fn terminate(&mut self) -> ExitStatus {
        let pid = i32::try_from(self.child.id()).unwrap();
        kill(Pid::from_raw(pid), Signal::SIGTERM).unwrap();
        self.wait_exit()
    }

    /// The `ADDR` of its first `listening on http://ADDR` (or `https://ADDR`) log line.
    pub fn listening_address(&mut self) -> String {
        let line = self.wait_for_log("listening on http");
        let rest = line.split("listening on ").nth(1).unwrap();
        let url = rest.split_whitespace().next().unwrap();
        let address = url.split("://").nth(1).unwrap();
        address.to_owned()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
