//! HTTPS for the emulators: a certificate authority made at start, a server certificate it signs
//! for the loopback names (and the listen address), and a listener that hands axum TLS streams.
//!
//! Real clients (the Azure SDK, MSAL) insist on https; they trust the emulator once they are given
//! the CA's PEM (`RunningEmulator::ca_pem`, or the file `scimsync emulate --tls` writes).

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
    KeyPair, KeyUsagePurpose, SanType,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// A CA and a server certificate signed by it, both new on every start.
pub struct TlsMaterial {
    /// The CA certificate, PEM: what clients must trust.
    pub ca_pem: String,
    pub server_config: Arc<rustls::ServerConfig>,
}

impl std::fmt::Debug for TlsMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsMaterial").finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
#[error("cannot make the emulator's TLS certificates: {0}")]
pub struct TlsError(String);

fn err(e: impl std::fmt::Display) -> TlsError {
    TlsError(e.to_string())
}

impl TlsMaterial {
    /// A CA ("scimsync emulator CA") and a server certificate for `localhost`, `127.0.0.1`, `::1`
    /// and `extra_ip` (the listen address, unless it is unspecified).
    pub fn generate(extra_ip: Option<IpAddr>) -> Result<TlsMaterial, TlsError> {
        let ca_key = KeyPair::generate().map_err(err)?;
        let mut ca_params = CertificateParams::default();
        let mut ca_name = DistinguishedName::new();
        ca_name.push(DnType::CommonName, "scimsync emulator CA");
        ca_name.push(DnType::OrganizationName, "scimsync emulator");
        ca_params.distinguished_name = ca_name;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages =
            vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        let ca_cert = ca_params.self_signed(&ca_key).map_err(err)?;
        let ca_pem = ca_cert.pem();
        let issuer = Issuer::new(ca_params, ca_key);

        let mut ips: Vec<IpAddr> =
            vec![IpAddr::from([127, 0, 0, 1]), IpAddr::from([0u16, 0, 0, 0, 0, 0, 0, 1])];
        if let Some(ip) = extra_ip.filter(|ip| !ip.is_unspecified() && !ips.contains(ip)) {
            ips.push(ip);
        }
        let mut params = CertificateParams::new(vec!["localhost".to_owned()]).map_err(err)?;
        params.subject_alt_names.extend(ips.into_iter().map(SanType::IpAddress));
        let mut name = DistinguishedName::new();
        name.push(DnType::CommonName, "localhost");
        params.distinguished_name = name;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        let key = KeyPair::generate().map_err(err)?;
        let cert = params.signed_by(&key, &issuer).map_err(err)?;

        let chain = vec![cert.der().clone(), CertificateDer::from(ca_cert.der().to_vec())];
        let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(err)?
            .with_no_client_auth()
            .with_single_cert(chain, key_der)
            .map_err(err)?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(TlsMaterial { ca_pem, server_config: Arc::new(config) })
    }
}

/// A listener for `axum::serve` that yields TLS streams. Handshakes run in their own tasks, so a
/// slow or broken client never holds up the others; failed handshakes are logged and dropped.
pub struct TlsListener {
    addr: SocketAddr,
    accepted: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    acceptor_task: tokio::task::JoinHandle<()>,
}

impl TlsListener {
    pub fn new(listener: TcpListener, config: Arc<rustls::ServerConfig>) -> io::Result<TlsListener> {
        let addr = listener.local_addr()?;
        let acceptor = TlsAcceptor::from(config);
        let (tx, accepted) = mpsc::channel(64);
        let acceptor_task = tokio::spawn(async move {
            loop {
                let (tcp, peer) = match listener.accept().await {
                    Ok(pair) => pair,
                    Err(e) => {
                        tracing::debug!("emulator TLS accept: {e}");
                        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                        continue;
                    }
                };
                let acceptor = acceptor.clone();
                let sender = tx.clone();
                tokio::spawn(async move {
                    let handshake =
                        tokio::time::timeout(std::time::Duration::from_secs(10), acceptor.accept(tcp)).await;
                    match handshake {
                        Ok(Ok(tls)) => {
                            let _ = sender.send((tls, peer)).await;
                        }
                        Ok(Err(e)) => tracing::debug!("emulator TLS handshake with {peer} failed: {e}"),
                        Err(_) => tracing::debug!("emulator TLS handshake with {peer} timed out"),
                    }
                });
                if tx.is_closed() {
                    break;
                }
            }
        });
        Ok(TlsListener { addr, accepted, acceptor_task })
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.acceptor_task.abort();
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.accepted.recv().await {
            Some(pair) => pair,
            // The acceptor task ended (it never does on its own): wait for the shutdown.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.addr)
    }
}

/// Tells the routers that the request came over HTTPS (`x-forwarded-proto: https`, replacing what
/// the client sent), so the links they build (discovery, `@odata.nextLink`) say `https://`.
pub async fn mark_https(mut request: axum::extract::Request) -> axum::extract::Request {
    request.headers_mut().insert("x-forwarded-proto", axum::http::HeaderValue::from_static("https"));
    request
}
