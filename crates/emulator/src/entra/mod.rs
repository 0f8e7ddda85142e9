//! Entra ID sign-in, Microsoft Graph and provisioning-job emulator.
//!
//! Serves `/{tenant}/oauth2/v2.0/token`, `/{tenant}/oauth2/token`,
//! `/{tenant}/v2.0/.well-known/openid-configuration`, and Graph under `/v1.0/...` and `/beta/...`.
//! Access tokens are HS256 JWTs signed with a per-run key; their `roles` claim is enforced on every
//! Graph route. The provisioning job runs cycles that push into an AWS SCIM endpoint through the real
//! `scimsync_scim::ScimClient`.

mod delta;
mod graph;
mod signin;
mod sync;
mod throttle;

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use secrecy::SecretString;
use serde_json::{Map, Value, json};

use crate::directory::{DirClient, DirectoryFile, InitialJobState, str_field};

pub use sync::JobSnapshot;
pub use throttle::ThrottleLimits;

/// Parse the ISO 8601 durations Entra uses for schedules (`PT40M`, `PT1H30M`, `PT20S`, `P1D`).
pub fn parse_iso_duration(text: &str) -> Option<Duration> {
    let rest = text.strip_prefix('P')?;
    let (days, time) = match rest.split_once('T') {
        Some((d, t)) => (d, t),
        None => (rest, ""),
    };
    let mut seconds = 0f64;
    let mut take = |part: &str, units: &[(char, f64)]| -> Option<()> {
        let mut number = String::new();
        for c in part.chars() {
            if c.is_ascii_digit() || c == '.' {
                number.push(c);
            } else {
                let factor = units.iter().find(|(u, _)| *u == c)?.1;
                seconds += number.parse::<f64>().ok()? * factor;
                number.clear();
            }
        }
        number.is_empty().then_some(())
    };
    take(days, &[('D', 86_400.0), ('W', 604_800.0)])?;
    take(time, &[('H', 3_600.0), ('M', 60.0), ('S', 1.0)])?;
    // A value too large for a Duration is no duration (and must not panic).
    (rest != "T" && !rest.is_empty()).then(|| Duration::try_from_secs_f64(seconds).ok()).flatten()
}

/// Timing knobs of the emulated provisioning job.
#[derive(Debug, Clone)]
pub struct JobTiming {
    /// Overrides the directory file's schedule interval (e.g. seconds in tests).
    pub interval: Option<Duration>,
    /// How long one cycle takes in total (spread over its objects) so progress is visible.
    pub cycle_duration: Duration,
    /// How often the scheduler looks whether a cycle is due.
    pub tick: Duration,
}

impl Default for JobTiming {
    fn default() -> Self {
        JobTiming {
            interval: None,
            cycle_duration: Duration::from_millis(1500),
            tick: Duration::from_millis(200),
        }
    }
}

/// A canned failure for the next requests whose path starts with a prefix.
#[derive(Debug, Clone)]
struct FaultRule {
    path_prefix: String,
    remaining: usize,
    status: u16,
    retry_after_secs: Option<u64>,
}

/// Where the provisioning job pushes (the admin's "Tenant URL" and "Secret Token").
#[derive(Clone)]
pub(crate) struct ScimTarget {
    pub base_url: String,
    pub token: SecretString,
}

#[derive(Debug, Clone)]
pub(crate) struct Group {
    pub properties: Map<String, Value>,
    pub members: Vec<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct AssignmentRow {
    pub id: String,
    pub principal_id: String,
    pub principal_type: String,
    /// The app role (the default access role's zero GUID when none of the app's own).
    pub app_role_id: String,
    pub created: String,
}

#[derive(Debug, Clone)]
pub(crate) struct ServicePrincipalRow {
    pub id: String,
    pub app_id: String,
    pub display_name: String,
    /// Graph `appRoles`.
    pub app_roles: Vec<Value>,
}

pub(crate) struct EntraState {
    pub tenant_id: String,
    pub tenant_domain: Option<String>,
    pub users: BTreeMap<String, Map<String, Value>>,
    pub groups: BTreeMap<String, Group>,
    pub others: BTreeMap<String, Map<String, Value>>,
    /// The enterprise app first, then the others.
    pub service_principals: Vec<ServicePrincipalRow>,
    pub app_owners: Vec<String>,
    pub assignments: Vec<AssignmentRow>,
    pub clients: Vec<DirClient>,
    pub job: sync::Job,
    pub logs: Vec<Value>,
    faults: Vec<FaultRule>,
    pub on_demand_calls: VecDeque<tokio::time::Instant>,
    pub graph_requests: u64,
    /// The change log behind `/users/delta` and `/groups/delta`.
    pub delta: delta::DeltaLog,
    pub signing_key: [u8; 32],
    pub scim_target: Option<ScimTarget>,
    pub timing: JobTiming,
    /// Graph's resource-unit and write throttling.
    pub throttle: throttle::Throttle,
}

impl EntraState {
    pub fn app(&self) -> &ServicePrincipalRow {
        &self.service_principals[0]
    }

