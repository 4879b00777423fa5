//! A runtime handle around another one that delays or withholds its overview and counts the
//! event subscriptions it is asked for.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use yoi_registry_core::{
    CreateWorker, Input, InputAck, PageRequest, RegistryError, RuntimeDescriptor, RuntimeHandle,
    RuntimeOverview, TranscriptPage, WorkerEvents, WorkerId, WorkerView, WorkerViewPage,
};

/// How an [`Instrumented`] handle answers its overview.
#[derive(Debug, Clone, Copy)]
pub enum Overview {
    /// At once, as the inner handle does.
    Answers,
    /// After a pause (of the tokio clock, so a paused clock makes it exact).
    AnswersAfter(Duration),
    /// Never.
    Hangs,
}

/// A handle that forwards every call to `inner`, answering its overview as [`Overview`] says
/// and counting the event subscriptions open through it.
pub struct Instrumented {
    inner: Arc<dyn RuntimeHandle>,
    overview: Overview,
    subscriptions: Arc<AtomicUsize>,
}

impl Instrumented {
    /// Forwards to `inner`, answering at once, counting into a counter of its own.
    pub fn new(inner: Arc<dyn RuntimeHandle>) -> Self {
        Self {
            inner,
            overview: Overview::Answers,
            subscriptions: Arc::default(),
        }
    }

    /// Answers the overview as `overview` says.
    pub fn answering(mut self, overview: Overview) -> Self {
        self.overview = overview;
        self
    }

    /// Counts open subscriptions into `subscriptions` (which several handles may share).
    pub fn counting(mut self, subscriptions: Arc<AtomicUsize>) -> Self {
        self.subscriptions = subscriptions;
        self
    }
}

#[async_trait]
impl RuntimeHandle for Instrumented {
    fn descriptor(&self) -> &RuntimeDescriptor {
        self.inner.descriptor()
    }

    async fn overview(&self) -> RuntimeOverview {
        match self.overview {
            Overview::Answers => {}
            Overview::AnswersAfter(delay) => tokio::time::sleep(delay).await,
            Overview::Hangs => std::future::pending().await,
        }
        self.inner.overview().await
    }

    async fn list_workers(&self, page: &PageRequest) -> Result<WorkerViewPage, RegistryError> {
        self.inner.list_workers(page).await
    }

    async fn get_worker(&self, worker: &WorkerId) -> Result<WorkerView, RegistryError> {
        self.inner.get_worker(worker).await
    }

    async fn create_worker(&self, request: CreateWorker) -> Result<WorkerView, RegistryError> {
        self.inner.create_worker(request).await
    }

    async fn send_input(&self, worker: &WorkerId, input: Input) -> Result<InputAck, RegistryError> {
        self.inner.send_input(worker, input).await
    }

    async fn stop_worker(&self, worker: &WorkerId) -> Result<WorkerView, RegistryError> {
        self.inner.stop_worker(worker).await
    }

    async fn cancel_worker(&self, worker: &WorkerId) -> Result<WorkerView, RegistryError> {
        self.inner.cancel_worker(worker).await
    }

    async fn transcript(
        &self,
        worker: &WorkerId,
        start: u64,
        limit: Option<usize>,
    ) -> Result<TranscriptPage, RegistryError> {
        self.inner.transcript(worker, start, limit).await
    }

    async fn subscribe(
        &self,
        worker: &WorkerId,
        after: Option<u64>,
    ) -> Result<WorkerEvents, RegistryError> {
        let stream = self.inner.subscribe(worker, after).await?;
        let live = Arc::clone(&self.subscriptions);
        live.fetch_add(1, Ordering::SeqCst);
        // The count drops when the stream is dropped: it counts open subscriptions.
        let guard = Decrement(live);
        Ok(stream
            .map(move |item| {
                let _held = &guard;
                item
            })
            .boxed())
    }
}

/// Takes one from a count when dropped.
struct Decrement(Arc<AtomicUsize>);

impl Drop for Decrement {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}
