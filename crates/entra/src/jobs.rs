//! Entra's provisioning (synchronization) jobs: typed job model, job actions, provision on demand,
//! and provisioning logs. Every route uses the service principal's OBJECT id.

use chrono::{DateTime, Utc};
use reqwest::header::HeaderMap;
use serde::{Deserialize, Deserializer, Serialize};

use crate::error::EntraError;
use crate::graph::{GraphClient, odata_quote};

/// Graph sends "", null, or 0001-01-01 for "never"; all become `None`. Unreadable text also becomes
/// `None` rather than failing the whole job read (these fields are informative).
fn lenient_time<'de, D: Deserializer<'de>>(de: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    let text: Option<String> = Option::deserialize(de)?;
    Ok(text
        .filter(|t| !t.is_empty() && !t.starts_with("0001-01-01"))
        .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
        .map(|t| t.with_timezone(&Utc)))
}

/// Graph sends some counts as numbers and, in places, as text.
fn lenient_count<'de, D: Deserializer<'de>>(de: D) -> Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Count {
        Number(u64),
        Text(String),
    }
    Ok(match Option::<Count>::deserialize(de)? {
        Some(Count::Number(n)) => Some(n),
        Some(Count::Text(t)) => t.parse().ok(),
        None => None,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum JobStatusCode {
    NotConfigured,
    NotRun,
    Active,
    Paused,
    Quarantine,
    #[serde(other)]
    Unknown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ScheduleState {
    Active,
    Disabled,
    Paused,
    #[serde(other)]
    Unknown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExecutionState {
    Succeeded,
    Failed,
    EntryLevelErrors,
    #[serde(other)]
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncError {
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub tenant_actionable: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncSchedule {
    #[serde(default)]
    pub interval: Option<String>,
    #[serde(default)]
    pub state: Option<ScheduleState>,
    #[serde(default, deserialize_with = "lenient_time")]
    pub expiration: Option<DateTime<Utc>>,
}

/// One provisioning cycle (task execution).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskExecution {
    #[serde(default)]
    pub activity_identifier: Option<String>,
    #[serde(default, deserialize_with = "lenient_time")]
    pub time_began: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "lenient_time")]
    pub time_ended: Option<DateTime<Utc>>,
    #[serde(default)]
    pub state: Option<ExecutionState>,
    #[serde(default, deserialize_with = "lenient_count")]
    pub count_entitled: Option<u64>,
    #[serde(default, deserialize_with = "lenient_count")]
    pub count_entitled_for_provisioning: Option<u64>,
    #[serde(default, deserialize_with = "lenient_count")]
    pub count_escrowed: Option<u64>,
    #[serde(default, deserialize_with = "lenient_count")]
    pub count_exported: Option<u64>,
    #[serde(default, deserialize_with = "lenient_count")]
    pub count_imported: Option<u64>,
    #[serde(default, deserialize_with = "lenient_count")]
    pub count_imported_deltas: Option<u64>,
    #[serde(default)]
    pub error: Option<SyncError>,
}

impl TaskExecution {
    /// Began and not yet ended.
    pub fn is_running(&self) -> bool {
        self.time_began.is_some() && self.time_ended.is_none()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Quarantine {
    #[serde(default, deserialize_with = "lenient_time")]
    pub current_began: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "lenient_time")]
    pub next_attempt: Option<DateTime<Utc>>,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default, deserialize_with = "lenient_time")]
    pub series_began: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "lenient_count")]
    pub series_count: Option<u64>,
    #[serde(default)]
    pub error: Option<SyncError>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Progress {
    #[serde(default, deserialize_with = "lenient_count")]
    pub completed_units: Option<u64>,
    #[serde(default, deserialize_with = "lenient_count")]
    pub total_units: Option<u64>,
    #[serde(default)]
    pub units: Option<String>,
    #[serde(default, deserialize_with = "lenient_time")]
    pub progress_observation_date_time: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct KeyCount {
    pub key: String,
    #[serde(default, deserialize_with = "lenient_count")]
    pub value: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncStatus {
    #[serde(default)]
    pub code: Option<JobStatusCode>,
    #[serde(default, deserialize_with = "lenient_count")]
    pub count_successive_complete_failures: Option<u64>,
    #[serde(default)]
    pub escrows_pruned: Option<bool>,
    #[serde(default)]
    pub last_execution: Option<TaskExecution>,
    #[serde(default)]
    pub last_successful_execution: Option<TaskExecution>,
    #[serde(default)]
    pub last_successful_execution_with_exports: Option<TaskExecution>,
    #[serde(default)]
    pub progress: Vec<Progress>,
    #[serde(default)]
    pub quarantine: Option<Quarantine>,
    #[serde(default, deserialize_with = "lenient_time")]
    pub steady_state_first_achieved_time: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "lenient_time")]
    pub steady_state_last_achieved_time: Option<DateTime<Utc>>,
    #[serde(default)]
    pub synchronized_entry_count_by_type: Vec<KeyCount>,
    #[serde(default)]
    pub troubleshooting_url: Option<String>,
}

