//! Asking Entra's own provisioning job to act now — without poking a running job blindly.
//!
//! [`decide`] is pure: given the job as read and the options, it says what to do. [`wait_for_cycle`]
//! polls until the cycle that began after a moment has ended. [`provision_group_on_demand`] splits a
//! group into calls of at most 5 members, paced at 5 calls per 10 seconds.

use std::num::NonZeroU32;
use std::time::Duration;

use chrono::{DateTime, Utc};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

use crate::error::EntraError;
use crate::jobs::{
    JobStatusCode, OnDemandResult, OnDemandSubject, ProvisioningClient, ResetScope, ScheduleState, SyncJob,
};

/// What the caller asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TriggerOptions {
    /// Start even while a cycle runs (Microsoft warns this can make the service stop the job).
    pub force: bool,
    /// Restart with these reset scopes instead of starting (empty = plain restart).
    pub restart: Option<Vec<ResetScope>>,
    /// Never start again when a cycle began (or a start was sent) less than this long ago.
    pub min_interval: chrono::Duration,
    /// When this tool last sent start/restart, if it remembers.
    pub last_request: Option<DateTime<Utc>>,
}

impl Default for TriggerOptions {
    fn default() -> Self {
        TriggerOptions {
            force: false,
            restart: None,
            min_interval: chrono::Duration::seconds(60),
            last_request: None,
        }
    }
}

/// What to do with the job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// POST start.
    Start { reason: String, warning: Option<String> },
    /// POST restart with these scopes.
    Restart { scopes: Vec<ResetScope>, reason: String, warning: Option<String> },
    /// A cycle is running: do not poke it; wait for it to end.
    Wait { reason: String },
    /// Do nothing now.
    Skip { reason: String },
}

impl Decision {
    pub fn reason(&self) -> &str {
        match self {
            Decision::Start { reason, .. }
            | Decision::Restart { reason, .. }
            | Decision::Wait { reason }
            | Decision::Skip { reason } => reason,
        }
    }
}

/// Decide how to make the job act now. Pure; see the table in the tests.
///
/// Order of rules: a running cycle → Wait, however recently it began (it is the cycle the caller
/// wants); a cycle or request that began within `min_interval` → Skip, unless `force` or a restart
/// was asked (then with a warning); a running cycle with force → start/restart with a warning; a restart was
/// asked → Restart; otherwise by status: not configured → Skip; paused, quarantined, never run, or
/// active between cycles → Start.
pub fn decide(job: &SyncJob, now: DateTime<Utc>, opts: &TriggerOptions) -> Decision {
    let last = job.last_execution();
    let running_warning = job.is_running().then(|| {
        let id = last.and_then(|e| e.activity_identifier.as_deref()).unwrap_or("?");
        format!("cycle {id} is still running; Microsoft warns that poking a running job can make the service stop it")
    });
    // Checked before the recent-start rule: a cycle that began seconds ago is still one to wait for.
    if running_warning.is_some() && !opts.force {
        return Decision::Wait {
            reason: "a provisioning cycle is running: waiting for it instead of poking it".into(),
        };
    }

    let began = last.and_then(|e| e.time_began);
    let recent = [began, opts.last_request]
        .into_iter()
        .flatten()
        .filter(|t| now.signed_duration_since(*t) < opts.min_interval)
        .max();
    // The interval guards the plain trigger (a scheduler firing twice); an explicit --start or
    // --restart is the operator's own decision and goes ahead with a warning.
    let recent_warning = recent.map(|at| {
        let ago = now.signed_duration_since(at).num_seconds().max(0);
        format!("a cycle began or was requested {ago} s ago")
    });
    if let Some(recent) = &recent_warning
        && !opts.force
        && opts.restart.is_none()
    {
        return Decision::Skip {
            reason: format!("{recent} (less than {} s): not starting again", opts.min_interval.num_seconds()),
        };
    }
    let running_warning = running_warning.or(recent_warning);

    if let Some(scopes) = &opts.restart {
        return Decision::Restart {
            scopes: scopes.clone(),
            reason: match ResetScope::join(scopes) {
                Some(text) => format!("restart asked, resetting {text}"),
                None => "restart asked".into(),
            },
            warning: running_warning,
        };
    }

    let paused_schedule = job
        .schedule
        .as_ref()
        .and_then(|s| s.state)
        .is_some_and(|s| matches!(s, ScheduleState::Paused | ScheduleState::Disabled));
    let reason = match job.status_code() {
        Some(JobStatusCode::NotConfigured) => {
            return Decision::Skip {
                reason: "provisioning is not configured on this app (no admin credentials saved)".into(),
            };
        }
        Some(JobStatusCode::Quarantine) => {
            let why = job.status.quarantine.as_ref().and_then(|q| q.reason.clone()).unwrap_or_default();
            format!("the job is in quarantine ({why}); start takes it out and runs a cycle")
        }
        Some(JobStatusCode::Paused) => "the job is paused; start resumes it and runs a cycle".into(),
        Some(JobStatusCode::NotRun) => "the job never ran; start runs its first cycle".into(),
        _ if paused_schedule => "the job's schedule is paused; start resumes it".into(),
        _ if last.is_none() => "the job never ran; start runs its first cycle".into(),
        _ => "the job is active between cycles; start asks for a cycle now".into(),
    };
    Decision::Start { reason, warning: running_warning }
}

