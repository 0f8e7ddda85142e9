//! The SCIM client against the AWS emulator, served in-process on 127.0.0.1.

use std::collections::BTreeSet;
use std::time::Duration;

use pretty_assertions::assert_eq;
use serde_json::json;

use scimsync_core::{AttrChange, AttrValue, DesiredUser, UserAttr, UserValues};
use scimsync_emulator::aws::{AwsOptions, AwsScim, Fault, RunningAws};
use scimsync_scim::{ScimClient, ScimConfig, ScimError, SecretString};

const TOKEN: &str = "test-token-7f3a";
const TENANT: &str = "d-9067000000";

struct Fixture {
    aws: AwsScim,
    running: RunningAws,
    client: ScimClient,
}

fn config(base_url: &str, token: &str) -> ScimConfig {
    let mut cfg = ScimConfig::new(base_url, SecretString::from(token));
    cfg.requests_per_second = 10_000;
    cfg.retry_base_delay = Duration::from_millis(1);
    cfg.max_retry_delay = Duration::from_millis(5);
    cfg.max_retries = 3;
    cfg.timeout = Duration::from_secs(5);
    cfg
}

async fn start(options: AwsOptions) -> Fixture {
    let aws = AwsScim::with_options(TENANT.into(), TOKEN.into(), options);
    let running = aws.spawn().await.expect("emulator binds 127.0.0.1:0");
    let client = ScimClient::new(config(&running.base_url, TOKEN)).expect("valid config");
    Fixture { aws, running, client }
}

fn desired(n: usize) -> DesiredUser {
    DesiredUser {
        external_id: format!("entra-{n}"),
        values: UserValues {
            user_name: format!("user{n}@example.com"),
            display_name: format!("User {n}"),
            given_name: "Given".into(),
            family_name: format!("Family{n}"),
            email: Some(format!("user{n}@example.com")),
            active: true,
            department: Some("Ops".into()),
            ..UserValues::default()
        },
    }
}

fn seed_users(aws: &AwsScim, count: usize) -> Vec<String> {
    (0..count)
        .map(|n| {
            aws.seed_user(json!({
                "userName": format!("seed{n}"),
                "displayName": format!("Seed {n}"),
                "name": {"givenName": "Seed", "familyName": format!("{n}")},
                "emails": [{"value": format!("seed{n}@example.com"), "type": "work", "primary": true}],
            }))
            .expect("seed user")
        })
        .collect()
}

#[tokio::test]
async fn lists_every_user_across_short_cursor_pages() {
    // (users, page limit, expected list requests)
    let cases = [(0, None, 1), (100, None, 1), (101, None, 2), (230, Some(7), 33)];
    for (users, page_limit, requests) in cases {
        let f = start(AwsOptions { cursor_page_limit: page_limit, ..AwsOptions::default() }).await;
        let seeded: BTreeSet<String> = seed_users(&f.aws, users).into_iter().collect();
        let listed = f.client.list_users().await.expect("list users");
        let ids: BTreeSet<String> = listed.iter().map(|u| u.id.clone()).collect();
        assert_eq!(listed.len(), users, "{users} users, limit {page_limit:?}");
        assert_eq!(ids, seeded);
        assert_eq!(f.client.stats().get, requests, "{users} users, limit {page_limit:?}");
        assert_eq!(f.aws.request_count().get, requests);
    }
}

#[tokio::test]
async fn creates_finds_and_refuses_duplicates() {
    let f = start(AwsOptions::default()).await;
    let created = f.client.create_user(&desired(1)).await.expect("create");
    assert_eq!(created.values, desired(1).values);
    assert_eq!(created.external_id.as_deref(), Some("entra-1"));

    let by_name = f.client.find_user_by_user_name("USER1@example.com").await.expect("find");
    assert_eq!(by_name.map(|u| u.id), Some(created.id.clone()));
    let by_ext = f.client.find_user_by_external_id("entra-1").await.expect("find");
    assert_eq!(by_ext.map(|u| u.id), Some(created.id.clone()));
    assert_eq!(f.client.find_user_by_external_id("nobody").await.expect("find"), None);
    assert_eq!(f.client.get_user(&created.id).await.expect("get").map(|u| u.values), Some(desired(1).values));
    assert_eq!(f.client.get_user("00000000-0000-0000-0000-000000000000").await.expect("get"), None);

    // Same userName in another case, same email, same externalId: each a 409.
    let mut same_name = desired(2);
    same_name.values.user_name = "User1@Example.com".into();
    let mut same_email = desired(3);
    same_email.values.email = desired(1).values.email;
    let mut same_external = desired(4);
    same_external.external_id = "entra-1".into();
    for duplicate in [same_name, same_email, same_external] {
        let err = f.client.create_user(&duplicate).await.expect_err("duplicate");
        let ScimError::Conflict(failure) = &err else {
            panic!("expected a conflict, got {err:?}");
        };
        assert_eq!(failure.status, 409);
        assert_eq!(failure.detail, "Refused to create a new, duplicate resource.");
        assert!(failure.request_id.is_some());
        assert!(err.to_string().contains("adopt"), "{err}");
    }
    assert_eq!(f.client.stats().retried, 0, "a 409 is never retried");
}

