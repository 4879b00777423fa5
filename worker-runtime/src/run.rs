//! The task that carries one run: drives the engine, then records the outcome and makes the
//! Worker idle again. A panicking engine is recorded as a failed run, never a stuck Worker.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures::FutureExt;

use crate::engine::RunOutcome;
use crate::event::{EventKind, Role};
use crate::worker::WorkerStatus;
use crate::worker_cell::{ActiveRun, OutputSink, WorkerCell};

/// Starts the run of `input` on its own task. The Worker must already be `running` with `run`
/// stored in its state.
pub(crate) fn spawn(cell: Arc<WorkerCell>, input: String, run: ActiveRun) {
    tokio::spawn(async move {
        let output = OutputSink::new(Arc::clone(&cell));
        let outcome = AssertUnwindSafe(cell.engine.run(&input, &output, &run.cancel))
            .catch_unwind()
            .await
            .unwrap_or_else(|_| RunOutcome::failed("the engine failed unexpectedly"));
        finish(&cell, outcome);
        run.ended.cancel();
    });
}

/// Records how the run ended and returns the Worker to `idle`.
fn finish(cell: &WorkerCell, outcome: RunOutcome) {
    let mut state = cell.lock();
    match outcome {
        RunOutcome::Completed { output } => {
            cell.record_turn(&mut state, Role::Assistant, output);
            cell.record(&mut state, EventKind::RunCompleted);
        }
        RunOutcome::Failed {
            reason,
            exit_code,
            stderr_tail,
        } => {
            cell.record(
                &mut state,
                EventKind::RunFailed {
                    reason,
                    exit_code,
                    stderr_tail,
                },
            );
        }
        RunOutcome::Cancelled => {
            cell.record(&mut state, EventKind::RunCancelled);
        }
    }
    state.status = WorkerStatus::Idle;
    state.run = None;
}
