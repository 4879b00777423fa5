//! workspace.toml: the schema, defaults, secret references, and what every mistake reports.

mod corpus;

use std::path::{Path, PathBuf};
use std::time::Duration;

use worker_runtime::secret_env::SecretVarError;
use yoi_config::{SecretError, SecretRef, WorkspaceConfig};
use yoi_registry_core::{AdapterConfigError, Policy};

/// The example of DESIGN.md, shared with the property tests.
const DESIGN_EXAMPLE: &str = include_str!("examples/workspace.toml");

fn parse_in(dir: &Path, text: &str) -> Result<WorkspaceConfig, String> {
    WorkspaceConfig::parse(text, &dir.join("workspace.toml")).map_err(|errors| errors.to_string())
}

#[test]
fn the_design_example_parses_into_common_keys_and_adapter_settings() {
    let dir = tempfile::tempdir().unwrap();
    let config = parse_in(dir.path(), DESIGN_EXAMPLE).unwrap();
    let root = std::fs::canonicalize(dir.path()).unwrap();
    assert_eq!(config.workspace_id.as_deref(), Some("acme"));
    assert_eq!(config.root, root);
    assert_eq!(config.data_dir, root.join(".yoi"));
    assert_eq!(config.server.bind, Some("127.0.0.1:7878".parse().unwrap()));

    let ids: Vec<&str> = config
        .runtimes
        .iter()
        .map(|entry| entry.id.as_str())
        .collect();
    assert_eq!(ids, ["backend-internal", "gpu-box", "legacy"]);
    let gpu = &config.runtimes[1];
    assert_eq!(gpu.adapter, "http-client");
    assert_eq!(gpu.timeout, Duration::from_millis(5000));
    assert_eq!(
        gpu.policy,
        Policy {
            visible: true,
            read_only: false
        }
    );
    assert_eq!(gpu.secret, Some(SecretRef::Env("YOI_GPU_BOX_TOKEN".into())));
    assert_eq!(
        serde_json::Value::Object(gpu.settings.clone()),
        serde_json::json!({"base_url": "http://127.0.0.1:7979"}),
        "common keys are not passed to the adapter"
    );
    assert_eq!(config.runtimes[2].settings["data_dir"], "~/.yoi");
    assert_eq!(config.runtimes[0].timeout, yoi_config::DEFAULT_TIMEOUT);

    let input = gpu.adapter_input(&config, None);
    assert_eq!(input.id, gpu.id);
    assert_eq!(input.workspace_root, root);
}

#[test]
fn root_defaults_to_the_files_folder_and_relative_paths_follow_it() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("project")).unwrap();
    let text = "[workspace]\nroot = \"project\"\ndata_dir = \"state\"\n\
                [[runtime]]\nid = \"r\"\nadapter = \"http-client\"\ntoken_file = \"secrets/token\"\n";
    let config = parse_in(dir.path(), text).unwrap();
    let folder = std::fs::canonicalize(dir.path()).unwrap();
    assert_eq!(config.root, folder.join("project"));
    assert_eq!(config.data_dir, folder.join("project/state"));
    assert_eq!(
        config.runtimes[0].secret,
        Some(SecretRef::File(dir.path().join("secrets/token")))
    );
}

#[test]
fn without_a_file_there_is_one_embedded_runtime_plus_compat_when_pods_exist() {
    let dir = tempfile::tempdir().unwrap();
    let plain = WorkspaceConfig::discover(dir.path()).unwrap();
    assert!(plain.file.is_none());
    let adapters: Vec<(&str, &str)> = plain
        .runtimes
        .iter()
        .map(|entry| (entry.id.as_str(), entry.adapter.as_str()))
        .collect();
    assert_eq!(adapters, [("backend-internal", "embedded")]);

    std::fs::create_dir_all(dir.path().join(".yoi/pods")).unwrap();
    let with_pods = WorkspaceConfig::discover(dir.path()).unwrap();
    let adapters: Vec<(&str, &str)> = with_pods
        .runtimes
        .iter()
        .map(|entry| (entry.id.as_str(), entry.adapter.as_str()))
        .collect();
    assert_eq!(
        adapters,
        [
            ("backend-internal", "embedded"),
            ("local-pod-compat", "local-pod-compat")
        ]
    );

    std::fs::write(
        dir.path().join("workspace.toml"),
        "[[runtime]]\nid = \"only\"\nadapter = \"embedded\"\n",
    )
    .unwrap();
    let from_file = WorkspaceConfig::discover(dir.path()).unwrap();
    assert_eq!(from_file.runtimes.len(), 1);
    assert_eq!(from_file.file, Some(dir.path().join("workspace.toml")));
}

