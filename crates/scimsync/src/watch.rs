//! `scimsync sync` through the continuous engine (incremental when the state allows, `--full` to read
//! everything), and `scimsync watch`: poll Graph delta every few seconds, carry each change to AWS, and
//! reconcile in full now and then to repair drift, until SIGINT or SIGTERM.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow};
use scimsync_sync::StateStore;
use scimsync_sync::continuous::{Engine, Mode, RunReport, SyncOptions};
use serde::Deserialize;
use tokio::sync::Notify;

use crate::cli::{WatchArgs, parse_duration};
use crate::direct::{SyncResult, open_state, state_path};
use crate::exit::Exit;
use crate::settings::{AwsSettings, EntraSettings, SyncSettings};

/// The `[watch]` section of the config file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WatchSection {
    /// How often to read Graph delta, e.g. "5s".
    pub interval: Option<String>,
    /// How often to reconcile in full with AWS (drift repair), e.g. "1h".
    pub full_every: Option<String>,
}

fn engine(
    entra: &EntraSettings,
    aws: &AwsSettings,
    sync: &SyncSettings,
    state: StateStore,
) -> Result<Engine> {
    let options = SyncOptions {
        app: entra.app.clone(),
        scope: sync.scope.clone(),
        mapping: sync.mapping.clone(),
        plan: sync.plan.clone(),
        guard: sync.guard,
        allow_removals: sync.allow_removals,
        concurrency: sync.concurrency,
    };
    Ok(Engine::new(entra.graph()?, aws.client()?, state, options))
}

/// State key: when AWS was last read in full and reconciled.
const LAST_FULL: &str = "last_full_reconcile";

/// Remembers a full reconcile with AWS.
pub fn record_full(state: &StateStore, run: &RunReport) -> Result<()> {
    if run.aws_read && run.kind == scimsync_sync::continuous::RunKind::Full {
        state.set_meta(LAST_FULL, &chrono::Utc::now().to_rfc3339()).map_err(|e| anyhow!("{e}"))?;
    }
    Ok(())
}

/// One `sync`: incremental when the state holds a snapshot and delta links, else (or with `full`) a
/// full reconcile.
pub async fn sync_once(
    entra: &EntraSettings,
    aws: &AwsSettings,
    sync: &SyncSettings,
    state: StateStore,
    full: bool,
) -> Result<(SyncResult, RunReport)> {
    // Incremental runs trust the state's view of AWS; a full reconcile now and then catches what was
    // changed in AWS by hand, so `sync` never trusts that view for longer than `full_every`.
    let last_full = state
        .meta(LAST_FULL)
        .map_err(|e| anyhow!("{e}"))?
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(&t).ok());
    let due = last_full.is_none_or(|t| {
        chrono::Utc::now().signed_duration_since(t).to_std().unwrap_or_default() >= sync.full_every
    });
    let mut engine = engine(entra, aws, sync, state)?;
    let run =
        engine.run(if full || due { Mode::Full } else { Mode::Auto }).await.map_err(|e| anyhow!("{e}"))?;
    record_full(engine.state(), &run)?;
    describe(&run);
    let result = SyncResult {
        plan: run.plan.clone(),
        held: run.held.clone(),
        report: run.report.clone(),
        aws_requests: run.aws_requests,
        aws_writes: run.aws_writes,
        graph_calls: run.graph_calls,
        seconds: run.seconds,
        aws_read: run.aws_read,
    };
    Ok((result, run))
}

/// What kind of run it was, in the log.
fn describe(run: &RunReport) {
    let aws = if run.aws_read { "AWS read" } else { "AWS from the state's view, not read" };
    match run.kind {
        // An idle poll every few seconds is not news: debug only.
        scimsync_sync::continuous::RunKind::Incremental if run.changes_read == 0 && run.aws_requests == 0 => {
            tracing::debug!("incremental run: no change from Graph delta; {} Graph calls", run.graph_calls)
        }
        scimsync_sync::continuous::RunKind::Incremental => tracing::info!(
            "incremental run: {} change(s) from Graph delta; {aws}; {} Graph and {} AWS calls",
            run.changes_read,
            run.graph_calls,
            run.aws_requests
        ),
        scimsync_sync::continuous::RunKind::Full => tracing::info!(
            "full run: Entra ID read in full; {aws}; {} Graph and {} AWS calls",
            run.graph_calls,
            run.aws_requests
        ),
    }
    for line in &run.repairs {
        tracing::info!("drift repaired: {line}");
    }
}