/// A provisioning job as Graph describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncJob {
    pub id: String,
    #[serde(default)]
    pub template_id: Option<String>,
    #[serde(default)]
    pub schedule: Option<SyncSchedule>,
    #[serde(default)]
    pub status: SyncStatus,
}

impl SyncJob {
    pub fn status_code(&self) -> Option<JobStatusCode> {
        self.status.code
    }

    pub fn last_execution(&self) -> Option<&TaskExecution> {
        self.status.last_execution.as_ref()
    }

    /// A cycle has begun and not ended.
    pub fn is_running(&self) -> bool {
        self.last_execution().is_some_and(TaskExecution::is_running)
    }

    /// In quarantine: by status code, or a quarantine record with a reason.
    pub fn is_quarantined(&self) -> bool {
        self.status.code == Some(JobStatusCode::Quarantine)
    }
}

/// What `restart` resets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ResetScope {
    Escrows,
    Watermark,
    QuarantineState,
    /// Also breaks the links between source and target objects.
    Full,
    /// Push deletes held back by the accidental-deletion threshold.
    ForceDeletes,
}

impl ResetScope {
    pub fn as_str(self) -> &'static str {
        match self {
            ResetScope::Escrows => "Escrows",
            ResetScope::Watermark => "Watermark",
            ResetScope::QuarantineState => "QuarantineState",
            ResetScope::Full => "Full",
            ResetScope::ForceDeletes => "ForceDeletes",
        }
    }

    /// Graph's comma-separated text; `None` for no scopes (the portal's plain restart).
    pub fn join(scopes: &[ResetScope]) -> Option<String> {
        (!scopes.is_empty()).then(|| scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", "))
    }
}

