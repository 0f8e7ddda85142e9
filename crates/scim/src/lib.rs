//! SCIM 2.0 client with the AWS IAM Identity Center profile.
//!
//! One [`ScimClient`] per endpoint owns every call: client-side rate limit, bounded concurrency,
//! retries with exponential back-off and jitter (honouring Retry-After), AWS error decoding and
//! request counting. It speaks in `scimsync_core` types; the SCIM JSON stays in [`wire`].
//!
//! AWS quirks handled here: cursor paging (the classic `totalResults` is the page size, not the
//! total), at most 100 member changes per group PATCH, groups never listing their members, error
//! bodies with a string `status` and a non-standard `schema` key, booleans sent as strings.

mod client;
mod config;
mod error;
mod stats;
mod wire;

pub use client::ScimClient;
#[doc(hidden)]
pub use client::{decode_for_fuzz, eq_filter_for_fuzz};
pub use config::{ScimConfig, ScimProfile};
pub use error::{ApiFailure, ScimError};
pub use secrecy::SecretString;
pub use stats::CallStats;
