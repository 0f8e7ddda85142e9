//! `scimsync emulate`: the emulators as a process of their own, stopped by SIGTERM.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use assert_cmd::cargo::CommandCargoExt;

use crate::support::{Cmd, base_env, wait_until};

const NAMES: [&str; 8] = [
    "AZURE_TENANT_ID",
    "AZURE_CLIENT_ID",
    "AZURE_CLIENT_SECRET",
    "AZURE_AUTHORITY_HOST",
    "SCIMSYNC_GRAPH_URL",
    "SCIMSYNC_APP",
    "SCIMSYNC_SCIM_URL",
    "SCIMSYNC_SCIM_TOKEN",
];

/// `export NAME=value` or `export NAME='value'` → (NAME, value).
fn parse_export(line: &str) -> (String, String) {
    let rest = line.strip_prefix("export ").unwrap_or_else(|| panic!("not an export line: {line:?}"));
    let (name, value) = rest.split_once('=').unwrap_or_else(|| panic!("no '=' in {line:?}"));
    let value = match value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')) {
        Some(quoted) => quoted.replace(r"'\''", "'"),
        None => value.to_string(),
    };
    (name.to_string(), value)
}

#[test]
fn emulate_prints_the_eight_exports_serves_them_and_stops_cleanly_on_sigterm() {
    let home = tempfile::tempdir().expect("temp dir");
    let child = Command::cargo_bin("scimsync")
        .expect("the scimsync binary is built")
        .env_clear()
        .envs(base_env(home.path()))
        .args(["emulate", "--listen", "127.0.0.1:0"])
        .current_dir(home.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("scimsync emulate starts");
    // The process goes even when an assertion fails below (std does not signal a reaped child).
    struct KillOnDrop(std::process::Child);
    impl Drop for KillOnDrop {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut child = KillOnDrop(child);
    let pid = child.0.id();

    let (lines_tx, lines) = mpsc::channel();
    let stdout = child.0.stdout.take().expect("piped stdout");
    let stdout_reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    let mut stderr = child.0.stderr.take().expect("piped stderr");
    let stderr_reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut text);
        text
    });

    let deadline = Instant::now() + Duration::from_secs(20);
    let mut exports = Vec::new();
    while exports.len() < NAMES.len() {
        let left = deadline.saturating_duration_since(Instant::now());
        let line =
            lines.recv_timeout(left).unwrap_or_else(|e| panic!("export lines so far {exports:?}: {e}"));
        exports.push(parse_export(&line));
    }
    let names: Vec<&str> = exports.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, NAMES);
    assert!(exports.iter().all(|(_, v)| !v.is_empty()), "{exports:?}");
    let env: BTreeMap<String, String> = exports.into_iter().collect();
    assert_eq!(env["SCIMSYNC_APP"], "AWS IAM Identity Center");

    // The lines are printed once the listener accepts: they work as they are.
    let mut with_exports = base_env(home.path());
    with_exports.extend(env.clone());
    let secret = env["AZURE_CLIENT_SECRET"].clone();
    let token = env["SCIMSYNC_SCIM_TOKEN"].clone();
    let cmd = |args: &[&str]| {
        Cmd::new(args, with_exports.clone(), home.path())
            .secret_env("AZURE_CLIENT_SECRET", &secret)
            .secret_env("SCIMSYNC_SCIM_TOKEN", &token)
    };
    cmd(&["status"]).run().code(0).stdout_has("every PT40M");
    let state = home.path().join("state.db");
    cmd(&["plan", "--state", state.to_str().expect("UTF-8 path")])
        .run()
        .code(0)
        .stdout_has("Plan: 16 to create");

    let kill = Command::new("kill").args(["-TERM", &pid.to_string()]).status().expect("kill runs");
    assert!(kill.success());
    let mut status = None;
    wait_until("scimsync emulate to stop after SIGTERM", Duration::from_secs(10), || {
        status = child.0.try_wait().expect("wait for scimsync emulate");
        status.is_some()
    });
    let stderr = stderr_reader.join().expect("stderr reader");
    stdout_reader.join().expect("stdout reader");
    let status = status.expect("exited");
    assert_eq!(status.code(), Some(0), "a clean stop exits 0: {status:?}\nstderr:\n{stderr}");
    assert!(stderr.contains("scimsync emulate: stopping"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}
