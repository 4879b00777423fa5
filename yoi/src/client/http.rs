//! Requests to the Backend. The browser token, when the Backend requires one, comes from
//! `YOI_TOKEN`.

use std::time::Duration;

use reqwest::header::AUTHORIZATION;
use reqwest::{Method, RequestBuilder, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use worker_runtime::protocol::ErrorBody;

/// The environment variable that holds the Backend's browser token, if it has one.
pub(crate) const TOKEN_VARIABLE: &str = "YOI_TOKEN";

/// How long connecting to the Backend may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a command (not `watch`) waits for the Backend's answer; the Backend bounds every
/// runtime call by that runtime's timeout, so this is only reached when the Backend hangs.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(120);

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ClientError {
    /// The Backend answered with an error of its table.
    #[error("{code}: {message}")]
    Api { code: String, message: String },
    /// The Backend could not be reached or broke the connection.
    #[error("cannot reach the backend at {backend}: {reason}")]
    Unreachable { backend: String, reason: String },
    /// The Backend answered something this client does not understand.
    #[error("the backend answered something unexpected: {0}")]
    Unexpected(String),
}

/// A Backend at a base URL.
pub(crate) struct Backend {
    base: String,
    client: reqwest::Client,
    token: Option<String>,
}

/// Where the client commands go: the Backend's URL, and the CA to trust for it.
#[derive(Clone, Copy)]
pub(crate) struct Target<'a> {
    /// e.g. `http://127.0.0.1:7878` or `https://backend.example:7878`.
    pub(crate) url: &'a str,
    /// Trust this CA (PEM) instead of the system's roots.
    pub(crate) ca_file: Option<&'a std::path::Path>,
}

impl Backend {
    /// The Backend `target`.
    pub(crate) fn new(target: Target<'_>) -> Result<Self, ClientError> {
        let mut builder = reqwest::Client::builder().connect_timeout(CONNECT_TIMEOUT);
        if let Some(path) = target.ca_file {
            let unusable = |why: String| ClientError::Unexpected(format!("--ca-file: {why}"));
            let pem = std::fs::read(path)
                .map_err(|error| unusable(format!("cannot be read ({})", error.kind())))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .ok()
                .filter(|certs| !certs.is_empty())
                .ok_or_else(|| unusable("holds no PEM certificate".into()))?;
            builder = builder.tls_certs_only(certs);
        }
        let client = builder
            .build()
            .map_err(|error| ClientError::Unexpected(error.to_string()))?;
        Ok(Self {
            base: target.url.trim_end_matches('/').to_owned(),
            client,
            token: std::env::var(TOKEN_VARIABLE).ok(),
        })
    }

    /// A request to `path` (which starts with `/api`).
    pub(crate) fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let request = self.client.request(method, format!("{}{path}", self.base));
        match &self.token {
            Some(token) => request.header(AUTHORIZATION, format!("Bearer {token}")),
            None => request,
        }
    }

    /// `GET` with a JSON answer.
    pub(crate) async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        self.answer(self.request(Method::GET, path)).await
    }

    /// `POST` of `body` as JSON, with a JSON answer.
    pub(crate) async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
    ) -> Result<T, ClientError> {
        self.answer(self.request(Method::POST, path).json(body))
            .await
    }

    /// Sends `request` and reads its JSON answer; a non-success answer becomes its typed error.
    pub(crate) async fn answer<T: DeserializeOwned>(
        &self,
        request: RequestBuilder,
    ) -> Result<T, ClientError> {
        let response = request
            .timeout(ANSWER_TIMEOUT)
            .send()
            .await
            .map_err(|error| self.unreachable(&error))?;
        if !response.status().is_success() {
            return Err(api_error(response).await);
        }
        response
            .json()
            .await
            .map_err(|error| ClientError::Unexpected(error.without_url().to_string()))
    }

    /// A transport failure, naming the Backend (the user's own address).
    pub(crate) fn unreachable(&self, error: &reqwest::Error) -> ClientError {
        let causes = std::iter::successors(Some(error as &dyn std::error::Error), |cause| {
            cause.source()
        });
        ClientError::Unreachable {
            backend: self.base.clone(),
            reason: causes
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(": "),
        }
    }
}

/// The typed error of a non-success answer.
pub(crate) async fn api_error(response: Response) -> ClientError {
    let status = response.status();
    match response.json::<ErrorBody>().await {
        Ok(body) => body.into(),
        Err(_) => ClientError::Unexpected(format!("status {status} without an error body")),
    }
}

impl From<ErrorBody> for ClientError {
    fn from(body: ErrorBody) -> Self {
        Self::Api {
            code: body.error.code.into_owned(),
            message: body.error.message,
        }
    }
}
