//! Chaos: both emulators inject ~10% 5xx, 429 storms with Retry-After, latency and dropped
//! connections, while the directory changes between runs (seeded adds, removals, renames, disables).
//! 50 consecutive syncs must end with AWS equal to what the source asks for, with no duplicate and
//! no removal the source did not ask for. The figures are printed (docs/safety.md quotes them).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use scimsync_core::{Desired, GuardOptions, Mapping, PlanOptions, ScopeOptions};
use scimsync_emulator::aws::AwsSnapshot;
use scimsync_emulator::directory::{DirAssignment, DirAws, DirGroup, InitialJobState};
use scimsync_emulator::faults::{Chaos, FaultConfig};
use scimsync_emulator::{DirectoryFile, EmulatorConfig, RunningEmulator, start};
use scimsync_entra::{ClientSecretCredential, Cloud, GraphClient, GraphClientConfig, ReadOptions, find_app};
use scimsync_scim::{ScimClient, ScimConfig, SecretString};
use scimsync_sync::continuous::{Engine, Mode, SyncOptions};
use scimsync_sync::{StateIdentity, StateStore};
use serde_json::{Map, Value, json};

const RUNS: usize = 50;
const SEED: u64 = 0x5eed;

fn user_id(n: u32) -> String {
    format!("{n:08x}-0000-4000-8000-00000000c001")
}

fn group_id(n: u32) -> String {
    format!("{n:08x}-0000-4000-8000-00000000c002")
}

fn user(n: u32) -> Map<String, Value> {
    let Value::Object(map) = json!({
        "id": user_id(n),
        "userPrincipalName": format!("user{n:03}@chaos.test"),
        "displayName": format!("Chaos User {n}"),
        "givenName": format!("Given{n}"),
        "surname": format!("Surname{n}"),
        "mail": format!("user{n:03}@chaos.test"),
        "accountEnabled": true,
        "userType": "Member",
    }) else {
        unreachable!()
    };
    map
}

/// 24 users in four groups: three assigned, the fourth nested in the first; one user assigned
/// directly; an unmanaged user in AWS.
fn directory() -> DirectoryFile {
    let mut file = DirectoryFile::sample();
    file.users = (1..=24).map(user).collect();
    file.other_objects.clear();
    file.groups = (1..=4)
        .map(|g| {
            let mut members: Vec<String> = (1..=24).filter(|n| n % 4 == g - 1).map(user_id).collect();
            if g == 1 {
                members.push(group_id(4));
            }
            DirGroup { id: group_id(g), display_name: format!("Chaos-{g}"), members, properties: Map::new() }
        })
        .collect();
    file.app_role_assignments = (1..=3)
        .map(|g| DirAssignment {
            principal_id: group_id(g),
            principal_type: "Group".into(),
            app_role_id: None,
        })
        .chain([DirAssignment {
            principal_id: user_id(24),
            principal_type: "User".into(),
            app_role_id: None,
        }])
        .collect();
    file.job.state = InitialJobState::Paused;
    file.aws = Some(DirAws {
        tenant_id: "chaos-aws".into(),
        token: "chaos-scim-token".into(),
        users: vec![json!({
            "userName": "break-glass@chaos.test", "displayName": "Break Glass",
            "name": {"givenName": "Break", "familyName": "Glass"},
            "emails": [{"value": "break-glass@chaos.test", "type": "work", "primary": true}]
        })],
        groups: Vec::new(),
    });
    file
}

fn graph(emu: &RunningEmulator) -> GraphClient {
    let base = emu.base_url();
    let cloud = Cloud::from_authority(&base, Some(&base)).expect("cloud");
    let credential = ClientSecretCredential::new(
        &cloud,
        &emu.env_value("AZURE_TENANT_ID").expect("tenant"),
        emu.env_value("AZURE_CLIENT_ID").expect("client"),
        SecretString::from(emu.env_value("AZURE_CLIENT_SECRET").expect("secret")),
    )
    .expect("credential");
    let mut config = GraphClientConfig::new(cloud.graph_root.clone());
    config.min_backoff = Duration::from_millis(2);
    config.max_backoff = Duration::from_millis(20);
    config.max_retry_after = Duration::from_millis(20);
    config.max_retries = 6;
    config.requests_per_second = std::num::NonZeroU32::new(10_000).expect("non-zero");
    GraphClient::new(config, Arc::new(credential)).expect("graph client")
}

