//! Snapshots of what people read, with what varies from run to run (ports, ids, timestamps,
//! durations) redacted by `support::redact`. Review changes with `cargo insta review`, or accept
//! them with `INSTA_UPDATE=always cargo test --test e2e`.

use scimsync_emulator::DirectoryFile;

use crate::support::{Company, Harness, redact, sample_with_empty_aws};

fn snapshot(name: &str, text: &str) {
    insta::with_settings!({ prepend_module_to_snapshot => false, omit_expression => true }, {
        insta::assert_snapshot!(name, redact(text));
    });
}

#[test]
fn plan_of_the_sample_company_from_an_empty_aws() {
    let h = Harness::start(sample_with_empty_aws());
    let run = h.plan(&[]);
    run.code(0);
    snapshot("plan_sample_empty_aws", &run.stdout);
}

#[test]
fn plan_of_the_sample_company_next_to_control_tower() {
    let h = Harness::start(DirectoryFile::sample());
    let run = h.plan(&[]);
    run.code(0);
    snapshot("plan_sample_with_control_tower", &run.stdout);
}

#[test]
fn plan_as_json_for_a_small_company() {
    let h = Harness::start(
        Company::new()
            .users(1, 3)
            .user(4, false)
            .group(1, "Engineers", &[1, 4], &[2])
            .group(2, "Platform", &[2, 3], &[])
            .assign_group(1)
            .build(),
    );
    let run = h.plan(&["--output", "json"]);
    run.code(0);
    snapshot("plan_json_small_company", &run.stdout);
}

#[test]
fn trigger_on_the_sample_company() {
    let h = Harness::start(DirectoryFile::sample());
    let run = h.run(&["trigger", "--poll", "200ms"]);
    run.code(3);
    snapshot("trigger_sample", &run.stdout);
}

#[test]
fn a_wrong_secret() {
    let h = Harness::start(DirectoryFile::sample());
    let run = h.cmd(&["status"]).secret_env("AZURE_CLIENT_SECRET", "not-the-secret").run();
    run.code(1);
    snapshot("wrong_secret_stderr", &run.stderr);
}
