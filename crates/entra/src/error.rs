//! Typed errors of the Entra adapter. None of them ever holds a secret: token and secret values are
//! kept in `secrecy` types and never formatted.

use std::fmt;

use reqwest::StatusCode;

/// A sign-in failure answered by the token endpoint (AADSTS errors).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignInError {
    pub status: u16,
    /// OAuth error, e.g. `invalid_client`.
    pub error: String,
    /// Microsoft's text, starting with `AADSTSnnnn:`.
    pub description: String,
    pub codes: Vec<u64>,
    pub trace_id: Option<String>,
    pub correlation_id: Option<String>,
}

impl SignInError {
    /// The first AADSTS code, if the answer carried one.
    pub fn code(&self) -> Option<u64> {
        self.codes.first().copied()
    }

    /// A plain-words hint for the well-known codes.
    pub fn hint(&self) -> Option<&'static str> {
        self.codes.iter().find_map(|code| aadsts_hint(*code))
    }
}

/// Plain-words explanations of the AADSTS codes people meet most.
pub fn aadsts_hint(code: u64) -> Option<&'static str> {
    Some(match code {
        7000215 => {
            "the client secret is wrong; a common mistake is pasting the secret's ID instead of its Value \
             (the Value is shown only once, when the secret is created)"
        }
        7000222 => "the client secret has expired; create a new one under Certificates & secrets",
        700016 => {
            "no application with this client id exists in this tenant; check AZURE_CLIENT_ID and \
             AZURE_TENANT_ID, and that the app was registered (or consented) in this tenant"
        }
        90002 => "the tenant was not found; check the tenant id or domain and the cloud (authority host)",
        7000218 => "the request carried no credential; set a client secret or a certificate",
        700027 => {
            "the client assertion's signature did not verify; the certificate uploaded to the app \
             registration does not match the private key used"
        }
        90038 => {
            "the tenant lives in another national cloud; set the authority host of that cloud \
             (e.g. login.microsoftonline.us or login.partner.microsoftonline.cn)"
        }
        53003 => {
            "a Conditional Access policy blocked the sign-in; ask an Entra administrator to exclude this workload identity"
        }
        901002 => "the v2 token endpoint does not accept `resource`; send `scope=<graph root>/.default`",
        70011 => "the scope is not valid; it must be `<graph root>/.default`",
        _ => return None,
    })
}

impl fmt::Display for SignInError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Microsoft's description ends with trace lines; the first line is the message.
        let first_line = self.description.lines().next().unwrap_or_default();
        write!(f, "sign-in failed (HTTP {}, {}): {}", self.status, self.error, first_line)?;
        if let Some(hint) = self.hint() {
            write!(f, " — hint: {hint}")?;
        }
        Ok(())
    }
}

/// An error answered by Microsoft Graph: `{"error":{"code","message",...}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphError {
    pub status: u16,
    pub method: String,
    /// The path called, without query string (never carries secrets).
    pub path: String,
    pub code: String,
    pub message: String,
    pub request_id: Option<String>,
    /// Added by the client when the status has a well-known cause on this route.
    pub hint: Option<String>,
}

impl fmt::Display for GraphError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Graph {} {} answered HTTP {}", self.method, self.path, self.status)?;
        if !self.code.is_empty() {
            write!(f, " {}", self.code)?;
        }
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        if let Some(id) = &self.request_id {
            write!(f, " (request-id {id})")?;
        }
        if let Some(hint) = &self.hint {
            write!(f, " — {hint}")?;
        }
        Ok(())
    }
}

/// What was found when looking up the enterprise application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppCandidate {
    pub id: String,
    pub app_id: String,
    pub display_name: String,
}

impl fmt::Display for AppCandidate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} (object id {}, appId {})", self.display_name, self.id, self.app_id)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EntraError {
    #[error("{0}")]
    SignIn(Box<SignInError>),

    #[error("{0}")]
    Graph(Box<GraphError>),

    /// The answer could not be read as the expected JSON.
    #[error("could not read the answer of {what}: {detail}")]
    Decode { what: String, detail: String },

    /// Connection, timeout or other transport failure (after retries).
    #[error("could not reach {what}: {detail}")]
    Transport { what: String, detail: String },

    #[error("no enterprise application matches {query}")]
    AppNotFound { query: String },

    #[error("{query} matches {} enterprise applications: {}; use the object id", found.len(), list(found))]
    AppAmbiguous { query: String, found: Vec<AppCandidate> },

    #[error("no provisioning job on the enterprise application {sp_id}; configure provisioning first")]
    NoJob { sp_id: String },

    #[error("the enterprise application {sp_id} has {} provisioning jobs: {}; say which", jobs.len(), jobs.join(", "))]
    SeveralJobs { sp_id: String, jobs: Vec<String> },

    #[error("the provisioning schema of job {job_id} has no synchronization rule")]
    NoRule { job_id: String },

    #[error("waited {waited_secs} s and the provisioning cycle did not finish")]
    WaitTimedOut { waited_secs: u64 },

    #[error("invalid configuration: {0}")]
    Config(String),
}

fn list(found: &[AppCandidate]) -> String {
    found.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
}

impl EntraError {
    /// The HTTP status Graph answered, if this is a Graph error.
    pub fn graph_status(&self) -> Option<u16> {
        match self {
            EntraError::Graph(e) => Some(e.status),
            _ => None,
        }
    }

    pub(crate) fn decode(what: impl Into<String>, detail: impl Into<String>) -> Self {
        EntraError::Decode { what: what.into(), detail: detail.into() }
    }
}

/// Whether an HTTP status is worth another attempt.
pub(crate) fn is_retryable_status(status: StatusCode) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
        || status.is_server_error() && status != StatusCode::NOT_IMPLEMENTED
}
