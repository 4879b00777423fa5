use worker_runtime::{
    CommandSettings, EchoSettings, EngineSettings, Runtime, RuntimeConfig, RuntimeConfigError,
    Severity,
};

const FULL: &str = r#"
id = "gpu-box"
display_name = "GPU box"

[profiles.default]
engine = "echo"
chunk_chars = 4

[profiles.shout]
engine = "command"
program = "tr"
args = ["a-z", "A-Z"]
timeout_ms = 30000

[limits]
max_workers = 100
max_input_bytes = 1024
retained_events = 50
retained_transcript = 20
"#;

fn parse(text: &str) -> Result<RuntimeConfig, toml::de::Error> {
    toml::from_str(text)
}

#[test]
fn a_full_config_parses_from_toml() {
    let config = parse(FULL).unwrap();
    assert_eq!(config.id.as_str(), "gpu-box");
    assert_eq!(config.display_name.as_deref(), Some("GPU box"));
    assert_eq!(
        config.profiles["default"],
        EngineSettings::Echo(EchoSettings {
            chunk_chars: 4,
            delay_ms: 0
        })
    );
    assert_eq!(
        config.profiles["shout"],
        EngineSettings::Command(CommandSettings {
            program: "tr".into(),
            args: vec!["a-z".into(), "A-Z".into()],
            timeout_ms: 30_000,
        })
    );
    assert_eq!(config.limits.max_workers, 100);
    assert_eq!(config.limits.retained_transcript, 20);

    let summary = Runtime::new(config).unwrap().summary();
    assert_eq!(summary.display_name, "GPU box");
    assert_eq!(summary.profiles, ["default", "shout"]);
    assert_eq!(summary.capabilities.engines, ["command", "echo"]);
    assert_eq!(summary.capabilities.max_input_bytes, 1024);
}

#[test]
fn without_profiles_there_is_one_default_echo_profile() {
    let config = parse(r#"id = "laptop""#).unwrap();
    let summary = Runtime::new(config).unwrap().summary();
    assert_eq!(summary.profiles, ["default"]);
    assert_eq!(summary.capabilities.engines, ["echo"]);
    assert_eq!(summary.display_name, "laptop");
}

#[test]
fn unknown_keys_are_errors_naming_the_key() {
    let cases = [
        ("id = \"r\"\ncolour = 1", "colour"),
        ("id = \"r\"\n[limits]\nmax_worker = 1", "max_worker"),
        (
            "id = \"r\"\n[profiles.p]\nengine = \"command\"\nprogramm = \"x\"",
            "programm",
        ),
        (
            "id = \"r\"\n[profiles.p]\nengine = \"echo\"\ndelay = 1",
            "delay",
        ),
    ];
    for (text, key) in cases {
        let error = parse(text).unwrap_err().to_string();
        assert!(error.contains(key), "{text:?}: {error}");
    }
}

#[test]
fn malformed_values_are_errors() {
    for text in [
        "",                                               // no id
        "id = \"../x\"",                                  // invalid id
        "id = \"r\"\n[profiles.p]\nengine = \"llm\"",     // unknown engine
        "id = \"r\"\n[profiles.p]\nprogram = \"x\"",      // no engine
        "id = \"r\"\n[profiles.p]\nengine = \"command\"", // no program
        "id = \"r\"\n[limits]\nmax_workers = -1",         // negative
    ] {
        assert!(parse(text).is_err(), "{text:?} parsed");
    }
}

#[test]
fn unusable_values_are_refused_by_runtime_new() {
    let cases = [
        (
            "id = \"r\"\n[limits]\nmax_workers = 0",
            RuntimeConfigError::ZeroLimit("max_workers"),
        ),
        (
            "id = \"r\"\n[limits]\nretained_events = 0",
            RuntimeConfigError::ZeroLimit("retained_events"),
        ),
        (
            "id = \"r\"\n[profiles.p]\nengine = \"command\"\nprogram = \" \"",
            RuntimeConfigError::Profile {
                profile: "p".into(),
                problem: "program is empty",
            },
        ),
        (
            "id = \"r\"\n[profiles.p]\nengine = \"command\"\nprogram = \"x\"\ntimeout_ms = 0",
            RuntimeConfigError::Profile {
                profile: "p".into(),
                problem: "timeout_ms must be at least 1",
            },
        ),
        (
            "id = \"r\"\n[profiles.p]\nengine = \"echo\"\nchunk_chars = 0",
            RuntimeConfigError::Profile {
                profile: "p".into(),
                problem: "chunk_chars must be at least 1",
            },
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(
            Runtime::new(parse(text).unwrap()).unwrap_err(),
            expected,
            "{text:?}"
        );
    }
    let bad_name = parse("id = \"r\"\n[profiles.\"a b\"]\nengine = \"echo\"").unwrap();
    assert!(matches!(
        Runtime::new(bad_name),
        Err(RuntimeConfigError::ProfileName(_))
    ));
    let bad_display = parse("id = \"r\"\ndisplay_name = \"a\\u0007\"").unwrap();
    assert!(matches!(
        Runtime::new(bad_display),
        Err(RuntimeConfigError::DisplayName(_))
    ));
}

#[test]
fn a_missing_program_is_a_diagnostic_without_its_path() {
    let config = parse(
        "id = \"r\"\n[profiles.ghost]\nengine = \"command\"\nprogram = \"/nonexistent/bin/ghost\"",
    )
    .unwrap();
    let diagnostics = Runtime::new(config).unwrap().diagnostics();
    assert_eq!(diagnostics.len(), 1);
    assert_eq!(diagnostics[0].code, "program_not_found");
    assert_eq!(diagnostics[0].severity, Severity::Warning);
    assert!(diagnostics[0].message.contains("ghost"));
    assert!(!diagnostics[0].message.contains("/nonexistent"));

    let found = parse("id = \"r\"\n[profiles.p]\nengine = \"command\"\nprogram = \"sh\"").unwrap();
    assert!(Runtime::new(found).unwrap().diagnostics().is_empty());
}

#[test]
fn the_config_round_trips_through_toml() {
    let config = parse(FULL).unwrap();
    let text = toml::to_string(&config).unwrap();
    assert_eq!(parse(&text).unwrap(), config);
}
