//! TLS on the runtime link, through the Backend's API: a runtime process serving HTTPS (and one
//! requiring a client certificate) reached by the http-client adapter with `ca_file`,
//! `client_cert_file`/`client_key_file` and `tls_server_name`; every failure (an untrusted, an
//! expired, a wrongly named certificate, a missing client certificate, plain HTTP to the TLS
//! port) is `runtime_unavailable` with the diagnostic `tls_failed` and a message that names no
//! path and no URL. And the Backend's own listener over TLS: HTTP/1.1, HTTP/2 by ALPN, and
//! plain HTTP refused at once. The certificates are made here.

use std::path::Path;
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use worker_runtime::http::{BearerToken, HttpOptions, ServeOptions, TlsFiles, router, serve};
use yoi_test_support::{ServedBackend, load_registry, serve_backend, serve_backend_with, until};

use crate::support::backend::options;
use crate::support::{TOKEN, in_memory_runtime};

/// A CA and the certificates it signed, as PEM files in a folder.
struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    /// Makes `ca`, `other-ca` (a CA nobody trusts), and certificates: `runtime` (127.0.0.1 and
    /// localhost), `expired`, `elsewhere` (for `other.example` only), `stranger` (by
    /// `other-ca`), and `client`.
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (ca, ca_key) = authority(&dir, "ca");
        let (other, other_key) = authority(&dir, "other-ca");
        let names = vec!["127.0.0.1".to_owned(), "localhost".to_owned()];
        issue(
            &dir,
            "runtime",
            CertificateParams::new(names.clone()).unwrap(),
            (&ca, &ca_key),
        );
        let mut expired = CertificateParams::new(names.clone()).unwrap();
        expired.not_before = rcgen::date_time_ymd(2000, 1, 1);
        expired.not_after = rcgen::date_time_ymd(2001, 1, 1);
        issue(&dir, "expired", expired, (&ca, &ca_key));
        let elsewhere = CertificateParams::new(vec!["other.example".to_owned()]).unwrap();
        issue(&dir, "elsewhere", elsewhere, (&ca, &ca_key));
        issue(
            &dir,
            "stranger",
            CertificateParams::new(names).unwrap(),
            (&other, &other_key),
        );
        let client = CertificateParams::new(vec!["backend".to_owned()]).unwrap();
        issue(&dir, "client", client, (&ca, &ca_key));
        Self { dir }
    }

    fn path(&self, name: &str) -> std::path::PathBuf {
        self.dir.path().join(name)
    }
}

/// A self-signed CA written as `<name>.pem`.
fn authority(dir: &tempfile::TempDir, name: &str) -> (rcgen::Certificate, KeyPair) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let cert = params.self_signed(&key).unwrap();
    std::fs::write(dir.path().join(format!("{name}.pem")), cert.pem()).unwrap();
    (cert, key)
}

/// A certificate of `params` signed by `issuer`, written as `<name>.pem` and `<name>.key`.
fn issue(
    dir: &tempfile::TempDir,
    name: &str,
    params: CertificateParams,
    (issuer, issuer_key): (&rcgen::Certificate, &KeyPair),
) {
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, issuer, issuer_key).unwrap();
    std::fs::write(dir.path().join(format!("{name}.pem")), cert.pem()).unwrap();
    std::fs::write(dir.path().join(format!("{name}.key")), key.serialize_pem()).unwrap();
}

/// A runtime process serving HTTPS with the certificate `name`, requiring client certificates
/// signed by `ca` when `client_ca` is set; answers its address.
async fn serve_tls(
    pki: &Pki,
    name: &str,
    client_ca: bool,
) -> (std::net::SocketAddr, CancellationToken) {
    let serving = tls_serving(pki, name, client_ca);
    let shutdown = CancellationToken::new();
    let options = HttpOptions {
        token: Some(BearerToken::new(TOKEN).unwrap()),
        shutdown: shutdown.clone(),
        ..HttpOptions::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let app = router(in_memory_runtime("secure"), options);
    let stop = shutdown.clone();
    tokio::spawn(async move {
        serve(listener, app, serving, stop.cancelled_owned())
            .await
            .unwrap()
    });
    (address, shutdown)
}

/// Serving over TLS with the certificate `name`, requiring client certificates signed by `ca`
/// when `client_ca` is set.
fn tls_serving(pki: &Pki, name: &str, client_ca: bool) -> ServeOptions {
    let (cert, key, ca) = (
        pki.path(&format!("{name}.pem")),
        pki.path(&format!("{name}.key")),
        pki.path("ca.pem"),
    );
    let files = TlsFiles {
        cert: &cert,
        key: &key,
        client_ca: client_ca.then_some(ca.as_path()),
    };
    ServeOptions {
        tls: Some(worker_runtime::http::server_config(files).unwrap()),
        ..ServeOptions::default()
    }
}

/// The Backend over one http-client runtime `secure` at `base_url` with `extra` keys; the
/// token file is in the workspace's folder.
async fn backend(base_url: &str, extra: &str) -> (tempfile::TempDir, ServedBackend) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("runtime.token"), TOKEN).unwrap();
    let toml = format!(
        "[[runtime]]\nid = \"secure\"\nadapter = \"http-client\"\nbase_url = \"{base_url}\"\n\
         token_file = \"runtime.token\"\ntimeout_ms = 3000\n{extra}\n"
    );
    let (_, registry) = load_registry(dir.path(), &toml);
    let served = serve_backend(registry, options(dir.path())).await;
    (dir, served)
}

