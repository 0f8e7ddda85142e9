//! kill -9 during apply, at random points, many times: the next run converges with no duplicates,
//! because every applied change is recorded at once in its own transaction and a create that had
//! succeeded is found by its externalId and adopted.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::cargo::CommandCargoExt;
use scimsync_emulator::faults::{Chaos, FaultConfig};

use serde_json::Value;

use crate::support::{Company, Harness, base_env, group_id, upn, user_id, user_names};

const KILLS: usize = 10;

/// A small seeded generator (xorshift), so the kill points are the same on every run.
struct Points(u64);

impl Points {
    fn next_ms(&mut self, below: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % below
    }
}

#[test]
fn kill_9_during_apply_then_the_next_run_converges() {
    let mut company = Company::new().users(1, 40);
    for g in 1..=4u32 {
        let members: Vec<u32> = (1..=40).filter(|n| n % 4 == g - 1).collect();
        company = company.group(g, &format!("Crash-{g}"), &members, &[]).assign_group(g);
    }
    let harness = Harness::start(company.build());
    // Every AWS call takes 10–20 ms, so that a sync spends a second or so applying.
    let slow = Chaos { latency_ms: 20, latency_jitter_ms: 20, ..Chaos::default() };
    harness.faults().set(FaultConfig { seed: 9, aws: slow, ..FaultConfig::default() });

    let mut env = base_env(harness.state_path().parent().expect("a temp dir"));
    for key in [
        "AZURE_TENANT_ID",
        "AZURE_CLIENT_ID",
        "AZURE_CLIENT_SECRET",
        "AZURE_AUTHORITY_HOST",
        "SCIMSYNC_GRAPH_URL",
        "SCIMSYNC_APP",
        "SCIMSYNC_SCIM_URL",
        "SCIMSYNC_SCIM_TOKEN",
    ] {
        env.insert(key.into(), harness.env_value(key));
    }
    let state = harness.state_path().display().to_string();
    let mut points = Points(0x9e37_79b9_7f4a_7c15);
    let mut killed_during = Vec::new();
    let mut next_user = 41;
    let mut group_one: Vec<String> = (1..=40).filter(|n| n % 4 == 0).map(user_id).collect();
    for round in 0..KILLS {
        // Work for every run: a new title for everyone, and three newcomers in Crash-1.
        harness.entra().edit_users(|users| {
            for user in users.values_mut() {
                user.insert("jobTitle".into(), Value::String(format!("Title {round}")));
            }
            for _ in 0..3 {
                let mut user = users[&user_id(1)].clone();
                user.insert("id".into(), Value::String(user_id(next_user)));
                user.insert("userPrincipalName".into(), Value::String(upn(next_user)));
                user.insert("mail".into(), Value::String(upn(next_user)));
                users.insert(user_id(next_user), user);
                group_one.push(user_id(next_user));
                next_user += 1;
            }
        });
        harness.entra().set_group_members(&group_id(1), group_one.clone());
        let writes_before = harness.aws().request_count().writes();
        let mut child = Command::cargo_bin("scimsync")
            .expect("the binary")
            .env_clear()
            .envs(&env)
            .args(["sync", "--state", &state])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("scimsync starts");
        let at = Duration::from_millis(100 + points.next_ms(900));
        let started = Instant::now();
        while started.elapsed() < at {
            if child.try_wait().expect("wait").is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        killed_during.push(harness.aws().request_count().writes() - writes_before);
        let snapshot = harness.snapshot();
        let mut names = user_names(&snapshot);
        names.dedup();
        assert_eq!(names.len(), snapshot.users.len(), "duplicate users after a kill");
    }
    // Some kills must have landed in the middle of applying.
    assert!(
        killed_during.iter().filter(|w| **w > 0).count() >= 3,
        "writes per killed run: {killed_during:?}"
    );

    harness.faults().clear();
    harness.sync(&[]).code(0);
    harness.plan(&["--detailed-exitcode"]).code(0);
    let snapshot = harness.snapshot();
    assert_eq!(snapshot.users.len(), 40 + 3 * KILLS, "{:?}", user_names(&snapshot));
    assert_eq!(snapshot.groups.len(), 4);
    for g in &snapshot.groups {
        let expected = if g.display_name == "Crash-1" { 10 + 3 * KILLS } else { 10 };
        assert_eq!(g.member_ids.len(), expected, "{}", g.display_name);
    }
    let title = format!("Title {}", KILLS - 1);
    assert!(snapshot.users.iter().all(|u| u["title"] == title.as_str()));
    println!("kill -9: {KILLS} runs killed; AWS writes made by each before its kill: {killed_during:?}");
}
