//! `scimsync plan` and `scimsync sync`: the direct way, judged by what AWS holds afterwards and by the
//! requests it received.

use scimsync_emulator::DirectoryFile;
use serde_json::{Value, json};

use crate::support::{Company, Harness, group_id, member_names, text, upn, user_id, user_names};

/// Users 1–5: group 1 "Engineers" holds users 1 and 2 and the nested group 2 "Platform" (users 3 and
/// 4); "Engineers" and user 5 are assigned.
fn nested_company() -> DirectoryFile {
    Company::new()
        .users(1, 5)
        .group(1, "Engineers", &[1, 2], &[2])
        .group(2, "Platform", &[3, 4], &[])
        .assign_group(1)
        .assign_user(5)
        .build()
}

/// Users 1–3 in the assigned group 1 "Engineers".
fn small_company() -> DirectoryFile {
    Company::new().users(1, 3).group(1, "Engineers", &[1, 2, 3], &[]).assign_group(1).build()
}

#[test]
fn from_an_empty_aws_plan_shows_changes_sync_creates_everything_and_a_second_sync_writes_nothing() {
    let h = Harness::start(nested_company());

    let plan = h.plan(&["--detailed-exitcode"]);
    plan.code(2)
        .stdout_has("+ create  user001@example.test")
        .stdout_has("+ create  Engineers")
        .stdout_has("Plan: 6 to create, 0 to update, 0 to disable, 0 to delete, 4 member additions");

    let json = h.plan(&["--output", "json"]);
    json.code(0);
    let body = json.json();
    let summary = &body["summary"];
    assert_eq!(summary["create"], json!(6), "{summary}");
    assert_eq!(summary["member_add"], json!(4), "{summary}");
    assert_eq!(summary["update"], json!(0), "{summary}");
    assert_eq!(body["plan"]["user_creates"].as_array().map(Vec::len), Some(5), "{body}");
    assert_eq!(h.aws().request_count().writes(), 0, "plan writes nothing");

    let sync = h.sync(&[]);
    sync.code(0).stdout_has("Applied");
    let aws = h.snapshot();
    assert_eq!(user_names(&aws), (1..=5).map(upn).collect::<Vec<_>>());
    for n in 1..=5 {
        let user = aws.user_by_name(&upn(n)).expect("created");
        assert_eq!(text(user, "externalId"), user_id(n), "matched by the Entra object id");
        assert_eq!(user["active"], json!(true));
    }
    assert_eq!(aws.groups.len(), 1, "only the assigned group: {:?}", aws.groups);
    let engineers = aws.group_by_name("Engineers").expect("created");
    assert_eq!(engineers.external_id.as_deref(), Some(group_id(1).as_str()));
    assert_eq!(member_names(&aws, "Engineers"), (1..=4).map(upn).collect::<Vec<_>>(), "nesting flattened");

    h.aws().reset_request_count();
    let again = h.sync(&[]);
    again.code(0).stdout_has("No changes");
    let counts = h.aws().request_count();
    assert_eq!(counts.writes(), 0, "the second sync wrote nothing: {counts:?}\n{again}");
    assert_eq!(h.snapshot(), aws, "AWS is as the first sync left it");

    h.plan(&["--detailed-exitcode"]).code(0).stdout_has("No changes");
    assert_eq!(h.aws().request_count().writes(), 0);
}

