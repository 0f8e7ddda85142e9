//! Continuous sync against the emulators started in-process on 127.0.0.1:0: incremental runs from
//! Graph delta queries, the AWS view, expired tokens, drift repair, nested changes, crashes mid-apply.

use std::sync::Arc;
use std::time::Duration;

use scimsync_core::{GuardOptions, Mapping, PlanOptions, ScopeOptions, TargetUser};
use scimsync_emulator::{DirectoryFile, EmulatorConfig, RunningEmulator, start};
use scimsync_entra::{ClientSecretCredential, Cloud, GraphClient, GraphClientConfig};
use scimsync_scim::{ScimClient, ScimConfig, SecretString};
use scimsync_sync::continuous::{Engine, Mode, RunKind, SyncOptions};
use scimsync_sync::{StateIdentity, StateStore};
use serde_json::{Value, json};

const ADMIN_ID: &str = "adadadad-0000-4000-8000-0000000000ad";
const ADMIN_SECRET: &str = "emulator-secret-admin";

fn sample_id(n: u32) -> String {
    format!("{n:08x}-5a3e-4c1d-9b2a-0000000000{:02x}", n % 256)
}

async fn emulator() -> RunningEmulator {
    let mut directory = DirectoryFile::sample();
    let mut admin = directory.clients[0].clone();
    admin.client_id = ADMIN_ID.into();
    admin.secret = ADMIN_SECRET.into();
    admin.roles.extend(["User.ReadWrite.All", "Group.ReadWrite.All"].map(String::from));
    directory.clients.push(admin);
    start(EmulatorConfig::new(directory)).await.expect("emulator starts")
}

fn graph_as(emu: &RunningEmulator, client_id: &str, secret: &str) -> GraphClient {
    let base = emu.base_url();
    let cloud = Cloud::from_authority(&base, Some(&base)).expect("cloud");
    let tenant = emu.env_value("AZURE_TENANT_ID").expect("tenant");
    let credential = ClientSecretCredential::new(
        &cloud,
        &tenant,
        client_id.to_owned(),
        SecretString::from(secret.to_owned()),
    )
    .expect("credential");
    let mut config = GraphClientConfig::new(cloud.graph_root.clone());
    config.min_backoff = Duration::from_millis(10);
    config.max_backoff = Duration::from_millis(50);
    config.requests_per_second = std::num::NonZeroU32::new(10_000).expect("non-zero");
    GraphClient::new(config, Arc::new(credential)).expect("graph client")
}

fn scim(emu: &RunningEmulator) -> ScimClient {
    let mut config = ScimConfig::new(
        emu.env_value("SCIMSYNC_SCIM_URL").expect("url"),
        SecretString::from(emu.env_value("SCIMSYNC_SCIM_TOKEN").expect("token")),
    );
    config.requests_per_second = 10_000;
    config.retry_base_delay = Duration::from_millis(1);
    config.max_retry_delay = Duration::from_millis(5);
    ScimClient::new(config).expect("scim client")
}

fn identity(emu: &RunningEmulator) -> StateIdentity {
    StateIdentity {
        tenant_id: emu.env_value("AZURE_TENANT_ID").expect("tenant"),
        scim_url: emu.env_value("SCIMSYNC_SCIM_URL").expect("url"),
    }
}

fn options(emu: &RunningEmulator) -> SyncOptions {
    SyncOptions {
        app: emu.env_value("SCIMSYNC_APP").expect("app"),
        scope: ScopeOptions::default(),
        mapping: Mapping::default(),
        plan: PlanOptions::default(),
        guard: GuardOptions::default(),
        allow_removals: false,
        concurrency: 4,
    }
}

fn engine(emu: &RunningEmulator, path: &std::path::Path) -> Engine {
    let graph = graph_as(
        emu,
        &emu.env_value("AZURE_CLIENT_ID").unwrap(),
        &emu.env_value("AZURE_CLIENT_SECRET").unwrap(),
    );
    let state = StateStore::open(path, &identity(emu)).expect("state");
    Engine::new(graph, scim(emu), state, options(emu))
}

/// A write through Graph, as an administrator would make it.
async fn graph_write(emu: &RunningEmulator, method: reqwest::Method, path: &str, body: Option<Value>) {
    let admin = graph_as(emu, ADMIN_ID, ADMIN_SECRET);
    let url = admin.url(path, &[]).expect("url");
    admin.send(method, url, body.as_ref(), &Default::default()).await.expect("graph write");
}