/// TOML for a file key.
fn file_key(key: &str, path: &Path) -> String {
    format!("{key} = {}\n", serde_json::to_string(path).unwrap())
}

/// Creates the worker `w1` on `secure` through the Backend: the status and the body.
async fn create_w1(backend: &ServedBackend) -> (u16, Value) {
    backend
        .api
        .post("/api/runtimes/secure/workers", json!({ "worker_id": "w1" }))
        .await
}

/// The runtime `secure` as the Backend lists it.
async fn listed(backend: &ServedBackend) -> Value {
    let (status, body) = backend.api.get("/api/runtimes/secure").await;
    assert_eq!(status, 200, "{body}");
    body
}

#[tokio::test]
async fn an_https_runtime_trusted_by_ca_file_works_end_to_end_events_included() {
    let pki = Pki::new();
    let (address, _stop) = serve_tls(&pki, "runtime", false).await;
    let (_dir, backend) = backend(
        &format!("https://{address}"),
        &file_key("ca_file", &pki.path("ca.pem")),
    )
    .await;
    assert_eq!(listed(&backend).await["status"], "available");
    assert_eq!(create_w1(&backend).await.0, 201);
    let api = &backend.api;
    let mut events = api.events("secure", "w1", None).await;
    let (status, _) = api
        .post(
            "/api/runtimes/secure/workers/w1/input",
            json!({ "kind": "user", "content": "over tls" }),
        )
        .await;
    assert_eq!(status, 202);
    until(&mut events, "run_completed").await;
}

#[tokio::test]
async fn each_tls_failure_is_runtime_unavailable_with_tls_failed_and_names_nothing() {
    let pki = Pki::new();
    let ca = file_key("ca_file", &pki.path("ca.pem"));
    let cases = [
        ("stranger", ca.clone(), "not trusted"),
        ("expired", ca.clone(), "expired"),
        ("elsewhere", ca.clone(), "another name"),
        ("runtime", String::new(), "not trusted"),
    ];
    for (certificate, keys, says) in cases {
        let (address, _stop) = serve_tls(&pki, certificate, false).await;
        let (dir, backend) = backend(&format!("https://{address}"), &keys).await;
        let refused = create_w1(&backend).await;
        assert_eq!(
            (refused.0, &refused.1["error"]["code"]),
            (503, &json!("runtime_unavailable")),
            "{certificate}"
        );
        let message = refused.1["error"]["message"].as_str().unwrap().to_owned();
        assert!(message.contains(says), "{certificate}: {message}");
        let entry = listed(&backend).await;
        assert_eq!(entry["status"], "unavailable", "{certificate}");
        assert_eq!(
            entry["diagnostics"][0]["code"], "tls_failed",
            "{certificate}: {entry}"
        );
        let answers = backend.api.answers.lock().unwrap().join("\n");
        for leak in [
            address.port().to_string(),
            pki.dir.path().to_string_lossy().into_owned(),
            dir.path().to_string_lossy().into_owned(),
            TOKEN.to_owned(),
        ] {
            assert!(
                !answers.contains(&leak),
                "{leak} in an answer ({certificate})"
            );
        }
    }
}

#[tokio::test]
async fn a_certificate_for_another_name_is_accepted_under_that_name() {
    let pki = Pki::new();
    let (address, _stop) = serve_tls(&pki, "elsewhere", false).await;
    let keys = format!(
        "{}tls_server_name = \"other.example\"\n",
        file_key("ca_file", &pki.path("ca.pem"))
    );
    let (_dir, backend) = backend(&format!("https://{address}"), &keys).await;
    let (status, body) = create_w1(&backend).await;
    assert_eq!(status, 201, "{body}");
}

