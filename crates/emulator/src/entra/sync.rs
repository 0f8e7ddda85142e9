//! The emulated provisioning job: state, routes, scheduled and triggered cycles that push into AWS
//! through the real SCIM client, provision on demand, and provisioning logs.
//!
//! As Entra: the scope is the users assigned to the app and the DIRECT user members of assigned
//! groups (nested groups are not provisioned); users are matched on userName, groups on displayName;
//! externalId is written (the Entra object id); empty values are never sent; a failing object is an
//! entry-level error; a refused SCIM token fails the cycle and quarantines the job. Users the job
//! provisioned that leave scope (or are disabled or deleted in Entra) are disabled (PATCH active
//! false, logged `disable`); more disables than the accidental-deletion threshold quarantine the job
//! with `TooManyDeletes` until a restart with `ForceDeletes`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use axum::http::{HeaderValue, Method, StatusCode};
use axum::response::Response;
use scimsync_core::{AttrChange, AttrValue, DesiredUser, UserAttr, UserValues, diff_user};
use scimsync_scim::{ScimClient, ScimConfig, ScimError};
use secrecy::SecretString;
use serde_json::{Map, Value, json};

use super::graph::{GraphRequest, bad_request, list_filtered, split_and, unquote};
use super::signin::Caller;
use super::{
    EntraEmulator, EntraState, ScimTarget, graph_error, json_response, new_id, no_content, now_text,
};
use crate::directory::{DirJob, InitialJobState, str_field};

/// Graph's documented limit for provisionOnDemand, per app.
const ON_DEMAND_LIMIT: usize = 5;
const ON_DEMAND_WINDOW: Duration = Duration::from_secs(10);
const ON_DEMAND_MAX_MEMBERS: usize = 5;

#[derive(Debug, Clone)]
struct Execution {
    activity: String,
    began: String,
    ended: Option<String>,
    state: Option<&'static str>,
    entitled: u64,
    exported: u64,
    imported: u64,
    escrowed: u64,
    error: Option<(String, String)>,
}

impl Execution {
    fn begin() -> Self {
        Execution {
            activity: new_id(),
            began: now_text(),
            ended: None,
            state: None,
            entitled: 0,
            exported: 0,
            imported: 0,
            escrowed: 0,
            error: None,
        }
    }

    fn to_json(&self) -> Value {
        json!({
            "activityIdentifier": self.activity,
            "countEntitled": self.entitled,
            "countEntitledForProvisioning": self.entitled,
            "countEscrowed": self.escrowed,
            "countEscrowedRaw": self.escrowed,
            "countExported": self.exported,
            "countExports": self.exported,
            "countImported": self.imported,
            "countImportedDeltas": 0,
            "countImportedReferenceDeltas": 0,
            "state": self.state,
            "timeBegan": self.began,
            "timeEnded": self.ended,
            "error": self.error.as_ref().map(|(code, message)| json!({"code": code, "message": message, "tenantActionable": true})),
        })
    }
}

#[derive(Debug, Clone)]
struct QuarantineInfo {
    reason: String,
    began: String,
    series_count: u64,
    error: Option<(String, String)>,
}

/// The job as the emulator keeps it.
#[derive(Debug)]
pub(crate) struct Job {
    id: String,
    template_id: String,
    rule_id: String,
    interval: Duration,
    interval_text: String,
    schedule_state: &'static str,
    code: &'static str,
    last: Option<Execution>,
    last_success: Option<Execution>,
    last_success_with_exports: Option<Execution>,
    quarantine: Option<QuarantineInfo>,
    progress: Option<(u64, u64, String)>,
    running: bool,
    next_due: Option<tokio::time::Instant>,
    steady_first: Option<String>,
    steady_last: Option<String>,
    successive_failures: u64,
    /// Entra object id → AWS id of what the job provisioned.
    links: BTreeMap<String, String>,
    /// Entra user id → userName of the users the job provisioned (the only ones it may disable).
    provisioned_users: BTreeMap<String, String>,
    /// Entra ids of the users the job disabled in AWS (not disabled again until they come back).
    disabled: BTreeSet<String>,
    /// The accidental-deletion threshold (`QuarantineTooManyDeletesThreshold`).
    delete_threshold: u64,
    /// Set by `restart` with `ForceDeletes`: the next cycle pushes its disables whatever their number.
    force_deletes: bool,
    synchronized_users: u64,
    synchronized_groups: u64,
    starts_while_running: u64,
    cycles_completed: u64,
}

/// What tests can see of the job.
#[derive(Debug, Clone, PartialEq)]
pub struct JobSnapshot {
    pub id: String,
    pub status_code: String,
    pub schedule_state: String,
    pub running: bool,
    pub cycles_completed: u64,
    /// `start` calls that arrived while a cycle ran (Microsoft warns against them).
    pub starts_while_running: u64,
    pub last_execution_state: Option<String>,
    /// Entra object id → AWS id of what the job provisioned.
    pub links: BTreeMap<String, String>,
    /// Entra ids of the users the job disabled in AWS.
    pub disabled: BTreeSet<String>,
    /// `status.quarantine.reason`, when quarantined.
    pub quarantine_reason: Option<String>,
}