/// Poll the job until the cycle that began after `since` (or under a new activity id) has ended.
/// `on_progress` sees every read. Returns the final job.
pub async fn wait_for_cycle(
    client: &ProvisioningClient,
    job: &SyncJob,
    since: DateTime<Utc>,
    poll_interval: Duration,
    timeout: Duration,
    mut on_progress: impl FnMut(&SyncJob),
) -> Result<SyncJob, EntraError> {
    let previous_activity = job.last_execution().and_then(|e| e.activity_identifier.clone());
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let current = client.get_job(&job.id).await?;
        on_progress(&current);
        if cycle_finished_since(&current, since, previous_activity.as_deref()) {
            return Ok(current);
        }
        if tokio::time::Instant::now() + poll_interval > deadline {
            return Err(EntraError::WaitTimedOut { waited_secs: timeout.as_secs() });
        }
        tokio::time::sleep(poll_interval).await;
    }
}

/// A cycle newer than `since` (or with another activity id) has ended.
pub fn cycle_finished_since(job: &SyncJob, since: DateTime<Utc>, previous_activity: Option<&str>) -> bool {
    let Some(exec) = job.last_execution() else { return false };
    let newer = exec.time_began.is_some_and(|t| t > since)
        || (previous_activity.is_some() && exec.activity_identifier.as_deref() != previous_activity);
    newer && exec.time_ended.is_some()
}

/// Most members Graph takes in one group subject.
pub const MAX_MEMBERS_PER_CALL: usize = 5;

/// Group subjects of at most 5 members each; a group without members is one subject without links.
pub fn plan_group_on_demand(group_id: &str, member_ids: &[String]) -> Vec<OnDemandSubject> {
    if member_ids.is_empty() {
        return vec![OnDemandSubject::group(group_id, Vec::new())];
    }
    member_ids
        .chunks(MAX_MEMBERS_PER_CALL)
        .map(|chunk| OnDemandSubject::group(group_id, chunk.iter().cloned()))
        .collect()
}

/// Provision-on-demand calls paced to Graph's documented limit of 5 requests per 10 seconds per app.
#[derive(Debug)]
pub struct OnDemandRunner<'a> {
    client: &'a ProvisioningClient,
    job_id: String,
    rule_id: String,
    limiter: DefaultDirectRateLimiter,
}