#[tokio::test]
async fn update_sends_one_patch_with_the_changes_only() {
    let f = start(AwsOptions::default()).await;
    let user = f.client.create_user(&desired(1)).await.expect("create");
    let text = |s: &str| Some(AttrValue::Text(s.into()));
    let changes = vec![
        AttrChange { attr: UserAttr::GivenName, old: text("Given"), new: text("Ada") },
        AttrChange { attr: UserAttr::Email, old: text("user1@example.com"), new: text("ada@example.com") },
        AttrChange { attr: UserAttr::Title, old: None, new: text("Engineer") },
        AttrChange { attr: UserAttr::Department, old: text("Ops"), new: None },
        AttrChange { attr: UserAttr::CostCenter, old: None, new: text("42") },
        AttrChange { attr: UserAttr::ExternalId, old: text("entra-1"), new: text("entra-1b") },
    ];
    let before = f.aws.request_count();
    f.client.update_user(&user.id, &changes).await.expect("patch");
    f.client.update_user(&user.id, &[]).await.expect("no change");
    assert_eq!(f.aws.request_count().patch - before.patch, 1);

    let after = f.client.get_user(&user.id).await.expect("get").expect("exists");
    let mut expected = desired(1).values;
    expected.given_name = "Ada".into();
    expected.email = Some("ada@example.com".into());
    expected.title = Some("Engineer".into());
    expected.department = None;
    expected.cost_center = Some("42".into());
    assert_eq!(after.values, expected);
    assert_eq!(after.external_id.as_deref(), Some("entra-1b"));

    f.client.set_user_active(&user.id, false).await.expect("disable");
    let disabled = f.client.get_user(&user.id).await.expect("get").expect("exists");
    assert!(!disabled.values.active);

    let refused = AttrChange { attr: UserAttr::UserName, old: text("x"), new: None };
    let err = f.client.update_user(&user.id, &[refused]).await.expect_err("cannot clear userName");
    assert!(matches!(err, ScimError::InvalidInput(_)), "{err:?}");
}

#[tokio::test]
async fn member_changes_split_into_patches_of_at_most_100() {
    let f = start(AwsOptions::default()).await;
    let users = seed_users(&f.aws, 250);
    let group = f.client.create_group("entra-g1", "Engineers").await.expect("create group");
    assert_eq!(group.members, None);

    let before = f.aws.request_count().patch;
    f.client.patch_group_members(&group.id, &users, &[]).await.expect("add 250");
    assert_eq!(f.aws.request_count().patch - before, 3);
    let members = f.client.group_member_ids(&group.id).await.expect("members");
    assert_eq!(members, users.iter().cloned().collect::<BTreeSet<_>>());

    let (removed, kept) = users.split_at(120);
    f.client.patch_group_members(&group.id, &[], removed).await.expect("remove 120");
    let members = f.client.group_member_ids(&group.id).await.expect("members");
    assert_eq!(members, kept.iter().cloned().collect::<BTreeSet<_>>());
    let snapshot = f.aws.snapshot();
    assert_eq!(snapshot.group_by_name("Engineers").map(|g| g.member_ids.len()), Some(130));

    // Nothing to change: no request.
    let before = f.aws.request_count().total();
    f.client.patch_group_members(&group.id, &[], &[]).await.expect("nothing");
    assert_eq!(f.aws.request_count().total(), before);

    let found = f.client.find_group_by_display_name("Engineers").await.expect("find");
    assert_eq!(found.map(|g| g.id), Some(group.id.clone()));
    f.client.update_group(&group.id, Some("Engineering"), Some("entra-g1b")).await.expect("rename");
    let renamed = f.client.find_group_by_external_id("entra-g1b").await.expect("find").expect("exists");
    assert_eq!(renamed.display_name, "Engineering");
    assert_eq!(f.client.list_groups().await.expect("list").len(), 1);

    // Deleting a user drops its memberships; deleting the group keeps its users.
    f.client.delete_user(&kept[0]).await.expect("delete user");
    f.client.delete_user(&kept[0]).await.expect("already gone is fine");
    assert_eq!(f.client.group_member_ids(&group.id).await.expect("members").len(), 129);
    f.client.delete_group(&group.id).await.expect("delete group");
    f.client.delete_group(&group.id).await.expect("already gone is fine");
    assert_eq!(f.client.list_users().await.expect("users").len(), 249);
    assert_eq!(f.client.list_groups().await.expect("groups").len(), 0);
}

