//! Scope and identity end to end on the emulators: read Entra through Graph with a scope, plan with
//! the core, apply to the AWS emulator, and check what AWS holds; every run is followed by one that
//! must plan nothing (no 409 loop).

use std::sync::Arc;

use scimsync_core::plan::ObjectKind;
use scimsync_core::scope::{Clause, GroupSelection, ScopeMode, UserFilter};
use scimsync_core::{Managed, Nesting, Plan, PlanOptions, RemovalMode, ScopeOptions};
use scimsync_emulator::directory::{DirAssignment, DirGroup};
use scimsync_emulator::{DirectoryFile, EmulatorConfig, RunningEmulator, start};
use scimsync_entra::app::{AppSelector, find_app};
use scimsync_entra::directory::{ReadOptions, read_directory_scoped};
use scimsync_entra::{ClientSecretCredential, Cloud, GraphClient, GraphClientConfig};
use scimsync_scim::{ScimClient, ScimConfig, SecretString};
use scimsync_sync::state::{StateIdentity, StateStore};
use scimsync_sync::{apply, read_target};
use serde_json::{Map, Value, json};

const U1: &str = "5c0b0000-0000-4000-8000-000000000001";
const U2: &str = "5c0b0000-0000-4000-8000-000000000002";
const U3: &str = "5c0b0000-0000-4000-8000-000000000003";
const U4: &str = "5c0b0000-0000-4000-8000-000000000004";
const U3_AGAIN: &str = "5c0b0000-0000-4000-8000-000000000033";
const ADMINS: &str = "5c0b0000-0000-4000-8000-0000000000a1";
const PLATFORM: &str = "5c0b0000-0000-4000-8000-0000000000a2";
const DEV: &str = "5c0b0000-0000-4000-8000-0000000000a3";
const FINANCE: &str = "5c0b0000-0000-4000-8000-0000000000a4";
const DEVICE: &str = "5c0b0000-0000-4000-8000-0000000000d1";

fn person(id: &str, nick: &str, department: &str) -> Map<String, Value> {
    let Value::Object(map) = json!({
        "id": id, "userPrincipalName": format!("{nick}@scope.example"), "displayName": format!("{nick} Person"),
        "givenName": nick, "surname": "Person", "mail": format!("{nick}@scope.example"),
        "accountEnabled": true, "department": department, "userType": "Member"
    }) else {
        unreachable!()
    };
    map
}

/// AWS-Admins ⊃ Platform ⊃ {u2}; AWS-Admins = {u1, Platform, a device}; AWS-Dev = {u3, u4};
/// Finance = {u4}. AWS-Admins and AWS-Dev are assigned to the app.
fn directory() -> DirectoryFile {
    let mut dir = DirectoryFile::sample();
    dir.users = vec![
        person(U1, "ada", "Engineering"),
        person(U2, "bob", "Engineering"),
        person(U3, "cy", "Engineering"),
        person(U4, "dee", "Sales"),
    ];
    let Value::Object(device) =
        json!({"id": DEVICE, "@odata.type": "#microsoft.graph.device", "displayName": "laptop"})
    else {
        unreachable!()
    };
    dir.other_objects = vec![device];
    let group = |id: &str, name: &str, members: &[&str]| DirGroup {
        id: id.into(),
        display_name: name.into(),
        members: members.iter().map(|m| m.to_string()).collect(),
        properties: Map::new(),
    };
    dir.groups = vec![
        group(ADMINS, "AWS-Admins", &[U1, PLATFORM, DEVICE]),
        group(PLATFORM, "Platform", &[U2]),
        group(DEV, "AWS-Dev", &[U3, U4]),
        group(FINANCE, "Finance", &[U4]),
    ];
    dir.app_role_assignments = [ADMINS, DEV]
        .iter()
        .map(|id| DirAssignment {
            principal_id: id.to_string(),
            principal_type: "Group".into(),
            app_role_id: None,
        })
        .collect();
    dir
}

struct Fixture {
    emu: RunningEmulator,
    scim: ScimClient,
    state: StateStore,
}

async fn fixture() -> Fixture {
    let emu = start(EmulatorConfig::new(directory())).await.expect("emulator starts");
    let scim_url = emu.env_value("SCIMSYNC_SCIM_URL").unwrap();
    let token = SecretString::from(emu.env_value("SCIMSYNC_SCIM_TOKEN").unwrap());
    let scim = ScimClient::new(ScimConfig::new(scim_url.clone(), token)).expect("scim client");
    let identity = StateIdentity { tenant_id: emu.env_value("AZURE_TENANT_ID").unwrap(), scim_url };
    let state = StateStore::in_memory(&identity).expect("state");
    Fixture { emu, scim, state }
}

fn graph(emu: &RunningEmulator) -> GraphClient {
    let env = |k: &str| emu.env_value(k).expect(k);
    let base = emu.base_url();
    let cloud = Cloud::from_authority(&base, Some(&base)).expect("cloud");
    let credential = ClientSecretCredential::new(
        &cloud,
        &env("AZURE_TENANT_ID"),
        env("AZURE_CLIENT_ID"),
        SecretString::from(env("AZURE_CLIENT_SECRET")),
    )
    .expect("credential");
    GraphClient::new(GraphClientConfig::new(cloud.graph_root), Arc::new(credential)).expect("graph")
}