fn minutes_ago(minutes: i64) -> String {
    (chrono::Utc::now() - chrono::Duration::minutes(minutes))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl Job {
    pub(crate) fn new(seed: &DirJob, tenant_id: &str, interval: Duration) -> Self {
        let id = seed.id.clone().unwrap_or_else(|| {
            format!("{}.{}.{}", seed.template_id, tenant_id.replace('-', ""), new_id().replace('-', ""))
        });
        // A seeded Active, Paused or quarantined job has run before.
        let earlier = |state: &'static str| Execution {
            activity: new_id(),
            began: minutes_ago(30),
            ended: Some(minutes_ago(29)),
            state: Some(state),
            ..Execution::begin()
        };
        let (schedule_state, last, quarantine) = match seed.state {
            InitialJobState::Active => ("Active", Some(earlier("Succeeded")), None),
            InitialJobState::Paused => ("Paused", Some(earlier("Succeeded")), None),
            InitialJobState::Quarantine => (
                "Active",
                Some(Execution {
                    error: Some((
                        "SystemForCrossDomainIdentityManagementCredentialValidationUnavailable".into(),
                        "The target system refused the credentials.".into(),
                    )),
                    ..earlier("Failed")
                }),
                Some(QuarantineInfo {
                    reason: seed
                        .quarantine_reason
                        .clone()
                        .unwrap_or_else(|| "EncounteredQuarantineException".into()),
                    began: minutes_ago(29),
                    series_count: 1,
                    error: Some((
                        "SystemForCrossDomainIdentityManagementCredentialValidationUnavailable".into(),
                        "The target system refused the credentials.".into(),
                    )),
                }),
            ),
            InitialJobState::NotRun => ("Active", None, None),
            InitialJobState::NotConfigured => ("Disabled", None, None),
        };
        let last_success = last.clone().filter(|e| e.state == Some("Succeeded"));
        Job {
            id,
            template_id: seed.template_id.clone(),
            rule_id: "03f7d90d-bf71-41b1-bda6-aaf0ddbee5d8".into(),
            interval,
            interval_text: seed.interval.clone(),
            schedule_state,
            code: seed.state.status_code(),
            last,
            last_success,
            last_success_with_exports: None,
            quarantine,
            progress: None,
            running: false,
            next_due: (seed.state == InitialJobState::Active).then(|| tokio::time::Instant::now() + interval),
            steady_first: None,
            steady_last: None,
            successive_failures: u64::from(seed.state == InitialJobState::Quarantine),
            links: BTreeMap::new(),
            provisioned_users: BTreeMap::new(),
            disabled: BTreeSet::new(),
            delete_threshold: seed.quarantine_too_many_deletes_threshold,
            force_deletes: false,
            synchronized_users: 0,
            synchronized_groups: 0,
            starts_while_running: 0,
            cycles_completed: 0,
        }
    }

    pub(crate) fn snapshot(&self) -> JobSnapshot {
        JobSnapshot {
            id: self.id.clone(),
            status_code: self.code.into(),
            schedule_state: self.schedule_state.into(),
            running: self.running,
            cycles_completed: self.cycles_completed,
            starts_while_running: self.starts_while_running,
            last_execution_state: self.last.as_ref().and_then(|e| e.state.map(str::to_owned)),
            links: self.links.clone(),
            disabled: self.disabled.clone(),
            quarantine_reason: self.quarantine.as_ref().map(|q| q.reason.clone()),
        }
    }

    fn to_json(&self) -> Value {
        let never = "0001-01-01T00:00:00Z";
        json!({
            "id": self.id,
            "templateId": self.template_id,
            "schedule": {"expiration": null, "interval": self.interval_text, "state": self.schedule_state},
            "status": {
                "code": self.code,
                "countSuccessiveCompleteFailures": self.successive_failures,
                "escrowsPruned": false,
                "lastExecution": self.last.as_ref().map(Execution::to_json),
                "lastSuccessfulExecution": self.last_success.as_ref().map(Execution::to_json),
                "lastSuccessfulExecutionWithExports": self.last_success_with_exports.as_ref().map(Execution::to_json),
                "progress": self.progress.as_ref().map(|(done, total, at)| vec![json!({
                    "completedUnits": done, "totalUnits": total, "units": "Objects", "progressObservationDateTime": at
                })]).unwrap_or_default(),
                "quarantine": self.quarantine.as_ref().map(|q| json!({
                    "currentBegan": q.began,
                    "nextAttempt": (chrono::Utc::now() + chrono::Duration::hours(24)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    "reason": q.reason,
                    "seriesBegan": q.began,
                    "seriesCount": q.series_count,
                    "error": q.error.as_ref().map(|(code, message)| json!({"code": code, "message": message, "tenantActionable": true})),
                })),
                "steadyStateFirstAchievedTime": self.steady_first.as_deref().unwrap_or(never),
                "steadyStateLastAchievedTime": self.steady_last.as_deref().unwrap_or(never),
                "synchronizedEntryCountByType": [
                    {"key": "user to urn:ietf:params:scim:schemas:extension:enterprise:2.0:User", "value": self.synchronized_users},
                    {"key": "group to urn:ietf:params:scim:schemas:core:2.0:Group", "value": self.synchronized_groups},
                ],
                "troubleshootingUrl": null,
            },
            "synchronizationJobSettings": [{"name": "QuarantineTooManyDeletesThreshold", "value": self.delete_threshold.to_string()}],
        })
    }
}

// ---- permissions and routes ------------------------------------------------------------------

fn may_read(state: &EntraState, caller: &Caller) -> bool {
    caller.has_any(&["Synchronization.Read.All", "Synchronization.ReadWrite.All"])
        || owner_with_owned_by(state, caller)
}

fn may_write(state: &EntraState, caller: &Caller) -> bool {
    caller.has_any(&["Synchronization.ReadWrite.All"]) || owner_with_owned_by(state, caller)
}

fn owner_with_owned_by(state: &EntraState, caller: &Caller) -> bool {
    caller.has_any(&["Application.ReadWrite.OwnedBy"]) && state.owns_app(&caller.client_id)
}

/// What Graph answers on synchronization routes without the permission: 401 with an empty message.
fn sync_denied() -> Response {
    graph_error(StatusCode::UNAUTHORIZED, "UnknownError", "")
}

pub(super) async fn handle(
    emulator: &EntraEmulator,
    caller: &Caller,
    r: &GraphRequest,
    sp: &str,
    rest: &[String],
) -> Response {
    let rest: Vec<&str> = rest.iter().map(String::as_str).collect();
    let write = r.method != Method::GET;
    {
        let state = emulator.lock();
        let allowed = if write { may_write(&state, caller) } else { may_read(&state, caller) };
        if !allowed {
            return sync_denied();
        }
        if !state.app().id.eq_ignore_ascii_case(sp) {
            return graph_error(
                StatusCode::NOT_FOUND,
                "Request_ResourceNotFound",
                &format!("Resource '{sp}' does not exist."),
            );
        }
    }
    if let ["jobs", job_id, "provisionOnDemand"] = rest.as_slice()
        && r.method == Method::POST
    {
        return provision_on_demand(emulator, r, job_id).await;
    }
    if let ["jobs", job_id, "validateCredentials"] = rest.as_slice()
        && r.method == Method::POST
    {
        return validate_credentials(emulator, r, job_id).await;
    }
    let mut state = emulator.lock();
    let context =
        format!("{}/{}/$metadata#servicePrincipals('{sp}')/synchronization/jobs", r.base, r.version);
    match (r.method.clone(), rest.as_slice()) {
        (Method::GET, ["jobs"]) => {
            json_response(StatusCode::OK, json!({"@odata.context": context, "value": [state.job.to_json()]}))
        }
        (Method::PUT, ["secrets"]) => save_secrets(&mut state, r),
        (_, ["jobs", job_id, ..]) if !job_id.eq_ignore_ascii_case(&state.job.id) => {
            graph_error(StatusCode::NOT_FOUND, "ResourceNotFound", &format!("Job '{job_id}' does not exist."))
        }
        (Method::GET, ["jobs", _]) => {
            let mut job = state.job.to_json();
            job["@odata.context"] = Value::String(format!("{context}/$entity"));
            json_response(StatusCode::OK, job)
        }
        (Method::GET, ["jobs", _, "schema"]) => json_response(StatusCode::OK, schema_json(&state.job)),
        (Method::POST, ["jobs", _, "start"]) => {
            if state.job.code == "NotConfigured" || state.scim_target.is_none() {
                return bad_request(
                    "The job cannot start: save the target's credentials (Tenant URL and Secret Token) first.",
                );
            }
            if state.job.running {
                // Entra accepts it; Microsoft warns that repeated starts on a running job can stop it.
                state.job.starts_while_running += 1;
                return no_content();
            }
            state.job.quarantine = None;
            state.job.schedule_state = "Active";
            state.job.code = "Active";
            begin_and_spawn(emulator, &mut state);
            no_content()
        }
        (Method::POST, ["jobs", _, "pause"]) => {
            state.job.schedule_state = "Paused";
            state.job.code = "Paused";
            state.job.next_due = None;
            no_content()
        }
        (Method::POST, ["jobs", _, "restart"]) => {
            let scopes = r.body.pointer("/criteria/resetScope").and_then(Value::as_str).unwrap_or("");
            let scopes: Vec<&str> = scopes.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
            const KNOWN: [&str; 5] = ["Escrows", "Watermark", "QuarantineState", "Full", "ForceDeletes"];
            if let Some(bad) = scopes.iter().find(|s| !KNOWN.contains(s)) {
                return bad_request(&format!("The reset scope '{bad}' is not valid."));
            }
            if state.scim_target.is_none() {
                return bad_request("The job cannot restart: save the target's credentials first.");
            }
            if scopes.contains(&"Full") {
                state.job.links.clear();
                state.job.provisioned_users.clear();
                state.job.disabled.clear();
            }
            if scopes.contains(&"ForceDeletes") {
                // The next cycle pushes the disables the threshold held back.
                state.job.force_deletes = true;
            }
            state.job.quarantine = None;
            state.job.successive_failures = 0;
            state.job.schedule_state = "Active";
            state.job.code = "Active";
            if state.job.running {
                state.job.starts_while_running += 1;
            } else {
                begin_and_spawn(emulator, &mut state);
            }
            no_content()
        }
        _ => graph_error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "Resource not found for the segment 'synchronization'.",
        ),
    }
}

