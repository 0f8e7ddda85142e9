//! Entra ID adapter: sign-in, the Microsoft Graph client, the directory reader and the
//! provisioning-job client (with the `trigger` logic that drives Entra's own job).
//!
//! Wire types (Graph JSON) stay in this crate; the directory reader converts to
//! `scimsync_core::Directory`. Every Graph call goes through [`GraphClient`], which owns retries,
//! pacing and error decoding. Secrets live in `secrecy` types and never reach Debug, logs or errors.

pub mod app;
pub mod credential;
pub mod delta;
pub mod directory;
pub mod error;
pub mod graph;
pub mod jobs;
pub mod trigger;

pub use app::{AppSelector, ServicePrincipal, find_app};
pub use credential::{ClientSecretCredential, Cloud, TokenProvider};
pub use directory::{ReadOptions, read_directory};
pub use error::{AppCandidate, EntraError, GraphError, SignInError};
pub use graph::{GraphClient, GraphClientConfig};
pub use jobs::{
    JobStatusCode, LogQuery, OnDemandResult, OnDemandSubject, ProvisioningClient, ProvisioningLogEntry,
    ResetScope, SyncJob,
};
pub use trigger::{Decision, TriggerOptions, decide, wait_for_cycle};
