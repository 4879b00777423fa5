//! A timer for "nothing happened for this long" that costs a clock read per happening: the one
//! timer is moved only when it fires early, so a busy stream does no timer work per item.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::time::{Instant, Sleep};

/// Fires once `limit` passed without a [`touch`](IdleTimer::touch).
#[derive(Debug)]
pub struct IdleTimer {
    limit: Duration,
    last: Instant,
    timer: Pin<Box<Sleep>>,
}

impl IdleTimer {
    /// A timer that fires `limit` from now unless touched.
    pub fn new(limit: Duration) -> Self {
        let last = Instant::now();
        Self {
            limit,
            last,
            timer: Box::pin(tokio::time::sleep_until(after(last, limit))),
        }
    }

    /// Something happened now.
    pub fn touch(&mut self) {
        self.last = Instant::now();
    }

    /// Ready once `limit` passed since the last happening; firing counts as one, so the timer
    /// fires again a `limit` later. When pending, `cx` is woken when it may be ready.
    pub fn poll_idle(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            ready!(self.timer.as_mut().poll(cx));
            let deadline = after(self.last, self.limit);
            if Instant::now() >= deadline {
                self.touch();
                self.timer.as_mut().reset(after(self.last, self.limit));
                return Poll::Ready(());
            }
            self.timer.as_mut().reset(deadline);
        }
    }
}

/// `limit` after `instant`, or about thirty years when that is past what an `Instant` holds.
fn after(instant: Instant, limit: Duration) -> Instant {
    const FAR: Duration = Duration::from_secs(86_400 * 365 * 30);
    instant.checked_add(limit).unwrap_or_else(|| instant + FAR)
}

#[cfg(test)]
mod tests {
    use std::future::poll_fn;
    use std::time::Duration;

    use tokio::time::Instant;

    use super::IdleTimer;

    #[tokio::test(start_paused = true)]
    async fn it_fires_a_limit_after_the_last_touch_and_again_a_limit_later() {
        let limit = Duration::from_secs(10);
        let start = Instant::now();
        let mut timer = IdleTimer::new(limit);
        tokio::time::sleep(Duration::from_secs(4)).await;
        timer.touch();
        poll_fn(|cx| timer.poll_idle(cx)).await;
        assert_eq!(start.elapsed(), Duration::from_secs(14));
        poll_fn(|cx| timer.poll_idle(cx)).await;
        assert_eq!(start.elapsed(), Duration::from_secs(24));
    }

    #[tokio::test(start_paused = true)]
    async fn a_limit_past_what_an_instant_holds_never_fires() {
        let mut timer = IdleTimer::new(Duration::MAX);
        let fired =
            tokio::time::timeout(Duration::from_secs(3600), poll_fn(|cx| timer.poll_idle(cx)));
        assert!(fired.await.is_err());
    }
}
