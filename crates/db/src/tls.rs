//! TLS to PostgreSQL, with libpq's `sslmode` and `sslrootcert` meanings, so a `database_url`
//! copied from a managed database's console means here what it means to `psql`.
//!
//! | `sslmode` | TLS | the server's certificate |
//! | --- | --- | --- |
//! | `disable` | never | — |
//! | `allow`, `prefer` (the default) | when the server offers it | not checked |
//! | `require` | always | not checked, unless `sslrootcert` is given: then as `verify-ca` |
//! | `verify-ca` | always | chain checked against `sslrootcert` (or the system's roots) |
//! | `verify-full` | always | chain and host name checked |
//!
//! `sslrootcert` is a PEM file of the certificate authorities to trust, or `system` for the
//! system's trust store (also what `verify-*` use when it is not given; libpq would look for
//! `~/.postgresql/root.crt` instead). Unix-socket connections never use TLS (PostgreSQL does
//! not offer it there), whatever `sslmode` says, as with libpq.
//!
//! tokio-postgres knows only `disable`, `prefer` and `require`, and refuses `sslrootcert`:
//! [`split`] takes both out of the URL before it parses the rest.

use crate::DbError;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};
use std::path::PathBuf;
use std::sync::Arc;
use tokio_postgres::config::SslMode;
use tokio_postgres_rustls::MakeRustlsConnect;

/// What the URL asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// `disable`.
    Disable,
    /// `allow` or `prefer`.
    #[default]
    Prefer,
    /// `require`.
    Require,
    /// `verify-ca`.
    VerifyCa,
    /// `verify-full`.
    VerifyFull,
}

/// Which certificate authorities to trust.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Roots {
    /// The system's trust store.
    System,
    /// A PEM file.
    File(PathBuf),
}

/// The TLS policy of one `database_url`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    /// `sslmode`.
    pub mode: Mode,
    /// `sslrootcert`.
    pub roots: Option<Roots>,
}

impl Policy {
    /// What tokio-postgres is told: whether to ask the server for TLS and whether to insist.
    pub fn ssl_mode(&self) -> SslMode {
        match self.mode {
            Mode::Disable => SslMode::Disable,
            Mode::Prefer => SslMode::Prefer,
            Mode::Require | Mode::VerifyCa | Mode::VerifyFull => SslMode::Require,
        }
    }

    /// The rustls connector for this policy (`None` for `disable`). Reads `sslrootcert`, so
    /// a missing or unreadable file is found when the URL is parsed, not at the first query.
    pub fn connector(&self) -> Result<Option<MakeRustlsConnect>, DbError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier: Arc<dyn ServerCertVerifier> = match (self.mode, &self.roots) {
            (Mode::Disable, _) => return Ok(None),
            (Mode::Prefer, _) | (Mode::Require, None) => Arc::new(Unchecked(provider.clone())),
            (Mode::Require | Mode::VerifyCa, roots) => Arc::new(AnyName(chain(roots, &provider)?)),
            (Mode::VerifyFull, roots) => chain(roots, &provider)?,
        };
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| DbError::Config(format!("TLS to PostgreSQL: {e}")))?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        Ok(Some(MakeRustlsConnect::new(config)))
    }
}

/// Takes `sslmode` and `sslrootcert` out of a `postgres://` URL or a `key=value` string;
/// returns the rest (with `sslmode` in the form tokio-postgres knows) and the policy.
pub fn split(url: &str) -> Result<(String, Policy), DbError> {
    let mut mode = None;
    let mut roots = None;
    let mut take = |key: &str, value: &str| -> Result<bool, DbError> {
        match key {
            "sslmode" => mode = Some(parse_mode(value)?),
            "sslrootcert" => {
                roots = Some(match value {
                    "system" => Roots::System,
                    path => Roots::File(PathBuf::from(path)),
                })
            }
            _ => return Ok(false),
        }
        Ok(true)
    };
    let rest = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        let mut kept = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = url::form_urlencoded::parse(pair.as_bytes())
                .next()
                .unwrap_or_default();
            if !take(&k, &v)? {
                kept.push(pair);
            }
        }
        if kept.is_empty() {
            base.to_string()
        } else {
            format!("{base}?{}", kept.join("&"))
        }
    } else {
        let mut kept = Vec::new();
        for token in url.split_whitespace() {
            let (k, v) = token.split_once('=').unwrap_or((token, ""));
            if !take(k.trim(), v.trim_matches('\''))? {
                kept.push(token);
            }
        }
        kept.join(" ")
    };
    let policy = Policy {
        mode: mode.unwrap_or_default(),
        roots,
    };
    Ok((rest, policy))
}