impl std::str::FromStr for ResetScope {
    type Err = EntraError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "escrows" => ResetScope::Escrows,
            "watermark" => ResetScope::Watermark,
            "quarantinestate" => ResetScope::QuarantineState,
            "full" => ResetScope::Full,
            "forcedeletes" => ResetScope::ForceDeletes,
            other => {
                return Err(EntraError::Config(format!(
                    "unknown reset scope {other:?} (use Escrows, Watermark, QuarantineState, Full, ForceDeletes)"
                )));
            }
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncRule {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub source_directory_name: Option<String>,
    #[serde(default)]
    pub target_directory_name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncSchema {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub synchronization_rules: Vec<SyncRule>,
}

/// A subject of provision on demand: a user, or a group with (at most 5) members.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OnDemandSubject {
    pub object_id: String,
    /// "User" or "Group".
    pub object_type_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub links: Option<OnDemandLinks>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OnDemandLinks {
    pub members: Vec<OnDemandSubject>,
}

impl OnDemandSubject {
    pub fn user(id: impl Into<String>) -> Self {
        OnDemandSubject { object_id: id.into(), object_type_name: "User".into(), links: None }
    }

    pub fn group(id: impl Into<String>, member_ids: impl IntoIterator<Item = String>) -> Self {
        let members: Vec<_> = member_ids.into_iter().map(OnDemandSubject::user).collect();
        OnDemandSubject {
            object_id: id.into(),
            object_type_name: "Group".into(),
            links: (!members.is_empty()).then_some(OnDemandLinks { members }),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModifiedProperty {
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub old_value: Option<String>,
    #[serde(default)]
    pub new_value: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProvisioningStep {
    #[serde(default)]
    pub name: Option<String>,
    /// `type` in provision-on-demand answers, `provisioningStepType` in logs.
    #[serde(default, alias = "type")]
    pub provisioning_step_type: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Identity {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
    /// `identityType` in logs, `type` in provision-on-demand answers.
    #[serde(default, alias = "type")]
    pub identity_type: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OnDemandStatusInfo {
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub error_code: Option<String>,
    #[serde(default)]
    pub reason: Option<String>,
}

/// The `value` half of a provision-on-demand answer.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OnDemandDetail {
    #[serde(default)]
    pub action: Option<String>,
    #[serde(default)]
    pub change_id: Option<String>,
    #[serde(default)]
    pub reportable_identifier: Option<String>,
    #[serde(default)]
    pub modified_properties: Vec<ModifiedProperty>,
    #[serde(default)]
    pub provisioning_steps: Vec<ProvisioningStep>,
    #[serde(default)]
    pub status_info: Option<OnDemandStatusInfo>,
    #[serde(default)]
    pub source_identity: Option<Identity>,
    #[serde(default)]
    pub target_identity: Option<Identity>,
}

/// The typed result of provision on demand (both halves of the answer parsed from their JSON text).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OnDemandResult {
    /// Success, Failure, Skipped, …
    pub result: String,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub detail: OnDemandDetail,
}

impl OnDemandResult {
    pub fn succeeded(&self) -> bool {
        self.result.eq_ignore_ascii_case("success")
    }

    /// Parse Graph's answer `{"key": "<json>", "value": "<json>"}`.
    pub fn from_answer(answer: &serde_json::Value) -> Result<Self, EntraError> {
        let what = "the provisionOnDemand answer";
        let text = |name: &str| {
            answer
                .get(name)
                .and_then(serde_json::Value::as_str)
                .ok_or_else(|| EntraError::decode(what, format!("no `{name}` text")))
        };
        #[derive(Deserialize)]
        struct Key {
            result: String,
            #[serde(default)]
            details: Option<KeyDetails>,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct KeyDetails {
            error_code: Option<String>,
            error_message: Option<String>,
        }
        let key: Key = serde_json::from_str(text("key")?)
            .map_err(|e| EntraError::decode(what, format!("`key` is not the expected JSON text: {e}")))?;
        let value = text("value")?;
        let detail: OnDemandDetail = if value.trim().is_empty() {
            OnDemandDetail::default()
        } else {
            serde_json::from_str(value).map_err(|e| {
                EntraError::decode(what, format!("`value` is not the expected JSON text: {e}"))
            })?
        };
        let details = key.details.unwrap_or(KeyDetails { error_code: None, error_message: None });
        Ok(OnDemandResult {
            result: key.result,
            error_code: details.error_code,
            error_message: details.error_message,
            detail,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorInformation {
    #[serde(default)]
    pub error_code: Option<String>,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub additional_details: Option<String>,
    #[serde(default)]
    pub error_category: Option<String>,
    #[serde(default)]
    pub recommended_action: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProvisioningStatusInfo {
    /// success, failure, skipped, warning
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub error_information: Option<ErrorInformation>,
}

/// One provisioning log entry (`/auditLogs/provisioning`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProvisioningLogEntry {
    pub id: String,
    #[serde(default, deserialize_with = "lenient_time")]
    pub activity_date_time: Option<DateTime<Utc>>,
    #[serde(default)]
    pub job_id: Option<String>,
    #[serde(default)]
    pub cycle_id: Option<String>,
    #[serde(default)]
    pub change_id: Option<String>,
    /// create, update, delete, disable, stagedDelete, other
    #[serde(default)]
    pub provisioning_action: Option<String>,
    #[serde(default, deserialize_with = "lenient_count")]
    pub duration_in_milliseconds: Option<u64>,
    #[serde(default)]
    pub source_identity: Option<Identity>,
    #[serde(default)]
    pub target_identity: Option<Identity>,
    #[serde(default)]
    pub modified_properties: Vec<ModifiedProperty>,
    #[serde(default)]
    pub provisioning_steps: Vec<ProvisioningStep>,
    #[serde(default)]
    pub provisioning_status_info: Option<ProvisioningStatusInfo>,
}

/// Which provisioning log entries to read.
#[derive(Debug, Clone)]
pub struct LogQuery {
    pub job_id: String,
    /// Only entries at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Page size.
    pub top: Option<u32>,
    /// Stop after this many entries.
    pub limit: Option<usize>,
}

/// The provisioning-job API of one enterprise application.
#[derive(Debug, Clone)]
pub struct ProvisioningClient {
    graph: GraphClient,
    sp_id: String,
}

impl ProvisioningClient {
    /// `sp_object_id` is the service principal's object id (not the appId).
    pub fn new(graph: GraphClient, sp_object_id: impl Into<String>) -> Self {
        ProvisioningClient { graph, sp_id: sp_object_id.into() }
    }

    pub fn graph(&self) -> &GraphClient {
        &self.graph
    }

    pub fn service_principal_id(&self) -> &str {
        &self.sp_id
    }

    fn job_path(&self, job_id: &str, action: &str) -> String {
        format!("/servicePrincipals/{}/synchronization/jobs/{job_id}{action}", self.sp_id)
    }

    pub async fn list_jobs(&self) -> Result<Vec<SyncJob>, EntraError> {
        let url = self.graph.url(&format!("/servicePrincipals/{}/synchronization/jobs", self.sp_id), &[])?;
        self.graph.get_all(url, &HeaderMap::new()).await
    }

    /// The one job of the app; none or several are errors (several: the caller must say which).
    pub async fn single_job(&self) -> Result<SyncJob, EntraError> {
        let mut jobs = self.list_jobs().await?;
        match jobs.len() {
            0 => Err(EntraError::NoJob { sp_id: self.sp_id.clone() }),
            1 => Ok(jobs.remove(0)),
            _ => Err(EntraError::SeveralJobs {
                sp_id: self.sp_id.clone(),
                jobs: jobs.into_iter().map(|j| j.id).collect(),
            }),
        }
    }

    pub async fn get_job(&self, job_id: &str) -> Result<SyncJob, EntraError> {
        self.graph.get(self.graph.url(&self.job_path(job_id, ""), &[])?).await
    }

    pub async fn start(&self, job_id: &str) -> Result<(), EntraError> {
        self.graph.post_no_content(self.graph.url(&self.job_path(job_id, "/start"), &[])?, None).await
    }

    pub async fn pause(&self, job_id: &str) -> Result<(), EntraError> {
        self.graph.post_no_content(self.graph.url(&self.job_path(job_id, "/pause"), &[])?, None).await
    }

    /// Restart; no scopes is the portal's plain "Restart provisioning".
    pub async fn restart(&self, job_id: &str, scopes: &[ResetScope]) -> Result<(), EntraError> {
        let criteria = match ResetScope::join(scopes) {
            Some(text) => serde_json::json!({ "resetScope": text }),
            None => serde_json::json!({}),
        };
        let body = serde_json::json!({ "criteria": criteria });
        self.graph
            .post_no_content(self.graph.url(&self.job_path(job_id, "/restart"), &[])?, Some(&body))
            .await
    }

    pub async fn schema(&self, job_id: &str) -> Result<SyncSchema, EntraError> {
        self.graph.get(self.graph.url(&self.job_path(job_id, "/schema"), &[])?).await
    }

    /// The rule id provision on demand needs: the schema's first synchronization rule.
    pub async fn rule_id(&self, job_id: &str) -> Result<String, EntraError> {
        self.schema(job_id)
            .await?
            .synchronization_rules
            .into_iter()
            .next()
            .map(|r| r.id)
            .ok_or_else(|| EntraError::NoRule { job_id: job_id.to_owned() })
    }

    pub async fn provision_on_demand(
        &self,
        job_id: &str,
        rule_id: &str,
        subject: &OnDemandSubject,
    ) -> Result<OnDemandResult, EntraError> {
        let body = serde_json::json!({
            "parameters": [{ "ruleId": rule_id, "subjects": [subject] }]
        });
        let url = self.graph.url(&self.job_path(job_id, "/provisionOnDemand"), &[])?;
        let answer: serde_json::Value = self.graph.post(url, &body).await?;
        OnDemandResult::from_answer(&answer)
    }

    /// Provisioning log entries of a job, oldest filters applied on Graph's side.
    pub async fn provisioning_logs(&self, query: &LogQuery) -> Result<Vec<ProvisioningLogEntry>, EntraError> {
        let mut filter = format!("jobId eq {}", odata_quote(&query.job_id));
        if let Some(since) = query.since {
            filter.push_str(&format!(
                " and activityDateTime ge {}",
                since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ));
        }
        let top = query.top.map(|t| t.to_string());
        let mut params = vec![("$filter", filter.as_str())];
        if let Some(top) = &top {
            params.push(("$top", top));
        }
        let url = self.graph.url("/auditLogs/provisioning", &params)?;
        let mut entries: Vec<ProvisioningLogEntry> = self.graph.get_all(url, &HeaderMap::new()).await?;
        if let Some(limit) = query.limit {
            entries.truncate(limit);
        }
        Ok(entries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_with_graph_oddities_parses() {
        // Shapes seen in Graph's documentation: "" for times, 0001-01-01 for never, null execution.
        let job: SyncJob = serde_json::from_value(serde_json::json!({
            "id": "scim.0a1b.1234",
            "templateId": "scim",
            "schedule": {"expiration": null, "interval": "PT40M", "state": "Active"},
            "status": {
                "code": "Quarantine",
                "lastExecution": {"activityIdentifier": "c1", "timeBegan": "2024-05-01T10:00:00.1234567Z",
                                  "timeEnded": null, "countExported": "3"},
                "steadyStateLastAchievedTime": "0001-01-01T00:00:00Z",
                "quarantine": {"currentBegan": "", "nextAttempt": "", "reason": "EncounteredQuarantineException",
                               "seriesCount": 2, "error": {"code": "X", "message": "m", "tenantActionable": true}},
                "progress": [],
                "synchronizedEntryCountByType": [{"key": "user to urn:ietf:params:scim:schemas:core:2.0:User", "value": 4}],
                "someNewField": 1
            }
        }))
        .unwrap();
        assert!(job.is_quarantined());
        assert!(job.is_running());
        let exec = job.last_execution().unwrap();
        assert_eq!(exec.count_exported, Some(3));
        assert_eq!(job.status.steady_state_last_achieved_time, None);
        let q = job.status.quarantine.as_ref().unwrap();
        assert_eq!(q.current_began, None);
        assert_eq!(q.series_count, Some(2));
        assert_eq!(job.status.synchronized_entry_count_by_type[0].value, Some(4));
    }

    #[test]
    fn unknown_status_code_is_tolerated() {
        let job: SyncJob =
            serde_json::from_value(serde_json::json!({"id": "j", "status": {"code": "Brand-new"}})).unwrap();
        assert_eq!(job.status_code(), Some(JobStatusCode::Unknown));
    }

    #[test]
    fn on_demand_answer_is_parsed_twice() {
        let key = serde_json::json!({"result": "Skipped", "details": {"errorCode": "RedundantExport", "errorMessage": "same"}});
        let value = serde_json::json!({
            "action": "Other", "changeId": "c",
            "provisioningSteps": [{"name": "EntryImport", "type": "Import", "status": "Success", "description": "d"}],
            "statusInfo": {"status": "Skipped", "errorCode": null},
            "targetIdentity": {"id": "aws-1", "type": "User"}
        });
        let answer = serde_json::json!({"key": key.to_string(), "value": value.to_string()});
        let result = OnDemandResult::from_answer(&answer).unwrap();
        assert_eq!(result.result, "Skipped");
        assert_eq!(result.error_code.as_deref(), Some("RedundantExport"));
        assert_eq!(result.detail.provisioning_steps[0].provisioning_step_type.as_deref(), Some("Import"));
        assert_eq!(result.detail.target_identity.unwrap().id.as_deref(), Some("aws-1"));
    }

    #[test]
    fn on_demand_answer_errors_say_what_is_wrong() {
        let cases = [
            (serde_json::json!({"value": "{}"}), "no `key`"),
            (serde_json::json!({"key": "not json", "value": "{}"}), "`key` is not"),
            (serde_json::json!({"key": "{\"result\":\"Success\"}", "value": "[1"}), "`value` is not"),
        ];
        for (answer, needle) in cases {
            let e = OnDemandResult::from_answer(&answer).unwrap_err().to_string();
            assert!(e.contains(needle), "{e}");
        }
    }

    #[test]
    fn reset_scopes_join_and_parse() {
        assert_eq!(ResetScope::join(&[]), None);
        assert_eq!(
            ResetScope::join(&[ResetScope::Watermark, ResetScope::QuarantineState]).as_deref(),
            Some("Watermark, QuarantineState")
        );
        assert_eq!("forcedeletes".parse::<ResetScope>().unwrap(), ResetScope::ForceDeletes);
        assert!("None".parse::<ResetScope>().is_err());
    }

    #[test]
    fn group_subject_serializes_like_graph() {
        let subject = OnDemandSubject::group("g1", ["u1".to_string()]);
        assert_eq!(
            serde_json::to_value(&subject).unwrap(),
            serde_json::json!({"objectId": "g1", "objectTypeName": "Group",
                               "links": {"members": [{"objectId": "u1", "objectTypeName": "User"}]}})
        );
    }
}
