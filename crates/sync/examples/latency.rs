//! Benchmark (prints figures; not a timed test): how long a change made in Entra ID takes to be
//! visible in AWS while a watcher polls Graph delta, and how many calls each change costs.
//!
//! Starts both emulators in-process with a per-call latency (one way, so a call costs twice it),
//! runs the continuous engine in a loop as `scimsync watch` does (poll every `--interval`), makes K
//! single changes through the Graph emulator at random moments — a new user in an assigned group, a
//! user disabled, a user added to a nested group, a group renamed — and prints p50/p95/p99 of change →
//! visible in AWS, and the Graph and AWS calls per change.
//!
//! ```sh
//! cargo run --release -p scimsync-sync --example latency -- [K] [interval-ms] [latency-ms]
//! cargo run --release -p scimsync-sync --example latency -- 20 5000 30
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use scimsync_core::{GuardOptions, Mapping, PlanOptions, ScopeOptions};
use scimsync_emulator::{DirectoryFile, EmulatorConfig, RunningEmulator, start};
use scimsync_entra::{ClientSecretCredential, Cloud, GraphClient, GraphClientConfig};
use scimsync_scim::{ScimClient, ScimConfig, SecretString};
use scimsync_sync::continuous::{Engine, Mode, SyncOptions};
use scimsync_sync::{StateIdentity, StateStore};
use serde_json::{Value, json};

const ADMIN_ID: &str = "adadadad-0000-4000-8000-0000000000ad";
const ADMIN_SECRET: &str = "emulator-secret-admin";

fn sample_id(n: u32) -> String {
    format!("{n:08x}-5a3e-4c1d-9b2a-0000000000{:02x}", n % 256)
}

