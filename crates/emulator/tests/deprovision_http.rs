//! The emulated provisioning job disables users who leave scope, and holds the disables back above
//! the accidental-deletion threshold (quarantine `TooManyDeletes` until restarted with
//! `ForceDeletes`) — all over plain HTTP, as any client sees it.

use std::time::Duration;

use scimsync_emulator::{DirectoryFile, EmulatorConfig, JobTiming, RunningEmulator, start};
use serde_json::{Value, json};

const SP: &str = "a0a0a0a0-0000-4000-8000-00000000aa01";
const ADMIN: (&str, &str) = ("adadadad-0000-4000-8000-0000000000ad", "emulator-secret-admin");

fn sample_id(n: u32) -> String {
    format!("{n:08x}-5a3e-4c1d-9b2a-{n:012x}")
}

fn directory(threshold: Option<u64>) -> DirectoryFile {
    let mut directory = DirectoryFile::sample();
    let mut admin = directory.clients[0].clone();
    admin.client_id = ADMIN.0.into();
    admin.secret = ADMIN.1.into();
    admin.roles.extend(
        ["User.ReadWrite.All", "GroupMember.ReadWrite.All", "AppRoleAssignment.ReadWrite.All"]
            .map(String::from),
    );
    directory.clients.push(admin);
    if let Some(threshold) = threshold {
        directory.job.quarantine_too_many_deletes_threshold = threshold;
    }
    directory
}

async fn emulator(directory: DirectoryFile) -> RunningEmulator {
    let timing = JobTiming {
        interval: None,
        cycle_duration: Duration::from_millis(100),
        tick: Duration::from_millis(20),
    };
    start(EmulatorConfig { job_timing: timing, ..EmulatorConfig::new(directory) }).await.unwrap()
}

async fn token(emu: &RunningEmulator, client_id: &str, secret: &str) -> String {
    let url = format!("{}/{}/oauth2/v2.0/token", emu.base_url(), emu.env_value("AZURE_TENANT_ID").unwrap());
    let scope = format!("{}/.default", emu.base_url());
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", client_id),
        ("client_secret", secret),
        ("scope", &scope),
    ];
    let answer: Value =
        reqwest::Client::new().post(url).form(&form).send().await.unwrap().json().await.unwrap();
    answer["access_token"].as_str().unwrap().to_owned()
}

