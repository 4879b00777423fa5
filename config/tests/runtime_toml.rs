//! runtime.toml: a valid file, and what every mistake reports.

mod corpus;

use std::collections::BTreeMap;
use std::path::Path;

use worker_runtime::{
    CommandSettings, EchoSettings, EngineSettings, Limits, RuntimeConfig, RuntimeId,
};
use yoi_config::{load_runtime_file, parse_runtime_file};

fn parse_in(dir: &Path, text: &str) -> Result<RuntimeConfig, String> {
    parse_runtime_file(text, &dir.join("runtime.toml"), id()).map_err(|errors| errors.to_string())
}

fn id() -> RuntimeId {
    RuntimeId::new("gpu-box").unwrap()
}

#[test]
fn a_valid_file_parses_into_the_runtime_config_with_the_given_id() {
    let dir = tempfile::tempdir().unwrap();
    let text = include_str!("examples/runtime.toml");
    let config = parse_in(dir.path(), text).unwrap();
    let expected = RuntimeConfig {
        id: id(),
        display_name: Some("GPU box".to_owned()),
        profiles: BTreeMap::from([
            (
                "default".to_owned(),
                EngineSettings::Echo(EchoSettings::default()),
            ),
            (
                "slow".to_owned(),
                EngineSettings::Echo(EchoSettings {
                    chunk_chars: 1,
                    delay_ms: 5,
                }),
            ),
            (
                "shout".to_owned(),
                EngineSettings::Command(CommandSettings {
                    program: "tr".to_owned(),
                    args: vec!["a-z".to_owned(), "A-Z".to_owned()],
                    timeout_ms: 30_000,
                }),
            ),
        ]),
        limits: Limits {
            max_workers: 100,
            ..Limits::default()
        },
    };
    assert_eq!(config, expected);
}

#[test]
fn an_empty_file_is_the_default_configuration() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(parse_in(dir.path(), "").unwrap(), RuntimeConfig::new(id()));
}