fn graph_as(emu: &RunningEmulator, client_id: &str, secret: &str) -> GraphClient {
    let base = emu.base_url();
    let cloud = Cloud::from_authority(&base, Some(&base)).expect("cloud");
    let tenant = emu.env_value("AZURE_TENANT_ID").expect("tenant");
    let credential = ClientSecretCredential::new(
        &cloud,
        &tenant,
        client_id.to_owned(),
        SecretString::from(secret.to_owned()),
    )
    .expect("credential");
    GraphClient::new(GraphClientConfig::new(cloud.graph_root.clone()), Arc::new(credential)).expect("graph")
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    NewUserInGroup,
    Disable,
    NestedAdd,
    Rename,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[tokio::main]
async fn main() {
    let args: Vec<u64> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let k = *args.first().unwrap_or(&12) as usize;
    let interval = Duration::from_millis(*args.get(1).unwrap_or(&5000));
    let latency = Duration::from_millis(*args.get(2).unwrap_or(&30));

    let mut directory = DirectoryFile::sample();
    let mut admin = directory.clients[0].clone();
    admin.client_id = ADMIN_ID.into();
    admin.secret = ADMIN_SECRET.into();
    admin.roles.extend(["User.ReadWrite.All", "Group.ReadWrite.All"].map(String::from));
    directory.clients.push(admin);
    // People out of scope, to be added to a nested group one by one.
    for n in 0..k {
        directory.users.push(
            json!({"id": format!("bbbbbbbb-0000-4000-8000-{n:012}"), "userPrincipalName": format!("nested{n}@northwind.example"),
                "displayName": format!("Nested {n}"), "givenName": "Nested", "surname": format!("N{n}"),
                "mail": format!("nested{n}@northwind.example"), "accountEnabled": true})
            .as_object()
            .cloned()
            .expect("object"),
        );
    }
    let emu = start(EmulatorConfig::new(directory)).await.expect("emulator");
    let scim = {
        let mut config = ScimConfig::new(
            emu.env_value("SCIMSYNC_SCIM_URL").expect("url"),
            SecretString::from(emu.env_value("SCIMSYNC_SCIM_TOKEN").expect("token")),
        );
        config.requests_per_second = 1000;
        ScimClient::new(config).expect("scim")
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let identity = StateIdentity {
        tenant_id: emu.env_value("AZURE_TENANT_ID").expect("tenant"),
        scim_url: emu.env_value("SCIMSYNC_SCIM_URL").expect("url"),
    };
    let state = StateStore::open(&dir.path().join("state.db"), &identity).expect("state");
    let options = SyncOptions {
        app: emu.env_value("SCIMSYNC_APP").expect("app"),
        scope: ScopeOptions::default(),
        mapping: Mapping::default(),
        plan: PlanOptions::default(),
        guard: GuardOptions { max_removals: 1000, max_removal_percent: 100, percent_applies_above: 1000 },
        allow_removals: false,
        concurrency: 4,
    };
    let graph = graph_as(
        &emu,
        &emu.env_value("AZURE_CLIENT_ID").expect("id"),
        &emu.env_value("AZURE_CLIENT_SECRET").expect("secret"),
    );
    let mut engine = Engine::new(graph, scim, state, options);
    engine.run(Mode::Auto).await.expect("first full sync");
    emu.set_latency(latency);

    // The watcher: as `scimsync watch` does, one run every interval.
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = {
        let stop = stop.clone();
        async move {
            let mut polls = 0u64;
            while !stop.load(Ordering::SeqCst) {
                if let Err(e) = engine.run(Mode::Auto).await {
                    eprintln!("run failed: {e}");
                }
                polls += 1;
                let wake = Instant::now() + interval;
                while Instant::now() < wake && !stop.load(Ordering::SeqCst) {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
            polls
        }
    };

    let admin = graph_as(&emu, ADMIN_ID, ADMIN_SECRET);
    let write = |method: reqwest::Method, path: String, body: Option<Value>| {
        let admin = admin.clone();
        async move {
            let url = admin.url(&path, &[]).expect("url");
            admin.send(method, url, body.as_ref(), &Default::default()).await.expect("graph write");
        }
    };
    let graph_before = emu.entra().graph_requests();
    let aws_before = emu.aws().request_count();
    let kinds = [Kind::NewUserInGroup, Kind::Disable, Kind::NestedAdd, Kind::Rename];
    let disable_order = [5u32, 6, 7, 8, 9, 10, 2, 3, 1, 4];
    let driver = async {
        let mut rows: Vec<(Kind, f64)> = Vec::new();
        for i in 0..k {
            tokio::time::sleep(Duration::from_millis(rand::random_range(0..interval.as_millis() as u64)))
                .await;
            let kind = kinds[i % kinds.len()];
            let started = Instant::now();
            let visible: Box<dyn Fn(&RunningEmulator) -> bool> = match kind {
                Kind::NewUserInGroup => {
                    let upn = format!("hire{i}@northwind.example");
                    write(
                        reqwest::Method::POST,
                        "/users".into(),
                        Some(json!({"userPrincipalName": upn, "displayName": format!("Hire {i}"),
                    "givenName": "Hire", "surname": format!("H{i}"), "mail": upn, "accountEnabled": true})),
                    )
                    .await;
                    let mut id = None;
                    emu.entra().edit_users(|users| {
                        id = users
                            .iter()
                            .find(|(_, u)| u["userPrincipalName"] == upn.as_str())
                            .map(|(id, _)| id.clone());
                    });
                    let body = json!({"@odata.id": format!("{}/v1.0/directoryObjects/{}", emu.base_url(), id.expect("created"))});
                    write(
                        reqwest::Method::POST,
                        format!("/groups/{}/members/$ref", sample_id(52)),
                        Some(body),
                    )
                    .await;
                    Box::new(move |emu| {
                        let s = emu.aws().snapshot();
                        let Some(user) = s.user_by_name(&upn) else { return false };
                        let id = user["id"].as_str().unwrap_or_default().to_owned();
                        s.group_by_name("Developers").is_some_and(|g| g.member_ids.contains(&id))
                    })
                }
                Kind::Disable => {
                    let n = disable_order[(i / kinds.len()) % disable_order.len()];
                    write(
                        reqwest::Method::PATCH,
                        format!("/users/{}", sample_id(n)),
                        Some(json!({"accountEnabled": false})),
                    )
                    .await;
                    let id = sample_id(n);
                    Box::new(move |emu| {
                        emu.aws()
                            .snapshot()
                            .users
                            .iter()
                            .any(|u| u["externalId"] == id.as_str() && u["active"] == false)
                    })
                }
                Kind::NestedAdd => {
                    let id = format!("bbbbbbbb-0000-4000-8000-{i:012}");
                    let body = json!({"@odata.id": format!("{}/v1.0/directoryObjects/{id}", emu.base_url())});
                    write(
                        reqwest::Method::POST,
                        format!("/groups/{}/members/$ref", sample_id(51)),
                        Some(body),
                    )
                    .await;
                    Box::new(move |emu| {
                        let s = emu.aws().snapshot();
                        let Some(user) = s.users.iter().find(|u| u["externalId"] == id.as_str()) else {
                            return false;
                        };
                        let aws_id = user["id"].as_str().unwrap_or_default().to_owned();
                        s.group_by_name("AWS-Admins").is_some_and(|g| g.member_ids.contains(&aws_id))
                    })
                }
                Kind::Rename => {
                    let name = format!("Auditors-{i}");
                    write(
                        reqwest::Method::PATCH,
                        format!("/groups/{}", sample_id(53)),
                        Some(json!({"displayName": name})),
                    )
                    .await;
                    Box::new(move |emu| emu.aws().snapshot().group_by_name(&name).is_some())
                }
            };
            while !visible(&emu) {
                assert!(started.elapsed() < Duration::from_secs(120), "change {i} ({kind:?}) never arrived");
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            rows.push((kind, started.elapsed().as_secs_f64()));
        }
        stop.store(true, Ordering::SeqCst);
        rows
    };
    // One task: the state store is single-threaded, as in `scimsync watch`.
    let (polls, rows) = tokio::join!(watcher, driver);
    let graph_calls = emu.entra().graph_requests() - graph_before;
    let aws = emu.aws().request_count();
    let aws_calls = aws.total() - aws_before.total();
    let aws_writes = aws.writes() - aws_before.writes();

    let mut all: Vec<f64> = rows.iter().map(|(_, s)| *s).collect();
    all.sort_by(f64::total_cmp);
    println!(
        "scimsync continuous sync: {k} changes, polling every {:?}, {:?} one-way latency per call",
        interval, latency
    );
    println!();
    println!("| change | n | p50 s | p95 s | p99 s |");
    println!("|---|---|---|---|---|");
    for kind in kinds {
        let mut xs: Vec<f64> =
            rows.iter().filter(|(k, _)| format!("{k:?}") == format!("{kind:?}")).map(|(_, s)| *s).collect();
        xs.sort_by(f64::total_cmp);
        println!(
            "| {kind:?} | {} | {:.2} | {:.2} | {:.2} |",
            xs.len(),
            percentile(&xs, 50.0),
            percentile(&xs, 95.0),
            percentile(&xs, 99.0)
        );
    }
    println!(
        "| all | {} | {:.2} | {:.2} | {:.2} |",
        all.len(),
        percentile(&all, 50.0),
        percentile(&all, 95.0),
        percentile(&all, 99.0)
    );
    println!();
    println!(
        "Graph calls: {graph_calls} over {polls} polls ({:.1} per poll, {:.1} per change incl. the changes' own writes)",
        graph_calls as f64 / polls.max(1) as f64,
        graph_calls as f64 / k as f64
    );
    println!(
        "AWS calls: {aws_calls} ({aws_writes} writes), {:.2} per change; idle polls make none",
        aws_calls as f64 / k as f64
    );
}