    pub fn client(&self, client_id: &str) -> Option<&DirClient> {
        self.clients.iter().find(|c| c.client_id.eq_ignore_ascii_case(client_id))
    }

    /// Whether the calling app owns the enterprise app's service principal.
    pub fn owns_app(&self, client_id: &str) -> bool {
        let sp = &self.app().id;
        self.app_owners.iter().any(|o| o.eq_ignore_ascii_case(client_id))
            || self.client(client_id).is_some_and(|c| c.owned_service_principals.iter().any(|s| s == sp))
    }

    pub fn is_tenant(&self, tenant: &str) -> bool {
        tenant.eq_ignore_ascii_case(&self.tenant_id)
            || self.tenant_domain.as_deref().is_some_and(|d| d.eq_ignore_ascii_case(tenant))
    }

    /// Any directory object by id, with its Graph type.
    pub fn object(&self, id: &str) -> Option<(&'static str, Map<String, Value>)> {
        if let Some(u) = self.users.get(id) {
            return Some(("#microsoft.graph.user", u.clone()));
        }
        if let Some(g) = self.groups.get(id) {
            return Some(("#microsoft.graph.group", g.properties.clone()));
        }
        self.others.get(id).map(|o| {
            let kind = match str_field(o, "@odata.type") {
                Some("#microsoft.graph.servicePrincipal") => "#microsoft.graph.servicePrincipal",
                Some("#microsoft.graph.orgContact") => "#microsoft.graph.orgContact",
                _ => "#microsoft.graph.device",
            };
            (kind, o.clone())
        })
    }
}

/// The Entra emulator. Clones share the state.
#[derive(Clone)]
pub struct EntraEmulator {
    state: Arc<Mutex<EntraState>>,
}

impl std::fmt::Debug for EntraEmulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EntraEmulator").finish_non_exhaustive()
    }
}

impl EntraEmulator {
    pub fn new(directory: &DirectoryFile, timing: JobTiming) -> Self {
        let users = directory
            .users
            .iter()
            .filter_map(|u| Some((str_field(u, "id")?.to_owned(), u.clone())))
            .collect();
        let groups = directory
            .groups
            .iter()
            .map(|g| {
                let mut properties = g.properties.clone();
                properties.insert("id".into(), Value::String(g.id.clone()));
                properties.insert("displayName".into(), Value::String(g.display_name.clone()));
                (g.id.clone(), Group { properties, members: g.members.clone() })
            })
            .collect();
        let others = directory
            .other_objects
            .iter()
            .filter_map(|o| Some((str_field(o, "id")?.to_owned(), o.clone())))
            .collect();
        let app_roles = directory
            .app
            .app_roles
            .iter()
            .map(|r| {
                json!({
                    "allowedMemberTypes": ["User"],
                    "description": r.description.clone().unwrap_or_else(|| r.display_name.clone()),
                    "displayName": r.display_name,
                    "id": r.id,
                    "isEnabled": true,
                    "origin": "Application",
                    "value": r.value,
                })
            })
            .collect();
        let mut service_principals = vec![ServicePrincipalRow {
            id: directory.app.id.clone(),
            app_id: directory.app.app_id.clone(),
            display_name: directory.app.display_name.clone(),
            app_roles,
        }];
        service_principals.extend(directory.other_service_principals.iter().map(|s| ServicePrincipalRow {
            id: s.id.clone(),
            app_id: s.app_id.clone(),
            display_name: s.display_name.clone(),
            app_roles: Vec::new(),
        }));
        let now = now_text();
        let assignments = directory
            .app_role_assignments
            .iter()
            .map(|a| AssignmentRow {
                id: new_id(),
                principal_id: a.principal_id.clone(),
                principal_type: a.principal_type.clone(),
                app_role_id: a.role_id().to_owned(),
                created: now.clone(),
            })
            .collect();
        let interval = timing
            .interval
            .or_else(|| parse_iso_duration(&directory.job.interval))
            .unwrap_or(Duration::from_secs(40 * 60));
        let job = sync::Job::new(&directory.job, &directory.tenant_id, interval);
        EntraEmulator {
            state: Arc::new(Mutex::new(EntraState {
                tenant_id: directory.tenant_id.clone(),
                tenant_domain: directory.tenant_domain.clone(),
                users,
                groups,
                others,
                service_principals,
                app_owners: directory.app.owners.clone(),
                assignments,
                clients: directory.clients.clone(),
                job,
                logs: Vec::new(),
                faults: Vec::new(),
                on_demand_calls: VecDeque::new(),
                graph_requests: 0,
                delta: delta::DeltaLog::default(),
                signing_key: rand::random(),
                scim_target: None,
                timing,
                throttle: throttle::Throttle::new(directory.throttling.clone().unwrap_or_default()),
            })),
        }
    }

