//! The Entra client against the in-process emulator (no network beyond 127.0.0.1).

use std::sync::Arc;
use std::time::Duration;

use scimsync_core::{MemberKind, PrincipalType};
use scimsync_emulator::directory::{DirAssignment, DirGroup, InitialJobState};
use scimsync_emulator::{DirectoryFile, EmulatorConfig, JobTiming, RunningEmulator, start};
use scimsync_entra::app::{AppSelector, find_app};
use scimsync_entra::directory::{ReadOptions, read_directory, read_users};
use scimsync_entra::jobs::{ExecutionState, LogQuery};
use scimsync_entra::trigger::{Decision, OnDemandRunner, TriggerOptions, decide, wait_for_cycle};
use scimsync_entra::{
    ClientSecretCredential, Cloud, EntraError, GraphClient, GraphClientConfig, ProvisioningClient,
    TokenProvider,
};
use secrecy::SecretString;

const READONLY_CLIENT: (&str, &str) = ("c1c1c1c1-0000-4000-8000-0000000000c2", "emulator-secret-readonly");
const OWNER_CLIENT: (&str, &str) = ("c1c1c1c1-0000-4000-8000-0000000000c3", "emulator-secret-owner");

fn fast_timing() -> JobTiming {
    JobTiming { interval: None, cycle_duration: Duration::from_millis(300), tick: Duration::from_millis(50) }
}

async fn emulator_with(directory: DirectoryFile) -> RunningEmulator {
    start(EmulatorConfig { job_timing: fast_timing(), ..EmulatorConfig::new(directory) })
        .await
        .expect("emulator starts")
}

async fn emulator() -> RunningEmulator {
    emulator_with(DirectoryFile::sample()).await
}

fn cloud(emu: &RunningEmulator) -> Cloud {
    let base = emu.base_url();
    Cloud::from_authority(&base, Some(&base)).unwrap()
}

fn credential(
    emu: &RunningEmulator,
    tenant: &str,
    client_id: &str,
    secret: &str,
) -> Arc<ClientSecretCredential> {
    Arc::new(
        ClientSecretCredential::new(&cloud(emu), tenant, client_id, SecretString::from(secret.to_owned()))
            .unwrap(),
    )
}

fn graph_as(emu: &RunningEmulator, client_id: &str, secret: &str) -> GraphClient {
    let tenant = emu.env_value("AZURE_TENANT_ID").unwrap();
    let mut config = GraphClientConfig::new(cloud(emu).graph_root);
    config.min_backoff = Duration::from_millis(20);
    config.max_backoff = Duration::from_millis(200);
    GraphClient::new(config, credential(emu, &tenant, client_id, secret)).unwrap()
}

fn graph(emu: &RunningEmulator) -> GraphClient {
    graph_as(emu, &emu.env_value("AZURE_CLIENT_ID").unwrap(), &emu.env_value("AZURE_CLIENT_SECRET").unwrap())
}

async fn app_id(graph: &GraphClient) -> String {
    find_app(graph, &AppSelector::DisplayName("AWS IAM Identity Center".into())).await.unwrap().id
}

#[tokio::test]
async fn sign_in_succeeds_and_token_is_cached() {
    let emu = emulator().await;
    let env = |k: &str| emu.env_value(k).unwrap();
    let cred =
        credential(&emu, &env("AZURE_TENANT_ID"), &env("AZURE_CLIENT_ID"), &env("AZURE_CLIENT_SECRET"));
    let first = cred.token().await.unwrap();
    let second = cred.token().await.unwrap();
    use secrecy::ExposeSecret;
    assert_eq!(first.expose_secret(), second.expose_secret(), "the second call is served from the cache");
    // The tenant's domain works in place of its id.
    let by_domain =
        credential(&emu, "northwind.onmicrosoft.com", &env("AZURE_CLIENT_ID"), &env("AZURE_CLIENT_SECRET"));
    by_domain.token().await.unwrap();
}

