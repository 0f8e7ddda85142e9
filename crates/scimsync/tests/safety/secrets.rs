//! Every command, at `--log-level trace`, with known secret values: no secret, no bearer token (the
//! JWT the emulator issues starts with "eyJ") and no delta link or token may appear in stdout,
//! stderr or the logs (which go to stderr).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::cargo::CommandCargoExt;
use scimsync_emulator::DirectoryFile;

use crate::support::{Company, Harness, base_env};

const CLIENT_SECRET: &str = "Kn0wn-Client-Secret~value.1";
const SCIM_TOKEN: &str = "Kn0wn-Scim-Token-value-2";
const ENV_KEYS: [&str; 8] = [
    "AZURE_TENANT_ID",
    "AZURE_CLIENT_ID",
    "AZURE_CLIENT_SECRET",
    "AZURE_AUTHORITY_HOST",
    "SCIMSYNC_GRAPH_URL",
    "SCIMSYNC_APP",
    "SCIMSYNC_SCIM_URL",
    "SCIMSYNC_SCIM_TOKEN",
];

/// What must never be printed, besides the secrets themselves.
const MARKERS: [&str; 4] = ["eyJ", "deltatoken", "deltaLink", "skiptoken"];

#[track_caller]
fn assert_clean(what: &str, output: &str, secrets: &[&str]) {
    for secret in secrets.iter().chain(MARKERS.iter()) {
        assert!(
            !output.to_lowercase().contains(&secret.to_lowercase()),
            "{what} printed {secret:?}:\n{output}"
        );
    }
}

fn spawn(env: &BTreeMap<String, String>, cwd: &std::path::Path, args: &[&str]) -> Child {
    Command::cargo_bin("scimsync")
        .expect("the binary")
        .env_clear()
        .envs(env)
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("scimsync starts")
}

/// SIGTERM, then everything it printed.
fn stop(mut child: Child) -> (String, String) {
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().expect("wait").is_none() {
        assert!(Instant::now() < deadline, "it did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
    let (mut out, mut err) = (String::new(), String::new());
    if let Some(mut stdout) = child.stdout.take() {
        stdout.read_to_string(&mut out).expect("stdout");
    }
    if let Some(mut stderr) = child.stderr.take() {
        stderr.read_to_string(&mut err).expect("stderr");
    }
    (out, err)
}

#[test]
fn no_command_prints_a_secret_a_token_or_a_delta_link() {
    let mut file = Company::new()
        .users(1, 4)
        .group(1, "Secretive", &[1, 2, 3], &[])
        .assign_group(1)
        .assign_user(4)
        .build();
    file.clients[0].secret = CLIENT_SECRET.into();
    file.aws.as_mut().expect("aws").token = SCIM_TOKEN.into();
    let harness = Harness::start(file);
    let secrets = [CLIENT_SECRET, SCIM_TOKEN];
    fn with(args: &[&'static str]) -> Vec<&'static str> {
        [args, &["--log-level", "trace"][..]].concat()
    }

    let mut printed = 0;
    for args in [
        with(&["trigger"]),
        with(&["status"]),
        with(&["logs"]),
        with(&["plan"]),
        with(&["plan", "--output", "json"]),
        with(&["sync"]),
        with(&["sync", "--output", "json"]),
        with(&["sync", "--full"]),
    ] {
        let command = args[0];
        let run = if command == "plan" || command == "sync" {
            harness.with_state(command, &args[1..]).run()
        } else {
            harness.run(&args)
        };
        assert!(run.code == 0 || run.code == 3, "{run}");
        assert_clean(&format!("{args:?}"), &run.stdout, &secrets);
        assert_clean(&format!("{args:?}"), &run.stderr, &secrets);
        printed += run.stdout.len() + run.stderr.len();
    }
    // The second sync was incremental: it read and stored delta links; none was printed.
    assert!(printed > 4_000, "trace logging printed little ({printed} bytes)");

    // watch, for a few seconds, while the directory changes.
    let mut env = base_env(harness.state_path().parent().expect("temp dir"));
    for key in ENV_KEYS {
        env.insert(key.into(), harness.env_value(key));
    }
    let state = harness.state_path().display().to_string();
    let watch = spawn(
        &env,
        harness.state_path().parent().unwrap(),
        &["watch", "--state", &state, "--interval", "1s", "--log-level", "trace"],
    );
    std::thread::sleep(Duration::from_millis(1500));
    harness.entra().edit_users(|users| {
        for user in users.values_mut() {
            user.insert("jobTitle".into(), serde_json::Value::String("Watched".into()));
        }
    });
    std::thread::sleep(Duration::from_millis(2000));
    let (out, err) = stop(watch);
    assert!(err.contains("carried"), "watch carried nothing:\n{err}");
    assert_clean("watch", &out, &secrets);
    assert_clean("watch", &err, &secrets);

    // demo: the sample company's secrets.
    let sample = DirectoryFile::sample();
    let sample_secrets: Vec<&str> = sample
        .clients
        .iter()
        .map(|c| c.secret.as_str())
        .chain(sample.aws.as_ref().map(|a| a.token.as_str()))
        .collect();
    let home = tempfile::tempdir().expect("home");
    let demo =
        crate::support::Cmd::new(&["demo", "--log-level", "trace"], base_env(home.path()), home.path()).run();
    assert_clean("demo", &demo.stdout, &sample_secrets);
    assert_clean("demo", &demo.stderr, &sample_secrets);

    // emulate: stdout is the export lines, made to carry the secrets to a shell; its stderr (the
    // request log at trace level, while a sync runs against it) must not.
    let mut emulate = spawn(
        &base_env(home.path()),
        home.path(),
        &["emulate", "--listen", "127.0.0.1:0", "--log-level", "trace"],
    );
    let mut exported = base_env(home.path());
    let mut lines = BufReader::new(emulate.stdout.take().expect("stdout")).lines();
    while exported.len() < 3 + ENV_KEYS.len() {
        let line = lines.next().expect("an export line").expect("text");
        let (key, value) = line.trim_start_matches("export ").split_once('=').expect("NAME=value");
        exported.insert(key.to_string(), value.trim_matches('\'').to_string());
    }
    let state = home.path().join("emulate-state.db").display().to_string();
    let sync =
        crate::support::Cmd::new(&["sync", "--state", &state, "--log-level", "trace"], exported, home.path())
            .secret_env("AZURE_CLIENT_SECRET", "emulator-secret-scimsync")
            .run();
    assert!(sync.code == 0 || sync.code == 3, "{sync}");
    assert_clean("sync against emulate", &sync.stdout, &sample_secrets);
    assert_clean("sync against emulate", &sync.stderr, &sample_secrets);
    drop(lines);
    let (_, err) = stop(emulate);
    assert!(err.to_lowercase().contains("request") || !err.is_empty(), "emulate logged nothing");
    assert_clean("emulate (stderr)", &err, &sample_secrets);
}
