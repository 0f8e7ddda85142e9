//! `scimsync watch` as a process: it carries a change made in Entra ID to AWS, and on SIGTERM it
//! finishes, saves its state and exits 0; started again, it continues from that state.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use scimsync_emulator::{EmulatorConfig, RunningEmulator, start};

fn sample_id(n: u32) -> String {
    format!("{n:08x}-5a3e-4c1d-9b2a-0000000000{:02x}", n % 256)
}

fn spawn_watch(emu: &RunningEmulator, state: &std::path::Path) -> Child {
    let mut command = Command::new(env!("CARGO_BIN_EXE_scimsync"));
    command
        .args(["watch", "--interval", "100ms", "--log-level", "info", "--state"])
        .arg(state)
        .env_remove("SCIMSYNC_CONFIG")
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (key, value) in emu.env() {
        command.env(key, value);
    }
    command.spawn().expect("the binary starts")
}

async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn title_in_aws(emu: &RunningEmulator, user_name: &str) -> Option<String> {
    emu.aws().snapshot().user_by_name(user_name)?.get("title")?.as_str().map(str::to_owned)
}

#[cfg(unix)]
fn sigterm(child: &Child) {
    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill runs");
    assert!(status.success());
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread")]
async fn watch_carries_changes_and_exits_0_on_sigterm_with_its_state_saved() {
    let emu = start(EmulatorConfig::sample()).await.expect("emulator");
    let dir = tempfile::tempdir().expect("temp dir");
    let state = dir.path().join("state.db");
    let mut child = spawn_watch(&emu, &state);
    wait_for("the first full sync", || {
        emu.aws().snapshot().user_by_name("maya.patel@northwind.example").is_some()
    })
    .await;

    emu.entra().edit_users(|users| {
        users.get_mut(&sample_id(1)).expect("maya").insert("jobTitle".into(), "Principal Engineer".into());
    });
    let changed = Instant::now();
    wait_for("the change in AWS", || {
        title_in_aws(&emu, "maya.patel@northwind.example").as_deref() == Some("Principal Engineer")
    })
    .await;
    assert!(changed.elapsed() < Duration::from_secs(5), "carried in {:?}", changed.elapsed());

    sigterm(&child);
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(Instant::now() < deadline, "watch did not stop on SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let output = child.wait_with_output().expect("output");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("carried: updated user maya.patel@northwind.example"), "{stderr}");
    assert!(stderr.contains("SIGTERM"), "{stderr}");
    assert!(!stderr.contains("deltatoken"), "delta links are secrets: {stderr}");

    // Started again, it goes on from its state: incremental at once, with no AWS call when quiet.
    emu.entra().edit_users(|users| {
        users.get_mut(&sample_id(2)).expect("jonas").insert("jobTitle".into(), "SRE Lead".into());
    });
    let mut child = spawn_watch(&emu, &state);
    wait_for("the change made while stopped", || {
        title_in_aws(&emu, "jonas.berg@northwind.example").as_deref() == Some("SRE Lead")
    })
    .await;
    sigterm(&child);
    let output = loop {
        if child.try_wait().expect("wait").is_some() {
            break child.wait_with_output().expect("output");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("incremental run: 1 change(s)"), "{stderr}");
    assert!(!stderr.contains("full run"), "restarted from its state: {stderr}");
}