fn aws_user<'a>(snapshot: &'a scimsync_emulator::aws::AwsSnapshot, user_name: &str) -> Option<&'a Value> {
    snapshot.user_by_name(user_name)
}

fn members_of(emu: &RunningEmulator, group: &str) -> Vec<String> {
    let snapshot = emu.aws().snapshot();
    let group = snapshot.group_by_name(group).expect("group in AWS");
    let mut names: Vec<String> = group
        .member_ids
        .iter()
        .filter_map(|id| snapshot.users.iter().find(|u| u["id"] == id.as_str()))
        .filter_map(|u| u["userName"].as_str().map(str::to_owned))
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn an_incremental_run_with_nothing_to_change_makes_no_aws_call() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let mut engine = engine(&emu, &dir.path().join("state.db"));
    let first = engine.run(Mode::Auto).await.expect("first run");
    assert_eq!(first.kind, RunKind::Full, "no state yet: a full read");
    assert!(first.report.succeeded() > 5);

    let graph_before = emu.entra().graph_requests();
    let aws_before = emu.aws().request_count();
    let second = engine.run(Mode::Auto).await.expect("second run");
    assert_eq!(second.kind, RunKind::Incremental);
    assert!(second.plan.is_empty(), "{:#?}", second.plan);
    assert!(!second.aws_read);
    // One delta call per object type and the assignments read; nothing at all to AWS.
    assert_eq!(emu.entra().graph_requests() - graph_before, 3);
    assert_eq!(second.graph_calls, 3);
    assert_eq!(emu.aws().request_count().total() - aws_before.total(), 0);
    assert_eq!(second.aws_requests, 0);

    // A new process on the same state is incremental from its first run.
    drop(engine);
    let mut engine = self::engine(&emu, &dir.path().join("state.db"));
    let aws_before = emu.aws().request_count();
    let third = engine.run(Mode::Auto).await.expect("third run");
    assert_eq!(third.kind, RunKind::Incremental);
    assert!(third.plan.is_empty());
    assert_eq!(emu.aws().request_count().total() - aws_before.total(), 0);
}

#[tokio::test]
async fn a_change_made_through_graph_is_carried_by_the_next_run() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let mut engine = engine(&emu, &dir.path().join("state.db"));
    engine.run(Mode::Auto).await.expect("first run");

    graph_write(
        &emu,
        reqwest::Method::PATCH,
        &format!("/users/{}", sample_id(5)),
        Some(json!({"jobTitle": "Staff Engineer"})),
    )
    .await;
    let aws_before = emu.aws().request_count();
    let run = engine.run(Mode::Auto).await.expect("incremental");
    assert_eq!(run.kind, RunKind::Incremental);
    assert_eq!(run.changes_read, 1);
    assert_eq!(run.report.succeeded(), 1, "{:#?}", run.report);
    let aws_calls = emu.aws().request_count().total() - aws_before.total();
    assert_eq!(aws_calls, 1, "one PATCH for a one-user change");
    let snapshot = emu.aws().snapshot();
    let sofia = aws_user(&snapshot, "sofia.rossi@northwind.example").expect("in AWS");
    assert_eq!(sofia["title"], "Staff Engineer");

    // A new user in an assigned group: a create and a member add.
    graph_write(
        &emu,
        reqwest::Method::POST,
        "/users",
        Some(json!({"userPrincipalName": "new.hire@northwind.example", "displayName": "New Hire",
            "givenName": "New", "surname": "Hire", "mail": "new.hire@northwind.example", "accountEnabled": true})),
    )
    .await;
    let new_id = {
        let mut found = None;
        emu.entra().edit_users(|users| {
            found = users
                .iter()
                .find(|(_, u)| u["userPrincipalName"] == "new.hire@northwind.example")
                .map(|(id, _)| id.clone());
        });
        found.expect("created")
    };
    graph_write(
        &emu,
        reqwest::Method::POST,
        &format!("/groups/{}/members/$ref", sample_id(52)),
        Some(json!({"@odata.id": format!("{}/v1.0/directoryObjects/{new_id}", emu.base_url())})),
    )
    .await;
    let aws_before = emu.aws().request_count();
    let run = engine.run(Mode::Auto).await.expect("incremental");
    assert_eq!(run.kind, RunKind::Incremental);
    assert!(emu.aws().request_count().total() - aws_before.total() <= 3);
    assert!(members_of(&emu, "Developers").contains(&"new.hire@northwind.example".to_string()));

    // Deleted in Entra: disabled in AWS.
    graph_write(&emu, reqwest::Method::DELETE, &format!("/users/{new_id}"), None).await;
    let run = engine.run(Mode::Auto).await.expect("incremental");
    assert_eq!(run.plan.summary().disable, 1, "{:#?}", run.plan);
    let snapshot = emu.aws().snapshot();
    assert_eq!(aws_user(&snapshot, "new.hire@northwind.example").unwrap()["active"], false);
    let run = engine.run(Mode::Auto).await.expect("quiet");
    assert!(run.plan.is_empty());
}