#[tokio::test]
async fn sign_in_errors_are_decoded_with_hints() {
    let emu = emulator().await;
    let tenant = emu.env_value("AZURE_TENANT_ID").unwrap();
    let client = emu.env_value("AZURE_CLIENT_ID").unwrap();
    // (case, tenant, client id, secret, AADSTS code, words of the hint)
    let cases = [
        ("wrong secret", tenant.as_str(), client.as_str(), "nope", 7000215, "secret's ID"),
        (
            "secret ID pasted",
            tenant.as_str(),
            client.as_str(),
            "5ec12e70-0000-4000-8000-0000000000d1",
            7000215,
            "Value",
        ),
        (
            "expired secret",
            tenant.as_str(),
            "c1c1c1c1-0000-4000-8000-0000000000c4",
            "emulator-secret-expired",
            7000222,
            "expired",
        ),
        ("unknown app", tenant.as_str(), "00000000-1111-4000-8000-000000000000", "x", 700016, "client id"),
        ("unknown tenant", "contoso.example", client.as_str(), "x", 90002, "tenant was not found"),
        ("no secret", tenant.as_str(), client.as_str(), "", 7000218, "no credential"),
    ];
    for (case, tenant, client_id, secret, code, hint) in cases {
        let error = credential(&emu, tenant, client_id, secret).token().await.unwrap_err();
        let EntraError::SignIn(e) = &error else { panic!("{case}: {error:?}") };
        assert_eq!(e.code(), Some(code), "{case}");
        assert!(e.hint().unwrap_or("").contains(hint), "{case}: {:?}", e.hint());
        let shown = error.to_string();
        assert!(shown.contains(&format!("AADSTS{code}")), "{case}: {shown}");
        assert!(!shown.contains("Trace ID"), "{case}: only the first line is shown: {shown}");
        if !secret.is_empty() && secret != "x" {
            assert!(!shown.contains(secret), "{case}: the secret leaked: {shown}");
        }
    }
}

#[tokio::test]
async fn users_are_paged_across_small_pages_and_counted() {
    let emu = emulator().await;
    let graph = graph(&emu);
    let users = read_users(&graph, 4).await.unwrap();
    assert_eq!(users.len(), DirectoryFile::sample().users.len());
    // One sign-in is not a Graph call; 16 users in pages of 4 take 4 calls.
    assert_eq!(graph.calls(), 4);
    let guest = users.iter().find(|u| u.user_principal_name.contains("#EXT#")).unwrap();
    assert_eq!(guest.user_type.as_deref(), Some("Guest"));
    let teo = users.iter().find(|u| u.display_name.as_deref() == Some("Teo")).unwrap();
    assert_eq!(teo.surname, None);
    let lena = users.iter().find(|u| u.given_name.as_deref() == Some("Lena")).unwrap();
    assert!(lena.cost_center.is_some() && lena.employee_id.is_some(), "$select brought the extra properties");
}

#[tokio::test]
async fn page_size_over_999_is_a_graph_error() {
    let emu = emulator().await;
    let graph = graph(&emu);
    let url = graph.url("/users", &[("$top", "1000")]).unwrap();
    let error = graph.get::<serde_json::Value>(url).await.unwrap_err();
    let EntraError::Graph(e) = &error else { panic!("{error:?}") };
    assert_eq!((e.status, e.code.as_str()), (400, "Request_UnsupportedQuery"));
    assert!(e.request_id.is_some());
}

#[tokio::test]
async fn app_lookup_by_name_app_id_object_id_and_failures() {
    let emu = emulator().await;
    let graph = graph(&emu);
    let sample = DirectoryFile::sample();
    let found = find_app(&graph, &AppSelector::parse("AWS IAM Identity Center")).await.unwrap();
    assert_eq!(found.id, sample.app.id);
    for selector in [
        AppSelector::parse(&sample.app.id),
        AppSelector::parse(&sample.app.app_id),
        AppSelector::AppId(sample.app.app_id.clone()),
    ] {
        assert_eq!(find_app(&graph, &selector).await.unwrap().id, sample.app.id, "{selector}");
    }
    let missing = find_app(&graph, &AppSelector::parse("O'Brien's app")).await.unwrap_err();
    assert!(matches!(missing, EntraError::AppNotFound { .. }), "{missing:?}");

    let second = emu.entra().add_service_principal("AWS IAM Identity Center");
    let error = find_app(&graph, &AppSelector::parse("AWS IAM Identity Center")).await.unwrap_err();
    let EntraError::AppAmbiguous { found, .. } = &error else { panic!("{error:?}") };
    let ids: Vec<&str> = found.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, [sample.app.id.as_str(), second.as_str()]);
    assert!(error.to_string().contains("use the object id"));

    let quoted = emu.entra().add_service_principal("O'Brien's app");
    assert_eq!(find_app(&graph, &AppSelector::parse("O'Brien's app")).await.unwrap().id, quoted);
}