/// `POST jobs/{id}/validateCredentials`: try the saved target (`useSavedCredentials`, or no
/// `credentials`) or the given `BaseAddress` and `SecretToken` with one SCIM read; 204 when it
/// works, else 400 with the reason, as the portal's "Test Connection" shows it.
async fn validate_credentials(emulator: &EntraEmulator, r: &GraphRequest, job_id: &str) -> Response {
    let target = {
        let state = emulator.lock();
        if !job_id.eq_ignore_ascii_case(&state.job.id) {
            return graph_error(
                StatusCode::NOT_FOUND,
                "ResourceNotFound",
                &format!("Job '{job_id}' does not exist."),
            );
        }
        let given = r.body.get("credentials").and_then(Value::as_array).cloned().unwrap_or_default();
        let use_saved =
            r.body.get("useSavedCredentials").and_then(Value::as_bool).unwrap_or(given.is_empty());
        let find = |key: &str| {
            given
                .iter()
                .find(|e| e.get("key").and_then(Value::as_str) == Some(key))
                .and_then(|e| e.get("value").and_then(Value::as_str))
                .map(str::to_owned)
        };
        if use_saved {
            state.scim_target.clone()
        } else {
            match (find("BaseAddress"), find("SecretToken")) {
                (Some(base_url), Some(token)) => {
                    Some(ScimTarget { base_url, token: SecretString::from(token) })
                }
                _ => return bad_request("Both BaseAddress and SecretToken are required."),
            }
        }
    };
    let Some(target) = target else {
        return bad_request(
            "No credentials are saved for this job: save the Tenant URL and Secret Token first.",
        );
    };
    let outcome = match scim_client(&target) {
        Ok(client) => client.find_user_by_user_name("validate-credentials@scimsync.invalid").await.map(drop),
        Err(e) => Err(e),
    };
    match outcome {
        Ok(()) => no_content(),
        Err(e) => {
            let code = match e {
                ScimError::Unauthorized(_) | ScimError::Forbidden(_) => {
                    "SystemForCrossDomainIdentityManagementCredentialValidationUnauthorized"
                }
                _ => "SystemForCrossDomainIdentityManagementCredentialValidationUnavailable",
            };
            bad_request(&format!(
                "You appear to have entered invalid credentials. Please confirm you are using the correct \
                 information for an administrative account. Error code: {code}. Details: {e}"
            ))
        }
    }
}

fn save_secrets(state: &mut EntraState, r: &GraphRequest) -> Response {
    let entries = r.body.get("value").and_then(Value::as_array).cloned().unwrap_or_default();
    let find = |key: &str| {
        entries
            .iter()
            .find(|e| e.get("key").and_then(Value::as_str) == Some(key))
            .and_then(|e| e.get("value").and_then(Value::as_str))
            .map(str::to_owned)
    };
    match (find("BaseAddress"), find("SecretToken")) {
        (Some(base_url), Some(token)) => {
            state.scim_target = Some(ScimTarget { base_url, token: SecretString::from(token) });
            if state.job.code == "NotConfigured" {
                state.job.code = "NotRun";
                state.job.schedule_state = "Active";
            }
            no_content()
        }
        _ => bad_request("Both BaseAddress and SecretToken are required."),
    }
}

fn schema_json(job: &Job) -> Value {
    json!({
        "id": job.id,
        "version": "Date:2024-01-01T00:00:00Z~TemplateId:scim",
        "synchronizationRules": [{
            "id": job.rule_id,
            "name": "USER_OUTBOUND_USER",
            "editable": true,
            "sourceDirectoryName": "Azure Active Directory",
            "targetDirectoryName": "customappsso",
            "objectMappings": [
                {"name": "Provision Azure Active Directory Users", "sourceObjectName": "User", "targetObjectName": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User", "enabled": true},
                {"name": "Provision Azure Active Directory Groups", "sourceObjectName": "Group", "targetObjectName": "urn:ietf:params:scim:schemas:core:2.0:Group", "enabled": true}
            ]
        }],
        "directories": [{"name": "Azure Active Directory"}, {"name": "customappsso"}]
    })
}

// ---- cycles -------------------------------------------------------------------------------------

/// A user to provision, already mapped the way Entra's default mapping does.
#[derive(Debug, Clone)]
struct UserInScope {
    entra_id: String,
    desired: DesiredUser,
}

#[derive(Debug, Clone)]
struct GroupInScope {
    entra_id: String,
    display_name: String,
    /// Direct user members (Entra ids) in scope.
    member_ids: Vec<String>,
}

struct CycleInput {
    activity: String,
    job_id: String,
    app_id: String,
    app_name: String,
    target: ScimTarget,
    users: Vec<UserInScope>,
    groups: Vec<GroupInScope>,
    step: Duration,
    links: BTreeMap<String, String>,
    provisioned_users: BTreeMap<String, String>,
    disabled: BTreeSet<String>,
    /// Users the job provisioned that left scope or were disabled or deleted in Entra.
    disables: Vec<Disable>,
    /// Users disabled in Entra but still direct members of an assigned group (Entra id → AWS id):
    /// they stay members in AWS.
    keep_members: BTreeMap<String, String>,
    threshold: u64,
    force_deletes: bool,
}

/// A user to disable in AWS (PATCH active=false).
#[derive(Debug, Clone)]
struct Disable {
    entra_id: String,
    aws_id: String,
    user_name: String,
}

fn text(user: &Map<String, Value>, key: &str) -> Option<String> {
    str_field(user, key).map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned)
}

