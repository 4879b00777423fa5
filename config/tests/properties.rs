//! Properties of configuration parsing and id validation, over arbitrary and mutated input: no
//! panic, every error placed inside the text and naming the file, and ids accepted exactly by
//! the rule `^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`.

use std::path::Path;

use proptest::prelude::*;
use worker_runtime::{RuntimeId, WorkerId, WorkerRef, validate_id};
use yoi_config::{ConfigErrors, WorkspaceConfig, parse_runtime_file};

const WORKSPACE_FILE: &str = "conf/workspace.toml";
const RUNTIME_FILE: &str = "conf/runtime.toml";

/// A valid workspace.toml with every kind of key (the DESIGN example).
const GOOD_WORKSPACE: &str = include_str!("examples/workspace.toml");

/// A valid runtime.toml with every kind of key.
const GOOD_RUNTIME: &str = include_str!("examples/runtime.toml");

/// Few enough cases to run in seconds in a debug build; failures are not written to the repo.
fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Text that looks like TOML often enough to get past the parser: headers, `key = value`
/// lines with the files' own keys, comments and noise.
fn tomlish() -> impl Strategy<Value = String> {
    let line = prop_oneof![
        1 => "\\[\\[runtime\\]\\]",
        1 => "\\[(workspace|server|runtime|limits|profiles\\.[a-z\"./ ]{1,6})\\]",
        1 => "\\[{1,2}[a-z_.\" ]{0,12}\\]{0,2}",
        12 => "(id|adapter|root|data_dir|bind|token|token_env|token_file|timeout_ms|visible|read_only|\
         display_name|engine|program|args|chunk_chars|max_workers|[a-z_.]{1,8}) ?= ?\
         (\"[A-Za-z0-9:./ _=-]{0,12}\"|-?[0-9]{1,22}|true|false|1\\.5|\\[\\]|\\[1, \"a\"\\]|\
         \\{\\}|\\{ a = 1 \\}|\"\"\"|'x|\"echo\"|\"command\"|\"embedded\")",
        1 => "#.{0,10}",
        1 => ".{0,16}",
    ];
    prop::collection::vec(line, 0..12).prop_map(|lines| lines.join("\n"))
}

/// One edit at a position taken modulo the text's length in characters.
#[derive(Debug, Clone)]
enum Edit {
    Insert(usize, char),
    Delete(usize),
    Replace(usize, char),
}

/// Characters that matter to TOML, characters of keys and values, and now and then any
/// character.
fn toml_char() -> impl Strategy<Value = char> {
    let significant: Vec<char> = "[]\"'=.,#{}\\\n\r\t é".chars().collect();
    let plain: Vec<char> = "abcdefghijklmnopqrstuvwxyz0123456789_-".chars().collect();
    prop_oneof![
        2 => proptest::sample::select(significant),
        2 => proptest::sample::select(plain),
        1 => any::<char>(),
    ]
}

fn edits() -> impl Strategy<Value = Vec<Edit>> {
    let edit = prop_oneof![
        (any::<usize>(), toml_char()).prop_map(|(at, c)| Edit::Insert(at, c)),
        any::<usize>().prop_map(Edit::Delete),
        (any::<usize>(), toml_char()).prop_map(|(at, c)| Edit::Replace(at, c)),
    ];
    prop::collection::vec(edit, 1..4)
}

fn apply(text: &str, edits: &[Edit]) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for edit in edits {
        match *edit {
            Edit::Insert(at, c) => chars.insert(at % (chars.len() + 1), c),
            Edit::Delete(at) if !chars.is_empty() => {
                chars.remove(at % chars.len());
            }
            Edit::Replace(at, c) if !chars.is_empty() => {
                let at = at % chars.len();
                chars[at] = c;
            }
            Edit::Delete(_) | Edit::Replace(..) => {}
        }
    }
    chars.into_iter().collect()
}

/// At least one error; each names `file` and, when it has a location, one inside `text`.
fn check_report(text: &str, file: &str, errors: &ConfigErrors) -> Result<(), TestCaseError> {
    prop_assert!(!errors.0.is_empty());
    prop_assert!(errors.to_string().starts_with(file));
    let lines: Vec<&str> = text.split('\n').collect();
    for error in &errors.0 {
        prop_assert_eq!(error.file.as_path(), Path::new(file));
        prop_assert!(error.to_string().starts_with(file));
        if let Some(at) = error.location {
            prop_assert!(
                (1..=lines.len()).contains(&at.line),
                "line {} of {}",
                at.line,
                lines.len()
            );
            let columns = lines[at.line - 1].chars().count() + 1;
            prop_assert!(
                (1..=columns).contains(&at.column),
                "column {} of {}",
                at.column,
                columns
            );
        }
    }
    Ok(())
}

