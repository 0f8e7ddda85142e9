//! Runs scimsync: reads the source and the target, plans, applies within AWS's limits and records what
//! it manages in the state store.

pub mod apply;
pub mod continuous;
pub mod snapshot;
pub mod state;
pub mod view;

pub use apply::{Action, ApplyError, ApplyReport, Outcome, apply, read_target, unix_now};
pub use state::{StateError, StateIdentity, StateStore};
