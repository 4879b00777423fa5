//! A Runtime's diagnostics: found at start (configuration, stored data) and while running (a
//! failed write). Bounded and deduplicated, so a repeating failure cannot grow it.

use std::sync::{Mutex, PoisonError};

use crate::summary::{Diagnostic, Severity};

/// At most this many distinct diagnostics are kept.
const MAX_DIAGNOSTICS: usize = 100;

/// The diagnostics of one Runtime, shared with whatever can report one.
#[derive(Default)]
pub(crate) struct Diagnostics {
    entries: Mutex<Vec<Diagnostic>>,
}

impl Diagnostics {
    /// Adds a diagnostic unless the same one is already there or the list is full.
    pub(crate) fn report(&self, code: &str, severity: Severity, message: String) {
        let diagnostic = Diagnostic {
            code: code.to_owned(),
            severity,
            message,
        };
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() < MAX_DIAGNOSTICS && !entries.contains(&diagnostic) {
            entries.push(diagnostic);
        }
    }

    /// A copy of the current list.
    pub(crate) fn list(&self) -> Vec<Diagnostic> {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}
