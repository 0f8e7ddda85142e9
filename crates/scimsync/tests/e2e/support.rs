//! What every end-to-end test needs: in-process emulators on a runtime of their own, small
//! directories, and runs of the real `scimsync` binary with nothing but the emulators' environment.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::cargo::CommandCargoExt;
use scimsync_emulator::aws::{AwsScim, AwsSnapshot};
use scimsync_emulator::directory::{DirAssignment, DirAws, DirGroup, InitialJobState};
use scimsync_emulator::{DirectoryFile, EmulatorConfig, EntraEmulator, JobTiming, RunningEmulator, start};
use serde_json::{Map, Value, json};

/// How long one run of the binary may take before the test fails (it never should).
const RUN_DEADLINE: Duration = Duration::from_secs(60);

/// A job cycle short enough for tests, long enough to be seen running.
pub fn fast_timing() -> JobTiming {
    JobTiming { interval: None, cycle_duration: Duration::from_millis(300), tick: Duration::from_millis(50) }
}

/// The emulators, serving on 127.0.0.1:0 from a multi-thread runtime while the test thread runs the
/// binary, and a temporary directory for HOME and the state file.
pub struct Harness {
    // Field order is drop order: the emulator stops before its runtime goes.
    emulator: RunningEmulator,
    /// Serves the emulators on its worker threads while the test thread waits for the binary.
    _runtime: tokio::runtime::Runtime,
    dir: tempfile::TempDir,
}

impl Harness {
    pub fn start(directory: DirectoryFile) -> Harness {
        Harness::start_with(directory, fast_timing())
    }

    pub fn start_with(directory: DirectoryFile, job_timing: JobTiming) -> Harness {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let config = EmulatorConfig { job_timing, ..EmulatorConfig::new(directory) };
        let emulator = runtime.block_on(start(config)).expect("the emulators start");
        let dir = tempfile::tempdir().expect("a temporary directory");
        Harness { emulator, _runtime: runtime, dir }
    }

    pub fn entra(&self) -> &EntraEmulator {
        self.emulator.entra()
    }

    pub fn aws(&self) -> &AwsScim {
        self.emulator.aws()
    }

    /// The fault layer of both emulators.
    #[allow(dead_code)] // used by the safety tests
    pub fn faults(&self) -> &scimsync_emulator::faults::Faults {
        self.emulator.faults()
    }

    pub fn snapshot(&self) -> AwsSnapshot {
        self.aws().snapshot()
    }

    pub fn env_value(&self, key: &str) -> String {
        self.emulator.env_value(key).unwrap_or_else(|| panic!("the emulator sets {key}"))
    }

    pub fn state_path(&self) -> PathBuf {
        self.dir.path().join("state.db")
    }

    /// `scimsync ARGS` with PATH, HOME, NO_COLOR and the emulators' eight variables, nothing else.
    pub fn cmd(&self, args: &[&str]) -> Cmd {
        let mut env = base_env(self.dir.path());
        env.extend(self.emulator.env());
        Cmd {
            args: args.iter().map(|a| a.to_string()).collect(),
            env,
            cwd: self.dir.path().to_path_buf(),
            secrets: self.secrets(),
        }
    }

    /// `cmd(args).run()`.
    pub fn run(&self, args: &[&str]) -> Run {
        self.cmd(args).run()
    }

    /// `scimsync plan --state STATE ARGS`.
    pub fn plan(&self, args: &[&str]) -> Run {
        self.with_state("plan", args).run()
    }

    /// `scimsync sync --state STATE ARGS`.
    pub fn sync(&self, args: &[&str]) -> Run {
        self.with_state("sync", args).run()
    }

    pub fn with_state(&self, command: &str, args: &[&str]) -> Cmd {
        let state = self.state_path();
        let state = state.to_str().expect("a UTF-8 temp path");
        let mut all = vec![command, "--state", state];
        all.extend_from_slice(args);
        self.cmd(&all)
    }

    /// Values that must never be printed.
    fn secrets(&self) -> Vec<String> {
        ["AZURE_CLIENT_SECRET", "SCIMSYNC_SCIM_TOKEN"]
            .iter()
            .filter_map(|k| self.emulator.env_value(k))
            .filter(|v| !v.is_empty())
            .collect()
    }
}