#[tokio::test]
async fn an_expired_delta_token_falls_back_to_a_full_read() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let mut engine = engine(&emu, &dir.path().join("state.db"));
    engine.run(Mode::Auto).await.expect("first run");
    emu.entra().expire_delta_tokens();
    emu.entra().edit_users(|users| {
        users.get_mut(&sample_id(6)).unwrap().insert("jobTitle".into(), json!("Architect"));
    });
    let run = engine.run(Mode::Auto).await.expect("falls back by itself");
    assert_eq!(run.kind, RunKind::Full);
    assert!(run.fallback.as_deref().unwrap_or_default().contains("expired"), "{:?}", run.fallback);
    assert!(!run.aws_read, "the AWS view is still good");
    assert_eq!(run.report.succeeded(), 1);
    let snapshot = emu.aws().snapshot();
    assert_eq!(aws_user(&snapshot, "kenji.watanabe@northwind.example").unwrap()["title"], "Architect");
    let run = engine.run(Mode::Auto).await.expect("incremental again");
    assert_eq!(run.kind, RunKind::Incremental);
    assert!(run.plan.is_empty());
}

#[tokio::test]
async fn a_full_reconcile_repairs_drift_and_says_so() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let mut engine = engine(&emu, &dir.path().join("state.db"));
    engine.run(Mode::Auto).await.expect("first run");

    // By hand in AWS: a user deleted, a user edited, a member removed.
    let hand = scim(&emu);
    let snapshot = emu.aws().snapshot();
    let id_of = |name: &str| aws_user(&snapshot, name).unwrap()["id"].as_str().unwrap().to_owned();
    hand.delete_user(&id_of("amara.okafor@northwind.example")).await.unwrap();
    let lucas: TargetUser = hand.get_user(&id_of("lucas.martin@northwind.example")).await.unwrap().unwrap();
    let change = scimsync_core::AttrChange {
        attr: scimsync_core::UserAttr::Title,
        old: None,
        new: Some(scimsync_core::AttrValue::Text("Edited by hand".into())),
    };
    hand.update_user(&lucas.id, &[change]).await.unwrap();
    let admins = snapshot.group_by_name("AWS-Admins").unwrap().id.clone();
    hand.patch_group_members(&admins, &[], &[id_of("maya.patel@northwind.example")]).await.unwrap();

    // The view does not know: an incremental run has nothing to do.
    let run = engine.run(Mode::Auto).await.expect("incremental");
    assert!(run.plan.is_empty());

    let run = engine.run(Mode::Full).await.expect("full");
    assert_eq!(run.kind, RunKind::Full);
    assert!(run.aws_read);
    assert_eq!(run.report.failures().count(), 0, "{:#?}", run.report);
    let repairs = run.repairs.join("\n");
    assert!(repairs.contains("create user amara.okafor@northwind.example"), "{repairs}");
    assert!(repairs.contains("update user lucas.martin@northwind.example: title"), "{repairs}");
    assert!(repairs.contains("add maya.patel@northwind.example to group AWS-Admins"), "{repairs}");
    assert!(run.plan.user_removals.is_empty(), "a repair never removes");
    let snapshot = emu.aws().snapshot();
    assert!(aws_user(&snapshot, "amara.okafor@northwind.example").is_some());
    assert_eq!(
        aws_user(&snapshot, "lucas.martin@northwind.example").unwrap()["title"],
        "Engineering Manager"
    );
    assert!(members_of(&emu, "AWS-Admins").contains(&"maya.patel@northwind.example".to_string()));
    assert!(members_of(&emu, "Developers").contains(&"amara.okafor@northwind.example".to_string()));

    let aws_before = emu.aws().request_count();
    let run = engine.run(Mode::Auto).await.expect("quiet");
    assert!(run.plan.is_empty(), "{:#?}", run.plan);
    assert_eq!(emu.aws().request_count().total() - aws_before.total(), 0);
}

