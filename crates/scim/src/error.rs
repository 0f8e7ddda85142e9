//! The one error type of the SCIM client. Every message says what went wrong and what to do, and
//! carries AWS's own words and request id when the service gave them. No message ever holds the token.

use std::fmt;
use std::time::Duration;

/// What the SCIM endpoint answered to one failed call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiFailure {
    /// The call, as `METHOD /path` relative to the base URL, without the query (it may hold names).
    pub call: String,
    pub status: u16,
    /// AWS's `detail`, or a short excerpt of a body that was not a SCIM error.
    pub detail: String,
    /// `x-amzn-RequestId` header, else the body's `exceptionRequestId`: quote it to AWS support.
    pub request_id: Option<String>,
    /// The `Retry-After` the service asked for, when it sent one.
    pub retry_after: Option<Duration>,
}

impl fmt::Display for ApiFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} answered {}", self.call, self.status)?;
        if !self.detail.is_empty() {
            write!(f, " \"{}\"", self.detail)?;
        }
        if let Some(id) = &self.request_id {
            write!(f, " (x-amzn-RequestId {id})")?;
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ScimError {
    #[error(
        "{0}: the SCIM access token was refused; it is wrong, revoked or expired (tokens last one year). \
         Mint a new token in the IAM Identity Center console (Settings > Identity source > \
         Automatic provisioning > Generate token) and configure it"
    )]
    Unauthorized(ApiFailure),

    #[error("{0}: access denied; check that automatic provisioning is enabled for this identity source")]
    Forbidden(ApiFailure),

    #[error(
        "{0}: the tenant in the SCIM endpoint URL does not exist; copy the SCIM endpoint exactly as the \
         IAM Identity Center console shows it (Settings > Identity source > Automatic provisioning)"
    )]
    UnknownTenant(ApiFailure),

    #[error("{0}: not found")]
    NotFound(ApiFailure),

    #[error(
        "{0}: AWS already holds an object with the same userName, email, externalId or group name; \
         find it (it may have been made by the console or Control Tower) and adopt or rename it"
    )]
    Conflict(ApiFailure),

    #[error("{0}: AWS rejected the request as invalid")]
    Validation(ApiFailure),

    #[error("{0}: AWS kept throttling after all retries; lower requests_per_second or try again later")]
    Throttled(ApiFailure),

    #[error("{0}: AWS failed on its side after all retries; try again later")]
    Server(ApiFailure),

    #[error("{0}: unexpected answer")]
    Rejected(ApiFailure),

    #[error(
        "{call}: no answer from the SCIM endpoint after all retries ({reason}); check the network and the endpoint URL"
    )]
    Transport {
        call: String,
        reason: String,
        #[source]
        source: reqwest::Error,
    },

    #[error("{call}: the answer is not the expected {what} ({problem}); body starts with: {snippet}")]
    Decode { call: String, what: &'static str, problem: String, snippet: String },

    #[error("invalid SCIM configuration: {0}")]
    InvalidConfig(String),

    /// The caller asked for something the AWS profile cannot express (a bug in the caller).
    #[error("cannot send this change to AWS: {0}")]
    InvalidInput(String),
}

impl ScimError {
    /// The service's answer, when there was one.
    pub fn failure(&self) -> Option<&ApiFailure> {
        match self {
            ScimError::Unauthorized(f)
            | ScimError::Forbidden(f)
            | ScimError::UnknownTenant(f)
            | ScimError::NotFound(f)
            | ScimError::Conflict(f)
            | ScimError::Validation(f)
            | ScimError::Throttled(f)
            | ScimError::Server(f)
            | ScimError::Rejected(f) => Some(f),
            _ => None,
        }
    }

    pub fn status(&self) -> Option<u16> {
        self.failure().map(|f| f.status)
    }

    pub fn request_id(&self) -> Option<&str> {
        self.failure().and_then(|f| f.request_id.as_deref())
    }

    /// Whether another attempt may succeed: throttling, server errors, timeouts, lost connections.
    pub fn is_transient(&self) -> bool {
        matches!(self, ScimError::Throttled(_) | ScimError::Server(_) | ScimError::Transport { .. })
    }

    pub(crate) fn retry_after(&self) -> Option<Duration> {
        self.failure().and_then(|f| f.retry_after)
    }

    /// Sorts an error answer into a variant by its status (and, for 404, by AWS's detail).
    pub(crate) fn from_failure(failure: ApiFailure) -> Self {
        match failure.status {
            401 => ScimError::Unauthorized(failure),
            403 => ScimError::Forbidden(failure),
            404 if failure.detail.contains("TENANT does not exist") => ScimError::UnknownTenant(failure),
            404 => ScimError::NotFound(failure),
            409 => ScimError::Conflict(failure),
            400 | 422 => ScimError::Validation(failure),
            429 => ScimError::Throttled(failure),
            500..=599 => ScimError::Server(failure),
            _ => ScimError::Rejected(failure),
        }
    }
}