#[tokio::test]
async fn a_runtime_requiring_a_client_certificate_refuses_without_one_and_accepts_with_it() {
    let pki = Pki::new();
    let (address, _stop) = serve_tls(&pki, "runtime", true).await;
    let ca = file_key("ca_file", &pki.path("ca.pem"));
    let (_dir, without) = backend(&format!("https://{address}"), &ca).await;
    let refused = create_w1(&without).await;
    assert_eq!(refused.0, 503, "{}", refused.1);
    let message = refused.1["error"]["message"].as_str().unwrap();
    assert!(message.contains("client certificate"), "{message}");
    assert_eq!(
        listed(&without).await["diagnostics"][0]["code"],
        "tls_failed"
    );

    let keys = format!(
        "{ca}{}{}",
        file_key("client_cert_file", &pki.path("client.pem")),
        file_key("client_key_file", &pki.path("client.key"))
    );
    let (_dir, with) = backend(&format!("https://{address}"), &keys).await;
    let (status, body) = create_w1(&with).await;
    assert_eq!(status, 201, "{body}");
}

#[tokio::test]
async fn plain_http_to_the_tls_port_fails_cleanly() {
    let pki = Pki::new();
    let (address, _stop) = serve_tls(&pki, "runtime", false).await;
    let (_dir, backend) = backend(&format!("http://{address}"), "").await;
    let refused = create_w1(&backend).await;
    assert_eq!(
        (refused.0, &refused.1["error"]["code"]),
        (503, &json!("runtime_unavailable")),
        "{}",
        refused.1
    );
    assert_eq!(listed(&backend).await["status"], "unavailable");
}

#[cfg(feature = "embedded")]
/// A Backend over one embedded runtime `alpha`, served over TLS with the certificate
/// `runtime`; answers its address (the folder lives as long as it is held).
async fn tls_backend(pki: &Pki) -> (std::net::SocketAddr, tempfile::TempDir, ServedBackend) {
    let dir = tempfile::tempdir().unwrap();
    let toml = "[[runtime]]\nid = \"alpha\"\nadapter = \"embedded\"\npersist = false\n";
    let (_, registry) = load_registry(dir.path(), toml);
    let serving = tls_serving(pki, "runtime", false);
    let served = serve_backend_with(registry, options(dir.path()), serving).await;
    let address = served
        .api
        .base
        .strip_prefix("http://")
        .unwrap()
        .parse()
        .unwrap();
    (address, dir, served)
}

#[cfg(feature = "embedded")]
/// A TLS client that trusts `ca` and offers `protocols` by ALPN: the connection and the
/// protocol the server chose.
async fn tls_connect(
    address: std::net::SocketAddr,
    ca: &Path,
    protocols: &[&[u8]],
) -> (
    tokio_rustls::client::TlsStream<tokio::net::TcpStream>,
    Option<Vec<u8>>,
) {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = protocols.iter().map(|protocol| protocol.to_vec()).collect();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(address).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let stream = connector.connect(name, tcp).await.unwrap();
    let protocol = stream.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
    (stream, protocol)
}

#[cfg(feature = "embedded")]
#[tokio::test]
async fn the_backend_serves_https_with_http2_by_alpn_and_refuses_plain_http() {
    let pki = Pki::new();
    let (address, _dir, _backend) = tls_backend(&pki).await;
    // HTTP/1.1, as a client without HTTP/2 asks.
    let ca = reqwest::Certificate::from_pem(&std::fs::read(pki.path("ca.pem")).unwrap()).unwrap();
    let client = reqwest::Client::builder()
        .tls_certs_only([ca])
        .build()
        .unwrap();
    let answer = client
        .get(format!("https://localhost:{}/api/runtimes", address.port()))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);

    // HTTP/2, chosen by ALPN, answering on one connection.
    let (stream, protocol) = tls_connect(address, &pki.path("ca.pem"), &[b"h2", b"http/1.1"]).await;
    assert_eq!(protocol.as_deref(), Some(&b"h2"[..]));
    let (mut sender, connection) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .unwrap();
    tokio::spawn(connection);
    for _ in 0..3 {
        let request = hyper::Request::get(format!("https://localhost:{}/healthz", address.port()))
            .body(http_body_util::Empty::<bytes::Bytes>::new())
            .unwrap();
        let response = sender.send_request(request).await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.version(), hyper::Version::HTTP_2);
    }
    // A client that offers only HTTP/1.1 gets it.
    let (_, protocol) = tls_connect(address, &pki.path("ca.pem"), &[b"http/1.1"]).await;
    assert_eq!(protocol.as_deref(), Some(&b"http/1.1"[..]));

    // Plain HTTP to the TLS port is closed at once, not held.
    let started = std::time::Instant::now();
    let plain = reqwest::get(format!("http://{address}/healthz")).await;
    assert!(plain.is_err(), "{plain:?}");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}