/// Entra's default mapping of a Graph user to what goes to AWS.
fn map_user(user: &Map<String, Value>) -> Option<UserInScope> {
    let id = text(user, "id")?;
    let org = user.get("employeeOrgData").and_then(Value::as_object);
    let org_text = |key: &str| org.and_then(|o| text(o, key));
    Some(UserInScope {
        entra_id: id.clone(),
        desired: DesiredUser {
            external_id: id,
            values: UserValues {
                user_name: text(user, "userPrincipalName").unwrap_or_default(),
                display_name: text(user, "displayName").unwrap_or_default(),
                given_name: text(user, "givenName").unwrap_or_default(),
                family_name: text(user, "surname").unwrap_or_default(),
                email: text(user, "mail"),
                active: user.get("accountEnabled").and_then(Value::as_bool).unwrap_or(true),
                title: text(user, "jobTitle"),
                employee_number: text(user, "employeeId"),
                cost_center: org_text("costCenter"),
                organization: text(user, "companyName"),
                division: org_text("division"),
                department: text(user, "department"),
                ..UserValues::default()
            },
        },
    })
}

/// Assigned users plus the direct user members of assigned groups; assigned groups.
fn scope(state: &EntraState) -> (Vec<UserInScope>, Vec<GroupInScope>) {
    let mut user_ids = BTreeSet::new();
    let mut ordered = Vec::new();
    let mut groups = Vec::new();
    let mut add_user = |id: &str, ordered: &mut Vec<String>| {
        if state.users.contains_key(id) && user_ids.insert(id.to_owned()) {
            ordered.push(id.to_owned());
        }
    };
    for a in &state.assignments {
        match a.principal_type.as_str() {
            "User" => add_user(&a.principal_id, &mut ordered),
            "Group" => {
                let Some(group) = state.groups.get(&a.principal_id) else { continue };
                // Nested groups are not provisioned, nor their members: direct users only.
                let members: Vec<String> =
                    group.members.iter().filter(|m| state.users.contains_key(*m)).cloned().collect();
                for m in &members {
                    add_user(m, &mut ordered);
                }
                groups.push(GroupInScope {
                    entra_id: a.principal_id.clone(),
                    display_name: str_field(&group.properties, "displayName").unwrap_or_default().to_owned(),
                    member_ids: members,
                });
            }
            _ => {}
        }
    }
    let users = ordered.iter().filter_map(|id| state.users.get(id)).filter_map(map_user).collect();
    (users, groups)
}

/// Splits the users in scope from the users to disable: those the job provisioned that are no longer
/// in scope (unassigned, out of their assigned group, deleted) or are disabled in Entra. A user
/// disabled in Entra that the job never provisioned keeps the plain path (created or updated with
/// `active` false).
fn plan_disables(
    job: &Job,
    users: Vec<UserInScope>,
) -> (Vec<UserInScope>, Vec<Disable>, BTreeMap<String, String>) {
    let in_scope: BTreeMap<&str, &UserInScope> = users.iter().map(|u| (u.entra_id.as_str(), u)).collect();
    let mut disables = Vec::new();
    let mut keep_members = BTreeMap::new();
    for (id, user_name) in &job.provisioned_users {
        let Some(aws_id) = job.links.get(id) else { continue };
        let disabled_in_entra = in_scope.get(id.as_str()).map(|u| !u.desired.values.active);
        if disabled_in_entra == Some(true) {
            keep_members.insert(id.clone(), aws_id.clone());
        }
        if disabled_in_entra != Some(false) && !job.disabled.contains(id) {
            disables.push(Disable {
                entra_id: id.clone(),
                aws_id: aws_id.clone(),
                user_name: user_name.clone(),
            });
        }
    }
    let users = users.into_iter().filter(|u| !keep_members.contains_key(&u.entra_id)).collect();
    (users, disables, keep_members)
}

fn begin_and_spawn(emulator: &EntraEmulator, state: &mut EntraState) {
    let Some(target) = state.scim_target.clone() else { return };
    let (users, groups) = scope(state);
    let (users, disables, keep_members) = plan_disables(&state.job, users);
    let force_deletes = std::mem::take(&mut state.job.force_deletes);
    let units = (users.len() + groups.len() + disables.len()).max(1) as u32;
    let execution = Execution::begin();
    let input = CycleInput {
        activity: execution.activity.clone(),
        job_id: state.job.id.clone(),
        app_id: state.app().id.clone(),
        app_name: state.app().display_name.clone(),
        target,
        step: state.timing.cycle_duration / units,
        users,
        groups,
        links: state.job.links.clone(),
        provisioned_users: state.job.provisioned_users.clone(),
        disabled: state.job.disabled.clone(),
        disables,
        keep_members,
        threshold: state.job.delete_threshold,
        force_deletes,
    };
    state.job.running = true;
    state.job.progress = Some((0, u64::from(units), now_text()));
    state.job.last = Some(execution);
    let emulator = emulator.clone();
    tokio::spawn(async move { run_cycle(emulator, input).await });
}

/// Called by the scheduler: run a cycle when one is due.
pub(super) fn run_if_due(emulator: &EntraEmulator) {
    let mut state = emulator.lock();
    let job = &state.job;
    let due = job.code == "Active"
        && job.schedule_state == "Active"
        && !job.running
        && job.next_due.is_some_and(|at| at <= tokio::time::Instant::now());
    if due {
        begin_and_spawn(emulator, &mut state);
    }
}

/// How one object went.
struct Outcome {
    action: &'static str,
    aws_id: String,
    modified: Vec<(String, Option<String>, Option<String>)>,
    exported: bool,
}

fn scim_client(target: &ScimTarget) -> Result<ScimClient, ScimError> {
    let mut config = ScimConfig::new(target.base_url.clone(), target.token.clone());
    config.max_retries = 2;
    config.retry_base_delay = Duration::from_millis(100);
    config.retry_budget = Duration::from_secs(5);
    ScimClient::new(config)
}

/// Errors that make the whole cycle fail (not one object): the target refuses us or is unreachable.
fn is_fatal(error: &ScimError) -> bool {
    matches!(
        error,
        ScimError::Unauthorized(_)
            | ScimError::Forbidden(_)
            | ScimError::UnknownTenant(_)
            | ScimError::Transport { .. }
    )
}

fn attr_text(value: &Option<AttrValue>) -> Option<String> {
    value.as_ref().map(|v| match v {
        AttrValue::Text(t) => t.clone(),
        AttrValue::Bool(b) => {
            if *b {
                "True".into()
            } else {
                "False".into()
            }
        }
    })
}