impl Fixture {
    /// Reads both sides, plans, applies; fails on any failed write.
    async fn sync(&self, scope: &ScopeOptions, options: &PlanOptions) -> Plan {
        let graph = graph(&self.emu);
        let app = find_app(&graph, &AppSelector::DisplayName(self.emu.env_value("SCIMSYNC_APP").unwrap()))
            .await
            .expect("app");
        let dir =
            read_directory_scoped(&graph, &app.id, &ReadOptions::default(), scope).await.expect("read Entra");
        let desired = scimsync_core::desired(&dir, scope);
        let managed: Managed = self.state.managed().expect("state");
        let current =
            read_target(&self.scim, &desired, &managed, options.adopt_by_name, 4).await.expect("read AWS");
        let plan = scimsync_core::plan(&desired, &current, &managed, options);
        let report = apply(&self.scim, &plan, &self.state, 4).await.expect("apply");
        assert_eq!(report.failures().count(), 0, "{:#?}", report.failures().collect::<Vec<_>>());
        plan
    }

    /// A sync, then a second one that must plan nothing.
    async fn converge(&self, scope: &ScopeOptions, options: &PlanOptions) -> Plan {
        let plan = self.sync(scope, options).await;
        assert!(plan.conflicts.is_empty(), "{:#?}", plan.conflicts);
        let again = self.sync(scope, options).await;
        assert!(again.is_empty(), "the second run plans nothing: {again:#?}");
        plan
    }

    fn user(&self, user_name: &str) -> Value {
        self.emu
            .aws()
            .snapshot()
            .user_by_name(user_name)
            .cloned()
            .unwrap_or_else(|| panic!("no AWS user {user_name}"))
    }

    fn members(&self, group: &str) -> Vec<String> {
        let aws = self.emu.aws().snapshot();
        let g = aws.group_by_name(group).unwrap_or_else(|| panic!("no AWS group {group}"));
        let mut names: Vec<String> = aws
            .users
            .iter()
            .filter(|u| g.member_ids.contains(u["id"].as_str().unwrap_or_default()))
            .map(|u| u["userName"].as_str().unwrap_or_default().to_string())
            .collect();
        names.sort();
        names
    }
}

#[tokio::test]
async fn scope_modes_nesting_and_user_filters_on_the_emulator() {
    // Assigned groups, flattened (default): bob from the nested Platform is in AWS-Admins.
    let f = fixture().await;
    let plan = f.converge(&ScopeOptions::default(), &PlanOptions::default()).await;
    assert_eq!(plan.skipped_members.values().sum::<usize>(), 1, "the device is skipped and counted");
    assert_eq!(f.members("AWS-Admins"), ["ada@scope.example", "bob@scope.example"]);
    assert!(f.emu.aws().snapshot().group_by_name("Platform").is_none());

    // Flatten and create: Platform also exists in AWS, flat.
    let f = fixture().await;
    let scope = ScopeOptions { nesting: Nesting::FlattenAndCreate, ..Default::default() };
    f.converge(&scope, &PlanOptions::default()).await;
    assert_eq!(f.members("AWS-Admins"), ["ada@scope.example", "bob@scope.example"]);
    assert_eq!(f.members("Platform"), ["bob@scope.example"]);

    // Groups by name pattern, nesting ignored: AWS-* only, direct members only.
    let f = fixture().await;
    let scope = ScopeOptions {
        mode: ScopeMode::Groups,
        groups: GroupSelection { names: vec!["aws-*".into()], ..Default::default() },
        nesting: Nesting::Ignore,
        ..Default::default()
    };
    f.converge(&scope, &PlanOptions::default()).await;
    assert_eq!(f.members("AWS-Admins"), ["ada@scope.example"]);
    assert_eq!(f.members("AWS-Dev"), ["cy@scope.example", "dee@scope.example"]);

    // Groups by Graph $filter and by id.
    let f = fixture().await;
    let scope = ScopeOptions {
        mode: ScopeMode::Groups,
        groups: GroupSelection {
            filter: Some("startswith(displayName,'Fin')".into()),
            ids: vec![PLATFORM.into()],
            ..Default::default()
        },
        ..Default::default()
    };
    f.converge(&scope, &PlanOptions::default()).await;
    let aws = f.emu.aws().snapshot();
    let mut names: Vec<&str> =
        aws.groups.iter().filter(|g| g.external_id.is_some()).map(|g| g.display_name.as_str()).collect();
    names.sort();
    assert_eq!(names, ["Finance", "Platform"]);

    // All users and groups, with a user scoping filter: Sales is out, everywhere.
    let f = fixture().await;
    let scope = ScopeOptions {
        mode: ScopeMode::All,
        user_filters: vec![UserFilter {
            clauses: vec![Clause {
                attribute: "department".into(),
                operator: "NOT EQUALS".parse().unwrap(),
                value: Some("Sales".into()),
            }],
        }],
        ..Default::default()
    };
    f.converge(&scope, &PlanOptions::default()).await;
    assert!(f.emu.aws().snapshot().user_by_name("dee@scope.example").is_none());
    assert_eq!(f.members("AWS-Dev"), ["cy@scope.example"]);
    assert!(f.members("Finance").is_empty());
}

