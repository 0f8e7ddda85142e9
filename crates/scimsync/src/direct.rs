//! `plan` and `sync`: read Entra ID and AWS, plan the difference, apply it.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, anyhow};
use scimsync_core::{Held, Plan, hold_mass_removals};
use scimsync_entra::app::{AppSelector, find_app};
use scimsync_entra::directory::{ReadOptions, read_directory_scoped};
use scimsync_scim::ScimClient;
use scimsync_sync::{ApplyReport, StateIdentity, StateStore, apply, read_target};
use serde_json::json;

use crate::cli::Output;
use crate::exit::Exit;
use crate::render;
use crate::settings::{AwsSettings, EntraSettings, SyncSettings, default_state_path};

/// Everything a direct run works from.
pub struct Prepared {
    pub plan: Plan,
    /// Removals the guard took out of the plan.
    pub held: Option<Held>,
    pub scim: ScimClient,
    pub state: StateStore,
    pub graph_calls: u64,
}

/// Where the state lives: `--state`, the config file, or one file per endpoint in the state directory.
pub fn state_path(sync: &SyncSettings, aws: &AwsSettings) -> Result<PathBuf> {
    match &sync.state {
        Some(path) => Ok(path.clone()),
        None => default_state_path(&aws.scim_url),
    }
}

pub fn open_state(path: &std::path::Path, entra: &EntraSettings, aws: &AwsSettings) -> Result<StateStore> {
    let identity = StateIdentity {
        tenant_id: entra.tenant_id.clone(),
        scim_url: aws.scim_url.trim_end_matches('/').to_string(),
    };
    StateStore::open(path, &identity).map_err(|e| anyhow!("{e}"))
}

/// The state for reading only (`plan`): no writer lock, nothing created.
pub fn read_state(path: &std::path::Path, entra: &EntraSettings, aws: &AwsSettings) -> Result<StateStore> {
    let identity = StateIdentity {
        tenant_id: entra.tenant_id.clone(),
        scim_url: aws.scim_url.trim_end_matches('/').to_string(),
    };
    StateStore::open_read_only(path, &identity).map_err(|e| anyhow!("{e}"))
}

/// Reads both sides and plans. Nothing is written to AWS.
pub async fn prepare(
    entra: &EntraSettings,
    aws: &AwsSettings,
    sync: &SyncSettings,
    state: StateStore,
) -> Result<Prepared> {
    let graph = entra.graph()?;
    let scim = aws.client()?;
    let app = find_app(&graph, &AppSelector::parse(&entra.app)).await.map_err(|e| anyhow!("{e}"))?;
    tracing::info!(app = %app.display_name, id = %app.id, "found the enterprise application");
    let read = ReadOptions {
        app_roles: sync.mapping.reads(scimsync_core::mapping::APP_ROLE_ASSIGNMENTS),
        ..ReadOptions::default()
    };
    let directory = read_directory_scoped(&graph, &app.id, &read, &sync.scope)
        .await
        .map_err(|e| anyhow!("{e}"))
        .context("reading Entra ID failed; nothing was changed in AWS")?;
    let desired = scimsync_core::desired_with(&directory, &sync.scope, &sync.mapping);
    let managed = state.managed().map_err(|e| anyhow!("{e}"))?;
    if let Some(why) = scimsync_core::suspicious_source(&directory, &desired, &managed, sync.allow_removals) {
        anyhow::bail!("the read of Entra ID looks wrong; nothing was changed in AWS: {why}");
    }
    let current = read_target(&scim, &desired, &managed, sync.plan.adopt_by_name, sync.concurrency)
        .await
        .map_err(|e| anyhow!("{e}"))
        .context("reading AWS failed; nothing was changed")?;
    let mut plan = scimsync_core::plan(&desired, &current, &managed, &sync.plan);
    let managed_count = managed.users.len() + managed.groups.len();
    let held = hold_mass_removals(&mut plan, managed_count, &sync.guard, sync.allow_removals);
    Ok(Prepared { plan, held, scim, state, graph_calls: graph.calls() })
}

/// `scimsync plan`.
pub async fn plan(
    entra: &EntraSettings,
    aws: &AwsSettings,
    sync: &SyncSettings,
    output: Output,
    detailed_exitcode: bool,
) -> Result<Exit> {
    let state = read_state(&state_path(sync, aws)?, entra, aws)?;
    let prepared = prepare(entra, aws, sync, state).await?;
    match output {
        Output::Human => print!("{}", render::plan(&prepared.plan, prepared.held.as_ref(), true)),
        Output::Json => {
            let body =
                json!({ "summary": prepared.plan.summary(), "plan": prepared.plan, "held": prepared.held });
            println!("{}", serde_json::to_string_pretty(&body)?);
        }
    }
    // Removals held by the guard are changes pending too.
    let pending = !prepared.plan.is_empty() || prepared.held.is_some();
    Ok(if detailed_exitcode && pending { Exit::ChangesPending } else { Exit::Success })
}

