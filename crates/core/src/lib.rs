//! scimsync's pure core: the domain model, scoping, attribute mapping and planning.
//!
//! Nothing here does IO. Every decision about what to change in AWS is a pure function of its inputs.

pub mod attr;
pub mod expr;
pub mod guard;
pub mod mapping;
pub mod model;
pub mod plan;
pub mod scope;

pub use attr::{AttrChange, AttrValue, UserAttr, diff_user};
pub use guard::{GuardOptions, Held, hold_mass_removals, suspicious_source};
pub use mapping::{Mapping, MappingConfig, MappingError, Rejection};
pub use model::*;
pub use plan::{
    Desired, Managed, Plan, PlanOptions, PlanSummary, RemovalMode, Target, desired, desired_with, plan,
};
pub use scope::{Nesting, ScopeOptions};