pub fn base_env(home: &Path) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    env.insert("PATH".to_string(), std::env::var("PATH").unwrap_or_default());
    env.insert("HOME".to_string(), home.display().to_string());
    env.insert("NO_COLOR".to_string(), "1".to_string());
    env
}

/// One run of the binary, to be configured.
pub struct Cmd {
    args: Vec<String>,
    env: BTreeMap<String, String>,
    /// A temporary directory, so that relative paths never land in the repository.
    cwd: PathBuf,
    /// Values the run must not print, checked on every run.
    secrets: Vec<String>,
}

impl Cmd {
    /// `scimsync ARGS` in `cwd` with exactly `env` (and no secret to watch for).
    pub fn new(args: &[&str], env: BTreeMap<String, String>, cwd: &Path) -> Cmd {
        Cmd {
            args: args.iter().map(|a| a.to_string()).collect(),
            env,
            cwd: cwd.to_path_buf(),
            secrets: Vec::new(),
        }
    }

    pub fn env(mut self, key: &str, value: &str) -> Cmd {
        self.env.insert(key.to_string(), value.to_string());
        self
    }

    /// A secret the run is given and must not print.
    pub fn secret_env(mut self, key: &str, value: &str) -> Cmd {
        self.secrets.push(value.to_string());
        self.env(key, value)
    }

    pub fn env_remove(mut self, key: &str) -> Cmd {
        self.env.remove(key);
        self
    }

    pub fn run(self) -> Run {
        let mut command = Command::cargo_bin("scimsync").expect("the scimsync binary is built");
        command
            .env_clear()
            .envs(&self.env)
            .args(&self.args)
            .current_dir(&self.cwd)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let started = Instant::now();
        let mut child = command.spawn().expect("scimsync starts");
        let stdout = reader(child.stdout.take().expect("piped stdout"));
        let stderr = reader(child.stderr.take().expect("piped stderr"));
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait for scimsync") {
                break status;
            }
            if started.elapsed() > RUN_DEADLINE {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "scimsync {:?} did not finish within {RUN_DEADLINE:?}\nstdout:\n{}\nstderr:\n{}",
                    self.args,
                    stdout.join().unwrap_or_default(),
                    stderr.join().unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let run = Run {
            args: self.args,
            code: status.code().unwrap_or(-1),
            stdout: stdout.join().expect("stdout reader"),
            stderr: stderr.join().expect("stderr reader"),
            elapsed: started.elapsed(),
        };
        assert!(!run.stderr.contains("panicked"), "scimsync panicked:\n{run}");
        for secret in &self.secrets {
            assert!(!run.stdout.contains(secret.as_str()), "a secret was printed on stdout:\n{run}");
            assert!(!run.stderr.contains(secret.as_str()), "a secret was printed on stderr:\n{run}");
        }
        run
    }
}

fn reader(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// What a run printed and how it ended.
pub struct Run {
    pub args: Vec<String>,
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "scimsync {:?} exited {} after {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.args, self.code, self.elapsed, self.stdout, self.stderr
        )
    }
}

impl Run {
    /// Asserts the exit code, showing everything printed when it differs.
    #[track_caller]
    pub fn code(&self, expected: i32) -> &Run {
        assert_eq!(self.code, expected, "unexpected exit code:\n{self}");
        self
    }

    #[track_caller]
    pub fn stdout_has(&self, needle: &str) -> &Run {
        assert!(self.stdout.contains(needle), "stdout lacks {needle:?}:\n{self}");
        self
    }

    #[track_caller]
    pub fn stdout_lacks(&self, needle: &str) -> &Run {
        assert!(!self.stdout.contains(needle), "stdout has {needle:?}:\n{self}");
        self
    }

    #[track_caller]
    pub fn stderr_has(&self, needle: &str) -> &Run {
        assert!(self.stderr.contains(needle), "stderr lacks {needle:?}:\n{self}");
        self
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{self}"))
    }
}