/// Malformed files and the exact report each gives (after the file name), as
/// `case | text | report`.
const MALFORMED: &[&str] = &[
    "syntax | [profiles.default\nengine = \"echo\"\n | :1:18: unclosed table, expected `]`",
    "duplicate key | display_name = \"a\"\ndisplay_name = \"b\"\n | :2:1: duplicate key",
    "unknown top-level key | colour = 1\n | :1:1: colour: unknown field `colour`, expected one of `display_name`, `profiles`, `limits`",
    "id in the file | display_name = \"x\"\nid = \"other\"\n | :2:6: id: the runtime id comes from --id; remove `id` from this file",
    "display name not a string | display_name = 5\n | :1:16: display_name: invalid type: integer `5`, expected a string",
    "display name blank | display_name = \"  \"\n | :1:16: display_name: display name is empty",
    "display name with a control character | display_name = \"a\\u0007b\"\n | :1:16: display_name: display name contains a control character",
    "display name too long | display_name = \"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"\n | :1:16: display_name: display name is longer than 128 characters",
    "profile not a table | [profiles]\ndefault = \"echo\"\n | :2:11: profiles.default: invalid type: string \"echo\", expected a map",
    "unknown engine | [profiles.default]\nengine = \"python\"\n | :2:10: profiles.default.engine: unknown variant `python`, expected one of `echo`, `command`, `openai`, `anthropic`",
    "missing engine | [profiles.default]\nchunk_chars = 2\n | :1:1: profiles.default.engine: missing field `engine`",
    "profile name with a path | [profiles.\"../x\"]\nengine = \"echo\"\n | :1:11: profiles.\"../x\": profile name must be 1 to 64 characters",
    "command without a program | [profiles.shout]\nengine = \"command\"\nargs = [\"x\"]\n | :1:1: profiles.shout.program: missing field `program`",
    "command with an empty program | [profiles.shout]\nengine = \"command\"\nprogram = \"\"\n | :1:11: profiles.shout: program is empty",
    "command arguments not strings | [profiles.shout]\nengine = \"command\"\nprogram = \"tr\"\nargs = [1]\n | :4:8: profiles.shout.args[0]: invalid type: integer `1`, expected a string",
    "zero command timeout | [profiles.shout]\nengine = \"command\"\nprogram = \"tr\"\ntimeout_ms = 0\n | :1:11: profiles.shout: timeout_ms must be at least 1",
    "command timeout not a number | [profiles.shout]\nengine = \"command\"\nprogram = \"tr\"\ntimeout_ms = \"5s\"\n | :4:14: profiles.shout.timeout_ms: invalid type: string \"5s\", expected u64",
    "negative command timeout | [profiles.shout]\nengine = \"command\"\nprogram = \"tr\"\ntimeout_ms = -1\n | :4:14: profiles.shout.timeout_ms: invalid value: integer `-1`, expected u64",
    "unknown echo setting | [profiles.default]\nengine = \"echo\"\ncolour = 0\n | :3:1: profiles.default.colour: unknown field `colour`, expected `chunk_chars` or `delay_ms`",
    "echo setting of a command | [profiles.default]\nengine = \"echo\"\nprogram = \"tr\"\n | :3:1: profiles.default.program: unknown field `program`",
    "zero echo chunk | profiles.default.engine = \"echo\"\nprofiles.default.chunk_chars = 0\n | :1:10: profiles.default: chunk_chars must be at least 1",
    "fractional echo delay | [profiles.default]\nengine = \"echo\"\ndelay_ms = 1.5\n | :3:12: profiles.default.delay_ms: invalid type: floating point `1.5`, expected u64",
    "zero max_workers | [limits]\nmax_workers = 0\n | :2:15: limits.max_workers: must be at least 1",
    "zero retained_events | [limits]\nmax_workers = 5\nretained_events = 0\n | :3:19: limits.retained_events: must be at least 1",
    "unknown limit | [limits]\nmax_worker = 5\n | :2:1: limits.max_worker: unknown field `max_worker`, expected one of `max_workers`",
    "negative limit | [limits]\nmax_input_bytes = -3\n | :2:19: limits.max_input_bytes: invalid value: integer `-3`, expected usize",
    "model profile without a model | [profiles.a]\nengine = \"openai\"\n | :1:1: profiles.a.model: missing field `model`",
    "model base_url without a scheme | [profiles.a]\nengine = \"openai\"\nmodel = \"m\"\nbase_url = \"localhost:11434\"\n | :4:12: profiles.a.base_url: must be an http:// or https:// URL without credentials, query or fragment",
    "inline api key | [profiles.a]\nengine = \"anthropic\"\nmodel = \"m\"\napi_key = \"sk-inline\"\n | :4:11: profiles.a.api_key: inline keys are refused; use api_key_env or api_key_file",
    "api key variable not set | [profiles.a]\nengine = \"openai\"\nmodel = \"m\"\napi_key_env = \"YOI_TEST_UNSET_KEY\"\n | :4:15: profiles.a.api_key_env: environment variable YOI_TEST_UNSET_KEY is not set",
    "api key file unreadable | [profiles.a]\nengine = \"openai\"\nmodel = \"m\"\napi_key_file = \"/nonexistent/key\"\n | :4:16: profiles.a.api_key_file: cannot read the key file /nonexistent/key: entity not found",
    "zero context entries | [profiles.a]\nengine = \"openai\"\nmodel = \"m\"\ncontext_entries = 0\n | :4:19: profiles.a.context_entries: must be at least 1",
];

#[test]
fn every_malformed_file_reports_file_line_column_key_and_message() {
    assert!(MALFORMED.len() >= 26);
    corpus::check(MALFORMED, "runtime.toml", parse_in);
}

#[test]
fn every_profile_whose_settings_do_not_deserialize_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let text = "[profiles.a]\nengine = \"echo\"\ndelay_ms = \"x\"\n\
                [profiles.b]\nengine = \"command\"\n";
    let report = parse_in(dir.path(), text).unwrap_err();
    let lines: Vec<&str> = report.lines().collect();
    assert_eq!(lines.len(), 2, "{report}");
    assert!(lines[0].contains(":3:12: profiles.a.delay_ms"), "{report}");
    assert!(lines[1].contains(":4:1: profiles.b.program"), "{report}");
}

#[test]
fn an_unreadable_file_is_one_error_naming_it() {
    let report = load_runtime_file(Path::new("/nonexistent/runtime.toml"), id()).unwrap_err();
    assert_eq!(report.0.len(), 1);
    assert!(
        report
            .to_string()
            .starts_with("/nonexistent/runtime.toml: cannot read the file")
    );
}

#[test]
fn a_relative_key_file_is_read_from_the_files_folder() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("openai.key"), "  sk-from-file\n").unwrap();
    let text = "[profiles.a]\nengine = \"openai\"\nmodel = \"m\"\napi_key_file = \"openai.key\"\n";
    let config = parse_in(dir.path(), text).unwrap();
    let key = config.profiles["a"]
        .model()
        .unwrap()
        .api_key
        .as_ref()
        .unwrap();
    assert_eq!(key.expose(), "sk-from-file");
    assert!(!format!("{config:?}").contains("sk-from-file"));
}