#[test]
fn a_rename_in_entra_is_an_update_in_place() {
    let h = Harness::start(small_company());
    h.sync(&[]).code(0);
    let before = h.snapshot();
    let id = text(before.user_by_name(&upn(2)).expect("synced"), "id").to_string();

    let renamed = "renamed002@example.test";
    h.entra().edit_users(|users| {
        let user = users.get_mut(&user_id(2)).expect("user 2");
        user.insert("userPrincipalName".into(), Value::String(renamed.into()));
    });

    h.plan(&["--detailed-exitcode"])
        .code(2)
        .stdout_has(&format!("~ update  {}", upn(2)))
        .stdout_has(renamed)
        .stdout_has("Plan: 0 to create, 1 to update, 0 to disable, 0 to delete");

    h.aws().reset_request_count();
    h.sync(&[]).code(0);
    let counts = h.aws().request_count();
    assert_eq!((counts.post, counts.put, counts.delete), (0, 0, 0), "no create, no delete: {counts:?}");
    assert!(counts.patch >= 1, "{counts:?}");

    let after = h.snapshot();
    assert_eq!(after.users.len(), 3);
    let user = after.user_by_name(renamed).expect("renamed in AWS");
    assert_eq!(text(user, "id"), id, "the AWS user kept its id");
    assert_eq!(text(user, "externalId"), user_id(2));
    assert!(after.user_by_name(&upn(2)).is_none());
    assert!(after.group_by_name("Engineers").expect("group").member_ids.contains(&id), "still a member");
}

#[test]
fn a_user_who_leaves_scope_is_disabled_not_deleted_and_leaves_the_group() {
    let h = Harness::start(small_company());
    h.sync(&[]).code(0);
    let id = text(h.snapshot().user_by_name(&upn(3)).expect("synced"), "id").to_string();

    assert!(h.entra().set_group_members(&group_id(1), vec![user_id(1), user_id(2)]));
    h.plan(&["--detailed-exitcode"])
        .code(2)
        .stdout_has(&format!("- disable {}", upn(3)))
        .stdout_has("- 1 remove:")
        .stdout_has("1 to disable, 0 to delete");

    h.aws().reset_request_count();
    h.sync(&[]).code(0);
    assert_eq!(h.aws().request_count().delete, 0, "nothing deleted");

    let aws = h.snapshot();
    let user = aws.user_by_name(&upn(3)).expect("still in AWS");
    assert_eq!(text(user, "id"), id);
    assert_eq!(user["active"], json!(false), "disabled: {user}");
    assert_eq!(member_names(&aws, "Engineers"), [upn(1), upn(2)]);
    assert_eq!(aws.user_by_name(&upn(1)).expect("user 1")["active"], json!(true));
}

#[test]
fn a_group_of_130_members_syncs_in_patches_of_at_most_100_member_changes() {
    let members: Vec<u32> = (1..=130).collect();
    let h = Harness::start(
        Company::new().users(1, 130).group(1, "Everyone", &members, &[]).assign_group(1).build(),
    );
    // The default client-side limit (20 requests/s) would spend ~7 s creating 130 users.
    let config = h.state_path().with_file_name("fast.toml");
    std::fs::write(&config, "[aws]\nrequests_per_second = 500\n").expect("write the config file");

    h.with_state("sync", &["--config", config.to_str().expect("UTF-8 path")]).run().code(0);

    let aws = h.snapshot();
    assert_eq!(aws.users.len(), 130);
    let group = aws.group_by_name("Everyone").expect("created");
    assert_eq!(group.member_ids.len(), 130, "AWS holds all 130 members");
    // The emulator refuses a PATCH of more than 100 member changes, as AWS does; 130 need at least 2.
    let counts = h.aws().request_count();
    assert!(counts.patch >= 2, "{counts:?}");

    h.aws().reset_request_count();
    h.with_state("sync", &["--config", config.to_str().expect("UTF-8 path")])
        .run()
        .code(0)
        .stdout_has("No changes");
    assert_eq!(h.aws().request_count().writes(), 0);
}

