//! Continuous sync: incremental runs from Graph delta queries, planned against the AWS view kept in the
//! state, and full reconciles that read both sides and repair drift.
//!
//! An incremental run reads the assignments (no delta exists for them: one call), one delta round of
//! users and one of groups, updates the source snapshot, rebuilds what AWS should hold (nested groups
//! flattened by the core), plans against the AWS view, holds mass removals, applies, and stores the
//! delta links, the snapshot and the new view in one transaction. With nothing to change it makes no
//! AWS call. An expired delta token falls back to a full read of the source by itself, and says so.
//! A full reconcile also reads AWS, and reports what it repaired: the writes the view did not expect.

use std::time::Instant;

use scimsync_core::{
    Current, GuardOptions, Held, Mapping, Plan, PlanOptions, ScopeOptions, hold_mass_removals,
};
use scimsync_entra::delta::{DeltaError, DeltaResource, DeltaRound, read_delta};
use scimsync_entra::directory::read_assignments_with_roles;
use scimsync_entra::{AppSelector, EntraError, GraphClient, find_app};
use scimsync_scim::{ScimClient, ScimError};
use serde::Serialize;

use crate::apply::{ApplyError, ApplyReport, apply, read_target};
use crate::snapshot::{SourceSnapshot, Touched};
use crate::state::{StateCommit, StateError, StateStore, ViewWrite};
use crate::view::{after_apply, change_lines};

/// How runs behave (the same settings as a direct sync).
#[derive(Debug, Clone)]
pub struct SyncOptions {
    /// The enterprise application: display name, appId or object id.
    pub app: String,
    pub scope: ScopeOptions,
    pub mapping: Mapping,
    pub plan: PlanOptions,
    pub guard: GuardOptions,
    /// Lift the removal guard (for one run of `sync`; never set by `watch`).
    pub allow_removals: bool,
    pub concurrency: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Incremental when the state holds a snapshot and delta links; a full read otherwise.
    Auto,
    /// Read both sides in full and repair drift.
    Full,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunKind {
    /// Source from delta, AWS from the view (or read, when the view was not trusted).
    Incremental,
    /// Source read in full (first run, `--full`, or an expired delta token); AWS as `aws_read` says.
    Full,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("reading Entra ID failed; nothing was changed in AWS: {0}")]
    Source(#[from] EntraError),
    #[error("reading AWS failed; nothing was changed: {0}")]
    Target(#[from] ScimError),
    #[error("the read of Entra ID looks wrong; nothing was changed in AWS: {0}")]
    SuspiciousRead(String),
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Apply(#[from] ApplyError),
}

impl From<DeltaError> for RunError {
    fn from(e: DeltaError) -> Self {
        match e {
            DeltaError::Graph(e) => RunError::Source(e),
            expired @ DeltaError::Expired(..) => {
                RunError::Source(EntraError::Config(format!("unexpected: {expired}")))
            }
        }
    }
}

/// What one run did.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub kind: RunKind,
    /// Why a full read happened when an incremental one was asked for.
    pub fallback: Option<String>,
    /// Whether AWS was read (else the view was used).
    pub aws_read: bool,
    /// Changes the delta rounds carried (0 for a full read).
    pub changes_read: usize,
    pub plan: Plan,
    pub held: Option<Held>,
    pub report: ApplyReport,
    /// Writes a full reconcile made that the AWS view did not expect: drift, repaired.
    pub repairs: Vec<String>,
    pub graph_calls: u64,
    pub aws_requests: u64,
    pub aws_writes: u64,
    pub seconds: f64,
}

/// Runs syncs against one state; keeps the snapshot in memory between runs (`watch`).
pub struct Engine {
    graph: GraphClient,
    scim: ScimClient,
    state: StateStore,
    options: SyncOptions,
    snapshot: Option<SourceSnapshot>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").field("state", &self.state).finish_non_exhaustive()
    }
}

impl Engine {
    pub fn new(graph: GraphClient, scim: ScimClient, state: StateStore, options: SyncOptions) -> Self {
        Engine { graph, scim, state, options, snapshot: None }
    }

