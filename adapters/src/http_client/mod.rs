//! The `http-client` adapter: a remote `yoi runtime serve` process reached over HTTP(S) and SSE.
//!
//! One pooled hyper client per runtime (keep-alive), every call bounded by the runtime's `timeout_ms`,
//! the bearer token from the table's secret reference. Failures map to the DESIGN codes and never
//! carry the runtime's URL. Status is cached from the last call and refreshed by a background
//! probe of `/v1/health` at a fixed interval, so a listing of a runtime known to be down answers
//! at once, and its recovery is noticed within one interval.

mod call;
mod events;
mod feed;
mod sse;
mod status;
mod tls;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;
use url::Url;
use worker_runtime::Timestamp;
use worker_runtime::protocol::{self, RuntimeInfo, TranscriptQuery, WorkerRoute};
use yoi_registry_core::{
    AdapterConfigError, AdapterFactory, AdapterInput, CreateWorker, Input, InputAck, PageRequest,
    RegistryError, RuntimeDescriptor, RuntimeFeed, RuntimeHandle, RuntimeKind, RuntimeOverview,
    RuntimeStatus, TranscriptPage, WorkerEvents, WorkerId, WorkerView, WorkerViewPage,
};

use call::{Call, Caller};
use status::StatusCache;

/// The table's own keys.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HttpSettings {
    /// Where the runtime process listens, e.g. `http://10.0.0.7:7979`.
    base_url: String,
    /// How often a runtime that is down is probed (default 5000).
    #[serde(default = "default_probe_interval_ms")]
    probe_interval_ms: u64,
    /// Trust this CA (PEM) for an https runtime instead of the system's roots.
    #[serde(default)]
    ca_file: Option<PathBuf>,
    /// The Backend's client certificate (PEM), for a runtime that requires one.
    #[serde(default)]
    client_cert_file: Option<PathBuf>,
    /// Its private key (PEM).
    #[serde(default)]
    client_key_file: Option<PathBuf>,
    /// The name the runtime's certificate is verified against, when it is not the host of
    /// base_url (which must then be an IP address).
    #[serde(default)]
    tls_server_name: Option<String>,
}

fn default_probe_interval_ms() -> u64 {
    5000
}

/// What the handle and its background probe share.
pub(crate) struct Remote {
    pub(crate) descriptor: RuntimeDescriptor,
    pub(crate) caller: Caller,
    pub(crate) status: StatusCache,
    pub(crate) probe_interval: Duration,
}

struct HttpHandle {
    remote: Arc<Remote>,
}

fn build(input: AdapterInput) -> Result<Arc<dyn RuntimeHandle>, AdapterConfigError> {
    let settings: HttpSettings = input.settings()?;
    let base = parse_base_url(&settings.base_url)?;
    if settings.probe_interval_ms == 0 {
        return Err(AdapterConfigError::at(
            "probe_interval_ms",
            "must be at least 1",
        ));
    }
    let tls = tls::TlsKeys {
        ca_file: settings.ca_file,
        client_cert_file: settings.client_cert_file,
        client_key_file: settings.client_key_file,
        tls_server_name: settings.tls_server_name,
    };
    let caller = Caller::new(
        base,
        input.secret.clone(),
        input.timeout,
        &input.id,
        (&tls, &input.workspace_root),
    )?;
    let descriptor = RuntimeDescriptor {
        display_name: input.display_name.unwrap_or_else(|| input.id.to_string()),
        id: input.id,
        kind: RuntimeKind::RemoteHttp,
        policy: input.policy,
        timeout: input.timeout,
    };
    Ok(Arc::new(HttpHandle {
        remote: Arc::new(Remote {
            descriptor,
            caller,
            status: StatusCache::default(),
            probe_interval: Duration::from_millis(settings.probe_interval_ms),
        }),
    }))
}

