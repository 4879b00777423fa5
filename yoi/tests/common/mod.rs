//! Processes of the real `yoi` binary for end-to-end tests: a runtime (`yoi runtime serve`) and
//! a Backend (`yoi serve`), as the test kit's [`Process`]es.

use std::path::Path;
use std::process::Command;

use yoi_test_support::{Process, Stream};

/// The variable that carries the remote runtime's token to both processes.
pub(crate) const TOKEN_VAR: &str = "YOI_E2E_RUNTIME_TOKEN";

/// The remote runtime's token: distinctive, so that a leak cannot hide.
pub(crate) const RUNTIME_TOKEN: &str = "e2e-Zq7tR4k9Vx2Lm8Pw3Hn6Jc5D";

/// The first line `yoi serve` prints on stdout, before the address.
pub(crate) const LISTENS: &str = "yoi: the workspace backend listens on http://";

/// The `yoi` binary, logging at `info`, with neither the Backend's URL nor the browser token
/// of the environment.
pub(crate) fn yoi() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_yoi"));
    command
        .env_remove("YOI_BACKEND")
        .env_remove("YOI_TOKEN")
        .env("RUST_LOG", "info");
    command
}

/// `yoi runtime serve --id ID` with its token in [`TOKEN_VAR`]; returns it and its address.
pub(crate) fn start_runtime(id: &str, data_dir: &Path) -> (Process, String) {
    let mut process = serve_runtime(id, data_dir, &["--bind", "127.0.0.1:0"]);
    let address = process.listening_address();
    (process, address)
}

/// `yoi runtime serve --id ID --data-dir DATA_DIR ARGS` with its token in [`TOKEN_VAR`].
pub(crate) fn serve_runtime(id: &str, data_dir: &Path, args: &[&str]) -> Process {
    Process::spawn(
        "yoi runtime serve",
        &mut runtime_command(id, data_dir, args),
    )
}

/// The command [`serve_runtime`] runs, for a test to add to (e.g. a provider key's variable).
pub(crate) fn runtime_command(id: &str, data_dir: &Path, args: &[&str]) -> Command {
    let mut command = yoi();
    command
        .args(["runtime", "serve", "--id", id])
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .args(["--token-env", TOKEN_VAR])
        .env(TOKEN_VAR, RUNTIME_TOKEN);
    command
}

/// A running `yoi serve` and the URL it printed.
pub(crate) struct Backend {
    pub(crate) process: Process,
    pub(crate) url: String,
}

impl Backend {
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

    /// `yoi serve ARGS` in `dir`, with `TOKEN_VAR` set; waits for the URL on stdout.
    pub(crate) fn start(dir: &Path, args: &[&str]) -> Self {
        Self::start_with_env(dir, args, &[])
    }

    /// [`Backend::start`] with the variables `env` set too (e.g. a browser token's).
    pub(crate) fn start_with_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut process = Process::spawn(
            "yoi serve",
            yoi()
                .arg("serve")
                .args(args)
                .current_dir(dir)
                .env(TOKEN_VAR, RUNTIME_TOKEN)
                .envs(env.iter().copied()),
        );
        let line = process.wait_for_line(Stream::Stdout, LISTENS);
        let address = line.strip_prefix(LISTENS).unwrap();
        assert!(
            address.starts_with("127.0.0.1:") && !address.ends_with(":0"),
            "{line:?}"
        );
        assert_eq!(process.stdout_text(), format!("{line}\n"), "one line");
        // The log says so too.
        assert_eq!(process.listening_address(), address);
        Self {
            url: format!("http://{address}"),
            process,
        }
    }
}
