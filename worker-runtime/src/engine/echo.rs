//! The `echo` engine: answers the input back, streamed in chunks of `chunk_chars` characters.

use std::time::Duration;

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

use super::{Engine, RunInput, RunOutcome};
use crate::config::EchoSettings;
use crate::worker_cell::OutputSink;

/// Answers every input with the input itself, as its settings say.
pub(crate) struct EchoEngine(pub(super) EchoSettings);

impl EchoEngine {
    /// Waits between two deltas; `false` when cancelled meanwhile.
    async fn pause(&self, cancel: &CancellationToken) -> bool {
        if self.0.delay_ms == 0 {
            // Yield so a long echo streams instead of monopolizing its worker thread.
            tokio::task::yield_now().await;
            return !cancel.is_cancelled();
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(self.0.delay_ms)) => true,
            () = cancel.cancelled() => false,
        }
    }
}

#[async_trait]
impl Engine for EchoEngine {
    async fn run(
        &self,
        run: &RunInput,
        output: &OutputSink,
        cancel: &CancellationToken,
    ) -> RunOutcome {
        let input = run.input.as_str();
        for (index, chunk) in chunks(input, self.0.chunk_chars).enumerate() {
            if (index == 0 && cancel.is_cancelled()) || (index > 0 && !self.pause(cancel).await) {
                return RunOutcome::Cancelled;
            }
            output.delta(chunk);
        }
        RunOutcome::Completed {
            output: input.to_owned(),
            usage: None,
        }
    }
}

/// Splits `text` into pieces of at most `size` characters (never inside a character).
fn chunks(text: &str, size: usize) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let end = rest
            .char_indices()
            .nth(size)
            .map_or(rest.len(), |(index, _)| index);
        let (chunk, tail) = rest.split_at(end);
        rest = tail;
        Some(chunk)
    })
}

#[cfg(test)]
mod tests {
    use super::chunks;

    #[test]
    fn chunks_split_on_character_boundaries() {
        assert_eq!(
            chunks("héllo wörld", 4).collect::<Vec<_>>(),
            ["héll", "o wö", "rld"]
        );
        assert_eq!(chunks("abc", 16).collect::<Vec<_>>(), ["abc"]);
        assert_eq!(chunks("", 3).count(), 0);
    }
}