impl<'a> OnDemandRunner<'a> {
    pub fn new(
        client: &'a ProvisioningClient,
        job_id: impl Into<String>,
        rule_id: impl Into<String>,
    ) -> Self {
        // One call per 2 s never exceeds 5 in any 10 s window (a burst of 5 could).
        let quota =
            Quota::with_period(Duration::from_secs(2)).expect("non-zero period").allow_burst(NonZeroU32::MIN);
        OnDemandRunner {
            client,
            job_id: job_id.into(),
            rule_id: rule_id.into(),
            limiter: RateLimiter::direct(quota),
        }
    }

    pub async fn provision(&self, subject: &OnDemandSubject) -> Result<OnDemandResult, EntraError> {
        self.limiter.until_ready().await;
        self.client.provision_on_demand(&self.job_id, &self.rule_id, subject).await
    }

    /// A group and its members, in calls of at most 5 members. Stops at the first call that fails.
    pub async fn provision_group(
        &self,
        group_id: &str,
        member_ids: &[String],
    ) -> Result<Vec<OnDemandResult>, EntraError> {
        let mut results = Vec::new();
        for subject in plan_group_on_demand(group_id, member_ids) {
            results.push(self.provision(&subject).await?);
        }
        Ok(results)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::{Quarantine, SyncSchedule, SyncStatus, TaskExecution};
    use chrono::TimeZone;

    fn at(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + secs, 0).single().unwrap()
    }

    fn job(code: JobStatusCode, began: Option<i64>, ended: Option<i64>) -> SyncJob {
        SyncJob {
            id: "scim.t.1".into(),
            template_id: Some("scim".into()),
            schedule: Some(SyncSchedule {
                interval: Some("PT40M".into()),
                state: Some(ScheduleState::Active),
                expiration: None,
            }),
            status: SyncStatus {
                code: Some(code),
                last_execution: began.map(|b| TaskExecution {
                    activity_identifier: Some("cycle-1".into()),
                    time_began: Some(at(b)),
                    time_ended: ended.map(at),
                    ..Default::default()
                }),
                quarantine: (code == JobStatusCode::Quarantine).then(|| Quarantine {
                    reason: Some("EncounteredQuarantineException".into()),
                    ..Default::default()
                }),
                ..Default::default()
            },
        }
    }

    #[derive(Debug, PartialEq)]
    enum Kind {
        Start,
        StartWarned,
        Restart,
        RestartWarned,
        Wait,
        Skip,
    }

    fn kind(d: &Decision) -> Kind {
        match d {
            Decision::Start { warning: None, .. } => Kind::Start,
            Decision::Start { warning: Some(_), .. } => Kind::StartWarned,
            Decision::Restart { warning: None, .. } => Kind::Restart,
            Decision::Restart { warning: Some(_), .. } => Kind::RestartWarned,
            Decision::Wait { .. } => Kind::Wait,
            Decision::Skip { .. } => Kind::Skip,
        }
    }

