//! The SCIM client in its generic profile against an independent RFC 7644 server (scim2-server,
//! started by crosscheck/generic_scim_server.py, which sets SCIMSYNC_GENERIC_SCIM_URL and
//! SCIMSYNC_GENERIC_SCIM_TOKEN). Without them this test has nothing to talk to and says so; the
//! cross-check script fails unless the test printed that it ran to the end.

use std::collections::BTreeSet;
use std::time::Duration;

use scimsync_core::{AttrChange, AttrValue, DesiredUser, UserAttr, UserValues};
use scimsync_scim::{ScimClient, ScimConfig, ScimProfile, SecretString};

fn desired(n: usize) -> DesiredUser {
    DesiredUser {
        external_id: format!("entra-{n}"),
        values: UserValues {
            user_name: format!("generic{n}@example.com"),
            display_name: format!("Generic {n}"),
            given_name: "Generic".into(),
            family_name: format!("User{n}"),
            email: Some(format!("generic{n}@example.com")),
            active: true,
            ..UserValues::default()
        },
    }
}

#[tokio::test]
async fn create_list_patch_members_and_delete_on_a_generic_scim_server() {
    let (Ok(url), Ok(token)) =
        (std::env::var("SCIMSYNC_GENERIC_SCIM_URL"), std::env::var("SCIMSYNC_GENERIC_SCIM_TOKEN"))
    else {
        eprintln!("generic SCIM cross-check: not run (SCIMSYNC_GENERIC_SCIM_URL is not set)");
        return;
    };
    let mut cfg = ScimConfig::new(url, SecretString::from(token));
    cfg.profile = ScimProfile::Generic;
    cfg.requests_per_second = 1_000;
    cfg.timeout = Duration::from_secs(10);
    let client = ScimClient::new(cfg).expect("valid config");

    // More users than one page (100), so that startIndex paging is exercised.
    let total = 105;
    let mut ids = Vec::new();
    for n in 0..total {
        ids.push(client.create_user(&desired(n)).await.expect("create user").id);
    }
    let listed = client.list_users().await.expect("list users");
    let listed_ids: BTreeSet<String> = listed.iter().map(|u| u.id.clone()).collect();
    assert!(ids.iter().all(|id| listed_ids.contains(id)), "every created user is listed");
    assert!(listed.len() >= total, "{} listed", listed.len());
    let found = client.find_user_by_user_name("generic7@example.com").await.expect("filter");
    assert_eq!(found.map(|u| u.id), Some(ids[7].clone()));

    // PATCH a user.
    let change = AttrChange {
        attr: UserAttr::DisplayName,
        old: None,
        new: Some(AttrValue::Text("Generic Seven".into())),
    };
    client.update_user(&ids[7], &[change]).await.expect("patch user");
    let seven = client.get_user(&ids[7]).await.expect("get user").expect("user exists");
    assert_eq!(seven.values.display_name, "Generic Seven");

    // A group; members added and removed with PATCH, read back from the group itself.
    let group = client.create_group("entra-group-1", "Generic-Group").await.expect("create group");
    client.patch_group_members(&group.id, &ids[0..3], &[]).await.expect("add members");
    let members = client.group_member_ids(&group.id).await.expect("members");
    assert_eq!(members, ids[0..3].iter().cloned().collect::<BTreeSet<_>>());
    client.patch_group_members(&group.id, &ids[3..4], &ids[0..1]).await.expect("add and remove");
    let members = client.group_member_ids(&group.id).await.expect("members");
    assert_eq!(members, ids[1..4].iter().cloned().collect::<BTreeSet<_>>());
    let groups = client.list_groups().await.expect("list groups");
    assert!(groups.iter().any(|g| g.id == group.id && g.display_name == "Generic-Group"));

    // Delete everything; a second delete of the same object counts as done.
    client.delete_group(&group.id).await.expect("delete group");
    assert!(client.get_group(&group.id).await.expect("get group").is_none());
    for id in &ids {
        client.delete_user(id).await.expect("delete user");
    }
    client.delete_user(&ids[0]).await.expect("deleting a deleted user is fine");
    let left: BTreeSet<String> = client.list_users().await.expect("list").into_iter().map(|u| u.id).collect();
    assert!(ids.iter().all(|id| !left.contains(id)), "every user is gone");
    println!("generic SCIM cross-check: create, list (startIndex paging), patch, members, delete: done");
}