/// An `http` or `https` URL without credentials, query or fragment, ending in `/`.
fn parse_base_url(text: &str) -> Result<Url, AdapterConfigError> {
    let invalid = |why: &str| {
        AdapterConfigError::at("base_url", format!("{why} (e.g. http://127.0.0.1:7979)"))
    };
    let mut url = Url::parse(text).map_err(|_| invalid("not a URL"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid("must start with http:// or https://"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid(
            "must not hold credentials; use token_env or token_file",
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("must not have a query or fragment"));
    }
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

impl HttpHandle {
    /// One call, recorded in the status cache.
    async fn call<T: serde::de::DeserializeOwned>(&self, call: Call) -> Result<T, RegistryError> {
        status::ensure_probe(&self.remote);
        let result = self.remote.caller.send(call).await;
        self.remote.status.record(result.as_ref().map(|_| ()));
        result
    }

    /// A `GET` of `path`.
    fn get(&self, path: &str) -> Result<Call, RegistryError> {
        self.remote.caller.get(path, None::<&()>)
    }

    /// A `POST` of one Worker's route with no body, answered with the Worker.
    async fn post_worker(
        &self,
        route: WorkerRoute,
        worker: &WorkerId,
    ) -> Result<WorkerView, RegistryError> {
        let call = self.remote.caller.post(&route.path(worker), None::<&()>)?;
        let detail: worker_runtime::WorkerDetail = self.call(call).await?;
        Ok(detail.into())
    }
}

#[async_trait]
impl RuntimeHandle for HttpHandle {
    fn descriptor(&self) -> &RuntimeDescriptor {
        &self.remote.descriptor
    }

    async fn overview(&self) -> RuntimeOverview {
        status::ensure_probe(&self.remote);
        if let Some(known_down) = self.remote.status.known_down() {
            return known_down;
        }
        let info = async { self.call::<RuntimeInfo>(self.get(protocol::RUNTIME)?).await };
        match info.await {
            Ok(info) => RuntimeOverview {
                status: RuntimeStatus::from_diagnostics(&info.diagnostics),
                capabilities: info.summary.capabilities,
                last_seen_at: Some(Timestamp::now()),
                diagnostics: info.diagnostics,
                workers: Some(info.summary.workers),
            },
            Err(error) => self.remote.status.unavailable_overview(&error),
        }
    }

    async fn list_workers(&self, page: &PageRequest) -> Result<WorkerViewPage, RegistryError> {
        let call = self.remote.caller.get(protocol::WORKERS, Some(page))?;
        let page: worker_runtime::WorkerPage = self.call(call).await?;
        Ok(page.into())
    }

    async fn get_worker(&self, worker: &WorkerId) -> Result<WorkerView, RegistryError> {
        let call = self.get(&WorkerRoute::Detail.path(worker))?;
        let detail: worker_runtime::WorkerDetail = self.call(call).await?;
        Ok(detail.into())
    }

    async fn create_worker(&self, request: CreateWorker) -> Result<WorkerView, RegistryError> {
        let call = self.remote.caller.post(protocol::WORKERS, Some(&request))?;
        let detail: worker_runtime::WorkerDetail = self.call(call).await?;
        Ok(detail.into())
    }

    async fn send_input(&self, worker: &WorkerId, input: Input) -> Result<InputAck, RegistryError> {
        let path = WorkerRoute::Input.path(worker);
        self.call(self.remote.caller.post(&path, Some(&input))?)
            .await
    }

    async fn stop_worker(&self, worker: &WorkerId) -> Result<WorkerView, RegistryError> {
        self.post_worker(WorkerRoute::Stop, worker).await
    }

    async fn cancel_worker(&self, worker: &WorkerId) -> Result<WorkerView, RegistryError> {
        self.post_worker(WorkerRoute::Cancel, worker).await
    }

    async fn transcript(
        &self,
        worker: &WorkerId,
        start: u64,
        limit: Option<usize>,
    ) -> Result<TranscriptPage, RegistryError> {
        let query = TranscriptQuery { start, limit };
        let path = WorkerRoute::Transcript.path(worker);
        self.call(self.remote.caller.get(&path, Some(&query))?)
            .await
    }

    async fn subscribe(
        &self,
        worker: &WorkerId,
        after: Option<u64>,
    ) -> Result<WorkerEvents, RegistryError> {
        status::ensure_probe(&self.remote);
        events::subscribe(Arc::clone(&self.remote), worker.clone(), after).await
    }

    async fn feed(&self) -> Result<RuntimeFeed, RegistryError> {
        status::ensure_probe(&self.remote);
        feed::feed(Arc::clone(&self.remote)).await
    }
}

yoi_registry_core::inventory::submit! { AdapterFactory::new("http-client", build) }

#[cfg(test)]
mod tests {
    use super::parse_base_url;

    #[test]
    fn base_urls_are_http_without_secrets_and_end_in_a_slash() {
        assert_eq!(
            parse_base_url("http://10.0.0.7:7979").unwrap().as_str(),
            "http://10.0.0.7:7979/"
        );
        assert_eq!(
            parse_base_url("https://gpu.example/rt").unwrap().as_str(),
            "https://gpu.example/rt/"
        );
        for bad in [
            "10.0.0.7:7979",
            "ftp://x",
            "http://user:pw@x",
            "http://x/?a=1",
            "not a url",
        ] {
            let error = parse_base_url(bad).unwrap_err();
            assert_eq!(error.key.as_deref(), Some("base_url"), "{bad}");
            assert!(!error.message.contains("pw"), "{bad}: {}", error.message);
        }
    }
}
