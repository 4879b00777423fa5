//! `yoi config reload` and SIGHUP against the real `yoi serve`: the runtimes change as the file
//! says (a changed remote runtime rebuilt with the token its variable held at start), `[server]`
//! changes are logged as waiting for a restart, and a broken file is refused whole, every error
//! logged at its line, the running configuration kept.

#[expect(
    dead_code,
    reason = "each test binary uses its own part of the helpers"
)]
mod common;

use std::path::Path;
use std::process::Output;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;

use common::{Backend, TOKEN_VAR, start_runtime, yoi};

/// A variable the Backend has at start but whose name no table gives until a reload.
const LATE_VAR: &str = "YOI_E2E_LATE_TOKEN";

/// Its value: distinctive, so that a leak cannot hide.
const LATE_TOKEN: &str = "late-Qx81Vb7Ny";

fn remote_table(address: &str, timeout_ms: u64) -> String {
    format!(
        "[[runtime]]\nid = \"remote\"\nadapter = \"http-client\"\nbase_url = \"http://{address}\"\n\
         token_env = \"{TOKEN_VAR}\"\ntimeout_ms = {timeout_ms}\n\n"
    )
}

fn embedded_table(id: &str) -> String {
    format!("[[runtime]]\nid = \"{id}\"\nadapter = \"embedded\"\npersist = false\n\n")
}

/// `yoi ARGS` against the Backend at `url`.
fn run(url: &str, args: &[&str]) -> Output {
    yoi().arg("--backend").arg(url).args(args).output().unwrap()
}

/// The runtimes the Backend lists, with their status.
fn runtimes(url: &str) -> Vec<(String, String)> {
    let output = run(url, &["--json", "runtimes"]);
    assert!(output.status.success(), "{output:?}");
    let body: Value = serde_json::from_slice(&output.stdout).unwrap();
    body["runtimes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|runtime| {
            let field = |name: &str| runtime[name].as_str().unwrap().to_owned();
            (field("runtime_id"), field("status"))
        })
        .collect()
}

fn pair(id: &str, status: &str) -> (String, String) {
    (id.to_owned(), status.to_owned())
}

/// `yoi config reload FILE`, run in the workspace's folder.
fn config_reload(dir: &Path, file: &Path) -> Output {
    yoi()
        .args(["config", "reload"])
        .arg(file)
        .current_dir(dir)
        .output()
        .unwrap()
}

#[test]
fn sighup_reloads_the_runtimes_and_a_broken_file_changes_nothing() {
    let runtime_dir = tempfile::tempdir().unwrap();
    let (_runtime, address) = start_runtime("remote", runtime_dir.path());
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("workspace.toml");
    let first = format!("{}{}", remote_table(&address, 2000), embedded_table("one"));
    std::fs::write(&file, first).unwrap();
    let config = file.to_str().unwrap();
    let args = ["--config", config, "--bind", "127.0.0.1:0"];
    let mut backend = Backend::start_with_env(dir.path(), &args, &[(LATE_VAR, LATE_TOKEN)]);
    let url = backend.url.clone();
    assert_eq!(
        runtimes(&url),
        [pair("remote", "available"), pair("one", "available")]
    );

    let second = format!(
        "[server]\nbind = \"127.0.0.1:1\"\n\n{}{}",
        remote_table(&address, 3000),
        embedded_table("two")
    );
    std::fs::write(&file, second).unwrap();
    let asked = config_reload(dir.path(), &file);
    assert!(asked.status.success(), "{asked:?}");
    let said = String::from_utf8(asked.stdout).unwrap();
    assert!(said.starts_with("asked the Backend (pid "), "{said}");
    backend.process.wait_for_log(
        "configuration reloaded: 1 added (two), 1 removed (one), 1 changed (remote), 0 unchanged",
    );
    backend
        .process
        .wait_for_log("[server] bind cannot change on reload");
    // The changed remote runtime was rebuilt with the token its variable held at start.
    assert_eq!(
        runtimes(&url),
        [pair("remote", "available"), pair("two", "available")]
    );
    let created = run(&url, &["create", "remote", "--id", "after"]);
    assert!(created.status.success(), "{created:?}");

    a_broken_file_is_refused(dir.path(), &file, &mut backend, &address);
    assert_eq!(
        runtimes(&url),
        [pair("remote", "available"), pair("two", "available")]
    );
    let log = backend.process.stderr_text();
    assert!(
        !log.contains(common::RUNTIME_TOKEN) && !log.contains(LATE_TOKEN),
        "{log}"
    );
    let status = backend.process.terminate();
    assert!(status.success(), "{status}");
    assert!(
        !dir.path().join(".yoi/serve.pid").exists(),
        "the pid file goes with the Backend"
    );
}

/// A file that does not parse is refused by `yoi config reload` before anything is sent; one
/// that parses but cannot be built (a variable the Backend did not read at start) is refused by
/// the Backend, each error logged as `file:line:column: key: message`; so is one that moves the
/// data folder.
fn a_broken_file_is_refused(dir: &Path, file: &Path, backend: &mut Backend, address: &str) {
    std::fs::write(file, "[[runtime]]\nid = \"remote\"\nadapter = 7\n").unwrap();
    let refused = config_reload(dir, file);
    assert!(!refused.status.success());
    let said = String::from_utf8(refused.stderr).unwrap();
    assert!(said.contains("workspace.toml:3:"), "{said}");
    assert!(said.contains("nothing was sent"), "{said}");

    let late = format!(
        "{}[[runtime]]\nid = \"late\"\nadapter = \"http-client\"\nbase_url = \"http://{address}\"\n\
         token_env = \"{LATE_VAR}\"\n",
        remote_table(address, 3000)
    );
    std::fs::write(file, late).unwrap();
    let pid = std::fs::read_to_string(dir.join(".yoi/serve.pid")).unwrap();
    let pid = Pid::from_raw(pid.trim().parse().unwrap());
    kill(pid, Signal::SIGHUP).unwrap();
    let line = backend
        .process
        .wait_for_log("was not read when the process started");
    assert!(line.contains("workspace.toml:12:"), "{line}");
    assert!(line.contains("runtime[1].token_env"), "{line}");
    backend
        .process
        .wait_for_log("the configuration was not reloaded: 1 error(s); the running one stays");

    let moved = format!(
        "[workspace]\ndata_dir = \"elsewhere\"\n\n{}",
        remote_table(address, 3000)
    );
    std::fs::write(file, moved).unwrap();
    kill(pid, Signal::SIGHUP).unwrap();
    backend
        .process
        .wait_for_log("workspace.data_dir: cannot change on reload");
}

#[test]
fn a_variable_unset_at_start_is_named_as_unset() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("workspace.toml");
    let table = "[[runtime]]\nid = \"remote\"\nadapter = \"http-client\"\n\
                 base_url = \"http://127.0.0.1:9\"\ntoken_env = \"YOI_E2E_NEVER_SET\"\n";
    std::fs::write(&file, table).unwrap();
    let output = yoi()
        .arg("serve")
        .arg("--config")
        .arg(&file)
        .args(["--bind", "127.0.0.1:0"])
        .env_remove("YOI_E2E_NEVER_SET")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let said = String::from_utf8(output.stderr).unwrap();
    assert!(
        said.contains("runtime[0].token_env: environment variable YOI_E2E_NEVER_SET is not set"),
        "{said}"
    );
}
