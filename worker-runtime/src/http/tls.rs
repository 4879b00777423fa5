//! TLS for the server loop: a rustls server configuration made from PEM files, optionally
//! requiring a client certificate signed by a given CA (mutual TLS). Errors name the option at
//! fault, never the file's path.

use std::path::Path;
use std::sync::Arc;

use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;

/// Why a TLS configuration cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file cannot be read or holds nothing usable.
    #[error("{option}: {reason}")]
    File {
        /// The option that names the file, e.g. `--tls-cert`.
        option: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The files do not make a configuration (e.g. the key does not match the certificate).
    #[error("the TLS certificate and key cannot be used together: {0}")]
    Config(String),
}

/// The PEM files of a TLS listener.
#[derive(Debug, Clone, Copy)]
pub struct TlsFiles<'a> {
    /// The certificate chain (`--tls-cert`).
    pub cert: &'a Path,
    /// Its private key (`--tls-key`).
    pub key: &'a Path,
    /// When given, clients must present a certificate this CA signed (`--client-ca`).
    pub client_ca: Option<&'a Path>,
}

/// The server configuration of `files`, offering HTTP/2 and HTTP/1.1 (by ALPN), so that a
/// browser can hold many event streams on one connection.
pub fn server_config(files: TlsFiles<'_>) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let certs = certificates(files.cert, "--tls-cert")?;
    let key_pem = read(files.key, "--tls-key")?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|_| TlsError::File {
        option: "--tls-key",
        reason: "holds no PEM private key".into(),
    })?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|error| TlsError::Config(error.to_string()))?;
    let builder = match files.client_ca {
        None => builder.with_no_client_auth(),
        Some(path) => {
            let mut roots = RootCertStore::empty();
            for cert in certificates(path, "--client-ca")? {
                roots.add(cert).map_err(|error| TlsError::File {
                    option: "--client-ca",
                    reason: format!("holds a certificate that cannot be a CA: {error}"),
                })?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|error| TlsError::Config(error.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder
        .with_single_cert(certs, key)
        .map_err(|error| TlsError::Config(error.to_string()))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The certificates of the PEM file at `path`, which the option `option` names.
fn certificates(
    path: &Path,
    option: &'static str,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read(path, option)?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<_, _>>()
        .map_err(|_| TlsError::File {
            option,
            reason: "is not valid PEM".into(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::File {
            option,
            reason: "holds no PEM certificate".into(),
        });
    }
    Ok(certs)
}

fn read(path: &Path, option: &'static str) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|error| TlsError::File {
        option,
        reason: format!("cannot be read ({})", error.kind()),
    })
}
