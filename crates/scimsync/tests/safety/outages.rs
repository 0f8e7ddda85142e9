//! A failed, partial or suspicious read of Entra ID is an error before any plan: zero removals in AWS,
//! a clear message, a non-zero exit.

use scimsync_emulator::aws::AwsSnapshot;
use scimsync_emulator::faults::{FaultKind, Rule, Service};

use crate::support::{Company, Harness};

/// Six users in one assigned group, synced once.
fn synced() -> Harness {
    let company = Company::new().users(1, 6).group(1, "Engineers", &[1, 2, 3, 4, 5, 6], &[]).assign_group(1);
    let harness = Harness::start(company.build());
    harness.sync(&[]).code(0);
    assert_eq!(harness.snapshot().users.len(), 6);
    harness
}

fn graph(count: u32, path: &str, fault: FaultKind) -> Rule {
    Rule { service: Some(Service::Graph), ..Rule::next(count, path, fault) }
}

/// What a removal would change: who is active, and who is in which group.
/// Users with whether they are active; groups with their member counts.
type RemovalView = (Vec<(String, bool)>, Vec<(String, usize)>);

fn removal_view(snapshot: &AwsSnapshot) -> RemovalView {
    let mut users: Vec<(String, bool)> = snapshot
        .users
        .iter()
        .map(|u| {
            (u["userName"].as_str().unwrap_or_default().to_string(), u["active"].as_bool().unwrap_or(true))
        })
        .collect();
    users.sort();
    let groups = snapshot.groups.iter().map(|g| (g.display_name.clone(), g.member_ids.len())).collect();
    (users, groups)
}

/// Runs `args` with `rule` armed; it must fail with `message`, and AWS must be as it was.
fn refused(harness: &Harness, rule: Rule, args: &[&str], command: &str, message: &str) {
    let before = removal_view(&harness.snapshot());
    harness.aws().reset_request_count();
    harness.faults().add_rule(rule);
    let run = harness.with_state(command, args).run();
    harness.faults().clear();
    eprintln!("--- {command} {args:?}: {}", run.stderr.lines().last().unwrap_or_default());
    run.code(1).stderr_has(message).stderr_has("nothing was changed in AWS");
    assert_eq!(harness.aws().request_count().writes(), 0, "no write to AWS:\n{run}");
    assert_eq!(removal_view(&harness.snapshot()), before, "AWS changed:\n{run}");
}

#[test]
fn graph_outages_never_remove_anything() {
    let harness = synced();
    let base = harness.env_value("SCIMSYNC_GRAPH_URL");
    // 503 on the users page until the retries are used up (Retry-After: 0 keeps the test fast).
    let unavailable = FaultKind::Status { status: 503, retry_after_secs: Some(0) };
    refused(&harness, graph(50, "/v1.0/users/delta", unavailable), &["--full"], "sync", "503");
    // An empty first page where there were users: valid JSON, a delta link, no one.
    let empty = FaultKind::Body {
        status: 200,
        content_type: "application/json".into(),
        body: format!(r#"{{"value":[],"@odata.deltaLink":"{base}/v1.0/users/delta?$deltatoken=latest"}}"#),
    };
    refused(&harness, graph(1, "/v1.0/users/delta", empty), &["--full"], "sync", "Graph listed no users");
    // The same through `plan`, which reads /users.
    let empty = FaultKind::Body {
        status: 200,
        content_type: "application/json".into(),
        body: r#"{"value":[]}"#.into(),
    };
    let rule = Rule { method: Some("GET".into()), ..graph(1, "/v1.0/users", empty) };
    refused(&harness, rule, &[], "plan", "Graph listed no users");
    // The groups page empty: the assigned group is gone from the read, its members would leave.
    let empty_groups = FaultKind::Body {
        status: 200,
        content_type: "application/json".into(),
        body: format!(r#"{{"value":[],"@odata.deltaLink":"{base}/v1.0/groups/delta?$deltatoken=latest"}}"#),
    };
    refused(
        &harness,
        graph(1, "/v1.0/groups/delta", empty_groups),
        &["--full"],
        "sync",
        "were not in the groups",
    );
    // A body cut in half.
    refused(&harness, graph(1, "/v1.0/users/delta", FaultKind::Truncate), &["--full"], "sync", "JSON");
    // A proxy's HTML page instead of JSON.
    refused(&harness, graph(1, "/v1.0/groups/delta", FaultKind::Garbage), &["--full"], "sync", "JSON");
    // 401 halfway: the first calls pass, then the token is refused.
    let unauthorized = FaultKind::Status { status: 401, retry_after_secs: None };
    refused(&harness, Rule { skip: 2, ..graph(50, "/v1.0/", unauthorized) }, &["--full"], "sync", "401");

    // The incremental path: an empty delta page is "no change", never a removal.
    harness.sync(&[]).code(0);
    assert_eq!(harness.snapshot().users.iter().filter(|u| u["active"] == true).count(), 6);
    // Without faults, nothing is left to do.
    harness.plan(&["--detailed-exitcode"]).code(0);
    let stats = harness.faults().stats();
    assert!(stats.failures() >= 12, "{stats:?}");
}
