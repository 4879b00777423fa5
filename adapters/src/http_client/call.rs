//! One request to the runtime process and the mapping of every way it can fail. Messages name
//! the runtime by id and never carry its URL.
//!
//! Requests go out on hyper's pooled client directly: the runtime's scheme, authority, path
//! prefix and `Authorization` header are prepared when the runtime is built, so a call copies
//! them and writes its path; there is no URL parse, redirect or retry layer per call (hyper's
//! pool only resends a request that a closing idle connection never took).

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{Method, Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use serde::de::DeserializeOwned;
use url::Url;
use worker_runtime::protocol::{self, ErrorBody};
use yoi_registry_core::{AdapterConfigError, ErrorCode, RegistryError, RuntimeId, Secret};

use super::tls::{TLS_FAILED, TlsKeys, handshake_failure};

/// A request to the runtime, its body whole.
pub(crate) type Call = Request<Full<Bytes>>;

/// Where the runtime is, prepared once: each call's URI is these plus its path.
struct Target {
    scheme: Scheme,
    authority: Authority,
    /// The base URL's path without its final `/` (empty for a runtime at the root).
    prefix: String,
}

impl Target {
    /// The target of the runtime at `base` (an http or https URL ending in `/`).
    fn of(base: &Url) -> Result<Self, AdapterConfigError> {
        let authority = base
            .host_str()
            .map(|host| match base.port() {
                Some(port) => format!("{host}:{port}"),
                None => host.to_owned(),
            })
            .and_then(|text| Authority::try_from(text).ok())
            .ok_or_else(|| AdapterConfigError::at("base_url", "has no usable host"))?;
        Ok(Self {
            scheme: match base.scheme() {
                "https" => Scheme::HTTPS,
                _ => Scheme::HTTP,
            },
            authority,
            prefix: base.path().trim_end_matches('/').to_owned(),
        })
    }
}

/// Sends requests to one runtime over one pooled client.
pub(crate) struct Caller {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    target: Target,
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
        let mut tcp = HttpConnector::new();
        tcp.enforce_http(false);
        tcp.set_connect_timeout(Some(timeout));
        tcp.set_nodelay(true);
        tcp.set_keepalive(Some(Duration::from_secs(30)));
        let connector = tls.connector(tcp, &base, root)?;
        let client = Client::builder(TokioExecutor::new())
            // Below a runtime's default header timeout (10 s), which closes idle connections:
            // a pooled connection is let go before the runtime closes it under a request.
            .pool_idle_timeout(Duration::from_secs(5))
            .pool_timer(TokioTimer::new())
            .build(connector);
        let target = Target::of(&base)?;
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
            target,
            authorization,
            timeout,
            runtime: runtime.clone(),
        })
    }

    /// A `GET` of `path` (a protocol path, e.g. `/v1/workers`, taken below the base URL's own
    /// path), with `query` (URL-encoded) when given.
    pub(crate) fn get(
        &self,
        path: &str,
        query: Option<&impl serde::Serialize>,
    ) -> Result<Call, RegistryError> {
        let mut path_and_query = format!("{}{path}", self.target.prefix);
        if let Some(query) = query {
            let encoded = serde_urlencoded::to_string(query)
                .map_err(|_| self.protocol("cannot be sent this query".into()))?;
            if !encoded.is_empty() {
                path_and_query.push('?');
                path_and_query.push_str(&encoded);
            }
        }
        self.call(Method::GET, path_and_query, None)
    }

    /// A `POST` to `path`, with `body` as JSON when given.
    pub(crate) fn post(
        &self,
        path: &str,
        body: Option<&impl serde::Serialize>,
    ) -> Result<Call, RegistryError> {
        let json = body.map(|body| serde_json::to_vec(body).expect("request types serialize"));
        self.call(
            Method::POST,
            format!("{}{path}", self.target.prefix),
            json.map(Bytes::from),
        )
    }

    /// The request: the prepared target with `path_and_query`, the token, a JSON body.
    fn call(
        &self,
        method: Method,
        path_and_query: String,
        json: Option<Bytes>,
    ) -> Result<Call, RegistryError> {
        let path_and_query = PathAndQuery::from_maybe_shared(path_and_query)
            .map_err(|_| self.protocol("cannot be sent a request to this path".into()))?;
        let mut parts = http::uri::Parts::default();
        parts.scheme = Some(self.target.scheme.clone());
        parts.authority = Some(self.target.authority.clone());
        parts.path_and_query = Some(path_and_query);
        let uri = Uri::from_parts(parts)
            .map_err(|_| self.protocol("cannot be sent a request to this path".into()))?;
        let mut request = Request::new(Full::new(Bytes::new()));
        *request.method_mut() = method;
        *request.uri_mut() = uri;
        let headers = request.headers_mut();
        if let Some(value) = &self.authorization {
            headers.insert(AUTHORIZATION, value.clone());
        }
        if let Some(json) = json {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            *request.body_mut() = Full::new(json);
        }
        Ok(request)
    }

    /// Sends `call` and decodes the JSON answer, all within the runtime's timeout.
    pub(crate) async fn send<T: DeserializeOwned>(&self, call: Call) -> Result<T, RegistryError> {
        let exchange = async {
            let response = self.open(call).await?;
            let status = response.status();
            let is_json = has_content_type(&response, "application/json");
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(|error| self.transport_error(&error))?;
            Ok::<_, RegistryError>((status, is_json, body.to_bytes()))
        };
        let (status, is_json, bytes) = tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| self.timeout_error())??;
        self.decode(status, is_json, &bytes)
    }

    /// Sends `call` and answers the response once its head is in (not bounded in time here).
    pub(crate) async fn open(&self, call: Call) -> Result<Response<Incoming>, RegistryError> {
        self.client
            .request(call)
            .await
            .map_err(|error| self.transport_error(&error))
    }

    /// Checks `GET /v1/health`.
    pub(crate) async fn health(&self) -> Result<(), RegistryError> {
        let call = self.get(protocol::HEALTH, None::<&()>)?;
        self.send::<serde::de::IgnoredAny>(call).await.map(drop)
    }

    /// Decodes an answer: the expected JSON on success, the runtime's typed error otherwise.
    fn decode<T: DeserializeOwned>(
        &self,
        status: StatusCode,
        is_json: bool,
        bytes: &[u8],
    ) -> Result<T, RegistryError> {
        self.refuse_auth(status)?;
        if !is_json {
            return Err(self.protocol(format!("answered status {} without JSON", status.as_u16())));
        }
        if status.is_success() {
            return serde_json::from_slice(bytes)
                .map_err(|_| self.protocol("answered JSON of an unexpected shape".to_owned()));
        }
        Err(self.remote_error(status, bytes))
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
    pub(crate) fn transport_error(
        &self,
        error: &(dyn std::error::Error + 'static),
    ) -> RegistryError {
        if let Some(what) = handshake_failure(error) {
            self.error(ErrorCode::RuntimeUnavailable, what.into())
                .with_diagnostic(TLS_FAILED)
        } else if carries_io(error, std::io::ErrorKind::TimedOut) {
            self.timeout_error()
        } else if is_connect(error) {
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

/// Whether `response` says its body is of `content_type`.
pub(crate) fn has_content_type<B>(response: &Response<B>, content_type: &str) -> bool {
    response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with(content_type))
}

/// Whether `error` is the client's failure to connect.
fn is_connect(error: &(dyn std::error::Error + 'static)) -> bool {
    error
        .downcast_ref::<hyper_util::client::legacy::Error>()
        .is_some_and(hyper_util::client::legacy::Error::is_connect)
}

/// Whether `error`, or an error it carries, is an I/O error of `kind`.
fn carries_io(error: &(dyn std::error::Error + 'static), kind: std::io::ErrorKind) -> bool {
    let mut source = Some(error);
    while let Some(current) = source {
        if current
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == kind)
        {
            return true;
        }
        source = current.source();
    }
    false
}