fn parse_mode(value: &str) -> Result<Mode, DbError> {
    Ok(match value {
        "disable" => Mode::Disable,
        "allow" | "prefer" => Mode::Prefer,
        "require" => Mode::Require,
        "verify-ca" => Mode::VerifyCa,
        "verify-full" => Mode::VerifyFull,
        other => {
            return Err(DbError::Config(format!(
                "database_url: sslmode={other} is not one of disable, allow, prefer, require, \
                 verify-ca, verify-full"
            )));
        }
    })
}

/// The certificate-chain check: against `sslrootcert`'s authorities, or the system's.
fn chain(
    roots: &Option<Roots>,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<dyn ServerCertVerifier>, DbError> {
    let config = |e: &dyn std::fmt::Display| DbError::Config(format!("database_url: {e}"));
    match roots {
        None | Some(Roots::System) => {
            let v = rustls_platform_verifier::Verifier::new(provider.clone())
                .map_err(|e| config(&format!("the system's certificate authorities: {e}")))?;
            Ok(Arc::new(v))
        }
        Some(Roots::File(path)) => {
            let shown = path.display();
            let mut store = rustls::RootCertStore::empty();
            let certs = CertificateDer::pem_file_iter(path)
                .map_err(|e| config(&format!("sslrootcert {shown}: {e}")))?;
            for cert in certs {
                let cert = cert.map_err(|e| config(&format!("sslrootcert {shown}: {e}")))?;
                store
                    .add(cert)
                    .map_err(|e| config(&format!("sslrootcert {shown}: {e}")))?;
            }
            if store.is_empty() {
                return Err(config(&format!("sslrootcert {shown} holds no certificate")));
            }
            rustls::client::WebPkiServerVerifier::builder_with_provider(
                Arc::new(store),
                provider.clone(),
            )
            .build()
            .map(|v| v as Arc<dyn ServerCertVerifier>)
            .map_err(|e| config(&format!("sslrootcert {shown}: {e}")))
        }
    }
}

/// `prefer` and `require` without `sslrootcert`: encryption without authentication, as
/// libpq does. The handshake's signatures are still verified (the channel is the one the
/// certificate's key signed), only whom the certificate names is not.
#[derive(Debug)]
struct Unchecked(Arc<CryptoProvider>);

impl ServerCertVerifier for Unchecked {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `verify-ca`: the chain must lead to a trusted authority; the name in the certificate may
/// be any.
#[derive(Debug)]
struct AnyName(Arc<dyn ServerCertVerifier>);

impl ServerCertVerifier for AnyName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libpq_parameters_are_taken_out_of_urls_and_key_value_strings() {
        let (rest, p) =
            split("postgres://u:p@db.example:5432/sluice?sslmode=verify-full&application_name=x")
                .unwrap();
        assert_eq!(
            rest,
            "postgres://u:p@db.example:5432/sluice?application_name=x"
        );
        assert_eq!(p.mode, Mode::VerifyFull);
        assert_eq!(p.ssl_mode(), SslMode::Require);

        let (rest, p) =
            split("postgresql://db/s?sslrootcert=%2Fetc%2Fca.pem&sslmode=require").unwrap();
        assert_eq!(rest, "postgresql://db/s");
        assert_eq!(p.roots, Some(Roots::File("/etc/ca.pem".into())));

        let (rest, p) = split("host=db user=u sslmode=disable sslrootcert=system").unwrap();
        assert_eq!(rest, "host=db user=u");
        assert_eq!(p.mode, Mode::Disable);
        assert_eq!(p.roots, Some(Roots::System));

        let (rest, p) = split("postgres://db/s").unwrap();
        assert_eq!((rest.as_str(), p), ("postgres://db/s", Policy::default()));
        assert_eq!(Policy::default().ssl_mode(), SslMode::Prefer);
    }

    #[test]
    fn an_unknown_sslmode_or_a_missing_root_file_is_a_configuration_error() {
        let e = split("postgres://db/s?sslmode=verify_full").unwrap_err();
        assert!(
            matches!(e, DbError::Config(ref m) if m.contains("verify_full")),
            "{e}"
        );
        let (_, p) =
            split("postgres://db/s?sslmode=verify-ca&sslrootcert=/nonexistent.pem").unwrap();
        let e = p.connector().err().expect("a missing file is refused");
        assert!(
            matches!(e, DbError::Config(ref m) if m.contains("/nonexistent.pem")),
            "{e}"
        );
    }
}
