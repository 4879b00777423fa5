//! The `command` engine: runs the profile's program with the input on stdin and streams its
//! stdout. The program runs in its own process group; cancel and timeout kill the whole group,
//! and the program is always reaped, so a run leaves neither a process nor a zombie behind.

use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use async_trait::async_trait;
use nix::errno::Errno;
use nix::sys::signal::{Signal, killpg};
use nix::sys::wait::{Id, WaitPidFlag, waitid};
use nix::unistd::Pid;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, ChildStderr, ChildStdin, ChildStdout, Command};
use tokio_util::sync::CancellationToken;

use super::utf8::Utf8Decoder;
use super::{Engine, RunInput, RunOutcome};
use crate::config::CommandSettings;
use crate::worker_cell::OutputSink;

/// How much of the end of stderr a failure reports, in bytes.
const STDERR_TAIL_BYTES: usize = 4096;

/// How long the pipes may stay open after the program and its group are gone (a descendant that
/// left the group can hold them); after that the run ends without the rest.
const DRAIN_GRACE: Duration = Duration::from_secs(2);

/// Runs a configured program per input, as its settings say.
pub(crate) struct CommandEngine(pub(super) CommandSettings);

/// Why the wait for the program ended.
enum Ending {
    Exited(std::io::Result<ExitStatus>),
    Cancelled,
    TimedOut,
}

impl CommandEngine {
    /// The run's outcome once the program is reaped.
    fn outcome(&self, ending: Ending, collected: Collected) -> RunOutcome {
        let stderr_tail = tail_text(&collected.stderr_tail);
        match ending {
            Ending::Cancelled => RunOutcome::Cancelled,
            Ending::TimedOut => RunOutcome::Failed {
                reason: format!("timed out after {} ms", self.0.timeout_ms),
                exit_code: None,
                stderr_tail,
            },
            Ending::Exited(Err(error)) => {
                RunOutcome::failed(format!("could not wait for the program: {}", error.kind()))
            }
            Ending::Exited(Ok(status)) if status.success() => RunOutcome::Completed {
                output: collected.stdout,
                usage: None,
            },
            Ending::Exited(Ok(status)) => RunOutcome::Failed {
                reason: describe_failure(status),
                exit_code: status.code(),
                stderr_tail,
            },
        }
    }
}

#[async_trait]
impl Engine for CommandEngine {
    async fn run(
        &self,
        run: &RunInput,
        output: &OutputSink,
        cancel: &CancellationToken,
    ) -> RunOutcome {
        let input = run.input.as_str();
        let spawned = Command::new(&self.0.program)
            .args(&self.0.args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true)
            .spawn();
        let mut child = match spawned {
            Ok(child) => child,
            // The error names no path: only what kind of failure it was.
            Err(error) => {
                return RunOutcome::failed(format!(
                    "could not start the profile's program: {}",
                    error.kind()
                ));
            }
        };
        let program = child
            .id()
            .and_then(|pid| i32::try_from(pid).ok())
            .map(Pid::from_raw);
        let timeout = Duration::from_millis(self.0.timeout_ms);
        let (ending, collected) =
            supervise(&mut child, program, input, output, cancel, timeout).await;
        if !matches!(ending, Ending::Exited(_)) {
            kill_group(program);
            // The program may have left its group; kill it by pid as well.
            let _ = child.start_kill();
            // SIGKILL cannot be ignored, so this wait is short; it reaps the program.
            let _ = child.wait().await;
        }
        self.outcome(ending, collected)
    }
}

/// What the program wrote: all of stdout, the end of stderr.
#[derive(Default)]
struct Collected {
    stdout: String,
    stderr_tail: Vec<u8>,
}

/// Runs the program to its end (exited and reaped, pipes drained) unless `cancel` or `timeout`
/// interrupts it first; an interrupted program is left for the caller to kill and reap.
async fn supervise(
    child: &mut Child,
    program: Option<Pid>,
    input: &str,
    output: &OutputSink,
    cancel: &CancellationToken,
    timeout: Duration,
) -> (Ending, Collected) {
    let mut collected = Collected::default();
    let pipes = (child.stdin.take(), child.stdout.take(), child.stderr.take());
    let program_gone = CancellationToken::new();
    let run = async {
        tokio::join!(
            reap_after_exit(child, program, &program_gone),
            drain(pipes, input, output, &mut collected, &program_gone),
        )
        .0
    };
    // Resolves when the run is cancelled or times out while the program still runs.
    let interruption = async {
        let ending = tokio::select! {
            () = cancel.cancelled() => Ending::Cancelled,
            () = tokio::time::sleep(timeout) => Ending::TimedOut,
        };
        // A program that already exited finished its run; only the drain is left.
        if program_gone.is_cancelled() {
            std::future::pending::<()>().await;
        }
        ending
    };
    let ending = tokio::select! {
        status = run => Ending::Exited(status),
        ending = interruption => ending,
    };
    (ending, collected)
}