fn scim(emu: &RunningEmulator) -> ScimClient {
    let mut config = ScimConfig::new(
        emu.env_value("SCIMSYNC_SCIM_URL").expect("url"),
        SecretString::from(emu.env_value("SCIMSYNC_SCIM_TOKEN").expect("token")),
    );
    config.requests_per_second = 10_000;
    config.retry_base_delay = Duration::from_millis(2);
    config.max_retry_delay = Duration::from_millis(20);
    config.max_retry_after = Duration::from_millis(20);
    config.max_retries = 6;
    config.timeout = Duration::from_secs(5);
    ScimClient::new(config).expect("scim client")
}

fn chaos() -> FaultConfig {
    let side = Chaos {
        latency_ms: 1,
        latency_jitter_ms: 3,
        error_rate: 0.10,
        throttle_rate: 0.02,
        storm_length: 4,
        retry_after_secs: 1,
        drop_rate: 0.03,
        ..Chaos::default()
    };
    FaultConfig { seed: SEED, graph: side.clone(), aws: side, ..FaultConfig::default() }
}

/// What the source asks for, read without faults (the fault layer is paused, not reseeded).
async fn desired_now(emu: &RunningEmulator, reader: &GraphClient, sp_id: &str) -> Desired {
    let saved = emu.faults().config();
    emu.faults().update(|c| *c = FaultConfig { seed: c.seed, ..FaultConfig::default() });
    let directory =
        scimsync_entra::read_directory(reader, sp_id, &ReadOptions::default()).await.expect("a clean read");
    emu.faults().update(|c| *c = saved);
    scimsync_core::desired_with(&directory, &ScopeOptions::default(), &Mapping::default())
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or_default()
}

fn active(v: &Value) -> bool {
    v.get("active").and_then(Value::as_bool).unwrap_or(true)
}

/// Duplicates: two users with one userName or externalId, two groups with one name or externalId.
fn duplicates(snapshot: &AwsSnapshot) -> Vec<String> {
    let mut found = Vec::new();
    let mut seen = HashSet::new();
    for u in &snapshot.users {
        if !seen.insert(format!("userName {}", text(u, "userName").to_lowercase())) {
            found.push(format!("userName {}", text(u, "userName")));
        }
        let external = text(u, "externalId");
        if !external.is_empty() && !seen.insert(format!("user externalId {external}")) {
            found.push(format!("user externalId {external}"));
        }
    }
    for g in &snapshot.groups {
        if !seen.insert(format!("group {}", g.display_name.to_lowercase())) {
            found.push(format!("group {}", g.display_name));
        }
        if let Some(e) = &g.external_id
            && !seen.insert(format!("group externalId {e}"))
        {
            found.push(format!("group externalId {e}"));
        }
    }
    found
}

/// Removals between `before` and `after` that `desired` did not ask for: a wanted, enabled user
/// disabled or deleted; a wanted member taken out of a wanted group; a wanted group deleted.
fn unasked_removals(before: &AwsSnapshot, after: &AwsSnapshot, desired: &Desired) -> Vec<String> {
    let wanted_active: HashSet<&str> =
        desired.users.iter().filter(|u| u.values.active).map(|u| u.external_id.as_str()).collect();
    let after_users: HashMap<&str, &Value> = after.users.iter().map(|u| (text(u, "id"), u)).collect();
    let mut found = Vec::new();
    for u in &before.users {
        if !active(u) || !wanted_active.contains(text(u, "externalId")) {
            continue;
        }
        match after_users.get(text(u, "id")) {
            None => found.push(format!("deleted {}", text(u, "userName"))),
            Some(now) if !active(now) => found.push(format!("disabled {}", text(u, "userName"))),
            Some(_) => {}
        }
    }
    let external_of: HashMap<&str, &str> =
        before.users.iter().map(|u| (text(u, "id"), text(u, "externalId"))).collect();
    for group in &before.groups {
        let Some(wanted) =
            desired.groups.iter().find(|g| group.external_id.as_deref() == Some(g.external_id.as_str()))
        else {
            continue;
        };
        let Some(now) = after.groups.iter().find(|g| g.id == group.id) else {
            found.push(format!("deleted group {}", group.display_name));
            continue;
        };
        for member in &group.member_ids {
            let external = external_of.get(member.as_str()).copied().unwrap_or_default();
            if wanted.members.contains(external) && !now.member_ids.contains(member) {
                found.push(format!("removed {external} from {}", group.display_name));
            }
        }
    }
    found
}

