//! The mapping end to end on the emulators: read Entra through Graph, map with a configured mapping,
//! plan, apply to the AWS emulator, and check what AWS holds: a guest's userName, a manager created in
//! the same run, phone and address, a name fallback, and a second run that writes nothing.

use std::sync::Arc;

use scimsync_core::mapping::{FallbackRule, GuestUserName, NameFallback, SourceSpec};
use scimsync_core::{Managed, Mapping, MappingConfig, PlanOptions, ScopeOptions};
use scimsync_emulator::directory::DirAssignment;
use scimsync_emulator::{DirectoryFile, EmulatorConfig, RunningEmulator, start};
use scimsync_entra::app::{AppSelector, find_app};
use scimsync_entra::directory::{ReadOptions, read_directory};
use scimsync_entra::{ClientSecretCredential, Cloud, GraphClient, GraphClientConfig};
use scimsync_scim::{ScimClient, ScimConfig, SecretString};
use scimsync_sync::state::{StateIdentity, StateStore};
use scimsync_sync::{apply, read_target};
use serde_json::{Value, json};

const BOSS: &str = "0000aaaa-0000-4000-8000-00000000b055";
const EMPLOYEE: &str = "0000aaaa-0000-4000-8000-0000000000e1";
const GUEST: &str = "0000aaaa-0000-4000-8000-0000000000a1";
const ONE_NAME: &str = "0000aaaa-0000-4000-8000-0000000000c1";

fn directory() -> DirectoryFile {
    let mut dir = DirectoryFile::sample();
    let users = [
        json!({"id": BOSS, "userPrincipalName": "boss@northwind.example", "displayName": "Bo Boss",
               "givenName": "Bo", "surname": "Boss", "mail": "boss@northwind.example", "accountEnabled": true,
               "businessPhones": ["+1 555 0100"], "mobilePhone": "+1 555 0199",
               "city": "Oslo", "country": "NO", "streetAddress": "Karl Johans gate 1"}),
        json!({"id": EMPLOYEE, "userPrincipalName": "emp@northwind.example", "displayName": "Em Ployee",
               "givenName": "Em", "surname": "Ployee", "mail": "emp@northwind.example", "accountEnabled": true,
               "businessPhones": [], "mobilePhone": "+1 555 0200", "manager": {"id": BOSS}}),
        json!({"id": GUEST, "userPrincipalName": "alice_example.com#EXT#@northwind.onmicrosoft.com",
               "displayName": "Alice Guest", "givenName": "Alice", "surname": "Guest", "mail": null,
               "userType": "Guest", "accountEnabled": true}),
        json!({"id": ONE_NAME, "userPrincipalName": "cher@northwind.example", "displayName": "Cher",
               "mail": "cher@northwind.example", "accountEnabled": true}),
    ];
    for user in users {
        let Value::Object(map) = user else { unreachable!() };
        dir.users.push(map);
    }
    for id in [BOSS, EMPLOYEE, GUEST, ONE_NAME] {
        dir.app_role_assignments.push(DirAssignment {
            principal_id: id.into(),
            principal_type: "User".into(),
            app_role_id: None,
        });
    }
    dir
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

fn mapping() -> Mapping {
    Mapping::compile(&MappingConfig {
        attributes: [(
            "nickName".to_string(),
            SourceSpec::Expression(r#"ToLower(Left([givenName], 3))"#.into()),
        )]
        .into(),
        guest_user_name: Some(GuestUserName::Decoded),
        given_name_fallback: Some(NameFallback::Rule(FallbackRule::FirstWord)),
        family_name_fallback: Some(NameFallback::Rule(FallbackRule::LastWord)),
    })
    .expect("mapping compiles")
}

/// Reads both sides, plans, applies; returns the plan's write count.
async fn sync_once(emu: &RunningEmulator, scim: &ScimClient, state: &StateStore) -> usize {
    let graph = graph(emu);
    let app = find_app(&graph, &AppSelector::DisplayName(emu.env_value("SCIMSYNC_APP").unwrap()))
        .await
        .expect("app");
    let dir = read_directory(&graph, &app.id, &ReadOptions::default()).await.expect("read Entra");
    let desired = scimsync_core::desired_with(&dir, &ScopeOptions::default(), &mapping());
    let ours = [BOSS, EMPLOYEE, GUEST, ONE_NAME];
    assert!(
        desired.rejected.iter().all(|r| !ours.contains(&r.external_id.as_str())),
        "{:?}",
        desired.rejected
    );
    let managed: Managed = state.managed().expect("state");
    let current = read_target(scim, &desired, &managed, false, 4).await.expect("read AWS");
    let plan = scimsync_core::plan(&desired, &current, &managed, &PlanOptions::default());
    let writes = plan.summary().total();
    let report = apply(scim, &plan, state, 4).await.expect("apply");
    assert_eq!(report.failures().count(), 0, "{:?}", report.failures().collect::<Vec<_>>());
    writes
}

#[tokio::test]
async fn guests_managers_phones_addresses_and_fallbacks_reach_aws() {
    let emu = start(EmulatorConfig::new(directory())).await.expect("emulator starts");
    let scim_url = emu.env_value("SCIMSYNC_SCIM_URL").unwrap();
    let token = SecretString::from(emu.env_value("SCIMSYNC_SCIM_TOKEN").unwrap());
    let scim = ScimClient::new(ScimConfig::new(scim_url.clone(), token)).expect("scim client");
    let identity = StateIdentity { tenant_id: emu.env_value("AZURE_TENANT_ID").unwrap(), scim_url };
    let state = StateStore::in_memory(&identity).expect("state");

    assert!(sync_once(&emu, &scim, &state).await > 0);
    let aws = emu.aws().snapshot();

    let guest = aws.user_by_name("alice@example.com").expect("the guest's decoded address is the userName");
    assert_eq!(guest["externalId"], json!(GUEST));

    let boss = aws.user_by_name("boss@northwind.example").expect("boss");
    let employee = aws.user_by_name("emp@northwind.example").expect("employee");
    let enterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
    assert_eq!(
        employee[enterprise]["manager"]["value"], boss["id"],
        "the manager, created in the same run, is set by its AWS id"
    );
    assert_eq!(boss["phoneNumbers"], json!([{"value": "+1 555 0100", "type": "work", "primary": true}]));
    assert_eq!(employee["phoneNumbers"][0]["value"], json!("+1 555 0200"), "the mobile when no work phone");
    assert_eq!(boss["addresses"][0]["locality"], json!("Oslo"));
    assert_eq!(boss["addresses"][0]["streetAddress"], json!("Karl Johans gate 1"));
    assert_eq!(boss["nickName"], json!("bo"));

    let cher = aws.user_by_name("cher@northwind.example").expect("a one-name user is sent with fallbacks");
    assert_eq!(cher["name"], json!({"givenName": "Cher", "familyName": "Cher"}));

    // The second run finds nothing to change.
    assert_eq!(sync_once(&emu, &scim, &state).await, 0, "a second sync writes nothing");
}