#[tokio::test]
async fn directory_read_follows_nested_groups_and_survives_a_cycle() {
    let emu = emulator().await;
    let sample = DirectoryFile::sample();
    let group_id = |name: &str| sample.groups.iter().find(|g| g.display_name == name).unwrap().id.clone();
    let (admins, platform) = (group_id("AWS-Admins"), group_id("Platform-Team"));
    // Platform-Team now also holds AWS-Admins: a cycle.
    let mut members = sample.groups.iter().find(|g| g.id == platform).unwrap().members.clone();
    members.push(admins.clone());
    assert!(emu.entra().set_group_members(&platform, members));

    let graph = graph(&emu);
    let sp = app_id(&graph).await;
    let directory =
        read_directory(&graph, &sp, &ReadOptions { page_size: 3, ..Default::default() }).await.unwrap();
    let names: Vec<&str> = directory.groups.iter().map(|g| g.display_name.as_str()).collect();
    assert_eq!(
        names,
        ["AWS-Admins", "Developers", "Auditors", "Platform-Team"],
        "assigned groups, then nested ones, each once"
    );
    let admins_group = &directory.groups[0];
    let kinds: Vec<&MemberKind> = admins_group.members.iter().map(|m| &m.kind).collect();
    assert_eq!(kinds, [&MemberKind::User, &MemberKind::Group, &MemberKind::Other("device".into())]);
    assert_eq!(directory.users.len(), sample.users.len());
    assert_eq!(directory.assignments.iter().filter(|a| a.principal_type == PrincipalType::Group).count(), 3);
}

#[tokio::test]
async fn app_roles_are_read_by_name_only_when_asked() {
    let emu = emulator().await;
    let sample = DirectoryFile::sample();
    let group_id = |name: &str| sample.groups.iter().find(|g| g.display_name == name).unwrap().id.clone();
    let hannah = sample
        .users
        .iter()
        .find(|u| u["userPrincipalName"] == "hannah.kowalski@northwind.example")
        .and_then(|u| u["id"].as_str())
        .unwrap()
        .to_string();
    let graph = graph(&emu);
    let sp = app_id(&graph).await;

    let plain = read_directory(&graph, &sp, &ReadOptions::default()).await.unwrap();
    assert!(plain.app_roles.is_empty());

    let before = graph.calls();
    let read = ReadOptions { app_roles: true, ..Default::default() };
    let directory = read_directory(&graph, &sp, &read).await.unwrap();
    let role = |id: &str| directory.app_roles.get(id).cloned().unwrap_or_default();
    assert_eq!(role(&group_id("AWS-Admins")), ["Admin"]);
    assert_eq!(role(&group_id("Auditors")), ["Auditor"]);
    assert_eq!(role(&group_id("Developers")), ["msiam_access"], "the default access role");
    assert_eq!(role(&hannah), ["msiam_access"]);
    assert_eq!(graph.calls() - before, plain_calls(&plain) + 1, "one more call: the app's appRoles");
}

/// The Graph calls of a plain read of the sample: users, assignments, one per group read (group and members).
fn plain_calls(directory: &scimsync_core::Directory) -> u64 {
    2 + 2 * directory.groups.len() as u64
}

#[tokio::test]
async fn a_failed_read_returns_an_error_not_a_partial_directory() {
    let emu = emulator().await;
    let graph = graph(&emu);
    let sp = app_id(&graph).await;
    emu.entra().fail_next("/v1.0/groups/", 1000, 500, None);
    let result = read_directory(&graph, &sp, &ReadOptions::default()).await;
    let error = result.unwrap_err();
    assert_eq!(error.graph_status(), Some(500), "{error}");
}

#[tokio::test]
async fn throttling_is_retried_honouring_retry_after() {
    let emu = emulator().await;
    let graph = graph(&emu);
    emu.entra().fail_next("/v1.0/users", 2, 429, Some(1));
    let began = std::time::Instant::now();
    let users = read_users(&graph, 999).await.unwrap();
    assert_eq!(users.len(), DirectoryFile::sample().users.len());
    assert_eq!(graph.retries(), 2);
    assert!(began.elapsed() >= Duration::from_secs(2), "waited as Retry-After said: {:?}", began.elapsed());

    // 503 without Retry-After backs off exponentially; too many end in an error with a hint.
    emu.entra().fail_next("/v1.0/users", 50, 503, None);
    let error = read_users(&graph, 999).await.unwrap_err();
    assert_eq!(error.graph_status(), Some(503));
    assert_eq!(graph.retries(), 2 + 5, "bounded: 5 retries");
}

