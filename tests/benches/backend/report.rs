//! The results table: printed as it grows, and written into BENCHMARKS.md between two markers,
//! so that the analysis around it is kept.

use std::path::Path;

/// The line before the generated part of BENCHMARKS.md.
const BEGIN: &str = "<!-- bench:begin (written by the harness; edit outside the markers) -->";
/// The line after it.
const END: &str = "<!-- bench:end -->";

/// One measured figure.
pub(crate) struct Row {
    /// The scenario's number.
    pub(crate) scenario: u8,
    /// What was measured.
    pub(crate) figure: String,
    /// The measured value.
    pub(crate) value: String,
    /// The goal, as written in the issue.
    pub(crate) goal: String,
    /// Whether the goal is met; `None` for a figure without a goal of its own.
    pub(crate) met: Option<bool>,
}

impl Row {
    /// A figure judged against its goal.
    pub(crate) fn judged(scenario: u8, figure: &str, value: String, goal: &str, met: bool) -> Self {
        Self {
            scenario,
            figure: figure.to_owned(),
            value,
            goal: goal.to_owned(),
            met: Some(met),
        }
    }

    /// A figure shown for context.
    pub(crate) fn context(scenario: u8, figure: &str, value: String) -> Self {
        Self {
            scenario,
            figure: figure.to_owned(),
            value,
            goal: "-".to_owned(),
            met: None,
        }
    }

    fn verdict(&self, judged: bool) -> &'static str {
        match (judged, self.met) {
            (false, _) | (true, None) => "-",
            (true, Some(true)) => "met",
            (true, Some(false)) => "**missed**",
        }
    }

    /// The row as a Markdown table line; `judged` is false in the quick mode.
    pub(crate) fn markdown(&self, judged: bool) -> String {
        format!(
            "| {} | {} | {} | {} | {} |",
            self.scenario,
            self.figure,
            self.value,
            self.goal,
            self.verdict(judged)
        )
    }
}

/// The table's head.
pub(crate) const HEAD: &str =
    "| # | figure | value | goal | result |\n| --- | --- | --- | --- | --- |";

/// The generated part: machine, date, command, then the table.
pub(crate) fn section(rows: &[Row], machine: &str, date: &str, command: &str) -> String {
    let mut text =
        format!("{BEGIN}\nMachine: {machine}. Date: {date}. Command: `{command}`.\n\n{HEAD}\n");
    for row in rows {
        text.push_str(&row.markdown(true));
        text.push('\n');
    }
    text.push_str(END);
    text
}

/// Replaces the generated part of the file at `path` with `section` (or appends it).
pub(crate) fn write(path: &Path, section: &str) -> std::io::Result<()> {
    let old = std::fs::read_to_string(path).unwrap_or_default();
    let new = match (old.find(BEGIN), old.find(END)) {
        (Some(begin), Some(end)) if begin < end => {
            format!("{}{section}{}", &old[..begin], &old[end + END.len()..])
        }
        _ if old.is_empty() => format!("# Benchmarks\n\n{section}\n"),
        _ => format!("{}\n{section}\n", old.trim_end()),
    };
    std::fs::write(path, new)
}