async fn provision_user(client: &ScimClient, user: &UserInScope) -> Result<Outcome, ScimError> {
    let desired = &user.desired;
    match client.find_user_by_user_name(&desired.values.user_name).await? {
        None => {
            let created = client.create_user(desired).await?;
            let modified = scimsync_core::UserAttr::VALUES
                .iter()
                .filter_map(|attr| {
                    attr.get(&desired.values).map(|v| (attr.label().to_owned(), None, attr_text(&Some(v))))
                })
                .collect();
            Ok(Outcome { action: "create", aws_id: created.id, modified, exported: true })
        }
        Some(current) => {
            // Entra never sends empty values: clearing in Entra does not clear in AWS.
            let mut changes: Vec<AttrChange> =
                diff_user(&current.values, &desired.values).into_iter().filter(|c| c.new.is_some()).collect();
            if current.external_id.as_deref() != Some(desired.external_id.as_str()) {
                changes.push(AttrChange {
                    attr: UserAttr::ExternalId,
                    old: current.external_id.clone().map(AttrValue::Text),
                    new: Some(AttrValue::Text(desired.external_id.clone())),
                });
            }
            if changes.is_empty() {
                return Ok(Outcome {
                    action: "other",
                    aws_id: current.id,
                    modified: Vec::new(),
                    exported: false,
                });
            }
            client.update_user(&current.id, &changes).await?;
            let modified = changes
                .iter()
                .map(|c| (c.attr.label().to_owned(), attr_text(&c.old), attr_text(&c.new)))
                .collect();
            Ok(Outcome { action: "update", aws_id: current.id, modified, exported: true })
        }
    }
}

/// Disables a user the job provisioned that left scope: PATCH `active` false, logged as `disable`.
async fn disable_user(client: &ScimClient, user: &Disable) -> Result<Outcome, ScimError> {
    let change = AttrChange {
        attr: UserAttr::Active,
        old: Some(AttrValue::Bool(true)),
        new: Some(AttrValue::Bool(false)),
    };
    client.update_user(&user.aws_id, std::slice::from_ref(&change)).await?;
    Ok(Outcome {
        action: "disable",
        aws_id: user.aws_id.clone(),
        modified: vec![("active".into(), Some("True".into()), Some("False".into()))],
        exported: true,
    })
}

/// Match or create the group and set the members Entra knows about. With `remove_others`, members
/// that the job provisioned but that are no longer direct members are removed.
async fn provision_group(
    client: &ScimClient,
    group: &GroupInScope,
    member_aws_ids: &BTreeSet<String>,
    managed_aws_ids: &BTreeSet<String>,
    remove_others: bool,
) -> Result<Outcome, ScimError> {
    let mut modified = Vec::new();
    let (aws_id, mut action, current) = match client.find_group_by_display_name(&group.display_name).await? {
        None => {
            let created = client.create_group(&group.entra_id, &group.display_name).await?;
            modified.push(("displayName".into(), None, Some(group.display_name.clone())));
            (created.id, "create", BTreeSet::new())
        }
        Some(found) => {
            let mut action = "other";
            if found.external_id.as_deref() != Some(group.entra_id.as_str()) {
                client.update_group(&found.id, None, Some(&group.entra_id)).await?;
                modified.push(("externalId".into(), found.external_id.clone(), Some(group.entra_id.clone())));
                action = "update";
            }
            let current = client.group_member_ids(&found.id).await?;
            (found.id, action, current)
        }
    };
    let add: Vec<String> = member_aws_ids.difference(&current).cloned().collect();
    let remove: Vec<String> = if remove_others {
        current
            .iter()
            .filter(|id| managed_aws_ids.contains(*id) && !member_aws_ids.contains(*id))
            .cloned()
            .collect()
    } else {
        Vec::new()
    };
    if !add.is_empty() || !remove.is_empty() {
        client.patch_group_members(&aws_id, &add, &remove).await?;
        modified.push(("members".into(), None, Some(format!("+{} -{}", add.len(), remove.len()))));
        if action == "other" {
            action = "update";
        }
    }
    let exported = action != "other";
    Ok(Outcome { action, aws_id, modified, exported })
}

/// One provisioning log entry (Graph's provisioningObjectSummary shape).
#[allow(clippy::too_many_arguments)]
fn log_entry(
    job_id: &str,
    cycle_id: &str,
    app: (&str, &str),
    kind: &str,
    source: (&str, &str),
    result: &Result<Outcome, ScimError>,
    began: std::time::Instant,
) -> Value {
    let (status, action, target_id, modified, error) = match result {
        Ok(o) => {
            let status = if o.action == "other" { "skipped" } else { "success" };
            (status, o.action, o.aws_id.clone(), o.modified.clone(), None)
        }
        Err(e) => ("failure", "other", String::new(), Vec::new(), Some(e.to_string())),
    };
    let target_type = if kind == "User" {
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
    } else {
        "urn:ietf:params:scim:schemas:core:2.0:Group"
    };
    json!({
        "id": format!("{}_{}", cycle_id, new_id()),
        "activityDateTime": now_text(),
        "tenantId": null,
        "jobId": job_id,
        "cycleId": cycle_id,
        "changeId": new_id(),
        "provisioningAction": action,
        "durationInMilliseconds": began.elapsed().as_millis() as u64,
        "initiatedBy": {"id": "", "displayName": "Azure AD Provisioning Service", "initiatorType": "system"},
        "servicePrincipal": {"id": app.0, "displayName": app.1},
        "sourceSystem": {"id": null, "displayName": "Azure Active Directory", "details": {}},
        "targetSystem": {"id": null, "displayName": app.1, "details": {}},
        "sourceIdentity": {"id": source.0, "displayName": source.1, "identityType": kind, "details": {}},
        "targetIdentity": {"id": target_id, "displayName": source.1, "identityType": target_type, "details": {}},
        "modifiedProperties": modified.iter().map(|(name, old, new)| json!({"displayName": name, "oldValue": old, "newValue": new})).collect::<Vec<_>>(),
        "provisioningSteps": [
            {"name": "EntryImport", "provisioningStepType": "import", "status": "success",
             "description": format!("Retrieved {kind} '{}' from Azure Active Directory", source.1), "details": {}},
            {"name": "EntrySynchronizationScoping", "provisioningStepType": "scoping", "status": "success",
             "description": if action == "disable" {
                 format!("{kind} '{}' is out of scope, or disabled or deleted in Azure Active Directory", source.1)
             } else {
                 format!("{kind} '{}' is in scope", source.1)
             }, "details": {}},
            {"name": "EntryExport", "provisioningStepType": "export", "status": status,
             "description": error.clone().unwrap_or_else(|| format!("{action} {kind} '{}' in {}", source.1, app.1)), "details": {}},
        ],
        "provisioningStatusInfo": {
            "status": status,
            "errorInformation": error.as_ref().map(|reason| json!({
                "errorCode": "SystemForCrossDomainIdentityManagementBadResponse",
                "reason": reason,
                "additionalDetails": null,
                "errorCategory": "NonServiceFailure",
                "recommendedAction": "Check the attribute values of the object in Entra ID against what the target accepts."
            })),
        },
    })
}

