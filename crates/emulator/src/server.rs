//! Both emulators behind one listener: Entra sign-in and Graph, and the AWS SCIM endpoint.

use std::net::SocketAddr;
use std::time::Duration;

use secrecy::SecretString;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::aws::AwsScim;
use crate::directory::{DirectoryError, DirectoryFile};
use crate::entra::{EntraEmulator, JobTiming};

/// What to serve and where.
#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    /// `127.0.0.1:0` picks a free port.
    pub listen: SocketAddr,
    pub directory: DirectoryFile,
    /// The provisioning job's timing (cycle length, schedule override).
    pub job_timing: JobTiming,
    /// Also serve HTTPS (a second listener, a CA made at start); `None`: plain HTTP only.
    pub tls: Option<TlsOptions>,
    /// Faults to inject from the start (see [`crate::faults`]); none by default.
    pub faults: crate::faults::FaultConfig,
}

/// Where to serve HTTPS and where to write the CA certificate that clients must trust.
#[derive(Debug, Clone)]
pub struct TlsOptions {
    /// `127.0.0.1:0` picks a free port.
    pub listen: SocketAddr,
    /// The CA certificate (PEM) is written here at start when set.
    pub ca_file: Option<std::path::PathBuf>,
}

impl EmulatorConfig {
    /// The sample company on a free local port.
    pub fn sample() -> Self {
        EmulatorConfig::new(DirectoryFile::sample())
    }

    pub fn new(directory: DirectoryFile) -> Self {
        EmulatorConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            directory,
            job_timing: JobTiming::default(),
            tls: None,
            faults: crate::faults::FaultConfig::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error(transparent)]
    Directory(#[from] DirectoryError),
    #[error("cannot seed the AWS emulator: {0}")]
    Seed(String),
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    #[error("cannot write the CA certificate to {path}: {source}")]
    CaFile { path: std::path::PathBuf, source: std::io::Error },
}

/// The running emulators. Dropping it stops them; [`RunningEmulator::shutdown`] stops gracefully.
#[derive(Debug)]
pub struct RunningEmulator {
    addr: SocketAddr,
    entra: EntraEmulator,
    aws: AwsScim,
    env: Vec<(String, String)>,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
    scheduler: JoinHandle<()>,
    latency: crate::latency::Latency,
    faults: crate::faults::Faults,
    https: Option<HttpsServer>,
}

/// The HTTPS listener and what clients need to trust it.
#[derive(Debug)]
struct HttpsServer {
    addr: SocketAddr,
    ca_pem: String,
    ca_file: Option<std::path::PathBuf>,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
}

/// Bind one listener and serve the Entra and AWS routers on it.
pub async fn start(cfg: EmulatorConfig) -> Result<RunningEmulator, StartError> {
    cfg.directory.validate()?;
    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .map_err(|source| StartError::Bind { addr: cfg.listen, source })?;
    let addr = listener.local_addr().map_err(|source| StartError::Bind { addr: cfg.listen, source })?;
    let base = format!("http://{addr}");

    let (aws_tenant, aws_token) = match &cfg.directory.aws {
        Some(aws) => (aws.tenant_id.clone(), aws.token.clone()),
        None => ("emulated-aws".to_owned(), format!("emulator-{}", uuid::Uuid::new_v4())),
    };
    let aws = AwsScim::new(aws_tenant.clone(), aws_token.clone());
    if let Some(seed) = &cfg.directory.aws {
        seed_aws(&aws, seed)?;
    }
    let scim_url = format!("{base}/{aws_tenant}/scim/v2");

    let entra = EntraEmulator::new(&cfg.directory, cfg.job_timing.clone());
    // The admin saved AWS's Tenant URL and Secret Token unless the job is seeded as not configured.
    if cfg.directory.job.state != crate::directory::InitialJobState::NotConfigured {
        entra.set_scim_target(scim_url.clone(), SecretString::from(aws_token.clone()));
    }
    // Paths do not collide: Entra serves /{tenant}/oauth2/..., /{tenant}/v2.0/..., /v1.0/..., /beta/...;
    // AWS serves /{tenant}/scim/v2/...
    let latency = crate::latency::Latency::default();
    let faults = crate::faults::Faults::new(cfg.faults.clone());
    let router = entra
        .router()
        .merge(aws.router())
        .merge(faults.admin_router())
        .layer(axum::middleware::from_fn_with_state(faults.clone(), crate::faults::inject))
        .layer(axum::middleware::from_fn_with_state(latency.clone(), crate::latency::delay));
    let https = match &cfg.tls {
        Some(tls) => Some(start_https(tls, router.clone()).await?),
        None => None,
    };
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        let serving = axum::serve(listener, router).with_graceful_shutdown(async {
            let _ = stop_rx.await;
        });
        if let Err(e) = serving.await {
            tracing::error!("emulator stopped: {e}");
        }
    });
    let scheduler = entra.spawn_scheduler();

    let client = cfg.directory.clients.first();
    let env = vec![
        ("AZURE_TENANT_ID".to_owned(), cfg.directory.tenant_id.clone()),
        ("AZURE_CLIENT_ID".to_owned(), client.map(|c| c.client_id.clone()).unwrap_or_default()),
        ("AZURE_CLIENT_SECRET".to_owned(), client.map(|c| c.secret.clone()).unwrap_or_default()),
        ("AZURE_AUTHORITY_HOST".to_owned(), base.clone()),
        ("SCIMSYNC_GRAPH_URL".to_owned(), base.clone()),
        ("SCIMSYNC_APP".to_owned(), cfg.directory.app.display_name.clone()),
        ("SCIMSYNC_SCIM_URL".to_owned(), scim_url),
        ("SCIMSYNC_SCIM_TOKEN".to_owned(), aws_token),
    ];
    Ok(RunningEmulator {
        addr,
        entra,
        aws,
        env,
        stop: Some(stop_tx),
        server: Some(server),
        scheduler,
        latency,
        faults,
        https,
    })
}