    #[test]
    fn decision_table() {
        let now = at(10_000);
        let plain = TriggerOptions::default();
        let force = TriggerOptions { force: true, ..Default::default() };
        let restart = TriggerOptions { restart: Some(vec![ResetScope::Watermark]), ..Default::default() };
        let restart_forced = TriggerOptions { force: true, ..restart.clone() };
        let just_requested = TriggerOptions { last_request: Some(at(9_990)), ..Default::default() };
        // (case, job, options, expected, words the reason must contain)
        let cases: Vec<(&str, SyncJob, &TriggerOptions, Kind, &str)> = vec![
            ("paused", job(JobStatusCode::Paused, Some(1_000), Some(1_100)), &plain, Kind::Start, "paused"),
            (
                "quarantined",
                job(JobStatusCode::Quarantine, Some(1_000), Some(1_100)),
                &plain,
                Kind::Start,
                "quarantine",
            ),
            ("never run", job(JobStatusCode::NotRun, None, None), &plain, Kind::Start, "never ran"),
            (
                "active between cycles",
                job(JobStatusCode::Active, Some(1_000), Some(1_100)),
                &plain,
                Kind::Start,
                "between cycles",
            ),
            ("running", job(JobStatusCode::Active, Some(9_000), None), &plain, Kind::Wait, "running"),
            (
                "running, forced",
                job(JobStatusCode::Active, Some(9_000), None),
                &force,
                Kind::StartWarned,
                "between cycles",
            ),
            (
                "began 5 s ago",
                job(JobStatusCode::Active, Some(9_995), Some(9_999)),
                &plain,
                Kind::Skip,
                "5 s ago",
            ),
            (
                "running, began 5 s ago",
                job(JobStatusCode::Active, Some(9_995), None),
                &plain,
                Kind::Wait,
                "running",
            ),
            (
                "running, we asked 10 s ago",
                job(JobStatusCode::Active, Some(9_990), None),
                &just_requested,
                Kind::Wait,
                "running",
            ),
            (
                "began 5 s ago, forced: the operator's call, with a warning",
                job(JobStatusCode::Active, Some(9_995), None),
                &force,
                Kind::StartWarned,
                "active between cycles",
            ),
            (
                "we asked 10 s ago",
                job(JobStatusCode::Active, Some(1_000), Some(1_100)),
                &just_requested,
                Kind::Skip,
                "10 s ago",
            ),
            (
                "restart asked",
                job(JobStatusCode::Active, Some(1_000), Some(1_100)),
                &restart,
                Kind::Restart,
                "Watermark",
            ),
            (
                "restart while running",
                job(JobStatusCode::Active, Some(9_000), None),
                &restart,
                Kind::Wait,
                "running",
            ),
            (
                "restart while running, forced",
                job(JobStatusCode::Active, Some(9_000), None),
                &restart_forced,
                Kind::RestartWarned,
                "restart",
            ),
            (
                "not configured",
                job(JobStatusCode::NotConfigured, None, None),
                &plain,
                Kind::Skip,
                "not configured",
            ),
        ];
        for (case, job, opts, expected, words) in cases {
            let decision = decide(&job, now, opts);
            assert_eq!(kind(&decision), expected, "{case}: {decision:?}");
            assert!(decision.reason().contains(words), "{case}: {:?} lacks {words:?}", decision.reason());
        }
    }

    #[test]
    fn finished_since() {
        let since = at(500);
        let cases = [
            ("older cycle ended", job(JobStatusCode::Active, Some(100), Some(200)), Some("cycle-1"), false),
            ("new cycle running", job(JobStatusCode::Active, Some(600), None), Some("cycle-1"), false),
            ("new cycle ended", job(JobStatusCode::Active, Some(600), Some(700)), Some("cycle-1"), true),
            (
                "other activity ended (clock skew)",
                job(JobStatusCode::Active, Some(400), Some(450)),
                Some("cycle-0"),
                true,
            ),
            ("never ran", job(JobStatusCode::NotRun, None, None), None, false),
        ];
        for (case, job, previous, expected) in cases {
            assert_eq!(cycle_finished_since(&job, since, previous), expected, "{case}");
        }
    }

    #[test]
    fn group_plans_hold_at_most_five_members() {
        let members: Vec<String> = (1..=12).map(|i| format!("u{i}")).collect();
        let cases = [(0usize, vec![0usize]), (5, vec![5]), (6, vec![5, 1]), (12, vec![5, 5, 2])];
        for (count, sizes) in cases {
            let plan = plan_group_on_demand("g", &members[..count]);
            let got: Vec<usize> =
                plan.iter().map(|s| s.links.as_ref().map_or(0, |l| l.members.len())).collect();
            assert_eq!(got, sizes, "{count} members");
            assert!(plan.iter().all(|s| s.object_id == "g" && s.object_type_name == "Group"));
        }
    }
}