async fn run_cycle(emulator: EntraEmulator, input: CycleInput) {
    let total = (input.users.len() + input.groups.len() + input.disables.len()) as u64;
    let mut done = 0u64;
    let mut exported = 0u64;
    let mut failures = 0u64;
    let mut fatal: Option<String> = None;
    let mut links = input.links.clone();
    let mut provisioned_users = input.provisioned_users.clone();
    let mut disabled = input.disabled.clone();
    // The accidental-deletion threshold: above it the cycle applies nothing and quarantines the job.
    let too_many = (!input.force_deletes && input.disables.len() as u64 > input.threshold)
        .then_some(input.disables.len() as u64);
    let app = (input.app_id.as_str(), input.app_name.as_str());
    let client = match scim_client(&input.target) {
        Ok(c) => Some(c),
        Err(e) => {
            fatal = Some(e.to_string());
            None
        }
    };
    let progress = |done: u64| {
        emulator.lock().job.progress = Some((done, total.max(1), now_text()));
    };
    let mut logs = Vec::new();
    if let Some(client) = client.as_ref().filter(|_| too_many.is_none()) {
        let mut cycle_aws_ids: BTreeMap<String, String> = input.keep_members.clone();
        for user in &input.users {
            tokio::time::sleep(input.step).await;
            let began = std::time::Instant::now();
            let result = provision_user(client, user).await;
            let name = user.desired.values.user_name.clone();
            logs.push(log_entry(
                &input.job_id,
                &input.activity,
                app,
                "User",
                (&user.entra_id, &name),
                &result,
                began,
            ));
            match &result {
                Ok(o) => {
                    exported += u64::from(o.exported);
                    cycle_aws_ids.insert(user.entra_id.clone(), o.aws_id.clone());
                    links.insert(user.entra_id.clone(), o.aws_id.clone());
                    provisioned_users.insert(user.entra_id.clone(), name.clone());
                    // Sent with active false (disabled in Entra): nothing left to disable.
                    if user.desired.values.active {
                        disabled.remove(&user.entra_id);
                    } else {
                        disabled.insert(user.entra_id.clone());
                    }
                }
                Err(e) if is_fatal(e) => {
                    fatal = Some(e.to_string());
                    break;
                }
                Err(_) => failures += 1,
            }
            done += 1;
            progress(done);
        }
        let managed: BTreeSet<String> = links.values().cloned().collect();
        for group in input.groups.iter().filter(|_| fatal.is_none()) {
            tokio::time::sleep(input.step).await;
            let began = std::time::Instant::now();
            let members: BTreeSet<String> =
                group.member_ids.iter().filter_map(|id| cycle_aws_ids.get(id).cloned()).collect();
            let result = provision_group(client, group, &members, &managed, true).await;
            logs.push(log_entry(
                &input.job_id,
                &input.activity,
                app,
                "Group",
                (&group.entra_id, &group.display_name),
                &result,
                began,
            ));
            match &result {
                Ok(o) => {
                    exported += u64::from(o.exported);
                    links.insert(group.entra_id.clone(), o.aws_id.clone());
                }
                Err(e) if is_fatal(e) => {
                    fatal = Some(e.to_string());
                    break;
                }
                Err(_) => failures += 1,
            }
            done += 1;
            progress(done);
        }
        for gone in input.disables.iter().filter(|_| fatal.is_none()) {
            tokio::time::sleep(input.step).await;
            let began = std::time::Instant::now();
            let result = disable_user(client, gone).await;
            logs.push(log_entry(
                &input.job_id,
                &input.activity,
                app,
                "User",
                (&gone.entra_id, &gone.user_name),
                &result,
                began,
            ));
            match &result {
                Ok(_) => {
                    exported += 1;
                    disabled.insert(gone.entra_id.clone());
                }
                Err(e) if is_fatal(e) => {
                    fatal = Some(e.to_string());
                    break;
                }
                Err(_) => failures += 1,
            }
            done += 1;
            progress(done);
        }
    }

    let mut state = emulator.lock();
    state.logs.extend(logs);
    let now = now_text();
    let interval = state.job.interval;
    let user_ids: BTreeSet<&String> = input.users.iter().map(|u| &u.entra_id).collect();
    let job = &mut state.job;
    job.running = false;
    job.cycles_completed += 1;
    job.next_due = Some(tokio::time::Instant::now() + interval);
    let Some(last) = job.last.as_mut() else { return };
    last.ended = Some(now.clone());
    last.entitled = total;
    last.imported = total;
    last.exported = exported;
    last.escrowed = failures;
    if let Some(count) = too_many {
        let message = format!(
            "The cycle would disable or delete {count} users, more than the accidental-deletion threshold \
             ({}). Nothing was exported. Check the scope, then restart the job with resetScope \
             'ForceDeletes' to push the deletes.",
            input.threshold
        );
        last.state = Some("Failed");
        last.error = Some(("TooManyDeletes".into(), message.clone()));
        job.successive_failures += 1;
        let series = job.quarantine.as_ref().map_or(0, |q| q.series_count) + 1;
        job.quarantine = Some(QuarantineInfo {
            reason: "TooManyDeletes".into(),
            began: now,
            series_count: series,
            error: Some(("TooManyDeletes".into(), message)),
        });
        if job.code != "Paused" {
            job.code = "Quarantine";
        }
        return;
    }
    if let Some(reason) = fatal {
        last.state = Some("Failed");
        last.error = Some((
            "SystemForCrossDomainIdentityManagementCredentialValidationUnavailable".into(),
            reason.clone(),
        ));
        job.successive_failures += 1;
        let series = job.quarantine.as_ref().map_or(0, |q| q.series_count) + 1;
        job.quarantine = Some(QuarantineInfo {
            reason: "EncounteredQuarantineException".into(),
            began: now,
            series_count: series,
            error: Some((
                "SystemForCrossDomainIdentityManagementCredentialValidationUnavailable".into(),
                reason,
            )),
        });
        if job.code != "Paused" {
            job.code = "Quarantine";
        }
        return;
    }
    last.state = Some(if failures > 0 { "EntryLevelErrors" } else { "Succeeded" });
    let finished = last.clone();
    job.successive_failures = 0;
    job.links = links;
    job.provisioned_users = provisioned_users;
    job.disabled = disabled;
    job.synchronized_users = job.links.keys().filter(|k| user_ids.contains(k)).count() as u64;
    job.synchronized_groups = input.groups.len() as u64;
    job.last_success = Some(finished.clone());
    if exported > 0 {
        job.last_success_with_exports = Some(finished);
    }
    if failures == 0 {
        job.steady_first.get_or_insert_with(|| now.clone());
        job.steady_last = Some(now);
    }
    if job.code != "Paused" {
        job.code = "Active";
    }
}

