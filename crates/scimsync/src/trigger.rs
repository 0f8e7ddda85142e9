//! `trigger`, `status` and `logs`: Entra's own provisioning job, driven and watched properly.

use std::io::IsTerminal;
use std::time::Duration;

use anyhow::{Result, anyhow};
use chrono::{DateTime, Utc};
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use indicatif::{ProgressBar, ProgressStyle};
use scimsync_entra::graph::{GraphClient, odata_quote};
use scimsync_entra::jobs::{
    ExecutionState, LogQuery, ProvisioningClient, ProvisioningLogEntry, ResetScope, SyncJob,
};
use scimsync_entra::trigger::{Decision, OnDemandRunner, TriggerOptions, decide, wait_for_cycle};
use scimsync_entra::{AppSelector, EntraError, find_app};
use serde::Deserialize;

use crate::cli::{LogsArgs, TriggerArgs};
use crate::exit::Exit;
use crate::settings::EntraSettings;

fn entra_err(e: EntraError) -> anyhow::Error {
    anyhow!("{e}")
}

/// The app's provisioning client and the job to act on.
pub async fn connect(entra: &EntraSettings, job_id: Option<String>) -> Result<(ProvisioningClient, SyncJob)> {
    let graph = entra.graph()?;
    let app = find_app(&graph, &AppSelector::parse(&entra.app)).await.map_err(entra_err)?;
    let client = ProvisioningClient::new(graph, app.id.clone());
    let job = match job_id {
        Some(id) => client.get_job(&id).await.map_err(entra_err)?,
        None => client.single_job().await.map_err(entra_err)?,
    };
    Ok((client, job))
}

/// `scimsync trigger`.
pub async fn trigger(entra: &EntraSettings, job_id: Option<String>, args: &TriggerArgs) -> Result<Exit> {
    let (client, job) = connect(entra, job_id).await?;
    if !args.users.is_empty() || !args.groups.is_empty() {
        return on_demand(&client, &job, &args.users, &args.groups).await;
    }
    let restart = match &args.restart {
        Some(scopes) => Some(
            scopes
                .iter()
                .filter(|s| !s.trim().is_empty())
                .map(|s| s.parse::<ResetScope>())
                .collect::<Result<Vec<_>, _>>()
                .map_err(entra_err)?,
        ),
        None => None,
    };
    let options = TriggerOptions { force: args.start, restart, ..TriggerOptions::default() };
    act_and_wait(&client, job, &options, !args.no_wait, args.poll, args.timeout).await
}

/// Decides, acts, waits and reports. Shared with the demo.
pub async fn act_and_wait(
    client: &ProvisioningClient,
    job: SyncJob,
    options: &TriggerOptions,
    wait: bool,
    poll: Duration,
    timeout: Duration,
) -> Result<Exit> {
    let now = Utc::now();
    let decision = decide(&job, now, options);
    let since = match &decision {
        Decision::Start { reason, warning } => {
            if let Some(warning) = warning {
                eprintln!("warning: {warning}");
            }
            println!("Starting provisioning job {}: {reason}.", job.id);
            client.start(&job.id).await.map_err(entra_err)?;
            now
        }
        Decision::Restart { scopes, reason, warning } => {
            if let Some(warning) = warning {
                eprintln!("warning: {warning}");
            }
            println!("Restarting provisioning job {}: {reason}.", job.id);
            client.restart(&job.id, scopes).await.map_err(entra_err)?;
            now
        }
        Decision::Wait { reason } => {
            println!("Not starting provisioning job {}: {reason}.", job.id);
            // The running cycle is the one to wait for.
            job.last_execution()
                .and_then(|e| e.time_began)
                .map_or(now, |t| t - chrono::Duration::milliseconds(1))
        }
        Decision::Skip { reason } => {
            println!("Not starting provisioning job {}: {reason}. Use --start to force a start.", job.id);
            print!("{}", job_summary(&job));
            return Ok(Exit::Success);
        }
    };
    if !wait {
        println!("Requested; not waiting (--no-wait). Follow it with `scimsync status`.");
        return Ok(Exit::Success);
    }
    let bar = progress_bar();
    let result = wait_for_cycle(client, &job, since, poll, timeout, |current| {
        bar.set_message(progress_text(current));
        bar.tick();
    })
    .await;
    bar.finish_and_clear();
    let finished = match result {
        Ok(job) => job,
        Err(EntraError::WaitTimedOut { waited_secs }) => {
            eprintln!(
                "error: the provisioning cycle did not end within {waited_secs} s; it goes on in Entra ID. \
                 Follow it with `scimsync status`, or wait longer with --timeout."
            );
            return Ok(Exit::TimedOut);
        }
        Err(e) => return Err(entra_err(e)),
    };
    print!("{}", job_summary(&finished));
    print_failed_entries(client, &finished, since).await;
    Ok(outcome(&finished))
}