    // A panic while holding the lock leaves state that is still good enough for an emulator.
    pub(crate) fn lock(&self) -> MutexGuard<'_, EntraState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Where the provisioning job pushes; without one, cycles fail like a job without credentials.
    pub fn set_scim_target(&self, base_url: impl Into<String>, token: SecretString) {
        self.lock().scim_target = Some(ScimTarget { base_url: base_url.into(), token });
    }

    pub fn router(&self) -> Router {
        Router::new()
            .route("/{tenant}/oauth2/v2.0/token", post(signin::token_v2))
            .route("/{tenant}/oauth2/token", post(signin::token_v1))
            .route("/{tenant}/v2.0/.well-known/openid-configuration", get(signin::openid_configuration))
            .route("/v1.0/{*rest}", any(graph::handle))
            .route("/beta/{*rest}", any(graph::handle))
            .layer(middleware::from_fn_with_state(self.clone(), inject_faults))
            .with_state(self.clone())
    }

    /// The next `n` requests whose path starts with `path_prefix` (e.g. `/v1.0/users`) answer
    /// `status` with a Graph error body (and `Retry-After` when given).
    pub fn fail_next(&self, path_prefix: &str, n: usize, status: u16, retry_after_secs: Option<u64>) {
        self.lock().faults.push(FaultRule {
            path_prefix: path_prefix.into(),
            remaining: n,
            status,
            retry_after_secs,
        });
    }

    /// Replace Graph's throttling limits (resource units, writes, windows); the usage so far stays.
    pub fn set_throttle_limits(&self, limits: ThrottleLimits) {
        self.lock().throttle.limits = limits;
    }

    /// The throttling limits in force.
    pub fn throttle_limits(&self) -> ThrottleLimits {
        self.lock().throttle.limits.clone()
    }

    /// How many Graph requests were answered 429 by the emulated throttling (not by faults).
    pub fn throttled_requests(&self) -> u64 {
        self.lock().throttle.throttled
    }

    /// Graph requests served (faults included), for request-count checks.
    pub fn graph_requests(&self) -> u64 {
        self.lock().graph_requests
    }

    /// Change the directory while running: the closure gets the users (by id) and may edit them.
    pub fn edit_users(&self, edit: impl FnOnce(&mut BTreeMap<String, Map<String, Value>>)) {
        let mut state = self.lock();
        let before = delta::Before::capture(&state);
        edit(&mut state.users);
        before.record(&mut state);
    }

    /// Set a group's direct members (object ids).
    pub fn set_group_members(&self, group_id: &str, members: Vec<String>) -> bool {
        let mut state = self.lock();
        let before = delta::Before::capture(&state);
        let found = match state.groups.get_mut(group_id) {
            Some(g) => {
                g.members = members;
                true
            }
            None => false,
        };
        before.record(&mut state);
        found
    }

    /// Rename a group (its displayName), as an admin would in Entra.
    pub fn rename_group(&self, group_id: &str, display_name: &str) -> bool {
        let mut state = self.lock();
        let before = delta::Before::capture(&state);
        let found = match state.groups.get_mut(group_id) {
            Some(g) => {
                g.properties.insert("displayName".into(), Value::String(display_name.into()));
                true
            }
            None => false,
        };
        before.record(&mut state);
        found
    }

    /// Add another service principal (e.g. a second app with the same name). Returns its id.
    pub fn add_service_principal(&self, display_name: &str) -> String {
        let id = new_id();
        self.lock().service_principals.push(ServicePrincipalRow {
            id: id.clone(),
            app_id: new_id(),
            display_name: display_name.into(),
            app_roles: Vec::new(),
        });
        id
    }

