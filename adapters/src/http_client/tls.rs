//! The http-client adapter's TLS: the CA to trust instead of the system's roots (`ca_file`), a
//! client certificate for mutual TLS (`client_cert_file` + `client_key_file`), and the name to
//! verify when the certificate's differs from the host of `base_url` (`tls_server_name`). The
//! files are paths on the Backend's host, relative to the workspace's root, read when the
//! runtime is built; errors name the key, never the path. A failed handshake is told by what
//! went wrong, as a person understands it, with the diagnostic code `tls_failed`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use hyper_rustls::{FixedServerNameResolver, HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{AlertDescription, CertificateError, ClientConfig, RootCertStore};
use url::Url;
use yoi_registry_core::AdapterConfigError;

/// The diagnostic code of a failed TLS handshake.
pub(crate) const TLS_FAILED: &str = "tls_failed";

/// The TLS keys of a table, as written.
#[derive(Default)]
pub(crate) struct TlsKeys {
    pub(crate) ca_file: Option<PathBuf>,
    pub(crate) client_cert_file: Option<PathBuf>,
    pub(crate) client_key_file: Option<PathBuf>,
    pub(crate) tls_server_name: Option<String>,
}

impl TlsKeys {
    /// The connector to the runtime at `base` over `tcp`: TLS as the keys say for an `https`
    /// base (its files relative to `root`), plain TCP for an `http` one.
    pub(crate) fn connector(
        &self,
        tcp: HttpConnector,
        base: &Url,
        root: &Path,
    ) -> Result<HttpsConnector<HttpConnector>, AdapterConfigError> {
        let https = base.scheme() == "https";
        let any = self.ca_file.is_some()
            || self.client_cert_file.is_some()
            || self.client_key_file.is_some()
            || self.tls_server_name.is_some();
        if any && !https {
            return Err(AdapterConfigError::at(
                "base_url",
                "the TLS keys need an https:// base_url",
            ));
        }
        let config = if https {
            self.client_config(root)?
        } else {
            // Never used: the connector makes no TLS connection to an http:// base.
            builder()?
                .with_root_certificates(RootCertStore::empty())
                .with_no_client_auth()
        };
        let schemes = HttpsConnectorBuilder::new()
            .with_tls_config(config)
            .https_or_http();
        let schemes = match &self.tls_server_name {
            None => schemes,
            Some(name) => schemes.with_server_name_resolver(server_name(name, base)?),
        };
        Ok(schemes.enable_http1().wrap_connector(tcp))
    }

    /// The client configuration: the roots to trust (`ca_file`'s, or the system's through
    /// the platform verifier, as reqwest's) and the client certificate, if any.
    fn client_config(&self, root: &Path) -> Result<ClientConfig, AdapterConfigError> {
        let unusable = |what: &str| AdapterConfigError {
            key: None,
            message: format!("the TLS client cannot be set up ({what})"),
        };
        let verified = match &self.ca_file {
            Some(path) => {
                let mut roots = RootCertStore::empty();
                for cert in certificates(&read(root, path, "ca_file")?) {
                    roots.add(cert).map_err(|_| {
                        AdapterConfigError::at("ca_file", "holds a certificate that cannot be a CA")
                    })?;
                }
                if roots.is_empty() {
                    return Err(AdapterConfigError::at(
                        "ca_file",
                        "holds no PEM certificate",
                    ));
                }
                builder()?.with_root_certificates(roots)
            }
            None => {
                let verifier = rustls_platform_verifier::Verifier::new(provider())
                    .map_err(|_| unusable("the system's roots"))?;
                builder()?
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(verifier))
            }
        };
        match (&self.client_cert_file, &self.client_key_file) {
            (Some(cert), Some(key)) => {
                let not_a_pair = || {
                    AdapterConfigError::at(
                        "client_cert_file",
                        "with client_key_file, is not a PEM certificate and private key",
                    )
                };
                let chain = certificates(&read(root, cert, "client_cert_file")?);
                let key = PrivateKeyDer::from_pem_slice(&read(root, key, "client_key_file")?)
                    .map_err(|_| not_a_pair())?;
                if chain.is_empty() {
                    return Err(not_a_pair());
                }
                verified
                    .with_client_auth_cert(chain, key)
                    .map_err(|_| not_a_pair())
            }
            (None, None) => Ok(verified.with_no_client_auth()),
            (Some(_), None) => Err(AdapterConfigError::at(
                "client_key_file",
                "is needed with client_cert_file",
            )),
            (None, Some(_)) => Err(AdapterConfigError::at(
                "client_cert_file",
                "is needed with client_key_file",
            )),
        }
    }
}