fn outcome(job: &SyncJob) -> Exit {
    if job.is_quarantined() {
        return Exit::JobFailed;
    }
    match job.last_execution().and_then(|e| e.state) {
        Some(ExecutionState::Succeeded) => Exit::Success,
        Some(ExecutionState::EntryLevelErrors) => Exit::Incomplete,
        Some(ExecutionState::Failed) => Exit::JobFailed,
        _ => Exit::Success,
    }
}

fn progress_bar() -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {elapsed} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

fn progress_text(job: &SyncJob) -> String {
    let state = job.status.code.map_or_else(|| "unknown".to_string(), |c| format!("{c:?}"));
    let units = job
        .status
        .progress
        .iter()
        .filter_map(|p| {
            Some(format!(
                "{}/{} {}",
                p.completed_units?,
                p.total_units?,
                p.units.as_deref().unwrap_or("units")
            ))
        })
        .collect::<Vec<_>>()
        .join(", ");
    let running = if job.is_running() { "cycle running" } else { "waiting for the cycle to start" };
    if units.is_empty() { format!("{state}: {running}") } else { format!("{state}: {running}, {units}") }
}

fn time(t: Option<DateTime<Utc>>) -> String {
    t.map_or_else(|| "—".into(), |t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
}

/// The job for a person: state, schedule, last cycle and its counts, quarantine.
pub fn job_summary(job: &SyncJob) -> String {
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED);
    let mut row = |k: &str, v: String| {
        table.add_row(vec![k.to_string(), v]);
    };
    row("job", job.id.clone());
    row("state", job.status.code.map_or_else(|| "unknown".into(), |c| format!("{c:?}")));
    if let Some(schedule) = &job.schedule {
        let interval = schedule.interval.clone().unwrap_or_else(|| "—".into());
        let state = schedule.state.map_or_else(|| "—".into(), |s| format!("{s:?}"));
        row("schedule", format!("every {interval} ({state})"));
    }
    if let Some(last) = job.last_execution() {
        let state = last.state.map_or_else(|| "running".into(), |s| format!("{s:?}"));
        row("last cycle", format!("{} → {}: {state}", time(last.time_began), time(last.time_ended)));
        let count = |v: Option<u64>| v.map_or_else(|| "—".into(), |v| v.to_string());
        row(
            "counts",
            format!(
                "entitled {}, imported {}, exported {}, escrowed {}",
                count(last.count_entitled),
                count(last.count_imported),
                count(last.count_exported),
                count(last.count_escrowed)
            ),
        );
        if let Some(error) = &last.error {
            row(
                "error",
                format!("{} {}", error.code.as_deref().unwrap_or(""), error.message.as_deref().unwrap_or("")),
            );
        }
    } else {
        row("last cycle", "never ran".into());
    }
    if let Some(ok) = &job.status.last_successful_execution {
        row("last success", time(ok.time_ended));
    }
    if let Some(q) = &job.status.quarantine {
        row(
            "quarantine",
            format!(
                "{} since {}, next attempt {}",
                q.reason.as_deref().unwrap_or("unknown reason"),
                time(q.current_began),
                time(q.next_attempt)
            ),
        );
    }
    if !job.status.synchronized_entry_count_by_type.is_empty() {
        let counts: Vec<String> = job
            .status
            .synchronized_entry_count_by_type
            .iter()
            // Graph's keys read "user to urn:ietf:params:scim:…": the object type is what matters here.
            .map(|kc| format!("{} {}", kc.value.unwrap_or(0), kc.key.split(" to ").next().unwrap_or(&kc.key)))
            .collect();
        row("synchronized", counts.join(", "));
    }
    format!("{table}\n")
}