#[tokio::test]
async fn missing_sync_permission_is_explained_and_owner_with_owned_by_is_allowed() {
    let emu = emulator().await;
    let sp = DirectoryFile::sample().app.id;
    let reader = ProvisioningClient::new(graph_as(&emu, READONLY_CLIENT.0, READONLY_CLIENT.1), &sp);
    let error = reader.list_jobs().await.unwrap_err();
    let EntraError::Graph(e) = &error else { panic!("{error:?}") };
    assert_eq!((e.status, e.code.as_str(), e.message.as_str()), (401, "UnknownError", ""));
    let shown = error.to_string();
    assert!(shown.contains("Synchronization.ReadWrite.All") && shown.contains("owner"), "{shown}");

    let owner = ProvisioningClient::new(graph_as(&emu, OWNER_CLIENT.0, OWNER_CLIENT.1), &sp);
    assert_eq!(owner.list_jobs().await.unwrap().len(), 1);
}

#[tokio::test]
async fn started_cycle_provisions_direct_members_only_and_logs_each_object() {
    let emu = emulator().await;
    let graph = graph(&emu);
    let sp = app_id(&graph).await;
    let jobs = ProvisioningClient::new(graph.clone(), &sp);
    let job = jobs.single_job().await.unwrap();
    let now = chrono::Utc::now();
    let decision = decide(&job, now, &TriggerOptions::default());
    assert!(matches!(decision, Decision::Start { warning: None, .. }), "{decision:?}");

    let since = chrono::Utc::now() - chrono::Duration::milliseconds(10);
    jobs.start(&job.id).await.unwrap();
    // While the cycle runs, the decision is to wait, not to poke.
    let running = jobs.get_job(&job.id).await.unwrap();
    assert!(running.is_running());
    assert!(matches!(
        decide(
            &running,
            chrono::Utc::now(),
            &TriggerOptions { min_interval: chrono::Duration::zero(), ..Default::default() }
        ),
        Decision::Wait { .. }
    ));

    let mut polls = 0;
    let done = wait_for_cycle(&jobs, &job, since, Duration::from_millis(50), Duration::from_secs(20), |_| {
        polls += 1
    })
    .await
    .unwrap();
    assert!(polls >= 2, "progress was reported while the cycle ran");
    let exec = done.last_execution().unwrap();
    assert_eq!(exec.state, Some(ExecutionState::EntryLevelErrors), "Teo has no surname: {exec:?}");

    let aws = emu.aws().snapshot();
    let direct = [
        "omar.haddad@northwind.example",
        "sofia.rossi@northwind.example",
        "priya.nair@northwind.example",
        "hannah.kowalski@northwind.example",
    ];
    for name in direct {
        assert!(aws.user_by_name(name).is_some(), "{name} was provisioned");
    }
    assert!(aws.users.iter().any(|u| u["userName"].as_str().unwrap_or("").contains("#EXT#")), "the guest");
    for nested in
        ["maya.patel@northwind.example", "jonas.berg@northwind.example", "lena.fischer@northwind.example"]
    {
        assert!(
            aws.user_by_name(nested).is_none(),
            "{nested} is only in a nested group: Entra does not provision it"
        );
    }
    assert!(aws.user_by_name("teo@northwind.example").is_none());
    assert!(aws.user_by_name("diego.alvarez@northwind.example").is_none(), "not assigned");
    assert_eq!(aws.user_by_name("priya.nair@northwind.example").unwrap()["active"], serde_json::json!(false));
    assert!(aws.group_by_name("Platform-Team").is_none());
    let admins = aws.group_by_name("AWS-Admins").unwrap();
    assert_eq!(admins.member_ids.len(), 1, "only Omar: the nested group and the device are skipped");
    assert_eq!(
        aws.group_by_name("Developers").unwrap().member_ids.len(),
        7,
        "8 members minus Teo, who failed"
    );
    assert!(aws.group_by_name("AWSControlTowerAdmins").is_some(), "someone else's group is left alone");

    let logs = jobs
        .provisioning_logs(&LogQuery {
            job_id: job.id.clone(),
            since: Some(now - chrono::Duration::seconds(5)),
            top: Some(5),
            limit: None,
        })
        .await
        .unwrap();
    assert_eq!(
        logs.len(),
        11 + 3,
        "one entry per user (Omar, 8 developers, the guest, Hannah) and group in scope"
    );
    let failure = logs
        .iter()
        .find(|l| l.provisioning_status_info.as_ref().and_then(|s| s.status.as_deref()) == Some("failure"))
        .unwrap();
    assert_eq!(
        failure.source_identity.as_ref().unwrap().display_name.as_deref(),
        Some("teo@northwind.example")
    );
    let later = jobs
        .provisioning_logs(&LogQuery {
            job_id: job.id.clone(),
            since: Some(chrono::Utc::now() + chrono::Duration::hours(1)),
            top: None,
            limit: None,
        })
        .await
        .unwrap();
    assert!(later.is_empty());

    // Right after, a second start is refused by the decision.
    let again = decide(&done, chrono::Utc::now(), &TriggerOptions::default());
    assert!(matches!(again, Decision::Skip { .. }), "{again:?}");
}