/// Bind the HTTPS listener, make the CA and the server certificate, write the CA file, serve.
async fn start_https(tls: &TlsOptions, router: axum::Router) -> Result<HttpsServer, StartError> {
    let listener = tokio::net::TcpListener::bind(tls.listen)
        .await
        .map_err(|source| StartError::Bind { addr: tls.listen, source })?;
    let addr = listener.local_addr().map_err(|source| StartError::Bind { addr: tls.listen, source })?;
    let material = crate::tls::TlsMaterial::generate(Some(addr.ip()))?;
    if let Some(path) = &tls.ca_file {
        std::fs::write(path, &material.ca_pem)
            .map_err(|source| StartError::CaFile { path: path.clone(), source })?;
    }
    let listener = crate::tls::TlsListener::new(listener, material.server_config.clone())
        .map_err(|source| StartError::Bind { addr: tls.listen, source })?;
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        let router = router.layer(axum::middleware::map_request(crate::tls::mark_https));
        let serving = axum::serve(listener, router).with_graceful_shutdown(async {
            let _ = stop_rx.await;
        });
        if let Err(e) = serving.await {
            tracing::error!("emulator (HTTPS) stopped: {e}");
        }
    });
    Ok(HttpsServer {
        addr,
        ca_pem: material.ca_pem,
        ca_file: tls.ca_file.clone(),
        stop: Some(stop_tx),
        server: Some(server),
    })
}

fn seed_aws(aws: &AwsScim, seed: &crate::directory::DirAws) -> Result<(), StartError> {
    let mut ids_by_name = std::collections::HashMap::new();
    for user in &seed.users {
        let id = aws
            .seed_user(user.clone())
            .map_err(|e| StartError::Seed(format!("{} {}", e.status, e.detail)))?;
        if let Some(name) = user.get("userName").and_then(serde_json::Value::as_str) {
            ids_by_name.insert(name.to_owned(), id);
        }
    }
    for group in &seed.groups {
        let members: Vec<String> = group
            .members
            .iter()
            .map(|name| {
                ids_by_name.get(name).cloned().ok_or_else(|| {
                    StartError::Seed(format!("group {:?} lists unknown user {name:?}", group.display_name))
                })
            })
            .collect::<Result<_, _>>()?;
        aws.seed_group(&group.display_name, group.external_id.clone(), &members)
            .map_err(|e| StartError::Seed(format!("{} {}", e.status, e.detail)))?;
    }
    Ok(())
}

