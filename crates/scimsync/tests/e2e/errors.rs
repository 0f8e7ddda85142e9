//! Wrong or missing settings: exit 1, a message that says what to fix, no secret printed, no panic
//! (both are checked on every run by `support::Cmd::run`), and nothing written to AWS.

use crate::support::{Company, Harness};

fn harness() -> Harness {
    Harness::start(Company::new().users(1, 2).group(1, "Engineers", &[1, 2], &[]).assign_group(1).build())
}

#[test]
fn a_wrong_client_secret_is_explained_in_plain_words_and_never_printed() {
    let h = harness();
    let wrong = "wr0ng-s3cret-v4lue-that-must-not-leak";
    let commands = [h.cmd(&["status"]), h.cmd(&["trigger", "--poll", "200ms"]), h.with_state("plan", &[])];
    for command in commands {
        let run = command.secret_env("AZURE_CLIENT_SECRET", wrong).run();
        run.code(1)
            .stderr_has("AADSTS7000215")
            .stderr_has("the client secret is wrong")
            .stderr_has("secret's ID instead of its Value");
        assert!(!run.stdout.contains(wrong) && !run.stderr.contains(wrong), "{run}");
    }
    assert_eq!(h.entra().job().cycles_completed, 0);
    assert_eq!(h.aws().request_count().total(), 0, "AWS was never called");
}

#[test]
fn a_missing_value_is_named() {
    let h = harness();
    let cases = [
        (&["plan"][..], "SCIMSYNC_SCIM_TOKEN", "missing the AWS SCIM access token: set SCIMSYNC_SCIM_TOKEN"),
        (&["sync"][..], "SCIMSYNC_SCIM_URL", "missing the AWS SCIM endpoint: set SCIMSYNC_SCIM_URL"),
        (&["status"][..], "AZURE_TENANT_ID", "missing tenant id (AZURE_TENANT_ID)"),
        (&["trigger"][..], "AZURE_CLIENT_SECRET", "missing client secret (AZURE_CLIENT_SECRET)"),
        (&["logs"][..], "SCIMSYNC_APP", "missing enterprise app (SCIMSYNC_APP)"),
    ];
    for (command, missing, message) in cases {
        let state = h.state_path();
        let mut args = command.to_vec();
        if matches!(command[0], "plan" | "sync") {
            args.extend(["--state", state.to_str().expect("UTF-8 path")]);
        }
        h.cmd(&args).env_remove(missing).run().code(1).stderr_has(message);
    }
    assert_eq!(h.aws().request_count().total(), 0);
}

#[test]
fn an_unknown_app_says_none_matches_and_an_ambiguous_one_lists_what_was_found() {
    let h = harness();
    h.cmd(&["status"])
        .env("SCIMSYNC_APP", "No Such App")
        .run()
        .code(1)
        .stderr_has("no enterprise application matches display name \"No Such App\"");

    let second = h.entra().add_service_principal("AWS IAM Identity Center");
    let run = h.plan(&[]);
    run.code(1)
        .stderr_has("display name \"AWS IAM Identity Center\" matches 2 enterprise applications")
        .stderr_has(&format!("object id {second}"))
        .stderr_has("object id a0a0a0a0-0000-4000-8000-00000000aa01")
        .stderr_has("use the object id");
    assert_eq!(h.aws().request_count().writes(), 0);
}

#[test]
fn an_unreachable_endpoint_gives_a_clear_error() {
    let h = harness();
    // A port that was just free and is closed now.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("address").port()
    };
    let url = format!("http://127.0.0.1:{closed}");
    let run = h.cmd(&["status"]).env("AZURE_AUTHORITY_HOST", &url).env("SCIMSYNC_GRAPH_URL", &url).run();
    run.code(1).stderr_has("could not reach").stderr_has(&format!("127.0.0.1:{closed}"));
}