async fn call(method: reqwest::Method, url: String, token: &str, body: Option<Value>) -> (u16, Value) {
    let mut request = reqwest::Client::new().request(method, url).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

struct Harness {
    emu: RunningEmulator,
    base: String,
    admin: String,
    sync: String,
    job: String,
}

impl Harness {
    async fn new(threshold: Option<u64>) -> Self {
        let emu = emulator(directory(threshold)).await;
        let base = emu.base_url();
        let admin = token(&emu, ADMIN.0, ADMIN.1).await;
        let sync = token(
            &emu,
            &emu.env_value("AZURE_CLIENT_ID").unwrap(),
            &emu.env_value("AZURE_CLIENT_SECRET").unwrap(),
        )
        .await;
        let job = emu.entra().job().id;
        Harness { emu, base, admin, sync, job }
    }

    /// POSTs `action` (start, restart) on the job and waits until the cycle it begins has ended.
    async fn cycle(&self, action: &str, body: Option<Value>) {
        let before = self.emu.entra().job().cycles_completed;
        let url =
            format!("{}/v1.0/servicePrincipals/{SP}/synchronization/jobs/{}/{action}", self.base, self.job);
        let (status, answer) = call(reqwest::Method::POST, url, &self.sync, body).await;
        assert_eq!(status, 204, "{action}: {answer}");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        while self.emu.entra().job().cycles_completed == before {
            assert!(tokio::time::Instant::now() < deadline, "the cycle after {action} did not end");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn job_json(&self) -> Value {
        let url = format!("{}/v1.0/servicePrincipals/{SP}/synchronization/jobs/{}", self.base, self.job);
        let (status, job) = call(reqwest::Method::GET, url, &self.sync, None).await;
        assert_eq!(status, 200, "{job}");
        job
    }

    async fn disable_logs(&self) -> Vec<Value> {
        let filter = format!("jobId eq '{}' and provisioningAction eq 'disable'", self.job);
        let url = format!("{}/v1.0/auditLogs/provisioning?$filter={}", self.base, urlencode(&filter));
        let (status, page) = call(reqwest::Method::GET, url, &self.sync, None).await;
        assert_eq!(status, 200, "{page}");
        page["value"].as_array().cloned().unwrap_or_default()
    }

    async fn remove_member(&self, group: u32, user: u32) {
        let url = format!("{}/v1.0/groups/{}/members/{}/$ref", self.base, sample_id(group), sample_id(user));
        let (status, answer) = call(reqwest::Method::DELETE, url, &self.admin, None).await;
        assert_eq!(status, 204, "{answer}");
    }

    fn aws_user(&self, user_name: &str) -> Value {
        self.emu
            .aws()
            .snapshot()
            .user_by_name(user_name)
            .cloned()
            .unwrap_or_else(|| panic!("{user_name} in AWS"))
    }

    fn aws_group_has(&self, group: &str, user_name: &str) -> bool {
        let snapshot = self.emu.aws().snapshot();
        let id = snapshot.user_by_name(user_name).unwrap()["id"].as_str().unwrap().to_owned();
        snapshot.group_by_name(group).unwrap().member_ids.contains(&id)
    }
}

fn urlencode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

#[tokio::test]
async fn users_leaving_scope_are_disabled_once_and_only_if_the_job_provisioned_them() {
    let h = Harness::new(None).await;
    assert_eq!(
        h.job_json().await["synchronizationJobSettings"][0],
        json!({"name": "QuarantineTooManyDeletesThreshold", "value": "500"})
    );
    h.cycle("start", None).await;
    assert!(h.disable_logs().await.is_empty());
    for name in ["kenji.watanabe", "amara.okafor", "lucas.martin", "hannah.kowalski", "sofia.rossi"] {
        assert_eq!(h.aws_user(&format!("{name}@northwind.example"))["active"], json!(true), "{name}");
    }

    // Kenji leaves Developers; Amara is disabled in Entra; Lucas is deleted; Hannah is unassigned;
    // Teo (never provisioned: AWS refused him) leaves Developers too.
    h.remove_member(52, 6).await;
    h.remove_member(52, 12).await;
    let (status, _) = call(
        reqwest::Method::PATCH,
        format!("{}/v1.0/users/{}", h.base, sample_id(7)),
        &h.admin,
        Some(json!({"accountEnabled": false})),
    )
    .await;
    assert_eq!(status, 204);
    let (status, _) =
        call(reqwest::Method::DELETE, format!("{}/v1.0/users/{}", h.base, sample_id(8)), &h.admin, None)
            .await;
    assert_eq!(status, 204);
    let (status, assignments) = call(
        reqwest::Method::GET,
        format!("{}/v1.0/servicePrincipals/{SP}/appRoleAssignedTo", h.base),
        &h.admin,
        None,
    )
    .await;
    assert_eq!(status, 200, "{assignments}");
    let hannah = assignments["value"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["principalId"] == json!(sample_id(14)))
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _) = call(
        reqwest::Method::DELETE,
        format!("{}/v1.0/servicePrincipals/{SP}/appRoleAssignedTo/{hannah}", h.base),
        &h.admin,
        None,
    )
    .await;
    assert_eq!(status, 204);

    h.cycle("start", None).await;
    let job = h.job_json().await;
    assert_eq!(job["status"]["code"], json!("Active"), "{job}");
    assert_eq!(job["status"]["lastExecution"]["state"], json!("Succeeded"), "{job}");
    let logs = h.disable_logs().await;
    let mut disabled: Vec<&str> =
        logs.iter().map(|l| l["sourceIdentity"]["displayName"].as_str().unwrap()).collect();
    disabled.sort_unstable();
    assert_eq!(
        disabled,
        [
            "amara.okafor@northwind.example",
            "hannah.kowalski@northwind.example",
            "kenji.watanabe@northwind.example",
            "lucas.martin@northwind.example"
        ]
    );
    for entry in &logs {
        assert_eq!(entry["provisioningStatusInfo"]["status"], json!("success"), "{entry}");
        assert_eq!(entry["modifiedProperties"][0]["displayName"], json!("active"));
        assert_eq!(entry["modifiedProperties"][0]["newValue"], json!("False"));
        let user_name = entry["sourceIdentity"]["displayName"].as_str().unwrap();
        let aws = h.aws_user(user_name);
        assert_eq!(aws["active"], json!(false), "{user_name} is disabled, not deleted");
        assert_eq!(entry["targetIdentity"]["id"], aws["id"]);
        assert_eq!(aws["externalId"], entry["sourceIdentity"]["id"]);
    }
    assert_eq!(h.aws_user("sofia.rossi@northwind.example")["active"], json!(true));
    assert!(h.emu.aws().snapshot().user_by_name("teo@northwind.example").is_none());
    assert!(h.emu.aws().snapshot().user_by_name("diego.alvarez@northwind.example").is_none());
    assert!(!h.aws_group_has("Developers", "kenji.watanabe@northwind.example"), "left the group");
    assert!(h.aws_group_has("Developers", "amara.okafor@northwind.example"), "disabled, still a member");

    // Nothing more to disable: the next cycle sends no disable again.
    h.cycle("start", None).await;
    assert_eq!(h.disable_logs().await.len(), 4);

    // Kenji comes back: enabled again.
    let reference =
        json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{}", sample_id(6))});
    let (status, _) = call(
        reqwest::Method::POST,
        format!("{}/v1.0/groups/{}/members/$ref", h.base, sample_id(52)),
        &h.admin,
        Some(reference),
    )
    .await;
    assert_eq!(status, 204);
    h.cycle("start", None).await;
    assert_eq!(h.aws_user("kenji.watanabe@northwind.example")["active"], json!(true));
    assert!(h.aws_group_has("Developers", "kenji.watanabe@northwind.example"));
    assert_eq!(h.disable_logs().await.len(), 4);
}

#[tokio::test]
async fn too_many_disables_quarantine_the_job_until_restarted_with_force_deletes() {
    let h = Harness::new(Some(2)).await;
    assert_eq!(h.job_json().await["synchronizationJobSettings"][0]["value"], json!("2"));
    h.cycle("start", None).await;
    // Three users leave Developers: one more than the threshold.
    for user in [5, 6, 7] {
        h.remove_member(52, user).await;
    }
    let leaving = [
        "sofia.rossi@northwind.example",
        "kenji.watanabe@northwind.example",
        "amara.okafor@northwind.example",
    ];
    let held = |h: &Harness| {
        for name in leaving {
            assert_eq!(h.aws_user(name)["active"], json!(true), "{name} is not disabled yet");
            assert!(h.aws_group_has("Developers", name), "{name}: the cycle applied nothing");
        }
    };

    h.cycle("start", None).await;
    let job = h.job_json().await;
    assert_eq!(job["status"]["code"], json!("Quarantine"), "{job}");
    assert_eq!(job["status"]["quarantine"]["reason"], json!("TooManyDeletes"), "{job}");
    assert_eq!(job["status"]["lastExecution"]["state"], json!("Failed"), "{job}");
    assert_eq!(job["status"]["lastExecution"]["error"]["code"], json!("TooManyDeletes"), "{job}");
    held(&h);
    assert!(h.disable_logs().await.is_empty());

    // A quarantined job does not run by itself.
    let cycles = h.emu.entra().job().cycles_completed;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(h.emu.entra().job().cycles_completed, cycles);

    // A plain start, and a restart without ForceDeletes, do not release the deletes.
    h.cycle("start", None).await;
    let job = h.job_json().await;
    assert_eq!(job["status"]["quarantine"]["reason"], json!("TooManyDeletes"), "{job}");
    h.cycle("restart", Some(json!({"criteria": {"resetScope": "Escrows"}}))).await;
    assert_eq!(h.emu.entra().job().quarantine_reason.as_deref(), Some("TooManyDeletes"));
    held(&h);
    assert!(h.disable_logs().await.is_empty());

    // ForceDeletes pushes them.
    h.cycle("restart", Some(json!({"criteria": {"resetScope": "ForceDeletes"}}))).await;
    let job = h.job_json().await;
    assert_eq!(job["status"]["code"], json!("Active"), "{job}");
    assert!(job["status"]["quarantine"].is_null(), "{job}");
    assert_eq!(
        h.emu.entra().job().last_execution_state.as_deref(),
        Some("EntryLevelErrors"),
        "Teo still fails"
    );
    for name in leaving {
        assert_eq!(h.aws_user(name)["active"], json!(false), "{name}");
        assert!(!h.aws_group_has("Developers", name), "{name}");
    }
    assert_eq!(h.disable_logs().await.len(), 3);

    // The force was for one cycle: the threshold holds again afterwards.
    for user in [8, 9, 10] {
        h.remove_member(52, user).await;
    }
    h.cycle("start", None).await;
    assert_eq!(h.emu.entra().job().quarantine_reason.as_deref(), Some("TooManyDeletes"));
    assert_eq!(h.aws_user("elif.yilmaz@northwind.example")["active"], json!(true));
}