/// Sets a flag on the first SIGINT or SIGTERM; a second one exits at once.
fn stop_signal() -> Result<(Arc<AtomicBool>, Arc<Notify>)> {
    let stop = Arc::new(AtomicBool::new(false));
    let notify = Arc::new(Notify::new());
    #[cfg(unix)]
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| anyhow!("cannot listen for SIGTERM: {e}"))?;
    let (flag, wake) = (stop.clone(), notify.clone());
    tokio::spawn(async move {
        loop {
            #[cfg(unix)]
            let signal = tokio::select! {
                _ = tokio::signal::ctrl_c() => "SIGINT",
                _ = term.recv() => "SIGTERM",
            };
            #[cfg(not(unix))]
            let signal = {
                let _ = tokio::signal::ctrl_c().await;
                "SIGINT"
            };
            if flag.swap(true, Ordering::SeqCst) {
                tracing::warn!("{signal} again: stopping now");
                std::process::exit(Exit::Error.code().into());
            }
            tracing::info!("{signal}: finishing the write in flight, then stopping");
            wake.notify_waiters();
            wake.notify_one();
        }
    });
    Ok((stop, notify))
}

fn duration(
    flag: Option<std::time::Duration>,
    file: Option<&str>,
    key: &str,
    default: Duration,
) -> Result<Duration> {
    match (flag, file) {
        (Some(d), _) => Ok(d),
        (None, Some(text)) => parse_duration(text).map_err(|e| anyhow!("[watch] {key}: {e}")),
        (None, None) => Ok(default),
    }
}

/// `scimsync watch`.
pub async fn watch(
    entra: &EntraSettings,
    aws: &AwsSettings,
    sync: &SyncSettings,
    args: &WatchArgs,
    file: &WatchSection,
) -> Result<Exit> {
    let interval = duration(args.interval, file.interval.as_deref(), "interval", Duration::from_secs(5))?;
    let full_every =
        duration(args.full_every, file.full_every.as_deref(), "full_every", Duration::from_secs(3600))?;
    if interval.is_zero() {
        anyhow::bail!("--interval must be more than 0");
    }
    let state = open_state(&state_path(sync, aws)?, entra, aws)?;
    let (stop, wake) = stop_signal()?;
    let mut engine = engine(entra, aws, sync, state)?;
    if sync.allow_removals {
        tracing::warn!("--allow-removals applies to the first run of watch only");
    }
    let mut last_full = engine.has_source_state().map_err(|e| anyhow!("{e}"))?.then(Instant::now);
    tracing::info!(
        "watching Entra ID every {:?}, full reconcile every {:?}; state {}",
        interval,
        full_every,
        engine.state().path()
    );
    let mut backoff = interval;
    let mut first = true;
    while !stop.load(Ordering::SeqCst) {
        let full = last_full.is_none_or(|t| t.elapsed() >= full_every);
        let mode = if full { Mode::Full } else { Mode::Auto };
        // The run is never cut short by a signal: the write in flight finishes and the state is saved.
        let outcome = engine.run(mode).await;
        if first {
            engine.options_mut().allow_removals = false;
            first = false;
        }
        let wait = match outcome {
            Ok(run) => {
                if full || run.kind == scimsync_sync::continuous::RunKind::Full {
                    last_full = Some(Instant::now());
                }
                report(&run);
                backoff = interval;
                interval
            }
            Err(e) => {
                let wait = backoff;
                tracing::warn!("run failed, nothing lost; trying again in {wait:?}: {e}");
                backoff = (backoff * 2).min(Duration::from_secs(300)).max(interval);
                wait
            }
        };
        if stop.load(Ordering::SeqCst) {
            break;
        }
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = wake.notified() => {}
        }
    }
    drop(engine);
    tracing::info!("stopped; the state is saved");
    Ok(Exit::Success)
}

/// One log line per change carried, with how long after it was read it was visible in AWS.
fn report(run: &RunReport) {
    let latency_ms = (run.seconds * 1000.0).round() as u64;
    for outcome in &run.report.outcomes {
        let detail = if outcome.detail.is_empty() { String::new() } else { format!(" ({})", outcome.detail) };
        match &outcome.error {
            None => tracing::info!(
                "carried: {} {}{detail}; in AWS {latency_ms} ms after it was read from Entra ID",
                outcome.action.label(),
                outcome.name
            ),
            Some(error) => {
                tracing::warn!("failed: {} {}{detail}: {error}", outcome.action.label(), outcome.name)
            }
        }
    }
    if let Some(held) = &run.held {
        tracing::warn!("removals held by the guard: {}", held.reason);
    }
    for rejected in &run.plan.rejected {
        tracing::debug!("rejected: {rejected:?}");
    }
    describe(run);
}
