//! Local emulators of Entra ID / Microsoft Graph and of the AWS IAM Identity Center SCIM endpoint.
//!
//! Both are served from one listener; paths do not collide (`/{tenant}/oauth2/...` for sign-in,
//! `/v1.0/...` and `/beta/...` for Graph, `/{aws-tenant}/scim/v2/...` for SCIM). Start them with
//! [`start`]; seed them with a [`DirectoryFile`] (see [`directory`] for the format).

pub mod aws;
pub mod directory;
pub mod entra;
pub mod faults;
pub mod latency;
pub mod server;
pub mod tls;

pub use directory::DirectoryFile;
pub use entra::{EntraEmulator, JobSnapshot, JobTiming};
pub use server::{EmulatorConfig, RunningEmulator, StartError, TlsOptions, start};
