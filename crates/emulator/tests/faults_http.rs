//! The fault layer over HTTP: the admin route, each kind of fault as a client sees it.

use std::time::{Duration, Instant};

use scimsync_emulator::faults::{Chaos, FaultConfig, FaultKind, Rule, Service};
use scimsync_emulator::{EmulatorConfig, RunningEmulator, start};
use serde_json::{Value, json};

async fn emulator(faults: FaultConfig) -> RunningEmulator {
    start(EmulatorConfig { faults, ..EmulatorConfig::sample() }).await.unwrap()
}

fn scim_users(emu: &RunningEmulator) -> String {
    format!("{}/Users", emu.env_value("SCIMSYNC_SCIM_URL").unwrap())
}

async fn get_scim(emu: &RunningEmulator) -> Result<reqwest::Response, reqwest::Error> {
    reqwest::Client::new()
        .get(scim_users(emu))
        .bearer_auth(emu.env_value("SCIMSYNC_SCIM_TOKEN").unwrap())
        .send()
        .await
}

#[tokio::test]
async fn admin_route_sets_rules_and_reports_what_was_injected() {
    let emu = emulator(FaultConfig::default()).await;
    let http = reqwest::Client::new();
    let admin = format!("{}/_emulator/faults", emu.base_url());
    let config = json!({
        "seed": 3,
        "rules": [{"service": "aws", "path": "/scim/v2/Users", "count": 2,
                   "fault": {"kind": "status", "status": 429, "retry_after_secs": 7}}]
    });
    assert_eq!(http.post(&admin).json(&config).send().await.unwrap().status(), 204);
    for _ in 0..2 {
        let answer = get_scim(&emu).await.unwrap();
        assert_eq!(answer.status(), 429);
        assert_eq!(answer.headers()["retry-after"], "7");
        assert!(answer.headers().contains_key("x-amzn-requestid"));
        let body: Value = answer.json().await.unwrap();
        assert_eq!(body["status"], "429");
    }
    assert_eq!(get_scim(&emu).await.unwrap().status(), 200);

    let rule = json!({"path": "/scim/v2/Users", "fault": {"kind": "garbage"}});
    assert_eq!(http.post(format!("{admin}/rules")).json(&rule).send().await.unwrap().status(), 204);
    let answer = get_scim(&emu).await.unwrap();
    assert_eq!(answer.status(), 200);
    assert!(answer.text().await.unwrap().starts_with("<!DOCTYPE html>"));

    let state: Value = http.get(&admin).send().await.unwrap().json().await.unwrap();
    assert_eq!(state["injected"]["aws.throttled"], 2);
    assert_eq!(state["injected"]["aws.garbage"], 1);
    assert_eq!(state["config"]["seed"], 3);

    let bad = http.post(&admin).json(&json!({"aws": {"error_rat": 1}})).send().await.unwrap();
    assert_eq!(bad.status(), 400);
    assert_eq!(http.delete(&admin).send().await.unwrap().status(), 204);
    assert!(emu.faults().config().is_quiet());
}

#[tokio::test]
async fn dropped_truncated_and_delayed_calls() {
    let emu = emulator(FaultConfig::default()).await;
    let faults = emu.faults();

    // Dropped before it is served: no answer at all, and nothing changed.
    faults.add_rule(Rule::next(1, "/scim/v2/Users", FaultKind::Drop));
    let err = get_scim(&emu).await.expect_err("the connection is closed without an answer");
    assert!(!err.is_timeout(), "{err}");

    // Dropped after it is served: the user is created, the answer lost.
    faults.add_rule(Rule::next(1, "/scim/v2/Users", FaultKind::DropAfter));
    let user = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "lost@example.test",
        "displayName": "Lost Answer", "name": {"givenName": "Lost", "familyName": "Answer"},
        "emails": [{"value": "lost@example.test", "type": "work", "primary": true}]
    });
    let sent = reqwest::Client::new()
        .post(scim_users(&emu))
        .bearer_auth(emu.env_value("SCIMSYNC_SCIM_TOKEN").unwrap())
        .json(&user)
        .send()
        .await;
    assert!(sent.is_err(), "the answer is lost");
    assert!(emu.aws().snapshot().user_by_name("lost@example.test").is_some(), "but the user was made");

    // Truncated: a complete HTTP answer whose JSON is cut in half.
    faults.add_rule(Rule::next(1, "/scim/v2/Users", FaultKind::Truncate));
    let body = get_scim(&emu).await.unwrap().bytes().await.unwrap();
    assert!(serde_json::from_slice::<Value>(&body).is_err());
    assert!(!body.is_empty());

    // An empty page where there are users.
    let empty = FaultKind::Body {
        status: 200,
        content_type: "application/json".into(),
        body: r#"{"value":[]}"#.into(),
    };
    faults.add_rule(Rule { service: Some(Service::Graph), ..Rule::next(1, "/v1.0/users", empty) });
    // (the rule waits for a Graph call; an AWS call does not use it up)
    assert_eq!(get_scim(&emu).await.unwrap().status(), 200);
    assert_eq!(faults.config().rules.len(), 1);

    faults.clear();
    faults.set(FaultConfig { aws: Chaos { latency_ms: 150, ..Chaos::default() }, ..FaultConfig::default() });
    let started = Instant::now();
    assert_eq!(get_scim(&emu).await.unwrap().status(), 200);
    assert!(started.elapsed() >= Duration::from_millis(150));

    let stats = faults.stats();
    assert_eq!((stats.get("aws.dropped"), stats.get("aws.truncated"), stats.get("aws.latency")), (2, 1, 1));
}

#[tokio::test]
async fn random_faults_hit_about_their_share() {
    let config = FaultConfig {
        seed: 11,
        aws: Chaos { error_rate: 0.3, ..Chaos::default() },
        ..FaultConfig::default()
    };
    let emu = emulator(config).await;
    let mut failed = 0;
    for _ in 0..100 {
        let status = get_scim(&emu).await.unwrap().status().as_u16();
        if status == 500 || status == 503 {
            failed += 1;
        } else {
            assert_eq!(status, 200);
        }
    }
    assert!((15..=45).contains(&failed), "{failed} of 100");
    assert_eq!(emu.faults().stats().get("aws.error"), failed);
}