/// The outcome of `sync`, for callers that print it themselves (the demo).
pub struct SyncResult {
    pub plan: Plan,
    pub held: Option<Held>,
    pub report: ApplyReport,
    pub aws_requests: u64,
    pub aws_writes: u64,
    pub graph_calls: u64,
    pub seconds: f64,
    /// False when AWS was taken from the state's view of it (an incremental run).
    pub aws_read: bool,
}

impl SyncResult {
    pub fn exit(&self) -> Exit {
        let incomplete = self.report.failures().next().is_some()
            || !self.plan.rejected.is_empty()
            || !self.plan.conflicts.is_empty();
        if self.held.is_some() {
            Exit::RemovalsHeld
        } else if incomplete {
            Exit::Incomplete
        } else {
            Exit::Success
        }
    }
}

pub async fn run_sync(
    entra: &EntraSettings,
    aws: &AwsSettings,
    sync: &SyncSettings,
    state: StateStore,
) -> Result<SyncResult> {
    let started = Instant::now();
    let prepared = prepare(entra, aws, sync, state).await?;
    let run = prepared.state.begin_run("sync").map_err(|e| anyhow!("{e}"))?;
    let report = apply(&prepared.scim, &prepared.plan, &prepared.state, sync.concurrency)
        .await
        .map_err(|e| anyhow!("{e}"))?;
    let stats = prepared.scim.stats();
    let result = SyncResult {
        plan: prepared.plan,
        held: prepared.held,
        report,
        aws_requests: stats.requests(),
        aws_writes: stats.writes(),
        graph_calls: prepared.graph_calls,
        seconds: started.elapsed().as_secs_f64(),
        aws_read: true,
    };
    let failed = result.report.failures().count();
    let summary = json!({
        "plan": result.plan.summary(),
        "applied": result.report.succeeded(),
        "failed": failed,
        "rejected": result.plan.rejected.len(),
        "conflicts": result.plan.conflicts.len(),
        "aws_requests": result.aws_requests,
        "held": result.held,
    });
    let outcome = match (&result.held, failed) {
        (Some(_), _) => "held",
        (None, 0) => "ok",
        (None, _) => "partial",
    };
    prepared.state.finish_run(run, outcome, &summary).map_err(|e| anyhow!("{e}"))?;
    Ok(result)
}

/// `scimsync sync`.
pub async fn sync(
    entra: &EntraSettings,
    aws: &AwsSettings,
    sync: &SyncSettings,
    output: Output,
    full: bool,
) -> Result<Exit> {
    let state = open_state(&state_path(sync, aws)?, entra, aws)?;
    // Incremental from the state when it can be, else (or with --full) a full reconcile.
    let run = crate::watch::sync_once(entra, aws, sync, state, full);
    let (result, run) = tokio::select! {
        done = run => done?,
        // Each applied change is already recorded in the state, so stopping here loses nothing; a
        // write cut off in flight is found again (by its externalId) by the next run.
        _ = crate::emulate::shutdown_signal() => {
            eprintln!(
                "Interrupted. The changes applied so far are recorded in the state; run `scimsync sync` \
                 again to finish."
            );
            return Ok(Exit::Interrupted);
        }
    };
    match output {
        Output::Human => print_sync(&result),
        Output::Json => {
            let body = json!({
                "run": {
                    "kind": run.kind,
                    "fallback": run.fallback,
                    "aws_read": run.aws_read,
                    "changes_read": run.changes_read,
                    "repairs": run.repairs,
                },
                "summary": result.plan.summary(),
                "plan": result.plan,
                "outcomes": result.report.outcomes,
                "held": result.held,
                "aws_requests": result.aws_requests,
                "graph_calls": result.graph_calls,
            });
            println!("{}", serde_json::to_string_pretty(&body)?);
        }
    }
    Ok(result.exit())
}

pub fn print_sync(result: &SyncResult) {
    print!("{}", render::plan(&result.plan, result.held.as_ref(), result.aws_read));
    if !result.aws_read {
        println!(
            "(Incremental: the changes Entra ID reported since the last run, against the state's view of \
             AWS; `scimsync sync --full` reads AWS itself and repairs changes made there.)"
        );
    }
    if !result.plan.is_empty() {
        println!();
        print_outcomes(result);
    }
}

/// What was done, without the plan before it.
pub fn print_outcomes(result: &SyncResult) {
    print!("{}", render::report(&result.report));
    let failed = result.report.failures().count();
    println!(
        "Applied {} changes in {:.2} s ({} AWS requests, {} of them writes; {} Graph requests){}.",
        result.report.succeeded(),
        result.seconds,
        result.aws_requests,
        result.aws_writes,
        result.graph_calls,
        if failed > 0 { format!("; {failed} failed") } else { String::new() }
    );
}
