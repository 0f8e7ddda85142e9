//! Planning alone, no IO: scope, mapping and plan for a large synthetic directory.
//! Run with `cargo bench -p scimsync-core --bench plan` (add `-- --users 100000 --groups 10000
//! --memberships 1000000` to choose the size). Prints a table and writes target/bench/plan.json.

use std::collections::BTreeSet;
use std::time::Instant;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use scimsync_core::{
    Assignment, Current, Directory, Managed, MemberKind, MemberRef, PlanOptions, PrincipalType, ScopeOptions,
    SourceGroup, SourceUser, TargetGroup, TargetUser, desired, plan,
};

struct Size {
    users: usize,
    groups: usize,
    memberships: usize,
}

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn id(kind: u8, i: usize) -> String {
    format!("{kind:08x}-0000-4000-8000-{i:012x}")
}

/// A deterministic directory: group sizes skewed (a few huge, many small), every tenth group nested in
/// another, every group assigned.
fn generate(size: &Size, seed: u64) -> Directory {
    let mut rng = StdRng::seed_from_u64(seed);
    let users: Vec<SourceUser> = (0..size.users)
        .map(|i| SourceUser {
            id: id(1, i),
            user_principal_name: format!("user{i}@contoso.example"),
            display_name: Some(format!("User Number {i}")),
            given_name: Some("User".into()),
            surname: (i % 200 != 0).then(|| format!("Number{i}")),
            mail: Some(format!("user{i}@contoso.example")),
            account_enabled: i % 50 != 0,
            job_title: Some(format!("Title {}", i % 40)),
            department: Some(format!("Dept {}", i % 25)),
            ..Default::default()
        })
        .collect();
    // Weights 1/(rank+1): Zipf-like sizes that add up to the membership count.
    let weights: Vec<f64> = (0..size.groups).map(|r| 1.0 / (r as f64 + 1.0)).collect();
    let total: f64 = weights.iter().sum();
    let groups: Vec<SourceGroup> = (0..size.groups)
        .map(|g| {
            let wanted = ((weights[g] / total) * size.memberships as f64).round().max(1.0) as usize;
            let wanted = wanted.min(size.users);
            let start = rng.random_range(0..size.users);
            let mut members: Vec<MemberRef> = (0..wanted)
                .map(|k| MemberRef { id: id(1, (start + k * 7) % size.users), kind: MemberKind::User })
                .collect();
            if g % 10 == 9 {
                members.push(MemberRef { id: id(2, g - 1), kind: MemberKind::Group });
            }
            SourceGroup { id: id(2, g), display_name: format!("Group {g}"), members }
        })
        .collect();
    let assignments = groups
        .iter()
        .map(|g| Assignment { principal_id: g.id.clone(), principal_type: PrincipalType::Group })
        .collect();
    Directory { users, groups, assignments, ..Default::default() }
}

/// AWS as a previous sync left it, everything managed.
fn synced(dir: &Directory) -> (Current, Managed) {
    let want = desired(dir, &ScopeOptions::default());
    let mut current = Current::default();
    let mut managed = Managed::default();
    for u in &want.users {
        let aws = format!("aws-{}", u.external_id);
        current.users.push(TargetUser {
            id: aws.clone(),
            external_id: Some(u.external_id.clone()),
            values: u.values.clone(),
        });
        managed.users.insert(aws, u.external_id.clone());
    }
    for g in &want.groups {
        let aws = format!("aws-{}", g.external_id);
        current.groups.push(TargetGroup {
            id: aws.clone(),
            external_id: Some(g.external_id.clone()),
            display_name: g.display_name.clone(),
            members: Some(g.members.iter().map(|m| format!("aws-{m}")).collect::<BTreeSet<_>>()),
        });
        managed.groups.insert(aws, g.external_id.clone());
    }
    (current, managed)
}

fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// User plus system CPU seconds of this process, from /proc (clock ticks of 1/100 s).
fn cpu_seconds() -> f64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            let after = s.rsplit_once(')')?.1;
            let fields: Vec<&str> = after.split_whitespace().collect();
            let utime: f64 = fields.get(11)?.parse().ok()?;
            let stime: f64 = fields.get(12)?.parse().ok()?;
            Some((utime + stime) / 100.0)
        })
        .unwrap_or(f64::NAN)
}

fn main() {
    // `cargo bench` passes --bench; ignore what is not ours.
    let size = Size {
        users: arg("--users", 100_000),
        groups: arg("--groups", 10_000),
        memberships: arg("--memberships", 1_000_000),
    };
    let dir = generate(&size, 42);
    let memberships: usize = dir.groups.iter().map(|g| g.members.len()).sum();
    let (current, managed) = synced(&dir);
    let mut changed = dir.clone();
    for (i, user) in changed.users.iter_mut().enumerate().filter(|(i, _)| i % 100 == 0) {
        user.user_principal_name = format!("renamed{i}@contoso.example");
    }
    let base_rss = peak_rss_mb();

    let mut rows = Vec::new();
    for (name, source, aws, state) in [
        ("initial load (empty AWS)", &dir, &Current::default(), &Managed::default()),
        ("nothing to change", &dir, &current, &managed),
        ("1% of users renamed", &changed, &current, &managed),
    ] {
        let cpu = cpu_seconds();
        let wall = Instant::now();
        let want = desired(source, &ScopeOptions::default());
        let p = plan(&want, aws, state, &PlanOptions::default());
        let wall = wall.elapsed().as_secs_f64();
        let cpu = cpu_seconds() - cpu;
        rows.push((name, wall, cpu, p.summary().total()));
    }
    let peak = peak_rss_mb();
    println!(
        "planning {} users / {} groups / {} memberships (the plan's inputs alone take {:.0} MB)",
        size.users, size.groups, memberships, base_rss
    );
    println!("{:<28} {:>10} {:>10} {:>12}", "case", "wall s", "CPU s", "AWS writes");
    for (name, wall, cpu, writes) in &rows {
        println!("{name:<28} {wall:>10.2} {cpu:>10.2} {writes:>12}");
    }
    println!("peak memory of the process: {peak:.0} MB (goal: planning < 2 s CPU, < 500 MB)");
    let json = serde_json::json!({
        "users": size.users, "groups": size.groups, "memberships": memberships,
        "cases": rows.iter().map(|(n, w, c, t)| serde_json::json!({"case": n, "wall_s": w, "cpu_s": c, "writes": t})).collect::<Vec<_>>(),
        "peak_rss_mb": peak, "inputs_rss_mb": base_rss,
    });
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/bench");
    if std::fs::create_dir_all(&dir).is_ok() {
        let _ =
            std::fs::write(dir.join("plan.json"), serde_json::to_string_pretty(&json).unwrap_or_default());
    }
}