/// Polls `condition` every 20 ms until it holds, failing the test after `deadline`.
#[track_caller]
pub fn wait_until(what: &str, deadline: Duration, mut condition: impl FnMut() -> bool) {
    let started = Instant::now();
    while !condition() {
        assert!(started.elapsed() < deadline, "timed out after {deadline:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

// ---- directories --------------------------------------------------------------------------------

/// The object id of test user `n`.
pub fn user_id(n: u32) -> String {
    format!("{n:08x}-0000-4000-8000-00000000a001")
}

/// The object id of test group `n`.
pub fn group_id(n: u32) -> String {
    format!("{n:08x}-0000-4000-8000-00000000a002")
}

/// The userPrincipalName of test user `n`.
pub fn upn(n: u32) -> String {
    format!("user{n:03}@example.test")
}

/// A small company built on the sample's tenant, app and clients, with an empty AWS.
pub struct Company {
    file: DirectoryFile,
}

impl Company {
    pub fn new() -> Company {
        let mut file = DirectoryFile::sample();
        file.users.clear();
        file.groups.clear();
        file.other_objects.clear();
        file.app_role_assignments.clear();
        file.job.state = InitialJobState::Active;
        file.aws = Some(DirAws {
            tenant_id: "e2e-aws-tenant".into(),
            token: "e2e-scim-token-not-to-be-printed".into(),
            users: Vec::new(),
            groups: Vec::new(),
        });
        Company { file }
    }

    /// User `n`: "Given{n} Surname{n}", or without a surname.
    pub fn user(mut self, n: u32, has_surname: bool) -> Company {
        let user = json!({
            "id": user_id(n),
            "userPrincipalName": upn(n),
            "displayName": format!("Test User {n}"),
            "givenName": format!("Given{n}"),
            "surname": if has_surname { Value::String(format!("Surname{n}")) } else { Value::Null },
            "mail": upn(n),
            "accountEnabled": true,
            "jobTitle": "Tester",
            "department": "QA",
            "userType": "Member",
        });
        self.file.users.push(into_map(user));
        self
    }

    /// Users `from..=to`, all with a surname.
    pub fn users(self, from: u32, to: u32) -> Company {
        (from..=to).fold(self, |company, n| company.user(n, true))
    }

    /// Group `n` named `name` holding users `members` and groups `groups`.
    pub fn group(mut self, n: u32, name: &str, members: &[u32], groups: &[u32]) -> Company {
        let members =
            members.iter().map(|m| user_id(*m)).chain(groups.iter().map(|g| group_id(*g))).collect();
        self.file.groups.push(DirGroup {
            id: group_id(n),
            display_name: name.into(),
            members,
            properties: into_map(json!({"securityEnabled": true, "mailEnabled": false, "groupTypes": []})),
        });
        self
    }

    pub fn assign_group(mut self, n: u32) -> Company {
        self.file.app_role_assignments.push(DirAssignment {
            principal_id: group_id(n),
            principal_type: "Group".into(),
            app_role_id: None,
        });
        self
    }

    pub fn assign_user(mut self, n: u32) -> Company {
        self.file.app_role_assignments.push(DirAssignment {
            principal_id: user_id(n),
            principal_type: "User".into(),
            app_role_id: None,
        });
        self
    }

    pub fn job(mut self, state: InitialJobState) -> Company {
        self.file.job.state = state;
        self
    }

    pub fn build(self) -> DirectoryFile {
        self.file.validate().expect("a valid test directory");
        self.file
    }
}

/// The sample company with nothing in AWS yet.
pub fn sample_with_empty_aws() -> DirectoryFile {
    let mut file = DirectoryFile::sample();
    if let Some(aws) = file.aws.as_mut() {
        aws.users.clear();
        aws.groups.clear();
    }
    file
}

fn into_map(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

// ---- reading the AWS snapshot -------------------------------------------------------------------

pub fn text<'a>(user: &'a Value, key: &str) -> &'a str {
    user.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// userNames of the members of group `name` in AWS, sorted.
pub fn member_names(snapshot: &AwsSnapshot, name: &str) -> Vec<String> {
    let group = snapshot.group_by_name(name).unwrap_or_else(|| panic!("AWS has no group {name:?}"));
    let mut names: Vec<String> = group
        .member_ids
        .iter()
        .map(|id| {
            snapshot
                .users
                .iter()
                .find(|u| text(u, "id") == id)
                .map_or_else(|| format!("<unknown {id}>"), |u| text(u, "userName").to_string())
        })
        .collect();
    names.sort();
    names
}

pub fn user_names(snapshot: &AwsSnapshot) -> Vec<String> {
    let mut names: Vec<String> = snapshot.users.iter().map(|u| text(u, "userName").to_string()).collect();
    names.sort();
    names
}

// ---- redaction for snapshots --------------------------------------------------------------------

/// One piece of a redaction pattern.
#[derive(Clone, Copy)]
enum Piece {
    Lit(&'static str),
    /// Exactly this many hex digits.
    Hex(usize),
    /// Exactly this many decimal digits.
    Dec(usize),
    /// One or more decimal digits.
    Digits,
}

fn match_at(text: &[u8], at: usize, pattern: &[Piece]) -> Option<usize> {
    let mut i = at;
    for piece in pattern {
        match *piece {
            Piece::Lit(lit) => {
                if !text[i..].starts_with(lit.as_bytes()) {
                    return None;
                }
                i += lit.len();
            }
            Piece::Hex(n) | Piece::Dec(n) => {
                let ok = |b: &u8| {
                    if matches!(piece, Piece::Hex(_)) { b.is_ascii_hexdigit() } else { b.is_ascii_digit() }
                };
                if text.len() < i + n || !text[i..i + n].iter().all(ok) {
                    return None;
                }
                i += n;
            }
            Piece::Digits => {
                let n = text[i..].iter().take_while(|b| b.is_ascii_digit()).count();
                if n == 0 {
                    return None;
                }
                i += n;
            }
        }
    }
    Some(i)
}

/// Replaces every match of `pattern` with `replacement` (patterns are ASCII, so byte offsets are
/// character boundaries).
fn replace_all(text: &str, pattern: &[Piece], replacement: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let mut copied = 0;
    while i < bytes.len() {
        match match_at(bytes, i, pattern) {
            Some(end) if end > i => {
                out.push_str(&text[copied..i]);
                out.push_str(replacement);
                i = end;
                copied = end;
            }
            _ => i += 1,
        }
    }
    out.push_str(&text[copied..]);
    out
}

/// `[label---]` exactly `width` characters wide, so that tables keep their alignment.
fn fit(label: &str, width: usize) -> String {
    let dashes = width.saturating_sub(label.len() + 2);
    format!("[{label}{}]", "-".repeat(dashes))
}

/// What changes from run to run: ports, ids, timestamps, durations. Replacements keep the width of
/// what they replace where it is fixed.
pub fn redact(text: &str) -> String {
    use Piece::*;
    let uuid = [Hex(8), Lit("-"), Hex(4), Lit("-"), Hex(4), Lit("-"), Hex(4), Lit("-"), Hex(12)];
    let timestamp =
        [Dec(4), Lit("-"), Dec(2), Lit("-"), Dec(2), Lit(" "), Dec(2), Lit(":"), Dec(2), Lit(":"), Dec(2)];
    let rules: Vec<(Vec<Piece>, String)> = vec![
        (vec![Lit("127.0.0.1:"), Digits], "127.0.0.1:[port]".into()),
        (timestamp.to_vec(), "YYYY-MM-DD hh:mm:ss".into()),
        (vec![Lit("scim."), Hex(32), Lit("."), Hex(32)], format!("scim.{}", fit("job", 65))),
        (uuid.to_vec(), fit("uuid", 36)),
        (vec![Lit(" in "), Digits, Lit("."), Digits, Lit(" s")], " in [duration] s".into()),
    ];
    rules
        .iter()
        .fold(text.to_string(), |text, (pattern, replacement)| replace_all(&text, pattern, replacement))
}

#[test]
fn redaction_replaces_what_varies() {
    let text = "http://127.0.0.1:40213/x at 2025-03-01 10:11:12 UTC id 0a1b2c3d-0000-4000-8000-00000000a001 \
                job scim.0123456789abcdef0123456789abcdef.0123456789abcdef0123456789abcdef in 0.25 s";
    assert_eq!(
        redact(text),
        format!(
            "http://127.0.0.1:[port]/x at YYYY-MM-DD hh:mm:ss UTC id [uuid{}] job scim.[job{}] in [duration] s",
            "-".repeat(30),
            "-".repeat(60)
        )
    );
}