/// Malformed files and the exact report each gives (after the file name), as
/// `case | text | report`.
const MALFORMED: &[&str] = &[
    "syntax | [workspace\nid = \"a\"\n | :1:11: unclosed table, expected `]`",
    "unknown table | [servr]\nbind = \"x\"\n | :1:2: servr: unknown field `servr`",
    "unknown workspace key | [workspace]\nrooot = \".\"\n | :2:1: workspace.rooot: unknown field `rooot`",
    "unknown server key | [server]\nport = 1\n | :2:1: server.port: unknown field `port`",
    "runtime not a table | runtime = 5\n | :1:11: runtime: invalid type: integer `5`, expected [[runtime]] tables, with double brackets",
    "runtime as a single table | [runtime]\nid = \"a\"\nadapter = \"embedded\"\n | :1:1: runtime: invalid type: map, expected [[runtime]] tables, with double brackets",
    "duplicate key | [server]\nbind = \"127.0.0.1:1\"\nbind = \"127.0.0.1:2\"\n | :3:1: duplicate key",
    "duplicate table | [workspace]\nid = \"a\"\n[workspace]\nid = \"b\"\n | :3:2: duplicate key",
    "data_dir not a string | [workspace]\ndata_dir = 5\n | :2:12: workspace.data_dir: invalid type: integer `5`, expected a string",
    "root not a string | [workspace]\nroot = 5\n | :2:8: workspace.root: invalid type: integer `5`, expected a string",
    "workspace id with a path | [workspace]\nid = \"a/b\"\n | :2:6: workspace.id: workspace id must be 1 to 64 characters",
    "empty workspace id | [workspace]\nid = \"\"\n | :2:6: workspace.id: workspace id must be 1 to 64 characters of A-Z, a-z, 0-9, '_' or '-', starting with a letter or digit (it is empty)",
    "missing id | [[runtime]]\nadapter = \"embedded\"\n | :1:1: runtime[0].id: every [[runtime]] needs an id",
    "missing adapter | [[runtime]]\nid = \"a\"\n | :1:1: runtime[0].adapter: every [[runtime]] needs an adapter",
    "id with a path | [[runtime]]\nid = \"../x\"\nadapter = \"embedded\"\n | :2:6: runtime[0].id: runtime id must be 1 to 64 characters",
    "id too long | [[runtime]]\nid = \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"\nadapter = \"embedded\"\n | :2:6: runtime[0].id: runtime id must be 1 to 64 characters",
    "id not a string | [[runtime]]\nid = 5\nadapter = \"embedded\"\n | :2:6: runtime[0].id: expected a string, found an integer",
    "adapter not a string | [[runtime]]\nid = \"a\"\nadapter = [\"embedded\"]\n | :3:11: runtime[0].adapter: expected a string, found an array",
    "duplicate ids | [[runtime]]\nid = \"a\"\nadapter = \"embedded\"\n[[runtime]]\nid = \"a\"\nadapter = \"embedded\"\n | :5:1: runtime[1].id: runtime id a is already used on line 2",
    "inline token | [[runtime]]\nid = \"a\"\nadapter = \"http-client\"\ntoken = \"hunter2\"\n | :4:9: runtime[0].token: inline tokens are refused",
    "both token sources | [[runtime]]\nid = \"a\"\nadapter = \"http-client\"\ntoken_env = \"T\"\ntoken_file = \"t\"\n | :5:14: runtime[0].token_file: set token_env or token_file, not both",
    "visible not a boolean | [[runtime]]\nid = \"a\"\nadapter = \"embedded\"\nvisible = \"yes\"\n | :4:11: runtime[0].visible: expected true or false, found a string",
    "read_only not a boolean | [[runtime]]\nid = \"a\"\nadapter = \"embedded\"\nread_only = 1\n | :4:13: runtime[0].read_only: expected true or false, found an integer",
    "token_env not a string | [[runtime]]\nid = \"a\"\nadapter = \"http-client\"\ntoken_env = 5\n | :4:13: runtime[0].token_env: expected a string, found an integer",
    "empty token_env | [[runtime]]\nid = \"a\"\nadapter = \"http-client\"\ntoken_env = \"\"\n | :4:13: runtime[0].token_env: expected the name of an environment variable, such as YOI_TOKEN",
    "token_env with an equals sign | [server]\ntoken_env = \"A=hunter2\"\n | :2:13: server.token_env: expected the name of an environment variable, such as YOI_TOKEN",
    "empty token_file | [[runtime]]\nid = \"a\"\nadapter = \"http-client\"\ntoken_file = \"\"\n | :4:14: runtime[0].token_file: expected the path of the file that holds the token",
    "zero timeout | [[runtime]]\nid = \"a\"\nadapter = \"embedded\"\ntimeout_ms = 0\n | :4:14: runtime[0].timeout_ms: expected a number of milliseconds above zero, found an integer",
    "negative timeout | [[runtime]]\nid = \"a\"\nadapter = \"embedded\"\ntimeout_ms = -5\n | :4:14: runtime[0].timeout_ms: expected a number of milliseconds above zero",
    "fractional timeout | [[runtime]]\nid = \"a\"\nadapter = \"embedded\"\ntimeout_ms = 1.5\n | :4:14: runtime[0].timeout_ms: expected a number of milliseconds above zero, found a float",
    "display name not a string | [[runtime]]\nid = \"a\"\nadapter = \"embedded\"\ndisplay_name = 3\n | :4:16: runtime[0].display_name: expected a string, found an integer",
    "bad bind address | [server]\nbind = \"localhost\"\n | :2:8: server.bind: expected an address such as 127.0.0.1:7878",
    "bind port out of range | [server]\nbind = \"127.0.0.1:99999\"\n | :2:8: server.bind: expected an address such as 127.0.0.1:7878",
    "tls_cert without tls_key | [server]\ntls_cert = \"cert.pem\"\n | :2:12: server.tls_cert: needs tls_key too",
    "tls_key without tls_cert | [server]\ntls_key = \"key.pem\"\n | :2:11: server.tls_key: needs tls_cert too",
    "bind not a string | [server]\nbind = 7878\n | :2:8: server.bind: invalid type: integer `7878`, expected a string",
    "inline server token | [server]\ntoken = \"hunter2\"\n | :2:9: server.token: inline tokens are refused",
];

