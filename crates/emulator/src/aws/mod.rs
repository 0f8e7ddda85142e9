//! AWS IAM Identity Center SCIM emulator: the endpoint as `reference/aws-idc-scim.md` describes it,
//! quirks included (cursor paging, eq-only filters, groups that never show members, at most 100
//! member changes per PATCH, AWS-shaped error bodies with `x-amzn-RequestId`).
//!
//! Serves `/{tenant}/scim/v2/...`; the base URL is `http://HOST:PORT/{tenant}/scim/v2`.

mod filter;
mod http;
mod schemas;
mod users;

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::routing::any;
use serde::Serialize;
use serde_json::{Map, Value};

pub(crate) use http::Reply;

/// Behaviour the reference leaves open, settable per emulator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsOptions {
    /// Whether userName and group displayName uniqueness ignore case (unconfirmed on AWS).
    pub case_insensitive_uniqueness: bool,
    /// Cursor pages hold at most this many items even when `count` asks for more, to exercise
    /// clients on short pages that still carry a `nextCursor`.
    pub cursor_page_limit: Option<usize>,
    /// Ids in the older style some directories still have: a 10-hex prefix, a dash, then a UUID
    /// (`9067729b3d-94f1e0b3-…`). Off: plain UUIDs, as newer directories have.
    pub prefixed_ids: bool,
}

impl Default for AwsOptions {
    fn default() -> Self {
        AwsOptions { case_insensitive_uniqueness: true, cursor_page_limit: None, prefixed_ids: false }
    }
}

impl AwsOptions {
    /// A new resource id in this directory's style.
    pub(crate) fn new_id(&self) -> String {
        let uuid = uuid::Uuid::new_v4();
        if self.prefixed_ids {
            // Directories keep one prefix; deriving it from nothing random keeps tests readable.
            format!("9067729b3d-{uuid}")
        } else {
            uuid.to_string()
        }
    }
}

/// An answer to give instead of the real one, for the next requests (after the tenant check).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// An AWS-shaped error with this status, with `Retry-After: secs` when given.
    Status { status: u16, retry_after_secs: Option<u64> },
    /// A body of any kind, as a proxy or load balancer might send.
    Raw { status: u16, content_type: String, body: String },
}

/// Requests the emulator answered, by method.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RequestCounts {
    pub get: u64,
    pub post: u64,
    pub put: u64,
    pub patch: u64,
    pub delete: u64,
}

impl RequestCounts {
    pub fn total(&self) -> u64 {
        self.get + self.post + self.put + self.patch + self.delete
    }

    /// Requests that may change state.
    pub fn writes(&self) -> u64 {
        self.post + self.put + self.patch + self.delete
    }
}

/// What the directory holds, for tests and for printing.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AwsSnapshot {
    /// Users as GET /Users/{id} shows them, in creation order.
    pub users: Vec<Value>,
    pub groups: Vec<AwsGroupSnapshot>,
}

impl AwsSnapshot {
    pub fn user_by_name(&self, user_name: &str) -> Option<&Value> {
        self.users.iter().find(|u| u.get("userName").and_then(Value::as_str) == Some(user_name))
    }

    pub fn group_by_name(&self, display_name: &str) -> Option<&AwsGroupSnapshot> {
        self.groups.iter().find(|g| g.display_name == display_name)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AwsGroupSnapshot {
    pub id: String,
    pub display_name: String,
    pub external_id: Option<String>,
    pub member_ids: BTreeSet<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot seed the AWS emulator: {status} {detail}")]
pub struct SeedError {
    pub status: u16,
    pub detail: String,
}

/// The emulated SCIM endpoint of one IAM Identity Center directory. Clones share the state.
#[derive(Clone)]
pub struct AwsScim {
    state: Arc<Mutex<State>>,
}

impl std::fmt::Debug for AwsScim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsScim").finish_non_exhaustive()
    }
}

/// The emulator serving on a local port; stops when dropped.
#[derive(Debug)]
pub struct RunningAws {
    pub addr: SocketAddr,
    /// `http://127.0.0.1:PORT/{tenant}/scim/v2`
    pub base_url: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for RunningAws {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[derive(Debug, Clone)]
pub(crate) struct StoredGroup {
    pub id: String,
    pub display_name: String,
    pub external_id: Option<String>,
    pub created: String,
    pub last_modified: String,
}

/// Where a cursor page stopped.
#[derive(Debug, Clone)]
pub(crate) struct Cursor {
    pub resource: &'static str,
    pub filter: Option<String>,
    pub after_seq: u64,
}

#[derive(Debug)]
pub(crate) struct State {
    pub tenant_id: String,
    pub token: String,
    pub options: AwsOptions,
    /// Users and groups keyed by creation sequence, so listing order is stable across deletes.
    pub users: BTreeMap<u64, Map<String, Value>>,
    pub user_seq: HashMap<String, u64>,
    pub groups: BTreeMap<u64, StoredGroup>,
    pub group_seq: HashMap<String, u64>,
    /// (group id, user id)
    pub memberships: BTreeSet<(String, String)>,
    pub next_seq: u64,
    pub cursors: HashMap<String, Cursor>,
    pub faults: VecDeque<Fault>,
    pub counts: RequestCounts,
}

impl State {
    pub fn take_seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }

    pub fn user(&self, id: &str) -> Option<&Map<String, Value>> {
        self.user_seq.get(id).and_then(|seq| self.users.get(seq))
    }

    pub fn group(&self, id: &str) -> Option<&StoredGroup> {
        self.group_seq.get(id).and_then(|seq| self.groups.get(seq))
    }

    pub fn members_of(&self, group_id: &str) -> BTreeSet<String> {
        self.memberships
            .range((group_id.to_string(), String::new())..)
            .take_while(|(g, _)| g == group_id)
            .map(|(_, u)| u.clone())
            .collect()
    }

    pub fn same_name(&self, a: &str, b: &str) -> bool {
        if self.options.case_insensitive_uniqueness { a.to_lowercase() == b.to_lowercase() } else { a == b }
    }
}

impl AwsScim {
    pub fn new(tenant_id: String, token: String) -> Self {
        Self::with_options(tenant_id, token, AwsOptions::default())
    }

