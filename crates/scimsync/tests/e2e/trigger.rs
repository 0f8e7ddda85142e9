//! `scimsync trigger`, `status` and `logs`: Entra's own provisioning job, driven through Graph.

use std::time::Duration;

use scimsync_emulator::directory::InitialJobState;
use scimsync_emulator::{DirectoryFile, JobTiming};
use secrecy::SecretString;

use crate::support::{Company, Harness, member_names, upn, user_names};

const WAIT: &[&str] = &["trigger", "--poll", "200ms", "--timeout", "30s"];

/// Three users in one assigned group: a cycle that succeeds.
fn clean_company(job: InitialJobState) -> DirectoryFile {
    Company::new().users(1, 3).group(1, "Engineers", &[1, 2, 3], &[]).assign_group(1).job(job).build()
}

#[test]
fn a_paused_job_is_started_once_and_a_clean_cycle_exits_0() {
    let h = Harness::start(clean_company(InitialJobState::Paused));
    let run = h.run(WAIT);
    run.code(0).stdout_has("Starting provisioning job").stdout_has("paused").stdout_has("Succeeded");
    assert!(!run.stdout.contains("Failed objects"), "{run}");

    let job = h.entra().job();
    assert_eq!(job.cycles_completed, 1, "{job:?}");
    assert_eq!(job.starts_while_running, 0, "{job:?}");
    assert!(!job.running, "the command waited for the cycle to end: {job:?}");
    assert_eq!(job.status_code, "Active", "start resumes a paused job: {job:?}");
    assert_eq!(job.last_execution_state.as_deref(), Some("Succeeded"));
    assert_eq!(user_names(&h.snapshot()), [upn(1), upn(2), upn(3)]);
}

#[test]
fn an_active_job_with_a_user_aws_refuses_exits_3_and_lists_the_failed_object() {
    let h = Harness::start(DirectoryFile::sample());
    let run = h.run(WAIT);
    run.code(3)
        .stdout_has("active between cycles")
        .stdout_has("EntryLevelErrors")
        .stdout_has("Failed objects in this cycle:")
        .stdout_has("teo@northwind.example")
        .stdout_has("name.familyName");

    let job = h.entra().job();
    assert_eq!((job.cycles_completed, job.starts_while_running), (1, 0), "{job:?}");
    assert_eq!(job.last_execution_state.as_deref(), Some("EntryLevelErrors"));
    let aws = h.snapshot();
    assert!(aws.user_by_name("maya.patel@northwind.example").is_none(), "nested members are Entra's gap");
    assert!(aws.user_by_name("omar.haddad@northwind.example").is_some(), "the others were provisioned");
}

#[test]
fn a_quarantined_job_whose_cycle_fails_again_exits_4() {
    let h = Harness::start(clean_company(InitialJobState::Quarantine));
    // The admin's saved SCIM token is wrong: AWS refuses it, the cycle fails, the job is quarantined.
    let scim_url = h.env_value("SCIMSYNC_SCIM_URL");
    h.entra().set_scim_target(scim_url, SecretString::from("a-token-aws-does-not-know".to_string()));

    let run = h.run(WAIT);
    run.code(4).stdout_has("quarantine").stdout_has("Failed").stdout_has("EncounteredQuarantineException");

    let job = h.entra().job();
    assert_eq!((job.cycles_completed, job.starts_while_running), (1, 0), "{job:?}");
    assert_eq!(job.status_code, "Quarantine", "{job:?}");
    assert!(h.snapshot().users.is_empty(), "nothing reached AWS");
}

#[test]
fn a_quarantined_job_is_started_and_leaves_quarantine_when_the_cycle_succeeds() {
    let h = Harness::start(clean_company(InitialJobState::Quarantine));
    let run = h.run(WAIT);
    run.code(0).stdout_has("the job is in quarantine").stdout_has("Succeeded");
    assert!(!run.stdout.contains("│ quarantine"), "the summary shows no quarantine left:\n{run}");

    let job = h.entra().job();
    assert_eq!((job.cycles_completed, job.starts_while_running), (1, 0), "{job:?}");
    assert_eq!(job.status_code, "Active", "{job:?}");
    assert_eq!(h.snapshot().users.len(), 3);
}