    /// The job as the emulator holds it.
    pub fn job(&self) -> JobSnapshot {
        self.lock().job.snapshot()
    }

    /// Provisioning log entries written so far (Graph JSON), newest last.
    pub fn logs(&self) -> Vec<Value> {
        self.lock().logs.clone()
    }

    /// Run the job's schedule until the returned task is aborted.
    pub fn spawn_scheduler(&self) -> tokio::task::JoinHandle<()> {
        let emulator = self.clone();
        tokio::spawn(async move {
            loop {
                let tick = emulator.lock().timing.tick;
                tokio::time::sleep(tick).await;
                sync::run_if_due(&emulator);
            }
        })
    }
}

/// Answers the canned failures registered with [`EntraEmulator::fail_next`].
async fn inject_faults(State(emulator): State<EntraEmulator>, request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    let fault = {
        let mut state = emulator.lock();
        if path.starts_with("/v1.0/") || path.starts_with("/beta/") {
            state.graph_requests += 1;
        }
        let rule = state.faults.iter_mut().find(|f| f.remaining > 0 && path.starts_with(&f.path_prefix));
        rule.map(|r| {
            r.remaining -= 1;
            (r.status, r.retry_after_secs)
        })
    };
    state_cleanup(&emulator);
    match fault {
        Some((status, retry_after)) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let code = match status {
                StatusCode::TOO_MANY_REQUESTS => "TooManyRequests",
                StatusCode::SERVICE_UNAVAILABLE => "ServiceUnavailable",
                StatusCode::GATEWAY_TIMEOUT => "GatewayTimeout",
                _ => "UnknownError",
            };
            let mut response = graph_error(status, code, "Injected by the emulator.");
            if let Some(secs) = retry_after {
                response.headers_mut().insert("retry-after", HeaderValue::from(secs));
            }
            response
        }
        None => next.run(request).await,
    }
}

fn state_cleanup(emulator: &EntraEmulator) {
    emulator.lock().faults.retain(|f| f.remaining > 0);
}

/// A Graph error: `{"error":{"code","message","innerError":{"date","request-id","client-request-id"}}}`
/// with the `request-id` header.
pub(crate) fn graph_error(status: StatusCode, code: &str, message: &str) -> Response {
    let request_id = new_id();
    let body = json!({
        "error": {
            "code": code,
            "message": message,
            "innerError": {
                "date": chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S").to_string(),
                "request-id": request_id,
                "client-request-id": request_id,
            }
        }
    });
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        headers.insert("request-id", v.clone());
        headers.insert("client-request-id", v);
    }
    (status, headers, axum::Json(body)).into_response()
}

pub(crate) fn json_response(status: StatusCode, body: Value) -> Response {
    let request_id = new_id();
    let mut response = (status, axum::Json(body)).into_response();
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("request-id", v);
    }
    response
}

pub(crate) fn no_content() -> Response {
    Response::builder().status(StatusCode::NO_CONTENT).body(Body::empty()).unwrap_or_default()
}

pub(crate) fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

pub(crate) fn now_text() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// `http://host:port` (or `https://`) as the caller reached us (for nextLink and discovery
/// documents). The HTTPS listener sets `x-forwarded-proto: https`, as a TLS-ending proxy would.
pub(crate) fn base_url(headers: &HeaderMap) -> String {
    let host = headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1");
    let scheme = match headers.get("x-forwarded-proto").and_then(|h| h.to_str().ok()) {
        Some(p) if p.eq_ignore_ascii_case("https") => "https",
        _ => "http",
    };
    format!("{scheme}://{host}")
}

impl InitialJobState {
    pub(crate) fn status_code(self) -> &'static str {
        match self {
            InitialJobState::Active => "Active",
            InitialJobState::Paused => "Paused",
            InitialJobState::Quarantine => "Quarantine",
            InitialJobState::NotRun => "NotRun",
            InitialJobState::NotConfigured => "NotConfigured",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_durations() {
        let cases = [
            ("PT40M", Some(2_400.0)),
            ("PT1H30M", Some(5_400.0)),
            ("PT2.5S", Some(2.5)),
            ("P1D", Some(86_400.0)),
            ("P1DT1S", Some(86_401.0)),
            ("40M", None),
            ("PT", None),
            ("PT5X", None),
            ("P1000000000000000000D", None),
        ];
        for (text, seconds) in cases {
            assert_eq!(parse_iso_duration(text).map(|d| d.as_secs_f64()), seconds, "{text}");
        }
    }
}