    pub fn state(&self) -> &StateStore {
        &self.state
    }

    pub fn options_mut(&mut self) -> &mut SyncOptions {
        &mut self.options
    }

    pub fn into_state(self) -> StateStore {
        self.state
    }

    /// Whether the next [`Mode::Auto`] run can be incremental.
    pub fn has_source_state(&mut self) -> Result<bool, StateError> {
        Ok(self.load_snapshot()?
            && self.state.delta_link(DeltaResource::Users)?.is_some()
            && self.state.delta_link(DeltaResource::Groups)?.is_some())
    }

    fn load_snapshot(&mut self) -> Result<bool, StateError> {
        if self.snapshot.is_none() {
            self.snapshot = self.state.load_snapshot()?;
        }
        Ok(self.snapshot.is_some())
    }

    async fn app_id(&self, fresh: bool) -> Result<String, RunError> {
        if !fresh && let Some(id) = self.state.app_object_id(&self.options.app)? {
            return Ok(id);
        }
        let app = find_app(&self.graph, &AppSelector::parse(&self.options.app)).await?;
        self.state.set_app_object_id(&self.options.app, &app.id)?;
        Ok(app.id)
    }

    async fn filtered_groups(&self) -> Result<Vec<String>, EntraError> {
        let Some(filter) = self.options.scope.groups.filter.as_deref() else { return Ok(Vec::new()) };
        #[derive(serde::Deserialize)]
        struct Id {
            id: String,
        }
        let url = self.graph.url("/groups", &[("$filter", filter), ("$select", "id"), ("$top", "999")])?;
        let ids: Vec<Id> = self.graph.get_all(url, &Default::default()).await?;
        Ok(ids.into_iter().map(|i| i.id).collect())
    }