fn check_workspace(text: &str) -> Result<(), TestCaseError> {
    match WorkspaceConfig::parse(text, Path::new(WORKSPACE_FILE)) {
        Ok(config) => {
            for (index, entry) in config.runtimes.iter().enumerate() {
                prop_assert!(validate_id("runtime id", entry.id.as_str()).is_ok());
                let later = &config.runtimes[index + 1..];
                prop_assert!(later.iter().all(|other| other.id != entry.id));
            }
            Ok(())
        }
        Err(errors) => check_report(text, WORKSPACE_FILE, &errors),
    }
}

fn check_runtime(text: &str) -> Result<(), TestCaseError> {
    let id = RuntimeId::new("r1").unwrap();
    match parse_runtime_file(text, Path::new(RUNTIME_FILE), id.clone()) {
        Ok(config) => {
            prop_assert_eq!(&config.id, &id);
            prop_assert!(config.validate().is_ok());
            Ok(())
        }
        Err(errors) => check_report(text, RUNTIME_FILE, &errors),
    }
}

/// The id rule of DESIGN.md written out by hand: 1 to 64 characters, the first an ASCII letter
/// or digit, the others ASCII letters, digits, `_` or `-`.
fn follows_the_id_rule(text: &str) -> bool {
    let mut chars = text.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    first_ok && rest_ok && text.chars().count() <= 64
}

/// Strings that are ids, nearly ids, or anything.
fn id_candidates() -> impl Strategy<Value = String> {
    prop_oneof![
        "[A-Za-z0-9][A-Za-z0-9_-]{0,70}",
        "[A-Za-z0-9_./\\\\ \\t\\x00é@-]{0,70}",
        any::<String>(),
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn workspace_parsing_of_any_text_reports_errors_inside_the_text(text in any::<String>()) {
        check_workspace(&text)?;
    }

    #[test]
    fn workspace_parsing_of_tomlish_text_reports_errors_inside_the_text(text in tomlish()) {
        check_workspace(&text)?;
    }

    #[test]
    fn workspace_parsing_of_an_edited_good_file_reports_errors_inside_the_text(
        edits in edits(),
    ) {
        check_workspace(&apply(GOOD_WORKSPACE, &edits))?;
    }

    #[test]
    fn runtime_parsing_of_any_text_reports_errors_inside_the_text(text in any::<String>()) {
        check_runtime(&text)?;
    }

    #[test]
    fn runtime_parsing_of_tomlish_text_reports_errors_inside_the_text(text in tomlish()) {
        check_runtime(&text)?;
    }

    #[test]
    fn runtime_parsing_of_an_edited_good_file_reports_errors_inside_the_text(edits in edits()) {
        check_runtime(&apply(GOOD_RUNTIME, &edits))?;
    }

    #[test]
    fn ids_are_accepted_exactly_by_the_rule(text in id_candidates()) {
        let runtime = RuntimeId::new(text.as_str());
        let worker = WorkerId::new(text.as_str());
        prop_assert_eq!(runtime.is_ok(), follows_the_id_rule(&text));
        prop_assert_eq!(worker.is_ok(), follows_the_id_rule(&text));
        prop_assert_eq!(validate_id("id", &text).is_ok(), follows_the_id_rule(&text));
        let json = serde_json::to_string(&text).unwrap();
        prop_assert_eq!(
            serde_json::from_str::<RuntimeId>(&json).is_ok(),
            follows_the_id_rule(&text)
        );
    }

    #[test]
    fn accepted_ids_are_safe_and_round_trip(text in id_candidates()) {
        let (Ok(runtime), Ok(worker)) = (RuntimeId::new(text.as_str()), WorkerId::new(text.as_str()))
        else {
            return Ok(());
        };
        prop_assert!(text.len() <= 64);
        prop_assert!(!text.contains(['/', '\\', '\0']));
        prop_assert!(!text.contains(".."));
        prop_assert!(!text.chars().any(char::is_whitespace));

        prop_assert_eq!(runtime.to_string(), text.as_str());
        prop_assert_eq!(text.parse::<RuntimeId>().unwrap(), runtime.clone());
        let json = serde_json::to_string(&runtime).unwrap();
        prop_assert_eq!(serde_json::from_str::<RuntimeId>(&json).unwrap(), runtime.clone());
        prop_assert_eq!(worker.as_str(), text.as_str());
        let json = serde_json::to_string(&worker).unwrap();
        prop_assert_eq!(serde_json::from_str::<WorkerId>(&json).unwrap(), worker.clone());

        let reference = WorkerRef::new(runtime, worker);
        prop_assert_eq!(reference.to_string().parse::<WorkerRef>().unwrap(), reference);
    }
}