#[test]
fn a_user_created_in_aws_by_someone_else_is_listed_and_left_alone() {
    let h = Harness::start(small_company());
    h.aws()
        .seed_user(json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "console.admin@example.test",
            "name": {"givenName": "Console", "familyName": "Admin"},
            "displayName": "Console Admin",
            "emails": [{"value": "console.admin@example.test", "type": "work", "primary": true}],
            "active": true
        }))
        .expect("seeded");
    let before = h.snapshot().user_by_name("console.admin@example.test").cloned().expect("seeded");
    assert!(before.get("externalId").is_none(), "{before}");

    h.plan(&[])
        .code(0)
        .stdout_has("Left alone: 1 AWS objects scimsync does not manage (console.admin@example.test)");
    h.plan(&["--output", "json"]).json()["plan"]["unmanaged"]
        .as_array()
        .filter(|u| u.len() == 1 && u[0]["name"] == json!("console.admin@example.test"))
        .expect("the JSON plan lists it as unmanaged");

    h.sync(&[]).code(0);
    let aws = h.snapshot();
    assert_eq!(aws.user_by_name("console.admin@example.test"), Some(&before), "untouched");
    let id = text(&before, "id");
    assert!(aws.groups.iter().all(|g| !g.member_ids.contains(id)), "added to nothing");
    assert_eq!(aws.users.len(), 4);

    h.sync(&[]).code(0).stdout_has("Left alone: 1 AWS objects");
    assert_eq!(h.snapshot().user_by_name("console.admin@example.test"), Some(&before));
}

#[test]
fn a_user_aws_would_refuse_is_reported_with_the_reason_and_the_others_sync_with_exit_3() {
    let h = Harness::start(DirectoryFile::sample());
    let control_tower = h.snapshot().user_by_name("ct-admin@northwind.example").cloned().expect("seeded");

    let run = h.sync(&[]);
    run.code(3).stdout_has(
        "! rejected teo@northwind.example: name.familyName is empty (Entra surname is not set); AWS requires it",
    );

    let aws = h.snapshot();
    assert!(aws.user_by_name("teo@northwind.example").is_none(), "not sent");
    assert_eq!(aws.users.len(), 14, "13 synced users and the Control Tower user: {:?}", user_names(&aws));
    assert_eq!(
        member_names(&aws, "AWS-Admins"),
        ["jonas.berg", "lena.fischer", "maya.patel", "omar.haddad"].map(|n| format!("{n}@northwind.example")),
        "the nested Platform-Team is flattened"
    );
    assert_eq!(member_names(&aws, "Developers").len(), 7, "all but Teo");
    assert_eq!(aws.user_by_name("ct-admin@northwind.example"), Some(&control_tower), "left alone");

    // Still rejected, still exit 3, but nothing else to do.
    h.aws().reset_request_count();
    h.sync(&[]).code(3).stdout_has("! rejected teo@northwind.example");
    assert_eq!(h.aws().request_count().writes(), 0);
}

#[test]
fn single_app_role_assignment_maps_each_users_role_of_the_app_into_aws() {
    // The sample app has the roles Admin and Auditor: AWS-Admins (⊃ Platform-Team) holds Admin,
    // Auditors holds Auditor, Developers and Hannah hold the default access role.
    let h = Harness::start(DirectoryFile::sample());
    let config = h.state_path().with_file_name("roles.toml");
    std::fs::write(&config, "[mapping]\ntitle = \"SingleAppRoleAssignment([appRoleAssignments])\"\n")
        .expect("write the config file");
    let config = config.to_str().expect("UTF-8 path");
    // Exit 3: Teo has no surname, as in every run on the sample.
    h.with_state("sync", &["--config", config]).run().code(3);

    let aws = h.snapshot();
    let title =
        |name: &str| aws.user_by_name(name).unwrap_or_else(|| panic!("{name} in AWS"))["title"].clone();
    for (name, role) in [
        ("omar.haddad@northwind.example", "Admin"),
        ("maya.patel@northwind.example", "Admin"),
        ("chris@partner.example", "Auditor"),
        ("sofia.rossi@northwind.example", "msiam_access"),
        ("hannah.kowalski@northwind.example", "msiam_access"),
    ] {
        assert_eq!(title(name), json!(role), "{name}");
    }

    // The next (incremental) run reads the roles too: nothing to change.
    h.aws().reset_request_count();
    h.with_state("sync", &["--config", config]).run().code(3).stdout_has("No changes");
    assert_eq!(h.aws().request_count().writes(), 0);
}