    /// One run. Nothing is written to AWS unless both sides were read completely (the view counts as
    /// a read of AWS); a failed read is an error before any plan exists.
    pub async fn run(&mut self, mode: Mode) -> Result<RunReport, RunError> {
        let started = Instant::now();
        let graph_before = self.graph.calls();
        let aws_before = self.scim.stats();
        let full = mode == Mode::Full;

        let incremental = !full && self.has_source_state()?;
        let sp_id = self.app_id(full).await?;
        let roles = self.options.mapping.reads(scimsync_core::mapping::APP_ROLE_ASSIGNMENTS);
        let (assignments, app_roles) = read_assignments_with_roles(&self.graph, &sp_id, roles).await?;

        // ---- the source ----
        let mut fallback = None;
        let mut rounds: Vec<DeltaRound> = Vec::new();
        if incremental {
            for resource in [DeltaResource::Users, DeltaResource::Groups] {
                let link = self.state.delta_link(resource)?;
                match read_delta(&self.graph, resource, link.as_ref()).await {
                    Ok(round) => rounds.push(round),
                    Err(DeltaError::Expired(what, status)) => {
                        let why = format!(
                            "the {what} delta token is expired or unknown (Graph answered {status}); \
                             read Entra ID in full instead"
                        );
                        tracing::warn!("{why}");
                        fallback = Some(why);
                        rounds.clear();
                        break;
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        }
        let kind = if incremental && fallback.is_none() { RunKind::Incremental } else { RunKind::Full };
        if kind == RunKind::Full {
            for resource in [DeltaResource::Users, DeltaResource::Groups] {
                rounds.push(read_delta(&self.graph, resource, None).await?);
            }
        }
        let mut snapshot = match kind {
            RunKind::Incremental => self.snapshot.clone().unwrap_or_default(),
            RunKind::Full => SourceSnapshot::default(),
        };
        let mut touched = Touched::default();
        let mut links = Vec::new();
        let mut changes_read = 0;
        for round in rounds {
            links.push((round.resource, round.link.clone()));
            let count = snapshot.apply(round, &mut touched);
            if kind == RunKind::Incremental {
                changes_read += count;
            }
        }
        let filtered = self.filtered_groups().await?;
        let mut directory = snapshot.directory(assignments, filtered)?;
        directory.app_roles = app_roles;
        let desired = scimsync_core::desired_with(&directory, &self.options.scope, &self.options.mapping);

        // ---- AWS ----
        let managed = self.state.managed()?;
        if let Some(why) =
            scimsync_core::suspicious_source(&directory, &desired, &managed, self.options.allow_removals)
        {
            return Err(RunError::SuspiciousRead(why));
        }
        let view = self.state.load_view()?;
        let use_view = !full && view.is_some();
        let current: Current = match (&view, use_view) {
            (Some(view), true) => view.clone(),
            _ => {
                read_target(
                    &self.scim,
                    &desired,
                    &managed,
                    self.options.plan.adopt_by_name,
                    self.options.concurrency,
                )
                .await?
            }
        };
        let mut plan = scimsync_core::plan(&desired, &current, &managed, &self.options.plan);
        let managed_count = managed.users.len() + managed.groups.len();
        let held =
            hold_mass_removals(&mut plan, managed_count, &self.options.guard, self.options.allow_removals);

        // What a full reconcile writes that the view did not expect is drift.
        let repairs: Vec<String> = match (&view, use_view) {
            (Some(view), false) => {
                let mut expected = scimsync_core::plan(&desired, view, &managed, &self.options.plan);
                hold_mass_removals(
                    &mut expected,
                    managed_count,
                    &self.options.guard,
                    self.options.allow_removals,
                );
                let expected = change_lines(&expected);
                change_lines(&plan).into_iter().filter(|l| !expected.contains(l)).collect()
            }
            _ => Vec::new(),
        };

        let links_ref: Vec<(DeltaResource, &scimsync_entra::delta::DeltaLink)> =
            links.iter().map(|(r, l)| (*r, l)).collect();
        let mut report = ApplyReport::default();
        if plan.is_empty() && plan.adoptions.is_empty() {
            let view_write =
                if use_view { ViewWrite::Keep } else { ViewWrite::Save { old: None, new: &current } };
            self.state.commit(&StateCommit {
                links: links_ref,
                snapshot: Some((&snapshot, &touched)),
                view: view_write,
            })?;
        } else {
            // Until every write is known to have succeeded, the view is not trusted.
            self.state.invalidate_view()?;
            let run = self.state.begin_run(match kind {
                RunKind::Incremental => "sync (incremental)",
                RunKind::Full => "sync (full)",
            })?;
            report = apply(&self.scim, &plan, &self.state, self.options.concurrency).await?;
            let after = if report.failures().next().is_none() {
                after_apply(&current, &plan, &self.state.managed()?)
            } else {
                None
            };
            let view_write = match &after {
                Some(new) if use_view => ViewWrite::Save { old: Some(&current), new },
                Some(new) => ViewWrite::Save { old: None, new },
                None => ViewWrite::Invalidate,
            };
            self.state.commit(&StateCommit {
                links: links_ref,
                snapshot: Some((&snapshot, &touched)),
                view: view_write,
            })?;
            let failed = report.failures().count();
            let outcome = match (&held, failed) {
                (Some(_), _) => "held",
                (None, 0) => "ok",
                (None, _) => "partial",
            };
            let summary = serde_json::json!({
                "kind": kind,
                "plan": plan.summary(),
                "applied": report.succeeded(),
                "failed": failed,
                "repairs": repairs.len(),
                "fallback": fallback,
            });
            self.state.finish_run(run, outcome, &summary)?;
        }
        self.snapshot = Some(snapshot);

        let aws_after = self.scim.stats();
        Ok(RunReport {
            kind,
            fallback,
            aws_read: !use_view,
            changes_read,
            plan,
            held,
            report,
            repairs,
            graph_calls: self.graph.calls() - graph_before,
            aws_requests: aws_after.requests() - aws_before.requests(),
            aws_writes: aws_after.writes() - aws_before.writes(),
            seconds: started.elapsed().as_secs_f64(),
        })
    }
}