async fn print_failed_entries(client: &ProvisioningClient, job: &SyncJob, since: DateTime<Utc>) {
    let query = LogQuery {
        job_id: job.id.clone(),
        since: Some(since - chrono::Duration::seconds(5)),
        top: Some(100),
        limit: Some(500),
    };
    match client.provisioning_logs(&query).await {
        Ok(entries) => {
            let failed: Vec<ProvisioningLogEntry> = entries.into_iter().filter(is_failure).collect();
            if !failed.is_empty() {
                println!("Failed objects in this cycle:");
                print!("{}", log_table(&failed));
            }
        }
        Err(e) if matches!(e.graph_status(), Some(401 | 403)) => println!(
            "(The failed objects cannot be listed: reading provisioning logs needs the AuditLog.Read.All \
             application permission.)"
        ),
        Err(e) => eprintln!("warning: cannot read the provisioning logs: {e}"),
    }
}

fn is_failure(entry: &ProvisioningLogEntry) -> bool {
    entry
        .provisioning_status_info
        .as_ref()
        .and_then(|s| s.status.as_deref())
        .is_some_and(|s| s.eq_ignore_ascii_case("failure"))
}

fn log_table(entries: &[ProvisioningLogEntry]) -> String {
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED);
    table.set_header(vec!["time", "action", "status", "source", "target", "reason"]);
    for e in entries {
        let status = e.provisioning_status_info.as_ref();
        let name = |i: &Option<scimsync_entra::jobs::Identity>| {
            i.as_ref().and_then(|i| i.display_name.clone().or(i.id.clone())).unwrap_or_default()
        };
        let reason = status
            .and_then(|s| s.error_information.as_ref())
            .map(|i| {
                format!("{} {}", i.error_code.as_deref().unwrap_or(""), i.reason.as_deref().unwrap_or(""))
            })
            .unwrap_or_default();
        table.add_row(vec![
            time(e.activity_date_time),
            e.provisioning_action.clone().unwrap_or_default(),
            status.and_then(|s| s.status.clone()).unwrap_or_default(),
            name(&e.source_identity),
            name(&e.target_identity),
            reason.trim().to_string(),
        ]);
    }
    format!("{table}\n")
}

