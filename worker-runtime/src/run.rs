//! The task that carries one run: drives the engine, then records the outcome and makes the
//! Worker idle again (or stopped, when a stop is under way). The outcome is recorded on every
//! path: a panicking engine is a failed run, and a task dropped by a shutting-down Tokio runtime
//! is a cancelled one, so a Worker can never stay `running` with nobody running it.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures::FutureExt;
use tokio::runtime::Handle;

use crate::engine::{RunInput, RunOutcome};
use crate::event::{EventKind, Role};
use crate::worker::WorkerStatus;
use crate::worker_cell::{ActiveRun, OutputSink, WorkerCell};

/// Starts the run of `input` on `tokio`. The Worker must already be `running` with `run` stored
/// in its state.
pub(crate) fn spawn(tokio: &Handle, cell: Arc<WorkerCell>, input: RunInput, run: ActiveRun) {
    let mut end = RunEnd {
        cell,
        run,
        recorded: false,
    };
    tokio.spawn(async move {
        let output = OutputSink::new(Arc::clone(&end.cell));
        let outcome = AssertUnwindSafe(end.cell.engine.run(&input, &output, &end.run.cancel))
            .catch_unwind()
            .await
            .unwrap_or_else(|_| RunOutcome::failed("the engine failed unexpectedly"));
        end.record(outcome);
    });
}

/// Records the run's outcome exactly once: when the engine returns, or, if the task is dropped
/// before that, as cancelled.
struct RunEnd {
    cell: Arc<WorkerCell>,
    run: ActiveRun,
    recorded: bool,
}

impl Drop for RunEnd {
    fn drop(&mut self) {
        if !self.recorded {
            self.record(RunOutcome::Cancelled);
        }
    }
}

impl RunEnd {
    fn record(&mut self, outcome: RunOutcome) {
        self.recorded = true;
        let cell = &self.cell;
        let mut state = cell.lock();
        match outcome {
            RunOutcome::Completed { output, usage } => {
                cell.record_turn(&mut state, Role::Assistant, output);
                cell.record(&mut state, EventKind::RunCompleted { usage });
                if let Some(usage) = usage {
                    cell.add_usage(&mut state, usage);
                }
            }
            RunOutcome::Failed {
                reason,
                exit_code,
                stderr_tail,
            } => {
                let failed = EventKind::RunFailed {
                    reason,
                    exit_code,
                    stderr_tail,
                };
                cell.record(&mut state, failed);
            }
            RunOutcome::Cancelled => {
                cell.record(&mut state, EventKind::RunCancelled);
            }
        }
        state.run = None;
        if state.stopping {
            // Finishing the stop here, under the same lock, keeps it whole even when the caller
            // of `stop_worker` stopped waiting.
            cell.record_stop(&mut state);
        } else {
            state.status = WorkerStatus::Idle;
            cell.announce(&state);
        }
        drop(state);
        self.run.ended.cancel();
    }
}
