//! The Backend's pid file, `<data_dir>/serve.pid`: written by `yoi serve` while it runs, read by
//! `yoi config reload` to know where to send SIGHUP.

use std::path::{Path, PathBuf};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// The file's name in the workspace's data folder.
const FILE_NAME: &str = "serve.pid";

/// The pid file of the Backend whose data folder is `data_dir`.
pub(crate) fn path_in(data_dir: &Path) -> PathBuf {
    data_dir.join(FILE_NAME)
}

/// Why the Backend cannot be signalled.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SignalError {
    /// No pid file: no Backend serves this workspace (or it was started elsewhere).
    #[error("no Backend serves this workspace: {} does not exist", .0.display())]
    NotRunning(PathBuf),
    /// The pid file cannot be read or holds no pid.
    #[error("cannot read the pid file {}: {reason}", path.display())]
    Unreadable { path: PathBuf, reason: String },
    /// The process is gone (the file is stale) or is not this user's.
    #[error("cannot signal the Backend (pid {pid}): {reason}")]
    Failed { pid: i32, reason: String },
}

/// The pid file while the Backend runs; removed when dropped.
pub(crate) struct PidFile {
    path: PathBuf,
}

impl PidFile {
    /// Writes this process's pid to `path`.
    pub(crate) fn write(path: PathBuf) -> std::io::Result<Self> {
        if let Some(folder) = path.parent() {
            std::fs::create_dir_all(folder)?;
        }
        std::fs::write(&path, format!("{}\n", std::process::id()))?;
        Ok(Self { path })
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Sends SIGHUP to the process named by the pid file at `path`; answers its pid.
pub(crate) fn hang_up(path: &Path) -> Result<i32, SignalError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Err(SignalError::NotRunning(path.to_owned()));
        }
        Err(error) => {
            return Err(SignalError::Unreadable {
                path: path.to_owned(),
                reason: error.kind().to_string(),
            });
        }
    };
    let pid: i32 = text.trim().parse().map_err(|_| SignalError::Unreadable {
        path: path.to_owned(),
        reason: "it holds no pid".into(),
    })?;
    if !serves(pid) {
        return Err(SignalError::Failed {
            pid,
            reason: "that process is not `yoi serve` (the pid file is stale)".into(),
        });
    }
    kill(Pid::from_raw(pid), Signal::SIGHUP).map_err(|errno| SignalError::Failed {
        pid,
        reason: errno.desc().to_owned(),
    })?;
    Ok(pid)
}

/// Whether process `pid` runs `yoi serve` (not `yoi runtime serve`), so that a stale pid file
/// whose pid another process took is not signalled; true where `/proc` cannot tell.
fn serves(pid: i32) -> bool {
    match std::fs::read(format!("/proc/{pid}/cmdline")) {
        Ok(cmdline) => {
            let args: Vec<&[u8]> = cmdline.split(|byte| *byte == 0).collect();
            args.windows(2)
                .any(|pair| pair[1] == b"serve" && pair[0] != b"runtime")
        }
        Err(error) => error.kind() != std::io::ErrorKind::NotFound,
    }
}