/// Differences between AWS and what the source asks for.
fn differences(snapshot: &AwsSnapshot, desired: &Desired) -> Vec<String> {
    let mut found = Vec::new();
    let by_external: HashMap<&str, &Value> = snapshot
        .users
        .iter()
        .filter(|u| !text(u, "externalId").is_empty())
        .map(|u| (text(u, "externalId"), u))
        .collect();
    let wanted: HashSet<&str> = desired.users.iter().map(|u| u.external_id.as_str()).collect();
    for user in &desired.users {
        match by_external.get(user.external_id.as_str()) {
            None => found.push(format!("missing user {}", user.values.user_name)),
            Some(u) => {
                if text(u, "userName") != user.values.user_name || active(u) != user.values.active {
                    found.push(format!(
                        "user {} is {} active={}",
                        user.values.user_name,
                        text(u, "userName"),
                        active(u)
                    ));
                }
            }
        }
    }
    for (external, u) in &by_external {
        if !wanted.contains(external) && active(u) {
            found.push(format!("user {} left scope but is active", text(u, "userName")));
        }
    }
    let id_of: HashMap<&str, &str> = by_external.iter().map(|(e, u)| (*e, text(u, "id"))).collect();
    for group in &desired.groups {
        let Some(g) =
            snapshot.groups.iter().find(|g| g.external_id.as_deref() == Some(group.external_id.as_str()))
        else {
            found.push(format!("missing group {}", group.display_name));
            continue;
        };
        let members: BTreeSet<String> =
            group.members.iter().filter_map(|m| id_of.get(m.as_str()).map(|s| s.to_string())).collect();
        if g.display_name != group.display_name || g.member_ids != members {
            found.push(format!("group {} differs", group.display_name));
        }
    }
    if snapshot.user_by_name("break-glass@chaos.test").is_none_or(|u| !active(u)) {
        found.push("the unmanaged break-glass user was touched".into());
    }
    found
}

