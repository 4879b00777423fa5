//! One request to the runtime process and the mapping of every way it can fail. Messages name
//! the runtime by id and never carry its URL (`reqwest::Error` would print it).

use std::path::Path;
use std::time::Duration;

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde::de::DeserializeOwned;
use url::Url;
use worker_runtime::protocol::{self, ErrorBody};
use yoi_registry_core::{AdapterConfigError, ErrorCode, RegistryError, RuntimeId, Secret};

use super::tls::{TLS_FAILED, TlsKeys, handshake_failure};

/// Sends requests to one runtime over one pooled client.
pub(crate) struct Caller {
    client: reqwest::Client,
    base: Url,
    authorization: Option<HeaderValue>,
    timeout: Duration,
    runtime: RuntimeId,
}

impl Caller {
    /// A caller of the runtime at `base`, sending `secret` as its bearer token, over TLS as
    /// `tls` says (its files relative to the given root).
    pub(crate) fn new(
        base: Url,
        secret: Option<Secret>,
        timeout: Duration,
        runtime: &RuntimeId,
        (tls, root): (&TlsKeys, &Path),
    ) -> Result<Self, AdapterConfigError> {
        let unusable = |message: &str| AdapterConfigError {
            key: None,
            message: message.to_owned(),
        };
        let builder = reqwest::Client::builder()
            .connect_timeout(timeout)
            // Below a runtime's default header timeout (10 s), which closes idle connections:
            // a pooled connection is let go before the runtime closes it under a request.
            .pool_idle_timeout(Duration::from_secs(5))
            .tcp_nodelay(true)
            .tcp_keepalive(Duration::from_secs(30));
        let (builder, base) = tls.apply(builder, base, root)?;
        let client = builder
            .build()
            .map_err(|_| unusable("the HTTP client cannot be built"))?;
        let authorization = secret
            .map(|secret| {
                let mut value = HeaderValue::from_str(&format!("Bearer {}", secret.expose()))
                    .map_err(|_| unusable("the token cannot be sent in an HTTP header"))?;
                value.set_sensitive(true);
                Ok::<_, AdapterConfigError>(value)
            })
            .transpose()?;
        Ok(Self {
            client,
            base,
            authorization,
            timeout,
            runtime: runtime.clone(),
        })
    }

    /// A request to `path` (a protocol path, e.g. `/v1/workers`, taken below the base URL's own
    /// path) with the token set.
    pub(crate) fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let relative = path.trim_start_matches('/');
        let url = self
            .base
            .join(relative)
            .unwrap_or_else(|_| self.base.clone());
        let request = self.client.request(method, url);
        match &self.authorization {
            Some(value) => request.header(AUTHORIZATION, value.clone()),
            None => request,
        }
    }

    /// Sends `request` and decodes the JSON answer, all within the runtime's timeout.
    pub(crate) async fn send<T: DeserializeOwned>(
        &self,
        request: RequestBuilder,
    ) -> Result<T, RegistryError> {
        let response = request
            .timeout(self.timeout)
            .send()
            .await
            .map_err(|error| self.transport_error(&error))?;
        self.decode(response).await
    }

    /// A `POST` to `path` with `body` as JSON.
    pub(crate) fn post_json(&self, path: &str, body: &impl serde::Serialize) -> RequestBuilder {
        let json = serde_json::to_vec(body).expect("request types serialize to JSON");
        self.request(Method::POST, path)
            .header(CONTENT_TYPE, "application/json")
            .body(json)
    }

    /// Checks `GET /v1/health`.
    pub(crate) async fn health(&self) -> Result<(), RegistryError> {
        let request = self.request(Method::GET, protocol::HEALTH);
        self.send::<serde::de::IgnoredAny>(request).await.map(drop)
    }

    /// Decodes an answer: the expected JSON on success, the runtime's typed error otherwise.
    pub(crate) async fn decode<T: DeserializeOwned>(
        &self,
        response: Response,
    ) -> Result<T, RegistryError> {
        let status = response.status();
        self.refuse_auth(status)?;
        let is_json = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| value.starts_with("application/json"));
        let bytes = response
            .bytes()
            .await
            .map_err(|error| self.transport_error(&error))?;
        if !is_json {
            return Err(self.protocol(format!("answered status {} without JSON", status.as_u16())));
        }
        if status.is_success() {
            return serde_json::from_slice(&bytes)
                .map_err(|_| self.protocol("answered JSON of an unexpected shape".to_owned()));
        }
        Err(self.remote_error(status, &bytes))
    }

    /// A 401 or 403 means the runtime rejected the Backend's credential.
    pub(crate) fn refuse_auth(&self, status: StatusCode) -> Result<(), RegistryError> {
        if matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
            return Err(self.error(
                ErrorCode::RuntimeAuthFailed,
                "rejected the Backend's credential (check its token_env or token_file)".into(),
            ));
        }
        Ok(())
    }

    /// The runtime's own typed error keeps its code; anything else is a protocol error.
    pub(crate) fn remote_error(&self, status: StatusCode, body: &[u8]) -> RegistryError {
        let parsed = serde_json::from_slice::<ErrorBody>(body)
            .ok()
            .and_then(|body| {
                let code = ErrorCode::parse(&body.error.code)?;
                Some(RegistryError::new(code, body.error.message).for_runtime(&self.runtime))
            });
        parsed.unwrap_or_else(|| {
            self.protocol(format!(
                "answered status {} with an unexpected body",
                status.as_u16()
            ))
        })
    }

    /// `runtime_timeout`.
    pub(crate) fn timeout_error(&self) -> RegistryError {
        self.error(
            ErrorCode::RuntimeTimeout,
            format!("did not answer within {} ms", self.timeout.as_millis()),
        )
    }

    /// Maps a failure to reach the runtime or to read its answer.
    pub(crate) fn transport_error(&self, error: &reqwest::Error) -> RegistryError {
        if let Some(what) = handshake_failure(error) {
            self.error(ErrorCode::RuntimeUnavailable, what.into())
                .with_diagnostic(TLS_FAILED)
        } else if error.is_timeout() {
            self.timeout_error()
        } else if error.is_connect() {
            self.error(
                ErrorCode::RuntimeUnavailable,
                "cannot be reached (connection refused or unreachable)".into(),
            )
        } else {
            self.error(
                ErrorCode::RuntimeUnavailable,
                "the connection failed before the answer was complete".into(),
            )
        }
    }

    /// `runtime_protocol_error`.
    pub(crate) fn protocol(&self, what: String) -> RegistryError {
        self.error(ErrorCode::RuntimeProtocolError, what)
    }

    fn error(&self, code: ErrorCode, what: String) -> RegistryError {
        RegistryError::new(code, format!("runtime {} {what}", self.runtime))
            .for_runtime(&self.runtime)
    }
}