#[tokio::test]
async fn nested_changes_reach_every_assigned_group_above() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let mut engine = engine(&emu, &dir.path().join("state.db"));
    engine.run(Mode::Auto).await.expect("first run");
    assert!(members_of(&emu, "AWS-Admins").contains(&"maya.patel@northwind.example".to_string()));

    // Diego (out of scope) joins Platform-Team, which is nested in the assigned AWS-Admins.
    graph_write(
        &emu,
        reqwest::Method::POST,
        &format!("/groups/{}/members/$ref", sample_id(51)),
        Some(json!({"@odata.id": format!("{}/v1.0/directoryObjects/{}", emu.base_url(), sample_id(15))})),
    )
    .await;
    let run = engine.run(Mode::Auto).await.expect("incremental");
    assert_eq!(run.kind, RunKind::Incremental);
    assert_eq!(run.plan.user_creates.len(), 1, "{:#?}", run.plan);
    assert!(members_of(&emu, "AWS-Admins").contains(&"diego.alvarez@northwind.example".to_string()));

    // Platform-Team leaves AWS-Admins: its members, who came only through it, leave too; Omar stays.
    graph_write(
        &emu,
        reqwest::Method::DELETE,
        &format!("/groups/{}/members/{}/$ref", sample_id(50), sample_id(51)),
        None,
    )
    .await;
    let run = engine.run(Mode::Auto).await.expect("incremental");
    assert_eq!(run.kind, RunKind::Incremental);
    // Four of the managed users would leave scope at once: the removal guard holds that back.
    let held = run.held.expect("held by the guard");
    assert_eq!(held.user_removals, 4, "{held:?}");
    assert_eq!(members_of(&emu, "AWS-Admins").len(), 5);
    engine.options_mut().allow_removals = true;
    let run = engine.run(Mode::Auto).await.expect("incremental, removals allowed");
    assert_eq!(run.kind, RunKind::Incremental);
    assert_eq!(run.plan.user_removals.len(), 4, "{:#?}", run.plan);
    assert_eq!(members_of(&emu, "AWS-Admins"), vec!["omar.haddad@northwind.example".to_string()]);
    let full = engine.run(Mode::Full).await.expect("full");
    assert!(full.plan.is_empty() || full.plan.member_changes.is_empty(), "{:#?}", full.plan);
}

/// Kills a run at random points (the future is dropped mid-apply, as a crash would), then a new
/// process on the same state converges, and a full reconcile after it finds nothing to do.
#[tokio::test]
async fn a_crash_at_any_point_of_apply_converges_on_rerun() {
    let emu = emulator().await;
    emu.set_latency(Duration::from_millis(3));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    engine(&emu, &path).run(Mode::Auto).await.expect("first run");
    for round in 0..6u32 {
        // Several changes at once: a new user in a group, a rename, a title, a membership.
        let upn = format!("crash{round}@northwind.example");
        graph_write(
            &emu,
            reqwest::Method::POST,
            "/users",
            Some(json!({"userPrincipalName": upn, "displayName": format!("Crash {round}"), "givenName": "Crash",
                "surname": format!("Test{round}"), "accountEnabled": true})),
        )
        .await;
        let mut new_id = None;
        emu.entra().edit_users(|users| {
            new_id =
                users.iter().find(|(_, u)| u["userPrincipalName"] == upn.as_str()).map(|(id, _)| id.clone());
            users.get_mut(&sample_id(7)).unwrap().insert("jobTitle".into(), json!(format!("Title {round}")));
        });
        let mut members: Vec<String> = (5..=12).map(sample_id).collect();
        members.push(new_id.unwrap());
        emu.entra().set_group_members(&sample_id(52), members);
        graph_write(
            &emu,
            reqwest::Method::PATCH,
            &format!("/groups/{}", sample_id(53)),
            Some(json!({"displayName": format!("Auditors-{round}")})),
        )
        .await;

        let cut = Duration::from_millis(rand::random_range(0..40));
        {
            let mut crashing = engine(&emu, &path);
            let _ = tokio::time::timeout(cut, crashing.run(Mode::Auto)).await;
        } // the process is gone, state lock released
        let mut engine = engine(&emu, &path);
        let run = engine.run(Mode::Auto).await.expect("rerun");
        assert_eq!(run.report.failures().count(), 0, "round {round}, cut {cut:?}: {:#?}", run.report);
        let full = engine.run(Mode::Full).await.expect("full");
        assert!(full.plan.is_empty(), "round {round}, cut {cut:?}: not converged: {:#?}", full.plan);
        assert!(members_of(&emu, "Developers").contains(&upn));
        assert!(emu.aws().snapshot().group_by_name(&format!("Auditors-{round}")).is_some());
    }
}