#[test]
fn no_wait_returns_at_once_and_a_running_cycle_is_waited_for_not_started_again() {
    // A cycle long enough to be seen running by the second command.
    let timing =
        JobTiming { interval: None, cycle_duration: Duration::from_secs(3), tick: Duration::from_millis(50) };
    let h = Harness::start_with(clean_company(InitialJobState::Active), timing);

    let first = h.run(&["trigger", "--no-wait"]);
    first.code(0).stdout_has("Starting provisioning job").stdout_has("--no-wait");
    let job = h.entra().job();
    assert!(job.running, "--no-wait returned while the cycle still runs: {job:?}\n{first}");
    assert_eq!(job.cycles_completed, 0, "{job:?}");

    let second = h.run(WAIT);
    second
        .code(0)
        .stdout_has("Not starting provisioning job")
        .stdout_has("a provisioning cycle is running")
        .stdout_has("Succeeded");
    assert!(!second.stdout.contains("Starting provisioning job"), "{second}");

    let job = h.entra().job();
    assert_eq!(job.starts_while_running, 0, "the running job was not poked: {job:?}");
    assert_eq!(job.cycles_completed, 1, "one cycle, waited for: {job:?}");
    assert!(!job.running, "the second command returned after the cycle ended: {job:?}");
    assert_eq!(user_names(&h.snapshot()).len(), 3);
}

#[test]
fn trigger_user_provisions_one_user_on_demand_without_a_cycle() {
    let h = Harness::start(clean_company(InitialJobState::Active));
    let run = h.run(&["trigger", "--user", &upn(2)]);
    run.code(0).stdout_has(&format!("✓ user {}", upn(2)));

    assert_eq!(user_names(&h.snapshot()), [upn(2)], "only that user");
    let job = h.entra().job();
    assert_eq!((job.cycles_completed, job.starts_while_running), (0, 0), "no cycle was started: {job:?}");
}

#[test]
fn trigger_group_provisions_a_group_of_12_in_calls_of_at_most_5_members() {
    let h = Harness::start(
        Company::new()
            .users(1, 12)
            .group(7, "Pilots", &(1..=12).collect::<Vec<_>>(), &[])
            .assign_group(7)
            .build(),
    );
    // Paced at one call per 2 s: three calls take about 4 s.
    let run = h.run(&["trigger", "--group", "Pilots"]);
    run.code(0).stdout_has("Provisioning group Pilots with 12 user members in 3 calls");
    assert_eq!(run.stdout.matches("✓ group Pilots").count(), 3, "{run}");

    let aws = h.snapshot();
    let expected: Vec<String> = (1..=12).map(upn).collect();
    assert_eq!(member_names(&aws, "Pilots"), expected);
    assert_eq!(user_names(&aws), expected);
    assert_eq!(h.entra().job().cycles_completed, 0);
}

#[test]
fn status_shows_the_job_and_logs_failed_shows_the_failed_entry_after_a_cycle() {
    let h = Harness::start(DirectoryFile::sample());
    let job_id = h.entra().job().id;

    let before = h.run(&["logs", "--failed"]);
    before.code(0).stdout_has("No provisioning log entries with failures");

    h.run(WAIT).code(3);

    let status = h.run(&["status"]);
    status
        .code(0)
        .stdout_has(&job_id)
        .stdout_has("Active")
        .stdout_has("every PT40M")
        .stdout_has("EntryLevelErrors")
        .stdout_has("entitled 14")
        .stdout_has("escrowed 1");

    let failed = h.run(&["logs", "--failed"]);
    failed
        .code(0)
        .stdout_has("teo@northwind.example")
        .stdout_has("failure")
        .stdout_has("name.familyName")
        .stdout_lacks("omar.haddad@northwind.example")
        .stdout_lacks("success");

    let all = h.run(&["logs"]);
    all.code(0).stdout_has("teo@northwind.example").stdout_has("omar.haddad@northwind.example");
}