#[test]
fn every_malformed_file_reports_file_line_column_key_and_message() {
    assert!(MALFORMED.len() >= 35);
    for (case, report) in corpus::check(MALFORMED, "workspace.toml", parse_in) {
        assert!(
            !report.contains("hunter2"),
            "{case}: an inline token was echoed"
        );
    }
}

#[test]
fn all_errors_of_a_file_are_reported_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let text = "[[runtime]]\nid = \"../a\"\nadapter = \"embedded\"\n[[runtime]]\nid = \"b\"\n";
    let report = parse_in(dir.path(), text).unwrap_err();
    let lines: Vec<&str> = report.lines().collect();
    assert_eq!(lines.len(), 2, "{report}");
    assert!(
        lines[0].contains(":2:6: runtime[0].id"),
        "in file order: {report}"
    );
    assert!(
        lines[1].contains(":4:1: runtime[1].adapter"),
        "at the table's header: {report}"
    );
}

#[test]
fn adapter_complaints_point_at_their_key() {
    let dir = tempfile::tempdir().unwrap();
    let text = "[[runtime]]\nid = \"gpu\"\nadapter = \"http-client\"\nbase_ur = \"x\"\n";
    let config = parse_in(dir.path(), text).unwrap();
    let entry = &config.runtimes[0];
    let file = dir.path().join("workspace.toml").display().to_string();
    let at_key = entry.adapter_error(
        &config,
        &AdapterConfigError::at("base_ur", "unknown field `base_ur`"),
    );
    assert_eq!(
        at_key.to_string(),
        format!("{file}:4:1: runtime[0].base_ur: unknown field `base_ur`")
    );
    let at_table = entry.error(&config, None, "adapter `x` is not compiled in".into());
    assert_eq!(
        at_table.to_string(),
        format!("{file}:1:1: runtime[0]: adapter `x` is not compiled in")
    );
}

#[test]
fn secrets_resolve_from_their_reference_and_errors_name_only_the_reference() {
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "  s3cret\n").unwrap();
    let secret = SecretRef::File(token_file).resolve().unwrap();
    assert_eq!(secret.expose(), "s3cret");
    assert!(!format!("{secret:?}").contains("s3cret"));

    let missing = SecretRef::Env("YOI_CONFIG_TEST_UNSET".into())
        .resolve()
        .unwrap_err();
    assert_eq!(
        missing,
        SecretError::Variable(SecretVarError::Missing("YOI_CONFIG_TEST_UNSET".into()))
    );
    assert_eq!(
        missing.to_string(),
        "environment variable YOI_CONFIG_TEST_UNSET is not set"
    );

    let absent = PathBuf::from("/nonexistent/token");
    let unreadable = SecretRef::File(absent).resolve().unwrap_err();
    assert_eq!(
        unreadable.to_string(),
        "cannot read the token file /nonexistent/token: entity not found"
    );

    let empty_file = dir.path().join("empty");
    std::fs::write(&empty_file, "\n").unwrap();
    assert!(matches!(
        SecretRef::File(empty_file).resolve(),
        Err(SecretError::Empty(_))
    ));
}

#[test]
fn an_unreadable_file_is_one_error_naming_it() {
    let report = WorkspaceConfig::load(Path::new("/nonexistent/workspace.toml")).unwrap_err();
    assert_eq!(report.0.len(), 1);
    assert!(
        report
            .to_string()
            .starts_with("/nonexistent/workspace.toml: cannot read the file")
    );
}

#[test]
fn a_bare_file_name_is_in_the_working_directory() {
    let config = WorkspaceConfig::parse("", Path::new("workspace.toml")).unwrap();
    assert!(config.root.is_absolute(), "{}", config.root.display());
    assert_eq!(config.root, std::fs::canonicalize(".").unwrap());
}
