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
    let router = entra
        .router()
        .merge(aws.router())
        .layer(axum::middleware::from_fn_with_state(latency.clone(), crate::latency::delay));
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

    pub fn aws(&self) -> &AwsScim {
        &self.aws
    }

    /// Stop accepting, finish requests in flight (up to 5 s), stop the job scheduler.
    pub async fn shutdown(mut self) {
        self.scheduler.abort();
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
    }
}