impl RunningEmulator {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The HTTPS listener's address, when [`EmulatorConfig::tls`] was set.
    pub fn https_addr(&self) -> Option<SocketAddr> {
        self.https.as_ref().map(|h| h.addr)
    }

    /// `https://127.0.0.1:PORT`, when HTTPS is served.
    pub fn https_base_url(&self) -> Option<String> {
        self.https.as_ref().map(|h| format!("https://{}", h.addr))
    }

    /// The CA certificate (PEM) that signed the HTTPS listener's certificate.
    pub fn ca_pem(&self) -> Option<&str> {
        self.https.as_ref().map(|h| h.ca_pem.as_str())
    }

    /// [`Self::env`] with the URLs on the HTTPS listener, and `SCIMSYNC_CA_FILE` (when a CA file
    /// was written) just before `SCIMSYNC_SCIM_TOKEN`, which stays last. `None` without HTTPS.
    pub fn https_env(&self) -> Option<Vec<(String, String)>> {
        let https = self.https.as_ref()?;
        let (http, tls) = (self.base_url(), format!("https://{}", https.addr));
        let mut env = Vec::new();
        for (name, value) in &self.env {
            if name == "SCIMSYNC_SCIM_TOKEN"
                && let Some(path) = &https.ca_file
            {
                env.push(("SCIMSYNC_CA_FILE".to_owned(), path.display().to_string()));
            }
            let value = match name.as_str() {
                "AZURE_AUTHORITY_HOST" | "SCIMSYNC_GRAPH_URL" | "SCIMSYNC_SCIM_URL" => {
                    value.replacen(&http, &tls, 1)
                }
                _ => value.clone(),
            };
            env.push((name.clone(), value));
        }
        Some(env)
    }

    /// Environment for scimsync: AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET,
    /// AZURE_AUTHORITY_HOST, SCIMSYNC_GRAPH_URL, SCIMSYNC_APP, SCIMSYNC_SCIM_URL, SCIMSYNC_SCIM_TOKEN.
    /// Holds secrets: print it only on purpose.
    pub fn env(&self) -> Vec<(String, String)> {
        self.env.clone()
    }

    /// One value of [`Self::env`].
    pub fn env_value(&self, key: &str) -> Option<String> {
        self.env.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
    }

    /// The Entra state, to change the directory or inject faults in tests.
    pub fn entra(&self) -> &EntraEmulator {
        &self.entra
    }

    /// The AWS SCIM emulator (snapshot, faults).
    /// A one-way network latency for every call to either emulator (benchmarks); a call costs twice it.
    pub fn set_latency(&self, one_way: Duration) {
        self.latency.set(one_way);
    }

    /// The fault layer of both emulators (also `/_emulator/faults` over HTTP).
    pub fn faults(&self) -> &crate::faults::Faults {
        &self.faults
    }

    pub fn aws(&self) -> &AwsScim {
        &self.aws
    }

    /// Stop accepting, finish requests in flight (up to 5 s), stop the job scheduler.
    pub async fn shutdown(mut self) {
        self.scheduler.abort();
        if let Some(https) = &mut self.https {
            if let Some(stop) = https.stop.take() {
                let _ = stop.send(());
            }
            if let Some(server) = https.server.take() {
                let _ = tokio::time::timeout(Duration::from_secs(5), server).await;
            }
        }
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), server).await;
        }
    }
}

impl Drop for RunningEmulator {
    fn drop(&mut self) {
        self.scheduler.abort();
        if let Some(server) = &self.server {
            server.abort();
        }
        if let Some(server) = self.https.as_ref().and_then(|h| h.server.as_ref()) {
            server.abort();
        }
    }
}
