//! The http-client adapter's TLS: the CA to trust instead of the system's roots (`ca_file`), a
//! client certificate for mutual TLS (`client_cert_file` + `client_key_file`), and the name to
//! verify when the certificate's differs from the host of `base_url` (`tls_server_name`). The
//! files are paths on the Backend's host, relative to the workspace's root, read when the
//! runtime is built; errors name the key, never the path. A failed handshake is told by what
//! went wrong, as a person understands it, with the diagnostic code `tls_failed`.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use reqwest::ClientBuilder;
use rustls::{AlertDescription, CertificateError};
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
    /// Applies the keys to `builder` for the runtime at `base`; answers the URL to call, which
    /// names `tls_server_name` (resolved to `base`'s address) when one is set.
    pub(crate) fn apply(
        &self,
        mut builder: ClientBuilder,
        base: Url,
        root: &Path,
    ) -> Result<(ClientBuilder, Url), AdapterConfigError> {
        let any = self.ca_file.is_some()
            || self.client_cert_file.is_some()
            || self.client_key_file.is_some()
            || self.tls_server_name.is_some();
        if any && base.scheme() != "https" {
            return Err(AdapterConfigError::at(
                "base_url",
                "the TLS keys need an https:// base_url",
            ));
        }
        if let Some(path) = &self.ca_file {
            let pem = read(root, path, "ca_file")?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .ok()
                .filter(|certs| !certs.is_empty())
                .ok_or_else(|| AdapterConfigError::at("ca_file", "holds no PEM certificate"))?;
            builder = builder.tls_certs_only(certs);
        }
        match (&self.client_cert_file, &self.client_key_file) {
            (Some(cert), Some(key)) => {
                let mut pem = read(root, cert, "client_cert_file")?;
                pem.push(b'\n');
                pem.extend(read(root, key, "client_key_file")?);
                let identity = reqwest::Identity::from_pem(&pem).map_err(|_| {
                    AdapterConfigError::at(
                        "client_cert_file",
                        "with client_key_file, is not a PEM certificate and private key",
                    )
                })?;
                builder = builder.identity(identity);
            }
            (None, None) => {}
            (Some(_), None) => {
                return Err(AdapterConfigError::at(
                    "client_key_file",
                    "is needed with client_cert_file",
                ));
            }
            (None, Some(_)) => {
                return Err(AdapterConfigError::at(
                    "client_cert_file",
                    "is needed with client_key_file",
                ));
            }
        }
        let Some(name) = &self.tls_server_name else {
            return Ok((builder, base));
        };
        let ip: IpAddr = base
            .host_str()
            .and_then(|host| host.trim_matches(['[', ']']).parse().ok())
            .ok_or_else(|| {
                AdapterConfigError::at(
                    "tls_server_name",
                    "needs base_url to name the runtime by IP address (otherwise put the name in base_url)",
                )
            })?;
        let port = base.port_or_known_default().unwrap_or(443);
        let mut named = base;
        named
            .set_host(Some(name))
            .map_err(|_| AdapterConfigError::at("tls_server_name", "is not a valid host name"))?;
        Ok((builder.resolve(name, SocketAddr::new(ip, port)), named))
    }
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