#[tokio::test]
async fn wrong_token_is_unauthorized_and_never_retried_or_shown() {
    let f = start(AwsOptions::default()).await;
    let wrong = "wrong-token-31337";
    let client = ScimClient::new(config(&f.running.base_url, wrong)).expect("config");
    let err = client.list_users().await.expect_err("401");
    assert!(matches!(err, ScimError::Unauthorized(_)), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("Generate token"), "{message}");
    for shown in [message, format!("{err:?}"), format!("{client:?}")] {
        assert!(!shown.contains(wrong) && !shown.contains(TOKEN), "{shown}");
    }
    assert_eq!(f.aws.request_count().get, 1);
    assert_eq!(client.stats().failed, 1);
}

#[tokio::test]
async fn unknown_tenant_says_so() {
    let f = start(AwsOptions::default()).await;
    let url = f.running.base_url.replace(TENANT, "d-0000000000");
    let client = ScimClient::new(config(&url, TOKEN)).expect("config");
    let err = client.delete_user("some-id").await.expect_err("tenant 404 is not 'already gone'");
    assert!(matches!(err, ScimError::UnknownTenant(_)), "{err:?}");
}

#[tokio::test]
async fn transient_failures_are_retried_and_counted() {
    // (faults before success, expected outcome is ok, expected requests, expected throttled)
    let throttle = |secs| Fault::Status { status: 429, retry_after_secs: Some(secs) };
    let unavailable = Fault::Status { status: 503, retry_after_secs: None };
    let cases: Vec<(Vec<Fault>, bool, u64, u64)> = vec![
        (vec![unavailable.clone(), unavailable.clone()], true, 3, 0),
        (vec![throttle(0), Fault::Status { status: 500, retry_after_secs: None }], true, 3, 1),
        (vec![throttle(1)], true, 2, 1),
        // max_retries = 3: four failures exhaust the attempts.
        (vec![unavailable.clone(); 4], false, 4, 0),
        // A 400 is never retried.
        (vec![Fault::Status { status: 400, retry_after_secs: None }], false, 1, 0),
    ];
    for (faults, succeeds, requests, throttled) in cases {
        let f = start(AwsOptions::default()).await;
        for fault in &faults {
            f.aws.inject(fault.clone());
        }
        let result = f.client.list_groups().await;
        assert_eq!(result.is_ok(), succeeds, "{faults:?}: {result:?}");
        let stats = f.client.stats();
        assert_eq!(stats.get, requests, "{faults:?}");
        assert_eq!(f.aws.request_count().get, requests, "{faults:?}");
        assert_eq!(stats.throttled, throttled, "{faults:?}");
        assert_eq!(stats.retried, requests - 1, "{faults:?}");
        if let Err(err) = result {
            assert!(err.request_id().is_some(), "{err}");
        }
    }
}

#[tokio::test]
async fn bodies_that_are_not_json_fail_clearly() {
    let f = start(AwsOptions::default()).await;
    f.aws.inject(Fault::Raw {
        status: 200,
        content_type: "text/html".into(),
        body: "<html><body>Gateway says hello</body></html>".into(),
    });
    let err = f.client.list_users().await.expect_err("HTML is not a user list");
    let ScimError::Decode { problem, snippet, .. } = &err else {
        panic!("expected a decode error, got {err:?}");
    };
    assert_eq!(problem, "not JSON");
    assert!(snippet.starts_with("<html>"), "{snippet}");

    // An error status with an HTML body keeps its status and says what the body was.
    let mut cfg = config(&f.running.base_url, TOKEN);
    cfg.max_retries = 0;
    let client = ScimClient::new(cfg).expect("config");
    f.aws.inject(Fault::Raw {
        status: 502,
        content_type: "text/html".into(),
        body: "<h1>Bad Gateway</h1>".into(),
    });
    let err = client.list_groups().await.expect_err("502");
    let ScimError::Server(failure) = &err else {
        panic!("expected a server error, got {err:?}");
    };
    assert_eq!(failure.status, 502);
    assert!(failure.detail.contains("not a SCIM error body: <h1>Bad Gateway</h1>"), "{}", failure.detail);
}

#[tokio::test]
async fn emulator_validation_reaches_the_caller() {
    let f = start(AwsOptions::default()).await;
    let mut reserved = desired(1);
    reserved.values.user_name = "Administrator".into();
    let mut spaced = desired(2);
    spaced.values.user_name = "two words".into();
    for user in [reserved, spaced] {
        let err = f.client.create_user(&user).await.expect_err("invalid");
        assert!(matches!(err, ScimError::Validation(_)), "{err:?}");
    }
}
