//! `yoi adapters` and `yoi config check`, run as the real binary.

use std::process::{Command, Output};

fn yoi(args: &[&str], dir: &std::path::Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_yoi"))
        .args(args)
        .current_dir(dir)
        .env_remove("YOI_CHECK_TOKEN")
        .output()
        .unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

#[test]
fn adapters_lists_what_this_build_registered() {
    let dir = tempfile::tempdir().unwrap();
    let output = yoi(&["adapters"], dir.path());
    assert!(output.status.success());
    // The binary's own registry, so this also proves the adapters were linked.
    assert_eq!(stdout(&output), "embedded\nhttp-client\nlocal-pod-compat\n");
}

#[test]
fn check_without_a_file_reports_the_default_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let output = yoi(&["config", "check"], dir.path());
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        stdout(&output),
        "ok: no workspace.toml: the default configuration\n  backend-internal  embedded\n"
    );
    assert!(
        !dir.path().join(".yoi").exists(),
        "checking touches nothing"
    );
}

#[test]
fn check_of_a_good_file_prints_ok_and_the_runtimes() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("token"), "t0k3n\n").unwrap();
    std::fs::write(
        dir.path().join("workspace.toml"),
        "[[runtime]]\nid = \"inside\"\nadapter = \"embedded\"\n\n\
         [[runtime]]\nid = \"gpu\"\nadapter = \"http-client\"\nbase_url = \"http://127.0.0.1:7979\"\n\
         token_file = \"token\"\nread_only = true\n\n\
         [[runtime]]\nid = \"legacy\"\nadapter = \"local-pod-compat\"\nvisible = false\n",
    )
    .unwrap();
    let output = yoi(&["config", "check"], dir.path());
    assert!(output.status.success(), "{}", stderr(&output));
    let report = stdout(&output);
    assert!(report.starts_with("ok: "), "{report}");
    assert!(report.ends_with(
        "  inside  embedded\n  gpu  remote_http, read-only\n  legacy  local_compatibility, hidden, read-only\n"
    ));
    assert!(
        !report.contains("t0k3n") && !report.contains("7979"),
        "{report}"
    );
}

#[test]
fn check_of_a_bad_file_reports_every_error_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("custom.toml");
    std::fs::write(
        &file,
        "[[runtime]]\nid = \"gpu\"\nadapter = \"http-client\"\nbase_ur = \"x\"\ntoken_env = \"YOI_CHECK_TOKEN\"\n\
         [[runtime]]\nid = \"x\"\nadapter = \"gpu-magic\"\n",
    )
    .unwrap();
    let output = yoi(&["config", "check", file.to_str().unwrap()], dir.path());
    assert_eq!(output.status.code(), Some(1));
    assert!(stdout(&output).is_empty());
    let report = stderr(&output);
    let name = file.display().to_string();
    let lines: Vec<&str> = report.lines().collect();
    assert_eq!(lines.len(), 3, "{report}");
    assert!(lines[0].starts_with(&format!(
        "yoi: {name}:4:1: runtime[0].base_ur: unknown field `base_ur`"
    )));
    assert_eq!(
        lines[1],
        format!(
            "{name}:5:1: runtime[0].token_env: environment variable YOI_CHECK_TOKEN is not set"
        )
    );
    assert!(lines[2].starts_with(&format!(
        "{name}:8:1: runtime[1].adapter: unknown adapter `gpu-magic`"
    )));
}

#[test]
fn an_embedded_model_profile_is_checked_at_its_nested_keys() {
    let dir = tempfile::tempdir().unwrap();
    let table = "[[runtime]]\nid = \"a\"\nadapter = \"embedded\"\n\n[runtime.profiles.assistant]\n\
                 engine = \"openai\"\nmodel = \"m\"\napi_key_env = \"YOI_CHECK_UNSET_KEY\"\n";
    std::fs::write(dir.path().join("workspace.toml"), table).unwrap();
    let output = yoi(&["config", "check"], dir.path());
    assert!(!output.status.success());
    let file = dir.path().join("workspace.toml");
    let expected = format!(
        "yoi: {}:8:15: runtime[0].profiles.assistant.api_key_env: environment variable \
         YOI_CHECK_UNSET_KEY is not set\n",
        file.display()
    );
    assert_eq!(stderr(&output), expected);

    let bad_url = table.replace(
        "api_key_env = \"YOI_CHECK_UNSET_KEY\"",
        "base_url = \"ftp://x\"",
    );
    std::fs::write(&file, bad_url).unwrap();
    let report = stderr(&yoi(&["config", "check"], dir.path()));
    assert!(
        report.contains(":8:12: runtime[0].profiles.assistant.base_url: must be an http://"),
        "{report}"
    );
}
