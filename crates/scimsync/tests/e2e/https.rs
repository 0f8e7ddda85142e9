//! scimsync against the emulators over HTTPS, trusting the emulator's CA through SCIMSYNC_CA_FILE,
//! `ca_file` in the config file, or SSL_CERT_FILE; and refusing it without.

use scimsync_emulator::{DirectoryFile, EmulatorConfig, TlsOptions, start};

use crate::support::{Cmd, base_env};

#[test]
fn scimsync_plans_and_syncs_over_https_with_the_emulators_ca() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let ca_file = dir.path().join("ca.pem");
    let tls = TlsOptions { listen: "127.0.0.1:0".parse().expect("addr"), ca_file: Some(ca_file.clone()) };
    let config = EmulatorConfig { tls: Some(tls), ..EmulatorConfig::new(DirectoryFile::sample()) };
    let emulator = runtime.block_on(start(config)).expect("the emulators start");
    let https_env = emulator.https_env().expect("HTTPS is served");
    let ca_path = ca_file.display().to_string();
    assert!(https_env.iter().any(|(k, v)| k == "SCIMSYNC_CA_FILE" && *v == ca_path), "{https_env:?}");
    for key in ["AZURE_AUTHORITY_HOST", "SCIMSYNC_GRAPH_URL", "SCIMSYNC_SCIM_URL"] {
        let value = &https_env.iter().find(|(k, _)| k == key).expect(key).1;
        assert!(value.starts_with("https://127.0.0.1:"), "{key}={value}");
    }
    assert_eq!(https_env.last().map(|(k, _)| k.as_str()), Some("SCIMSYNC_SCIM_TOKEN"));
    assert!(std::fs::read_to_string(&ca_file).expect("CA file").contains("BEGIN CERTIFICATE"));

    let env_without_ca = || {
        let mut env = base_env(dir.path());
        env.extend(https_env.iter().filter(|(k, _)| k != "SCIMSYNC_CA_FILE").cloned());
        env
    };
    let state = |name: &str| dir.path().join(name).display().to_string();

    // SCIMSYNC_CA_FILE: plan and sync go through (the sample exits 3 on sync: Teo has no surname).
    let s1 = state("s1.db");
    Cmd::new(&["plan", "--state", &s1], env_without_ca(), dir.path())
        .env("SCIMSYNC_CA_FILE", &ca_path)
        .run()
        .code(0)
        .stdout_has("16 to create");
    Cmd::new(&["sync", "--state", &s1], env_without_ca(), dir.path())
        .env("SCIMSYNC_CA_FILE", &ca_path)
        .run()
        .code(3);
    assert!(emulator.aws().snapshot().user_by_name("maya.patel@northwind.example").is_some());

    // The standard SSL_CERT_FILE, and `ca_file` in the config file, work too.
    Cmd::new(&["plan", "--state", &s1, "--detailed-exitcode"], env_without_ca(), dir.path())
        .env("SSL_CERT_FILE", &ca_path)
        .run()
        .code(0);
    let config_file = dir.path().join("scimsync.toml");
    std::fs::write(&config_file, format!("ca_file = {:?}\n", ca_path)).expect("config file");
    let config_path = config_file.display().to_string();
    Cmd::new(&["--config", &config_path, "plan", "--state", &s1], env_without_ca(), dir.path()).run().code(0);

    // Without the CA: refused, exit 1, and the reason names the certificate.
    let run = Cmd::new(&["plan", "--state", &state("s2.db")], env_without_ca(), dir.path()).run();
    run.code(1);
    let all = format!("{}{}", run.stdout, run.stderr).to_lowercase();
    assert!(
        all.contains("certificate") || all.contains("unknownissuer") || all.contains("error sending"),
        "{run}"
    );

    // A CA file that is not PEM is refused with its name.
    let bad = dir.path().join("bad.pem");
    std::fs::write(&bad, "not a certificate").expect("write");
    Cmd::new(&["plan", "--state", &state("s3.db")], env_without_ca(), dir.path())
        .env("SCIMSYNC_CA_FILE", &bad.display().to_string())
        .run()
        .code(1)
        .stderr_has("holds no PEM certificate");
    runtime.block_on(emulator.shutdown());
}