// ---- provision on demand ------------------------------------------------------------------------

fn rate_limited(state: &mut EntraState) -> Option<Response> {
    let now = tokio::time::Instant::now();
    while state.on_demand_calls.front().is_some_and(|t| now.duration_since(*t) >= ON_DEMAND_WINDOW) {
        state.on_demand_calls.pop_front();
    }
    if state.on_demand_calls.len() >= ON_DEMAND_LIMIT {
        let oldest = state.on_demand_calls.front().copied().unwrap_or(now);
        let wait = ON_DEMAND_WINDOW.saturating_sub(now.duration_since(oldest)).as_secs() + 1;
        let mut response = graph_error(
            StatusCode::TOO_MANY_REQUESTS,
            "TooManyRequests",
            "Too many requests: at most 5 provisionOnDemand calls per 10 seconds.",
        );
        response.headers_mut().insert("retry-after", HeaderValue::from(wait));
        return Some(response);
    }
    state.on_demand_calls.push_back(now);
    None
}

fn on_demand_answer(result: &str, error: Option<(&str, String)>, detail: Value) -> Response {
    let key = json!({
        "result": result,
        "details": error.as_ref().map(|(code, message)| json!({"errorCode": code, "errorMessage": message})).unwrap_or(json!({})),
    });
    json_response(
        StatusCode::OK,
        json!({
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#microsoft.graph.stringKeyStringValuePair",
            "key": key.to_string(),
            "value": detail.to_string(),
        }),
    )
}

/// The on-demand answer's `value`, built from a log entry (the same facts, Graph's on-demand names).
fn on_demand_detail(entry: &Value) -> Value {
    json!({
        "action": entry["provisioningAction"].as_str().map(capitalize),
        "changeId": entry["changeId"],
        "reportableIdentifier": entry["sourceIdentity"]["displayName"],
        "modifiedProperties": entry["modifiedProperties"],
        "provisioningSteps": entry["provisioningSteps"].as_array().cloned().unwrap_or_default().iter().map(|s| json!({
            "name": s["name"], "type": s["provisioningStepType"].as_str().map(capitalize), "status": s["status"].as_str().map(capitalize),
            "description": s["description"], "timestamp": entry["activityDateTime"], "details": {}
        })).collect::<Vec<_>>(),
        "statusInfo": {"status": entry["provisioningStatusInfo"]["status"].as_str().map(capitalize),
                       "errorCode": entry["provisioningStatusInfo"]["errorInformation"]["errorCode"],
                       "reason": entry["provisioningStatusInfo"]["errorInformation"]["reason"]},
        "sourceIdentity": {"id": entry["sourceIdentity"]["id"], "type": entry["sourceIdentity"]["identityType"], "displayName": entry["sourceIdentity"]["displayName"]},
        "targetIdentity": {"id": entry["targetIdentity"]["id"], "type": entry["targetIdentity"]["identityType"], "displayName": entry["targetIdentity"]["displayName"]},
        "sourceSystem": {"name": "Azure Active Directory"},
        "targetSystem": {"name": "customappsso"},
    })
}

