//! The check both malformed-file corpora share: every case is refused with a report that starts
//! with the file, line, column, key and message written in its line.

use std::path::Path;

/// Parses the text of every `case | text | report` line of `corpus` as a file named `file_name`
/// in a fresh folder, checks that each is refused with a report starting with the file's path
/// and the expected report, and answers each case with its whole report.
pub(crate) fn check<T: std::fmt::Debug>(
    corpus: &[&'static str],
    file_name: &str,
    parse: impl Fn(&Path, &str) -> Result<T, String>,
) -> Vec<(&'static str, String)> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(file_name).display().to_string();
    let mut reports = Vec::new();
    for line in corpus {
        let [case, text, expected] = *line.split(" | ").collect::<Vec<_>>() else {
            panic!("not `case | text | report`: {line}");
        };
        let report = parse(dir.path(), text).expect_err(case);
        assert!(
            report.starts_with(&format!("{file}{expected}")),
            "{case}: expected {file}{expected}...\n got {report}"
        );
        reports.push((case, report));
    }
    reports
}