/// Feeds stdin and reads stdout and stderr to their ends, or until [`DRAIN_GRACE`] after
/// `program_gone`.
async fn drain(
    (stdin, stdout, stderr): (Option<ChildStdin>, Option<ChildStdout>, Option<ChildStderr>),
    input: &str,
    output: &OutputSink,
    collected: &mut Collected,
    program_gone: &CancellationToken,
) {
    let io = async {
        tokio::join!(
            feed_stdin(stdin, input),
            stream_stdout(stdout, output, &mut collected.stdout),
            keep_tail(stderr, &mut collected.stderr_tail),
        )
    };
    // A descendant that left the group can hold a pipe open; stop waiting for it shortly after
    // the program is gone (its further output is not collected).
    let grace_over = async {
        program_gone.cancelled().await;
        tokio::time::sleep(DRAIN_GRACE).await;
    };
    tokio::select! {
        _ = io => {}
        () = grace_over => {}
    }
}

/// Waits for the program to exit, ends what is left of its group, reaps it and then cancels
/// `program_gone`.
async fn reap_after_exit(
    child: &mut Child,
    program: Option<Pid>,
    program_gone: &CancellationToken,
) -> std::io::Result<ExitStatus> {
    // Wait without reaping (`WNOWAIT`): while the program is an unreaped zombie its pid, and so
    // its group id, cannot be reused, so the group kill cannot hit anyone else.
    if let Some(program) = program {
        let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOWAIT;
        let _ = tokio::task::spawn_blocking(move || {
            while let Err(Errno::EINTR) = waitid(Id::Pid(program), flags) {}
        })
        .await;
    }
    // Descendants left in the group would keep the pipes open; end them with it.
    kill_group(program);
    let status = child.wait().await;
    program_gone.cancel();
    status
}

/// Sends SIGKILL to every process in the group the program leads (its group id is its pid). A
/// group that is already gone is fine.
fn kill_group(program: Option<Pid>) {
    if let Some(program) = program {
        let _ = killpg(program, Signal::SIGKILL);
    }
}

/// Writes the input and closes stdin. A program that exits without reading is not an error.
async fn feed_stdin(stdin: Option<ChildStdin>, input: &str) {
    if let Some(mut stdin) = stdin {
        let _ = stdin.write_all(input.as_bytes()).await;
        let _ = stdin.shutdown().await;
    }
}

/// Streams stdout into output deltas and collects the whole text.
async fn stream_stdout(
    stdout: Option<impl AsyncRead + Unpin>,
    output: &OutputSink,
    collected: &mut String,
) {
    let Some(mut stdout) = stdout else { return };
    let mut decoder = Utf8Decoder::default();
    let mut buffer = vec![0; 8192];
    let mut emit = |text: String| {
        if !text.is_empty() {
            output.delta(&text);
            collected.push_str(&text);
        }
    };
    while let Ok(read @ 1..) = stdout.read(&mut buffer).await {
        emit(decoder.decode(&buffer[..read]));
    }
    emit(decoder.finish());
}

/// Reads stderr to its end, keeping only the last [`STDERR_TAIL_BYTES`].
async fn keep_tail(stderr: Option<impl AsyncRead + Unpin>, tail: &mut Vec<u8>) {
    let Some(mut stderr) = stderr else { return };
    let mut buffer = vec![0; 4096];
    while let Ok(read @ 1..) = stderr.read(&mut buffer).await {
        tail.extend_from_slice(&buffer[..read]);
        if tail.len() > STDERR_TAIL_BYTES {
            tail.drain(..tail.len() - STDERR_TAIL_BYTES);
        }
    }
}

/// The stderr tail as text, without a character the cut split at its start.
fn tail_text(tail: &[u8]) -> String {
    let start = tail
        .iter()
        .position(|byte| byte & 0b1100_0000 != 0b1000_0000)
        .unwrap_or(tail.len());
    String::from_utf8_lossy(&tail[start..]).into_owned()
}

fn describe_failure(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with status {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        (None, None) => "ended abnormally".to_owned(),
    }
}

/// Whether `program` names an executable file, directly or through `PATH`.
pub(crate) fn program_is_available(program: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let is_executable = |path: &Path| {
        path.metadata()
            .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
    };
    if program.contains('/') {
        return is_executable(Path::new(program));
    }
    std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths).any(|dir| is_executable(&dir.join(program)))
    })
}