fn capitalize(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn result_word(entry: &Value) -> (&'static str, Option<(&'static str, String)>) {
    match entry["provisioningStatusInfo"]["status"].as_str() {
        Some("success") => ("Success", None),
        Some("skipped") => (
            "Skipped",
            Some((
                "RedundantExport",
                "The state of the object in both the source and target systems already match.".into(),
            )),
        ),
        _ => (
            "Failure",
            Some((
                "SystemForCrossDomainIdentityManagementBadResponse",
                entry["provisioningStatusInfo"]["errorInformation"]["reason"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned(),
            )),
        ),
    }
}

async fn provision_on_demand(emulator: &EntraEmulator, r: &GraphRequest, job_id: &str) -> Response {
    let parameter = r.body.pointer("/parameters/0").cloned().unwrap_or(Value::Null);
    let rule_id = parameter.get("ruleId").and_then(Value::as_str).unwrap_or("");
    let subjects = parameter.get("subjects").and_then(Value::as_array).cloned().unwrap_or_default();
    let (subject, target, job, app_id, app_name, user_in_scope, group_in_scope) = {
        let mut state = emulator.lock();
        if !job_id.eq_ignore_ascii_case(&state.job.id) {
            return graph_error(
                StatusCode::NOT_FOUND,
                "ResourceNotFound",
                &format!("Job '{job_id}' does not exist."),
            );
        }
        if let Some(limited) = rate_limited(&mut state) {
            return limited;
        }
        if !rule_id.eq_ignore_ascii_case(&state.job.rule_id) {
            return bad_request(&format!("The rule '{rule_id}' does not exist in the job's schema."));
        }
        let [subject] = subjects.as_slice() else {
            return bad_request("Exactly one subject is expected per provisionOnDemand call.");
        };
        let Some(target) = state.scim_target.clone() else {
            return bad_request("The job has no target credentials.");
        };
        let (users, groups) = scope(&state);
        let object_id = subject.get("objectId").and_then(Value::as_str).unwrap_or("").to_owned();
        let user = users.into_iter().find(|u| u.entra_id == object_id);
        let group = groups.into_iter().find(|g| g.entra_id == object_id);
        (
            subject.clone(),
            target,
            state.job.id.clone(),
            state.app().id.clone(),
            state.app().display_name.clone(),
            user,
            group,
        )
    };
    let app = (app_id.as_str(), app_name.as_str());
    let kind = subject.get("objectTypeName").and_then(Value::as_str).unwrap_or("").to_ascii_lowercase();
    let client = match scim_client(&target) {
        Ok(c) => c,
        Err(e) => {
            return on_demand_answer(
                "Failure",
                Some(("InvalidTargetConfiguration", e.to_string())),
                json!({}),
            );
        }
    };
    let cycle_id = "OnDemand";
    let mut entries = Vec::new();
    let answer_entry = match kind.as_str() {
        "user" => {
            let Some(user) = user_in_scope else {
                return on_demand_answer(
                    "Skipped",
                    Some((
                        "NotEffectivelyEntitled",
                        "The user is not assigned to the application, directly or through a group.".into(),
                    )),
                    json!({}),
                );
            };
            let began = std::time::Instant::now();
            let result = provision_user(&client, &user).await;
            let entry = log_entry(
                &job,
                cycle_id,
                app,
                "User",
                (&user.entra_id, &user.desired.values.user_name),
                &result,
                began,
            );
            entries.push(entry.clone());
            entry
        }
        "group" => {
            let Some(group) = group_in_scope else {
                return on_demand_answer(
                    "Skipped",
                    Some(("NotEffectivelyEntitled", "The group is not assigned to the application.".into())),
                    json!({}),
                );
            };
            let asked: Vec<String> = subject
                .pointer("/links/members")
                .and_then(Value::as_array)
                .map(|members| {
                    members
                        .iter()
                        .filter_map(|m| m.get("objectId").and_then(Value::as_str).map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            if asked.len() > ON_DEMAND_MAX_MEMBERS {
                return bad_request("Provisioning on demand takes at most 5 group members per request.");
            }
            let state_users: BTreeMap<String, UserInScope> = {
                let state = emulator.lock();
                asked
                    .iter()
                    .filter_map(|id| state.users.get(id))
                    .filter_map(map_user)
                    .map(|u| (u.entra_id.clone(), u))
                    .collect()
            };
            let mut member_aws_ids = BTreeSet::new();
            for id in &asked {
                // Only direct user members of the group count; nested groups are not handled.
                let Some(user) = state_users.get(id).filter(|_| group.member_ids.contains(id)) else {
                    continue;
                };
                let began = std::time::Instant::now();
                let result = provision_user(&client, user).await;
                entries.push(log_entry(
                    &job,
                    cycle_id,
                    app,
                    "User",
                    (id, &user.desired.values.user_name),
                    &result,
                    began,
                ));
                if let Ok(o) = &result {
                    member_aws_ids.insert(o.aws_id.clone());
                }
            }
            let began = std::time::Instant::now();
            let result = provision_group(&client, &group, &member_aws_ids, &BTreeSet::new(), false).await;
            let entry = log_entry(
                &job,
                cycle_id,
                app,
                "Group",
                (&group.entra_id, &group.display_name),
                &result,
                began,
            );
            entries.push(entry.clone());
            entry
        }
        _ => return bad_request(&format!("objectTypeName '{kind}' is not supported; use User or Group.")),
    };
    {
        let mut state = emulator.lock();
        for entry in &entries {
            if let (Some(source), Some(target)) =
                (entry["sourceIdentity"]["id"].as_str(), entry["targetIdentity"]["id"].as_str())
                && !target.is_empty()
            {
                state.job.links.insert(source.to_owned(), target.to_owned());
                if entry["sourceIdentity"]["identityType"] == "User" {
                    let name = entry["sourceIdentity"]["displayName"].as_str().unwrap_or_default().to_owned();
                    state.job.provisioned_users.insert(source.to_owned(), name);
                    state.job.disabled.remove(source);
                }
            }
        }
        state.logs.extend(entries);
    }
    let (result, error) = result_word(&answer_entry);
    on_demand_answer(result, error, on_demand_detail(&answer_entry))
}

// ---- provisioning logs --------------------------------------------------------------------------

/// `GET /auditLogs/provisioning`: `$filter` on jobId, cycleId, provisioningAction (eq) and
/// activityDateTime (ge, gt, le, lt), joined by `and`; newest first; `$top`; paging.
pub(super) fn logs(emulator: &EntraEmulator, caller: &Caller, r: &GraphRequest) -> Response {
    if !caller.has_any(&["AuditLog.Read.All"]) {
        return super::graph::forbidden();
    }
    let state = emulator.lock();
    let mut entries: Vec<Map<String, Value>> =
        state.logs.iter().filter_map(|e| e.as_object().cloned()).collect();
    entries.reverse();
    if let Some(filter) = r.q("$filter") {
        let clauses =
            match split_and(filter).iter().map(|c| parse_log_clause(c.trim())).collect::<Result<Vec<_>, _>>()
            {
                Ok(c) => c,
                Err(message) => return graph_error(StatusCode::BAD_REQUEST, "BadRequest", &message),
            };
        entries.retain(|e| clauses.iter().all(|c| c.matches(e)));
    }
    list_filtered(r, "auditLogs/provisioning", entries, None, None, true)
}

enum LogClause {
    Eq(String, String),
    Time(String, chrono::DateTime<chrono::Utc>),
}

impl LogClause {
    fn matches(&self, entry: &Map<String, Value>) -> bool {
        match self {
            LogClause::Eq(prop, value) => entry.get(prop).and_then(Value::as_str) == Some(value.as_str()),
            LogClause::Time(op, at) => {
                let Some(t) = entry
                    .get("activityDateTime")
                    .and_then(Value::as_str)
                    .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                else {
                    return false;
                };
                let t = t.with_timezone(&chrono::Utc);
                match op.as_str() {
                    "ge" => t >= *at,
                    "gt" => t > *at,
                    "le" => t <= *at,
                    _ => t < *at,
                }
            }
        }
    }
}

fn parse_log_clause(clause: &str) -> Result<LogClause, String> {
    let mut parts = clause.splitn(3, ' ');
    let (Some(prop), Some(op), Some(value)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(format!("Invalid filter clause '{clause}'."));
    };
    match (prop, op) {
        ("jobId" | "cycleId" | "provisioningAction" | "changeId", "eq") => {
            Ok(LogClause::Eq(prop.into(), unquote(value)?))
        }
        ("activityDateTime", "ge" | "gt" | "le" | "lt") => {
            let at = chrono::DateTime::parse_from_rfc3339(value.trim_matches('\''))
                .map_err(|e| format!("Invalid date '{value}': {e}"))?;
            Ok(LogClause::Time(op.into(), at.with_timezone(&chrono::Utc)))
        }
        _ => Err(format!("Filtering on '{prop} {op}' is not supported.")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_filter_clauses() {
        let entry: Map<String, Value> =
            json!({"jobId": "j1", "activityDateTime": "2024-05-01T10:00:00.000Z"})
                .as_object()
                .cloned()
                .unwrap();
        let cases = [
            ("jobId eq 'j1'", Some(true)),
            ("jobId eq 'j2'", Some(false)),
            ("activityDateTime ge 2024-05-01T10:00:00Z", Some(true)),
            ("activityDateTime gt 2024-05-01T10:00:00Z", Some(false)),
            ("activityDateTime lt 2024-06-01T00:00:00Z", Some(true)),
            ("servicePrincipal/id eq 'x'", None),
            ("jobId eq j1", None),
        ];
        for (clause, expected) in cases {
            assert_eq!(parse_log_clause(clause).ok().map(|c| c.matches(&entry)), expected, "{clause}");
        }
    }

    #[test]
    fn mapping_follows_entra_defaults() {
        let user: Map<String, Value> = json!({
            "id": "u1", "userPrincipalName": "a@x", "displayName": "A B", "givenName": "A", "surname": " ",
            "accountEnabled": false, "employeeOrgData": {"costCenter": "7"}, "companyName": "N"
        })
        .as_object()
        .cloned()
        .unwrap();
        let mapped = map_user(&user).unwrap();
        assert_eq!(mapped.desired.external_id, "u1");
        assert_eq!(mapped.desired.values.family_name, "", "blank surname stays empty (AWS will refuse it)");
        assert!(!mapped.desired.values.active);
        assert_eq!(mapped.desired.values.cost_center.as_deref(), Some("7"));
        assert_eq!(mapped.desired.values.organization.as_deref(), Some("N"));
    }
}