/// One to three seeded changes through the Graph emulator's admin hooks.
fn change_directory(
    emu: &RunningEmulator,
    rng: &mut StdRng,
    next_user: &mut u32,
    members: &mut BTreeMap<u32, Vec<u32>>,
) {
    let entra = emu.entra();
    for _ in 0..rng.random_range(1..=3) {
        let all: Vec<u32> =
            members.values().flatten().copied().collect::<BTreeSet<_>>().into_iter().collect();
        match rng.random_range(0..6) {
            // A new user joins a group.
            0 | 1 => {
                let n = *next_user;
                *next_user += 1;
                entra.edit_users(|users| {
                    users.insert(user_id(n), user(n));
                });
                let g = rng.random_range(1..=4);
                members.entry(g).or_default().push(n);
            }
            // A user leaves every group (out of scope: to be disabled).
            2 if !all.is_empty() => {
                let n = all[rng.random_range(0..all.len())];
                for list in members.values_mut() {
                    list.retain(|m| *m != n);
                }
            }
            // A user is renamed (new UPN and mail).
            3 if !all.is_empty() => {
                let n = all[rng.random_range(0..all.len())];
                let suffix: u32 = rng.random_range(0..1000);
                entra.edit_users(|users| {
                    if let Some(u) = users.get_mut(&user_id(n)) {
                        let upn = format!("user{n:03}.r{suffix}@chaos.test");
                        u.insert("userPrincipalName".into(), Value::String(upn.clone()));
                        u.insert("mail".into(), Value::String(upn));
                    }
                });
            }
            // A group is renamed.
            4 => {
                let g = rng.random_range(1..=4);
                entra.rename_group(&group_id(g), &format!("Chaos-{g}-r{}", rng.random_range(0..1000)));
            }
            // A user moves to another group.
            _ if !all.is_empty() => {
                let n = all[rng.random_range(0..all.len())];
                for list in members.values_mut() {
                    list.retain(|m| *m != n);
                }
                members.entry(rng.random_range(1..=4)).or_default().push(n);
            }
            _ => {}
        }
    }
    for (g, list) in members.iter() {
        let mut ids: Vec<String> = list.iter().map(|n| user_id(*n)).collect();
        if *g == 1 {
            ids.push(group_id(4));
        }
        entra.set_group_members(&group_id(*g), ids);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_syncs_under_faults_converge_without_unasked_removals() {
    let started = Instant::now();
    let emu = start(EmulatorConfig::new(directory())).await.expect("emulators start");
    let reader = graph(&emu);
    let sp_id =
        find_app(&reader, &scimsync_entra::AppSelector::parse(&emu.env_value("SCIMSYNC_APP").unwrap()))
            .await
            .expect("the app")
            .id;
    let (graph, scim) = (graph(&emu), scim(&emu));
    let dir = tempfile::tempdir().expect("temp dir");
    let identity = StateIdentity {
        tenant_id: emu.env_value("AZURE_TENANT_ID").unwrap(),
        scim_url: emu.env_value("SCIMSYNC_SCIM_URL").unwrap(),
    };
    let state = StateStore::open(&dir.path().join("state.db"), &identity).expect("state");
    let options = SyncOptions {
        app: emu.env_value("SCIMSYNC_APP").unwrap(),
        scope: ScopeOptions::default(),
        mapping: Mapping::default(),
        plan: PlanOptions::default(),
        guard: GuardOptions::default(),
        allow_removals: false,
        concurrency: 4,
    };
    let mut engine = Engine::new(graph.clone(), scim.clone(), state, options);

    let mut rng = StdRng::seed_from_u64(SEED);
    let mut members: BTreeMap<u32, Vec<u32>> =
        (1..=4).map(|g| (g, (1..=24).filter(|n| n % 4 == g - 1).collect())).collect();
    let mut next_user = 25;
    let (mut failed_runs, mut held_runs, mut failed_changes, mut applied) = (0, 0, 0, 0);
    let mut unasked = Vec::new();
    emu.faults().set(chaos());
    for run in 0..RUNS {
        if run > 0 {
            change_directory(&emu, &mut rng, &mut next_user, &mut members);
        }
        let desired = desired_now(&emu, &reader, &sp_id).await;
        let before = emu.aws().snapshot();
        // Every fifth run reconciles in full; the others are incremental when they can be.
        let mode = if run % 5 == 4 { Mode::Full } else { Mode::Auto };
        match engine.run(mode).await {
            Ok(report) => {
                failed_changes += report.report.failures().count();
                applied += report.report.succeeded();
                held_runs += usize::from(report.held.is_some());
            }
            Err(_) => failed_runs += 1,
        }
        let after = emu.aws().snapshot();
        unasked.extend(
            unasked_removals(&before, &after, &desired).into_iter().map(|r| format!("run {run}: {r}")),
        );
        let dupes = duplicates(&after);
        assert!(dupes.is_empty(), "run {run}: duplicates in AWS: {dupes:?}");
    }
    let injected = emu.faults().stats();

    // The end: no faults, one full reconcile, then nothing left to do.
    emu.faults().clear();
    let desired = desired_now(&emu, &reader, &sp_id).await;
    let before = emu.aws().snapshot();
    let last = engine.run(Mode::Full).await.expect("a fault-free full run");
    assert!(last.report.failures().next().is_none(), "{:?}", last.report);
    unasked.extend(unasked_removals(&before, &emu.aws().snapshot(), &desired));
    let again = engine.run(Mode::Full).await.expect("a second fault-free run");
    assert!(again.plan.is_empty(), "a second fault-free plan is not empty: {:?}", again.plan.summary());
    let snapshot = emu.aws().snapshot();
    let diff = differences(&snapshot, &desired);
    assert!(diff.is_empty(), "AWS differs from scimsync_core::desired: {diff:#?}");
    assert!(duplicates(&snapshot).is_empty());

    let stats = scim.stats();
    println!(
        "chaos: {RUNS} runs ({failed_runs} stopped by a failed read, {held_runs} held by the guard), \
         {applied} changes applied, {failed_changes} changes failed and retried by a later run; \
         faults injected: {} 5xx, {} 429, {} dropped connections, {} delayed calls; \
         retries: {} Graph, {} AWS; AWS users {}, groups {}; removals not asked for: {}; {:.1} s",
        injected.kind("error"),
        injected.kind("throttled"),
        injected.kind("dropped"),
        injected.kind("latency"),
        graph.retries(),
        stats.retried,
        snapshot.users.len(),
        snapshot.groups.len(),
        unasked.len(),
        started.elapsed().as_secs_f64(),
    );
    assert!(unasked.is_empty(), "removals the source did not ask for: {unasked:#?}");
    assert!(injected.kind("error") > 0 && injected.kind("throttled") > 0 && injected.kind("dropped") > 0);
}