#[tokio::test]
async fn quarantined_job_stays_until_started() {
    let mut directory = DirectoryFile::sample();
    directory.job.state = InitialJobState::Quarantine;
    let emu = emulator_with(directory).await;
    let graph = graph(&emu);
    let sp = app_id(&graph).await;
    let jobs = ProvisioningClient::new(graph, &sp);
    let job = jobs.single_job().await.unwrap();
    assert!(job.is_quarantined());
    let decision = decide(&job, chrono::Utc::now(), &TriggerOptions::default());
    assert!(decision.reason().contains("quarantine"), "{decision:?}");
    let since = chrono::Utc::now();
    jobs.start(&job.id).await.unwrap();
    let done = wait_for_cycle(&jobs, &job, since, Duration::from_millis(50), Duration::from_secs(20), |_| {})
        .await
        .unwrap();
    assert!(!done.is_quarantined());
    assert_eq!(done.status_code(), Some(scimsync_entra::JobStatusCode::Active));
}

#[tokio::test]
async fn group_of_12_is_provisioned_on_demand_in_calls_of_5() {
    let mut directory = DirectoryFile::sample();
    directory.job.state = InitialJobState::Paused;
    // Twelve users that AWS accepts (all have a surname).
    let members: Vec<String> = directory
        .users
        .iter()
        .filter(|u| u.get("surname").is_some_and(|s| s.is_string()))
        .take(12)
        .map(|u| u["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(members.len(), 12);
    let big = DirGroup {
        id: "0000000b-5a3e-4c1d-9b2a-0000000000bb".into(),
        display_name: "Everyone-Ops".into(),
        members: members.clone(),
        properties: Default::default(),
    };
    directory.app_role_assignments.push(DirAssignment {
        principal_id: big.id.clone(),
        principal_type: "Group".into(),
        app_role_id: None,
    });
    directory.groups.push(big.clone());
    let emu = emulator_with(directory).await;
    let graph = graph(&emu);
    let jobs = ProvisioningClient::new(graph.clone(), &app_id(&graph).await);
    let job = jobs.single_job().await.unwrap();
    let rule = jobs.rule_id(&job.id).await.unwrap();
    let runner = OnDemandRunner::new(&jobs, &job.id, &rule);
    let calls_before = graph.calls();
    let results = runner.provision_group(&big.id, &members).await.unwrap();
    assert_eq!(results.len(), 3, "12 members in calls of 5, 5 and 2");
    assert!(results.iter().all(|r| r.succeeded()), "{results:?}");
    assert_eq!(graph.calls() - calls_before, 3, "no call was throttled");
    let aws = emu.aws().snapshot();
    assert_eq!(aws.group_by_name("Everyone-Ops").unwrap().member_ids.len(), 12);
    assert_eq!(emu.entra().job().cycles_completed, 0, "no cycle ran: on demand only");
}

#[tokio::test]
async fn graph_client_waits_out_graph_throttling() {
    use scimsync_emulator::entra::ThrottleLimits;
    let emu = emulator().await;
    let graph = graph(&emu);
    let sp = app_id(&graph).await;
    let unthrottled = read_directory(&graph, &sp, &ReadOptions::default()).await.unwrap();
    assert_eq!(graph.retries(), 0, "the default limits leave a sync alone");
    // 6 resource units per second: a directory read needs several windows.
    emu.entra().set_throttle_limits(ThrottleLimits {
        resource_units: Some(6),
        resource_unit_window_secs: 1,
        ..ThrottleLimits::default()
    });
    let throttled =
        tokio::time::timeout(Duration::from_secs(60), read_directory(&graph, &sp, &ReadOptions::default()))
            .await
            .expect("finishes")
            .expect("completes despite 429s");
    assert_eq!(throttled.users.len(), unthrottled.users.len());
    assert_eq!(throttled.groups.len(), unthrottled.groups.len());
    assert!(emu.entra().throttled_requests() > 0, "the emulator throttled");
    assert_eq!(
        graph.retries(),
        emu.entra().throttled_requests(),
        "each 429 was retried once, after Retry-After"
    );
}