#[tokio::test]
async fn renames_domain_moves_swaps_and_a_recreated_user_converge_on_the_emulator() {
    let f = fixture().await;
    let scope = ScopeOptions::default();
    let options = PlanOptions::default();
    f.converge(&scope, &options).await;
    let id_of = |f: &Fixture, name: &str| f.user(name)["id"].as_str().unwrap().to_string();
    let (ada, bob, cy) =
        (id_of(&f, "ada@scope.example"), id_of(&f, "bob@scope.example"), id_of(&f, "cy@scope.example"));
    let admins = f.emu.aws().snapshot().group_by_name("AWS-Admins").unwrap().id.clone();

    // A group rename and a move to a new mail domain: updates in place.
    f.emu.entra().rename_group(ADMINS, "AWS-Administrators");
    f.emu.entra().edit_users(|users| {
        let u = users.get_mut(U1).unwrap();
        u.insert("userPrincipalName".into(), json!("ada@fabrikam.example"));
        u.insert("mail".into(), json!("ada@fabrikam.example"));
    });
    let plan = f.converge(&scope, &options).await;
    assert!(plan.user_creates.is_empty() && plan.group_creates.is_empty(), "{plan:#?}");
    assert_eq!(id_of(&f, "ada@fabrikam.example"), ada);
    assert_eq!(f.emu.aws().snapshot().group_by_name("AWS-Administrators").unwrap().id, admins);

    // Two users swap UPN and mail: no 409, both keep their AWS ids.
    f.emu.entra().edit_users(|users| {
        for (id, nick) in [(U1, "bob"), (U2, "ada")] {
            let u = users.get_mut(id).unwrap();
            u.insert("userPrincipalName".into(), json!(format!("{nick}@scope.example")));
            u.insert("mail".into(), json!(format!("{nick}@scope.example")));
        }
    });
    let plan = f.converge(&scope, &options).await;
    assert!(!plan.user_vacates.is_empty());
    assert_eq!(id_of(&f, "bob@scope.example"), ada);
    assert_eq!(id_of(&f, "ada@scope.example"), bob);

    // cy is deleted in Entra and created again with the same UPN: a new AWS user; the old one keeps
    // its AWS id and assignments, disabled, under a retired name, out of every group.
    f.emu.entra().edit_users(|users| {
        let mut again = users.remove(U3).unwrap();
        again.insert("id".into(), json!(U3_AGAIN));
        users.insert(U3_AGAIN.into(), again);
    });
    f.emu.entra().set_group_members(DEV, vec![U3_AGAIN.into(), U4.into()]);
    let plan = f.converge(&scope, &options).await;
    assert_eq!(plan.user_creates.len(), 1);
    let new = f.user("cy@scope.example");
    assert_eq!(new["externalId"], json!(U3_AGAIN));
    assert_ne!(new["id"].as_str().unwrap(), cy);
    let aws = f.emu.aws().snapshot();
    let old = aws.users.iter().find(|u| u["id"] == json!(cy)).expect("the old user is kept");
    assert_eq!(old["active"], json!(false));
    assert!(old["userName"].as_str().unwrap().starts_with("retired-"), "{old}");
    assert_eq!(f.members("AWS-Dev"), ["cy@scope.example", "dee@scope.example"]);
}

#[tokio::test]
async fn a_deletion_waits_for_the_grace_period() {
    let f = fixture().await;
    let scope = ScopeOptions::default();
    let now = scimsync_sync::unix_now();
    let options = PlanOptions {
        removal: RemovalMode::Delete,
        delete_after_secs: 30 * 86_400,
        now,
        ..Default::default()
    };
    f.converge(&scope, &options).await;
    let dee = f.user("dee@scope.example")["id"].as_str().unwrap().to_string();

    f.emu.entra().set_group_members(DEV, vec![U3.into()]);
    let plan = f.converge(&scope, &options).await;
    assert_eq!((plan.summary().disable, plan.summary().delete), (1, 0));
    let exit =
        plan.scope_exits.iter().find(|e| e.id == dee && e.kind == ObjectKind::User).expect("out of scope");
    assert_eq!(exit.delete_due, Some(now + 30 * 86_400));
    assert_eq!(f.user("dee@scope.example")["active"], json!(false));

    // Ten days on: still waiting. Thirty-one days on: deleted.
    let later = PlanOptions { now: now + 10 * 86_400, ..options.clone() };
    assert!(f.sync(&scope, &later).await.is_empty());
    let later = PlanOptions { now: now + 31 * 86_400, ..options.clone() };
    let plan = f.sync(&scope, &later).await;
    assert_eq!(plan.summary().delete, 1, "{plan:#?}");
    assert!(f.emu.aws().snapshot().user_by_name("dee@scope.example").is_none());
}