/// The crypto provider of every TLS link: aws-lc-rs, as the servers'.
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// A client configuration builder with the safe default protocol versions.
fn builder()
-> Result<rustls::ConfigBuilder<ClientConfig, rustls::WantsVerifier>, AdapterConfigError> {
    ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|_| AdapterConfigError {
            key: None,
            message: "the TLS client cannot be set up (its protocol versions)".into(),
        })
}

/// The certificates of a PEM file (those that parse).
fn certificates(pem: &[u8]) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_slice_iter(pem)
        .filter_map(Result::ok)
        .collect()
}

/// The name the certificate is verified against, `tls_server_name`, for a `base` that names the
/// runtime by IP address (which is where the connection goes).
fn server_name(name: &str, base: &Url) -> Result<FixedServerNameResolver, AdapterConfigError> {
    let by_address = matches!(base.host(), Some(url::Host::Ipv4(_) | url::Host::Ipv6(_)));
    if !by_address {
        return Err(AdapterConfigError::at(
            "tls_server_name",
            "needs base_url to name the runtime by IP address (otherwise put the name in base_url)",
        ));
    }
    let name = ServerName::try_from(name.to_owned())
        .map_err(|_| AdapterConfigError::at("tls_server_name", "is not a valid host name"))?;
    Ok(FixedServerNameResolver::new(name))
}

/// The file at `path` (relative to `root`), which `key` names.
fn read(root: &Path, path: &Path, key: &str) -> Result<Vec<u8>, AdapterConfigError> {
    std::fs::read(root.join(path))
        .map_err(|error| AdapterConfigError::at(key, format!("cannot be read ({})", error.kind())))
}

/// What went wrong in a TLS handshake that `error` ended, for people; `None` when it was not
/// a TLS failure.
pub(crate) fn handshake_failure(error: &(dyn std::error::Error + 'static)) -> Option<&'static str> {
    let mut source = Some(error);
    while let Some(current) = source {
        if let Some(tls) = carried(current) {
            return Some(describe(tls));
        }
        source = current.source();
    }
    None
}

/// The TLS error `error` is, or carries inside I/O errors (whose `source` skips what they
/// carry).
fn carried<'a>(mut error: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    loop {
        if let Some(tls) = error.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        error = error.downcast_ref::<std::io::Error>()?.get_ref()?;
    }
}

fn describe(error: &rustls::Error) -> &'static str {
    match error {
        rustls::Error::InvalidCertificate(
            CertificateError::UnknownIssuer | CertificateError::BadSignature,
        ) => {
            "presents a certificate that is not trusted (by ca_file, or the system's roots without it)"
        }
        rustls::Error::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        ) => {
            "presents a certificate for another name (set tls_server_name if that name is expected)"
        }
        rustls::Error::InvalidCertificate(
            CertificateError::Expired
            | CertificateError::ExpiredContext { .. }
            | CertificateError::NotValidYet
            | CertificateError::NotValidYetContext { .. },
        ) => "presents a certificate that has expired or is not valid yet",
        rustls::Error::InvalidCertificate(_) => "presents a certificate that cannot be used",
        rustls::Error::AlertReceived(
            AlertDescription::CertificateRequired
            | AlertDescription::BadCertificate
            | AlertDescription::UnknownCA
            | AlertDescription::CertificateUnknown
            | AlertDescription::AccessDenied,
        ) => {
            "refused the Backend's client certificate (or needs one: set client_cert_file and client_key_file)"
        }
        rustls::Error::InvalidMessage(_) => {
            "does not speak TLS on that port (is it serving plain HTTP?)"
        }
        _ => "failed the TLS handshake",
    }
}