#[derive(Deserialize)]
struct IdOnly {
    id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Member {
    id: String,
    #[serde(rename = "@odata.type", default)]
    odata_type: String,
}

async fn user_id(graph: &GraphClient, user: &str) -> Result<String> {
    // /users/{id | userPrincipalName} takes either.
    let url =
        graph.url(&format!("/users/{}", percent_path(user)), &[("$select", "id")]).map_err(entra_err)?;
    let found: IdOnly = graph.get(url).await.map_err(|e| anyhow!("user {user:?}: {e}"))?;
    Ok(found.id)
}

async fn group_id(graph: &GraphClient, group: &str) -> Result<String> {
    if scimsync_entra::app::is_guid(group) {
        return Ok(group.to_string());
    }
    let filter = format!("displayName eq {}", odata_quote(group));
    let url =
        graph.url("/groups", &[("$filter", &filter), ("$select", "id,displayName")]).map_err(entra_err)?;
    let found: Vec<IdOnly> = graph.get_all(url, &Default::default()).await.map_err(entra_err)?;
    match found.as_slice() {
        [one] => Ok(one.id.clone()),
        [] => Err(anyhow!("no group is named {group:?} in Entra ID")),
        many => Err(anyhow!(
            "{} groups are named {group:?}; name one by object id: {}",
            many.len(),
            many.iter().map(|g| g.id.as_str()).collect::<Vec<_>>().join(", ")
        )),
    }
}

fn percent_path(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}

async fn on_demand(
    client: &ProvisioningClient,
    job: &SyncJob,
    users: &[String],
    groups: &[String],
) -> Result<Exit> {
    let graph = client.graph();
    let rule_id = client.rule_id(&job.id).await.map_err(entra_err)?;
    let runner = OnDemandRunner::new(client, job.id.clone(), rule_id);
    let mut failed = 0usize;
    let mut report = |what: &str, result: &scimsync_entra::OnDemandResult| {
        let action = result.detail.action.clone().unwrap_or_default();
        let why = result.error_message.clone().or(result.error_code.clone()).unwrap_or_default();
        // Entra skips an object whose source and target already match: that is the wanted state.
        let already_in_step = result.result.eq_ignore_ascii_case("skipped")
            && (why.contains("already match") || result.error_code.as_deref() == Some("RedundantExport"));
        if result.succeeded() {
            println!("✓ {what}: {} {action}", result.result);
        } else if already_in_step {
            println!("✓ {what}: already in step in AWS ({why})");
        } else {
            failed += 1;
            let words: Vec<&str> = [result.result.as_str(), action.as_str(), why.as_str()]
                .into_iter()
                .filter(|w| !w.is_empty())
                .collect();
            println!("✗ {what}: {}", words.join(" "));
        }
    };
    for user in users {
        let id = user_id(graph, user).await?;
        let result = runner.provision(&scimsync_entra::OnDemandSubject::user(id)).await.map_err(entra_err)?;
        report(&format!("user {user}"), &result);
    }
    for group in groups {
        let id = group_id(graph, group).await?;
        let url = graph
            .url(&format!("/groups/{id}/members"), &[("$select", "id"), ("$top", "999")])
            .map_err(entra_err)?;
        let members: Vec<Member> = graph.get_all(url, &Default::default()).await.map_err(entra_err)?;
        let user_ids: Vec<String> =
            members.into_iter().filter(|m| m.odata_type.ends_with(".user")).map(|m| m.id).collect();
        let calls = user_ids.len().div_ceil(scimsync_entra::trigger::MAX_MEMBERS_PER_CALL).max(1);
        println!(
            "Provisioning group {group} with {} user members in {calls} calls (at most 5 members each)…",
            user_ids.len()
        );
        for result in runner.provision_group(&id, &user_ids).await.map_err(entra_err)? {
            report(&format!("group {group}"), &result);
        }
    }
    Ok(if failed == 0 { Exit::Success } else { Exit::Incomplete })
}

/// `scimsync status`.
pub async fn status(entra: &EntraSettings, job_id: Option<String>) -> Result<Exit> {
    let (_, job) = connect(entra, job_id).await?;
    print!("{}", job_summary(&job));
    Ok(if job.is_quarantined() { Exit::JobFailed } else { Exit::Success })
}

/// `scimsync logs`.
pub async fn logs(entra: &EntraSettings, job_id: Option<String>, args: &LogsArgs) -> Result<Exit> {
    let (client, job) = connect(entra, job_id).await?;
    let since = Utc::now() - chrono::Duration::from_std(args.since).unwrap_or(chrono::Duration::days(1));
    let query = LogQuery { job_id: job.id.clone(), since: Some(since), top: Some(100), limit: None };
    let entries = client.provisioning_logs(&query).await.map_err(|e| {
        if matches!(e.graph_status(), Some(401 | 403)) {
            anyhow!("{e}\nReading provisioning logs needs the AuditLog.Read.All application permission.")
        } else {
            entra_err(e)
        }
    })?;
    let mut entries: Vec<ProvisioningLogEntry> =
        entries.into_iter().filter(|e| !args.failed || is_failure(e)).collect();
    entries.sort_by_key(|e| std::cmp::Reverse(e.activity_date_time));
    entries.truncate(args.top);
    if entries.is_empty() {
        println!(
            "No provisioning log entries{} since {}.",
            if args.failed { " with failures" } else { "" },
            time(Some(since))
        );
    } else {
        print!("{}", log_table(&entries));
    }
    Ok(Exit::Success)
}
