//! Processes of the real `yoi` binary for end-to-end tests: a runtime (`yoi runtime serve`) and
//! a Backend (`yoi serve`), their output collected as it comes, killed when dropped.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// How long any one condition may take to come true.
pub(crate) const DEADLINE: Duration = Duration::from_secs(30);

/// The variable that carries the remote runtime's token to both processes.
pub(crate) const TOKEN_VAR: &str = "YOI_E2E_RUNTIME_TOKEN";

/// The remote runtime's token: distinctive, so that a leak cannot hide.
pub(crate) const RUNTIME_TOKEN: &str = "e2e-Zq7tR4k9Vx2Lm8Pw3Hn6Jc5D";

/// The first line `yoi serve` prints on stdout, before the address.
pub(crate) const LISTENS: &str = "yoi: the workspace backend listens on http://";

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

fn text_of(lines: &Lines) -> String {
    lines.lock().unwrap().concat()
}

#[derive(Clone, Copy)]
pub(crate) enum Stream {
    Stdout,
    Stderr,
}

/// A child process whose stdout and stderr are collected as they come; killed when dropped.
pub(crate) struct Process {
    name: String,
    pub(crate) child: Child,
    stdout: Lines,
    stderr: Lines,
    readers: Vec<JoinHandle<()>>,
}

impl Process {
    pub(crate) fn spawn(name: &str, command: &mut Command) -> Self {
        let mut child = command
            .env_remove("YOI_TOKEN")
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

    pub(crate) fn stdout_text(&self) -> String {
        text_of(&self.stdout)
    }

    pub(crate) fn stderr_text(&self) -> String {
        text_of(&self.stderr)
    }

    pub(crate) fn describe(&self) -> String {
        format!(
            "{}\n--- stdout ---\n{}--- stderr ---\n{}",
            self.name,
            self.stdout_text(),
            self.stderr_text()
        )
    }

    /// Waits for a line of `stream` containing `needle` and returns it.
    pub(crate) fn wait_for_line(&mut self, stream: Stream, needle: &str) -> String {
        let lines = match stream {
            Stream::Stdout => Arc::clone(&self.stdout),
            Stream::Stderr => Arc::clone(&self.stderr),
        };
        let started = Instant::now();
        loop {
            if let Some(line) = lines
                .lock()
                .unwrap()
                .iter()
                .find(|line| line.contains(needle))
            {
                return line.trim_end().to_owned();
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                // The last lines may still be on their way through the pipe.
                self.join_readers();
                if let Some(line) = lines
                    .lock()
                    .unwrap()
                    .iter()
                    .find(|line| line.contains(needle))
                {
                    return line.trim_end().to_owned();
                }
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
    pub(crate) fn wait_for_log(&mut self, needle: &str) -> String {
        self.wait_for_line(Stream::Stderr, needle)
    }

    /// Waits for the exit, then for the output to be read to its end.
    pub(crate) fn wait_exit(&mut self) -> ExitStatus {
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
    pub(crate) fn terminate(&mut self) -> ExitStatus {
        let pid = i32::try_from(self.child.id()).unwrap();
        kill(Pid::from_raw(pid), Signal::SIGTERM).unwrap();
        self.wait_exit()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn yoi() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_yoi"));
    command.env_remove("YOI_BACKEND").env("RUST_LOG", "info");
    command
}

/// The `ADDR` of the first `listening on http://ADDR` log line.
pub(crate) fn listening_address(process: &mut Process) -> String {
    let line = process.wait_for_log("listening on http://");
    let rest = line.split("listening on http://").nth(1).unwrap();
    rest.split_whitespace().next().unwrap().to_owned()
}

/// `yoi runtime serve --id ID` with its token in [`TOKEN_VAR`]; returns it and its address.
pub(crate) fn start_runtime(id: &str, data_dir: &Path) -> (Process, String) {
    let mut process = serve_runtime(id, data_dir, &["--bind", "127.0.0.1:0"]);
    let address = listening_address(&mut process);
    (process, address)
}

/// `yoi runtime serve --id ID --data-dir DATA_DIR ARGS` with its token in [`TOKEN_VAR`].
pub(crate) fn serve_runtime(id: &str, data_dir: &Path, args: &[&str]) -> Process {
    Process::spawn(
        "yoi runtime serve",
        yoi()
            .args(["runtime", "serve", "--id", id])
            .args(args)
            .arg("--data-dir")
            .arg(data_dir)
            .args(["--token-env", TOKEN_VAR])
            .env(TOKEN_VAR, RUNTIME_TOKEN),
    )
}

/// A running `yoi serve` and the URL it printed.
pub(crate) struct Backend {
    pub(crate) process: Process,
    pub(crate) url: String,
}

impl Backend {
    /// `yoi serve ARGS` in `dir`, with `TOKEN_VAR` set; waits for the URL on stdout.
    /// `yoi serve --config FOLDER/workspace.toml --bind 127.0.0.1:0` with `toml` written to a
    /// fresh folder, which is answered too (it lives as long as it is held).
    pub(crate) fn with_workspace(toml: &str) -> (tempfile::TempDir, Self) {
        let workspace = tempfile::tempdir().unwrap();
        let config = workspace.path().join("workspace.toml");
        std::fs::write(&config, toml).unwrap();
        let config = config.to_str().unwrap();
        let backend = Self::start(
            workspace.path(),
            &["--config", config, "--bind", "127.0.0.1:0"],
        );
        (workspace, backend)
    }

    pub(crate) fn start(dir: &Path, args: &[&str]) -> Self {
        let mut process = Process::spawn(
            "yoi serve",
            yoi()
                .arg("serve")
                .args(args)
                .current_dir(dir)
                .env(TOKEN_VAR, RUNTIME_TOKEN),
        );
        let line = process.wait_for_line(Stream::Stdout, LISTENS);
        let address = line.strip_prefix(LISTENS).unwrap();
        assert!(
            address.starts_with("127.0.0.1:") && !address.ends_with(":0"),
            "{line:?}"
        );
        assert_eq!(process.stdout_text(), format!("{line}\n"), "one line");
        // The log says so too.
        assert_eq!(listening_address(&mut process), address);
        Self {
            url: format!("http://{address}"),
            process,
        }
    }
}