    pub fn with_options(tenant_id: String, token: String, options: AwsOptions) -> Self {
        AwsScim {
            state: Arc::new(Mutex::new(State {
                tenant_id,
                token,
                options,
                users: BTreeMap::new(),
                user_seq: HashMap::new(),
                groups: BTreeMap::new(),
                group_seq: HashMap::new(),
                memberships: BTreeSet::new(),
                next_seq: 0,
                cursors: HashMap::new(),
                faults: VecDeque::new(),
                counts: RequestCounts::default(),
            })),
        }
    }

    // A panic while holding the lock leaves consistent-enough state for an emulator.
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn set_options(&self, options: AwsOptions) {
        self.lock().options = options;
    }

    /// Serves `/{tenant}/scim/v2` and everything under it. Other tenants answer 404.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/{tenant}/scim/v2", any(http::handle))
            .route("/{tenant}/scim/v2/{*rest}", any(http::handle))
            .with_state(self.clone())
    }

    /// Binds 127.0.0.1 on a free port and serves the router until the result is dropped.
    pub async fn spawn(&self) -> std::io::Result<RunningAws> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let router = self.router();
        let task = tokio::spawn(async move {
            if let Err(err) = axum::serve(listener, router).await {
                tracing::error!("AWS SCIM emulator stopped: {err}");
            }
        });
        let tenant = self.lock().tenant_id.clone();
        Ok(RunningAws { addr, base_url: format!("http://{addr}/{tenant}/scim/v2"), task })
    }

    /// Adds a user made outside scimsync (console, Control Tower), with the checks of POST /Users.
    /// Returns its id.
    pub fn seed_user(&self, json: Value) -> Result<String, SeedError> {
        let mut state = self.lock();
        match http::create_user(&mut state, json) {
            Reply::Json(_, user) => {
                Ok(user.get("id").and_then(Value::as_str).unwrap_or_default().to_string())
            }
            other => Err(other.into_seed_error()),
        }
    }

    /// Adds a group made outside scimsync, with its members (user ids). Returns its id.
    pub fn seed_group(
        &self,
        display_name: &str,
        external_id: Option<String>,
        member_ids: &[String],
    ) -> Result<String, SeedError> {
        let mut body = serde_json::json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": display_name,
            "members": member_ids.iter().map(|id| serde_json::json!({"value": id})).collect::<Vec<_>>(),
        });
        if let Some(external_id) = external_id {
            body["externalId"] = Value::String(external_id);
        }
        let mut state = self.lock();
        match http::create_group(&mut state, body) {
            Reply::Json(_, group) => {
                Ok(group.get("id").and_then(Value::as_str).unwrap_or_default().to_string())
            }
            other => Err(other.into_seed_error()),
        }
    }

    pub fn snapshot(&self) -> AwsSnapshot {
        let state = self.lock();
        AwsSnapshot {
            users: state.users.values().map(users::render).collect(),
            groups: state
                .groups
                .values()
                .map(|g| AwsGroupSnapshot {
                    id: g.id.clone(),
                    display_name: g.display_name.clone(),
                    external_id: g.external_id.clone(),
                    member_ids: state.members_of(&g.id),
                })
                .collect(),
        }
    }

    pub fn request_count(&self) -> RequestCounts {
        self.lock().counts
    }

    pub fn reset_request_count(&self) {
        self.lock().counts = RequestCounts::default();
    }

    /// The next `n` requests answer `status` (an AWS-shaped error) instead of being served.
    pub fn fail_next(&self, n: usize, status: u16) {
        for _ in 0..n {
            self.inject(Fault::Status { status, retry_after_secs: None });
        }
    }

    /// Queues one fault for the next request not yet faulted.
    pub fn inject(&self, fault: Fault) {
        self.lock().faults.push_back(fault);
    }
}

#[cfg(test)]
mod tests;
