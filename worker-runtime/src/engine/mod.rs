//! Engines: what a Worker does with an input. Every engine sits behind [`Engine`]; a run streams
//! its output through an [`OutputSink`] and stops promptly when its cancellation token fires.

mod command;
mod echo;
#[cfg(feature = "llm")]
mod llm;
mod utf8;

use std::sync::Arc;

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

use crate::config::EngineSettings;
use crate::event::Usage;
use crate::transcript::TranscriptEntry;
use crate::worker_cell::OutputSink;

/// How a run ended, as the engine saw it. The Runtime turns it into events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RunOutcome {
    /// The run produced `output` (the whole of it, also streamed as deltas), using `usage`
    /// tokens when the engine's provider says.
    Completed {
        output: String,
        usage: Option<Usage>,
    },
    /// The run failed.
    Failed {
        reason: String,
        exit_code: Option<i32>,
        stderr_tail: String,
    },
    /// The cancellation token fired and the run has fully stopped.
    Cancelled,
}

impl RunOutcome {
    /// A failure with a reason only.
    pub(crate) fn failed(reason: impl Into<String>) -> Self {
        Self::Failed {
            reason: reason.into(),
            exit_code: None,
            stderr_tail: String::new(),
        }
    }
}

/// What one run is given: the new input, and the Worker's conversation up to and including it.
pub(crate) struct RunInput {
    /// The new input.
    pub(crate) input: String,
    /// The newest transcript entries, oldest first, ending with the new input: at most the
    /// engine's [`Engine::context_entries`].
    #[cfg_attr(
        not(feature = "llm"),
        expect(dead_code, reason = "only the model engines read the conversation")
    )]
    pub(crate) conversation: Vec<TranscriptEntry>,
}

/// One engine. `run` returns only once nothing of the run is left (no task, no process).
#[async_trait]
pub(crate) trait Engine: Send + Sync {
    /// How many of the newest transcript entries a run is given (none by default).
    fn context_entries(&self) -> usize {
        0
    }

    /// Runs one input to its end, streaming output deltas into `output`.
    async fn run(
        &self,
        run: &RunInput,
        output: &OutputSink,
        cancel: &CancellationToken,
    ) -> RunOutcome;
}

/// Builds the engine a profile's settings describe.
pub(crate) fn build(settings: &EngineSettings) -> Arc<dyn Engine> {
    match settings {
        EngineSettings::Echo(echo) => Arc::new(echo::EchoEngine(echo.clone())),
        EngineSettings::Command(command) => Arc::new(command::CommandEngine(command.clone())),
        #[cfg(feature = "llm")]
        EngineSettings::Openai(model) => model_engine(llm::Wire::OpenAi, model),
        #[cfg(feature = "llm")]
        EngineSettings::Anthropic(model) => model_engine(llm::Wire::Anthropic, model),
        // Refused by the configuration's validation: a Runtime is never built with one.
        #[cfg(not(feature = "llm"))]
        EngineSettings::Openai(_) | EngineSettings::Anthropic(_) => {
            unreachable!("model engines are refused when the llm feature is off")
        }
    }
}

/// A model engine; if its HTTP client cannot be built, an engine whose every run fails saying so.
#[cfg(feature = "llm")]
fn model_engine(wire: llm::Wire, model: &crate::ModelSettings) -> Arc<dyn Engine> {
    match llm::ModelEngine::new(wire, model.clone()) {
        Ok(engine) => Arc::new(engine),
        Err(reason) => Arc::new(Failing(reason.to_owned())),
    }
}

/// The engine of a Worker whose profile is no longer configured: every run fails, saying why.
#[cfg(feature = "fs-store")]
pub(crate) fn unconfigured(profile: &str) -> Arc<dyn Engine> {
    Arc::new(Failing(format!(
        "profile {profile} is not configured on this runtime"
    )))
}

/// Fails every run for its reason.
#[cfg(any(feature = "fs-store", feature = "llm"))]
struct Failing(String);

#[cfg(any(feature = "fs-store", feature = "llm"))]
#[async_trait]
impl Engine for Failing {
    async fn run(&self, _: &RunInput, _: &OutputSink, _: &CancellationToken) -> RunOutcome {
        RunOutcome::failed(self.0.clone())
    }
}

pub(crate) use command::program_is_available;
