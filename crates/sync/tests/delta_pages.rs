//! A large group's `members@delta` spread over several delta pages that repeat the group (as Graph
//! does): scimsync's delta reader and snapshot merge them, in the first round and in later ones.

use std::sync::Arc;
use std::time::Duration;

use scimsync_emulator::directory::{DirAssignment, DirGroup};
use scimsync_emulator::{DirectoryFile, EmulatorConfig, RunningEmulator, start};
use scimsync_entra::delta::{Change, DeltaResource, read_delta};
use scimsync_entra::{ClientSecretCredential, Cloud, GraphClient, GraphClientConfig};
use scimsync_scim::SecretString;
use scimsync_sync::snapshot::{SourceSnapshot, Touched};
use serde_json::{Map, Value, json};

const BIG: &str = "b1b1b1b1-0000-4000-8000-0000000000b1";

fn member_id(n: u32) -> String {
    format!("b2b2b2b2-0000-4000-8000-{n:012x}")
}

async fn emulator() -> RunningEmulator {
    let mut directory = DirectoryFile::sample();
    for n in 0..30 {
        let user: Map<String, Value> = json!({
            "id": member_id(n),
            "userPrincipalName": format!("member{n}@northwind.example"),
            "displayName": format!("Member {n}"),
            "givenName": "Member",
            "surname": format!("{n}"),
            "accountEnabled": true
        })
        .as_object()
        .cloned()
        .unwrap();
        directory.users.push(user);
    }
    directory.groups.push(DirGroup {
        id: BIG.into(),
        display_name: "Big-Group".into(),
        members: (0..30).map(member_id).collect(),
        properties: Map::new(),
    });
    directory.app_role_assignments.push(DirAssignment {
        principal_id: BIG.into(),
        principal_type: "Group".into(),
        app_role_id: None,
    });
    start(EmulatorConfig::new(directory)).await.expect("emulator starts")
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
    config.min_backoff = Duration::from_millis(10);
    config.max_backoff = Duration::from_millis(50);
    config.requests_per_second = std::num::NonZeroU32::new(10_000).expect("non-zero");
    GraphClient::new(config, Arc::new(credential)).expect("graph client")
}

fn big_members(snapshot: &SourceSnapshot) -> Vec<String> {
    snapshot.groups[BIG].members.iter().map(|m| m.id.clone()).collect()
}

/// How many times the round named the big group (one `GroupUpsert` per page it appeared on).
fn big_upserts(changes: &[Change]) -> usize {
    changes.iter().filter(|c| matches!(c, Change::GroupUpsert { id, .. } if id == BIG)).count()
}

#[tokio::test]
async fn a_30_member_group_read_with_small_pages_yields_all_30_members() {
    let emu = emulator().await;
    emu.entra().set_delta_page_size(7);
    let graph = graph(&emu);

    let round = read_delta(&graph, DeltaResource::Groups, None).await.expect("first round");
    assert!(round.initial);
    assert!(big_upserts(&round.changes) >= 2, "the group spans pages: {} pages", round.pages);
    assert!(round.pages >= 5, "30 members at 7 a page: {} pages", round.pages);
    let mut snapshot = SourceSnapshot::default();
    let link = round.link.clone();
    snapshot.apply(round, &mut Touched::default());
    let mut expected: Vec<String> = (0..30).map(member_id).collect();
    expected.sort();
    assert_eq!(big_members(&snapshot), expected);
    assert_eq!(snapshot.groups[BIG].display_name, "Big-Group", "the repeated group keeps its name");
    // Every other group came through whole as well.
    let developers = "00000034-5a3e-4c1d-9b2a-000000000034";
    assert_eq!(snapshot.groups[developers].members.len(), 8);

    // A later round: 20 members leave, spread over pages as removals, and 3 come back in between.
    let keep: Vec<String> = (0..10).map(member_id).collect();
    assert!(emu.entra().set_group_members(BIG, keep.clone()));
    let later = read_delta(&graph, DeltaResource::Groups, Some(&link)).await.expect("later round");
    assert!(!later.initial);
    assert!(big_upserts(&later.changes) >= 2, "20 removals at 7 a page span pages");
    let removed = later
        .changes
        .iter()
        .filter(|c| matches!(c, Change::MemberRemoved { group, .. } if group == BIG))
        .count();
    assert_eq!(removed, 20);
    snapshot.apply(later, &mut Touched::default());
    let mut keep_sorted = keep;
    keep_sorted.sort();
    assert_eq!(big_members(&snapshot), keep_sorted);
}

#[tokio::test]
async fn graph_pages_repeat_the_group_with_the_rest_of_its_members() {
    let emu = emulator().await;
    let base = emu.base_url();
    let graph = graph(&emu);
    let mut next = Some(format!("{base}/v1.0/groups/delta?$select=displayName,members&$top=12"));
    let mut pages_with_big = 0;
    let mut members = Vec::new();
    let mut pages = 0;
    while let Some(url) = next.take() {
        let page: Value = graph.get(url.parse().unwrap()).await.expect("a delta page");
        pages += 1;
        let items = page["value"].as_array().unwrap();
        assert!(items.len() <= 12);
        let on_page: usize = items.iter().map(|g| g["members@delta"].as_array().map_or(0, Vec::len)).sum();
        assert!(on_page <= 12, "at most $top members a page: {on_page}");
        for group in items.iter().filter(|g| g["id"] == json!(BIG)) {
            pages_with_big += 1;
            assert_eq!(group["displayName"], json!("Big-Group"));
            members.extend(group["members@delta"].as_array().unwrap().iter().map(|m| m["id"].clone()));
        }
        next = page["@odata.nextLink"].as_str().map(str::to_owned);
        if next.is_none() {
            assert!(page["@odata.deltaLink"].is_string());
        }
    }
    assert!(pages >= 3);
    assert!(pages_with_big >= 3, "30 members at 12 a page: {pages_with_big}");
    let mut unique = members.clone();
    unique.dedup();
    assert_eq!(members.len(), 30, "each member once: {members:?}");
    assert_eq!(unique.len(), 30);
}
