//! The Entra emulator over plain HTTP, as any client sees it.

use std::time::Duration;

use scimsync_emulator::{DirectoryFile, EmulatorConfig, JobTiming, RunningEmulator, start};
use serde_json::{Value, json};

async fn emulator(timing: JobTiming) -> RunningEmulator {
    start(EmulatorConfig { job_timing: timing, ..EmulatorConfig::sample() }).await.unwrap()
}

fn fast() -> JobTiming {
    JobTiming { interval: None, cycle_duration: Duration::from_millis(100), tick: Duration::from_millis(20) }
}

async fn token(emu: &RunningEmulator, client_id: &str, secret: &str) -> String {
    let url = format!("{}/{}/oauth2/v2.0/token", emu.base_url(), emu.env_value("AZURE_TENANT_ID").unwrap());
    let scope = format!("{}/.default", emu.base_url());
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", client_id),
        ("client_secret", secret),
        ("scope", &scope),
        ("client_info", "1"),
    ];
    let answer: Value =
        reqwest::Client::new().post(url).form(&form).send().await.unwrap().json().await.unwrap();
    answer["access_token"].as_str().unwrap().to_owned()
}

async fn admin_token(emu: &RunningEmulator) -> String {
    token(emu, &emu.env_value("AZURE_CLIENT_ID").unwrap(), &emu.env_value("AZURE_CLIENT_SECRET").unwrap())
        .await
}

/// A client with Graph write permissions, added to the sample.
fn directory_with_admin_client() -> DirectoryFile {
    let mut directory = DirectoryFile::sample();
    let mut admin = directory.clients[0].clone();
    admin.client_id = "adadadad-0000-4000-8000-0000000000ad".into();
    admin.secret = "emulator-secret-admin".into();
    admin.roles.extend(
        ["User.ReadWrite.All", "GroupMember.ReadWrite.All", "AppRoleAssignment.ReadWrite.All"]
            .map(String::from),
    );
    directory.clients.push(admin);
    directory
}

async fn call(
    method: reqwest::Method,
    url: String,
    token: &str,
    body: Option<Value>,
) -> (u16, Value, reqwest::header::HeaderMap) {
    let mut request = reqwest::Client::new().request(method, url).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null), headers)
}

#[tokio::test]
async fn token_endpoints_and_discovery() {
    let emu = emulator(fast()).await;
    let base = emu.base_url();
    let tenant = emu.env_value("AZURE_TENANT_ID").unwrap();
    let http = reqwest::Client::new();
    let client_id = emu.env_value("AZURE_CLIENT_ID").unwrap();
    let secret = emu.env_value("AZURE_CLIENT_SECRET").unwrap();

    let discovery: Value = http
        .get(format!("{base}/{tenant}/v2.0/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(discovery["token_endpoint"], json!(format!("{base}/{tenant}/oauth2/v2.0/token")));
    assert!(discovery["issuer"].is_string());

    // (endpoint, extra form fields, expected status, expected AADSTS code or none)
    type Case<'a> = (&'a str, Vec<(&'a str, String)>, u16, Option<u64>);
    let cases: Vec<Case> = vec![
        ("oauth2/v2.0/token", vec![("scope", "https://graph.microsoft.com/.default".into())], 200, None),
        ("oauth2/v2.0/token", vec![("resource", "https://graph.microsoft.com".into())], 400, Some(901002)),
        (
            "oauth2/v2.0/token",
            vec![("scope", "https://graph.microsoft.com/User.Read".into())],
            400,
            Some(1002012),
        ),
        ("oauth2/token", vec![("resource", "https://graph.microsoft.com".into())], 200, None),
    ];
    for (endpoint, extra, status, code) in cases {
        let mut form = vec![
            ("grant_type", "client_credentials".to_string()),
            ("client_id", client_id.clone()),
            ("client_secret", secret.clone()),
        ];
        form.extend(extra);
        let response = http.post(format!("{base}/{tenant}/{endpoint}")).form(&form).send().await.unwrap();
        assert_eq!(response.status().as_u16(), status, "{endpoint}");
        let body: Value = response.json().await.unwrap();
        match code {
            Some(code) => assert_eq!(body["error_codes"], json!([code]), "{endpoint}: {body}"),
            None => assert_eq!(body["token_type"], json!("Bearer"), "{endpoint}"),
        }
        if endpoint == "oauth2/token" {
            assert!(body["expires_in"].is_string(), "v1 sends numbers as text");
        }
    }
}

#[tokio::test]
async fn graph_refuses_missing_tokens_and_permissions() {
    let emu = emulator(fast()).await;
    let base = emu.base_url();
    let (status, body, headers) = call(reqwest::Method::GET, format!("{base}/v1.0/users"), "", None).await;
    assert_eq!((status, body["error"]["code"].as_str()), (401, Some("InvalidAuthenticationToken")));
    assert!(headers.contains_key("request-id"));
    let (status, _, _) =
        call(reqwest::Method::GET, format!("{base}/v1.0/users"), "forged.token.value", None).await;
    assert_eq!(status, 401);

    let reader = token(&emu, "c1c1c1c1-0000-4000-8000-0000000000c2", "emulator-secret-readonly").await;
    // (path, status, code)
    let cases = [
        ("/v1.0/users?$top=2", 200, None),
        ("/beta/groups", 200, None),
        ("/v1.0/auditLogs/provisioning", 403, Some("Authorization_RequestDenied")),
        (
            "/v1.0/servicePrincipals/a0a0a0a0-0000-4000-8000-00000000aa01/synchronization/jobs",
            401,
            Some("UnknownError"),
        ),
    ];
    for (path, status, code) in cases {
        let (got, body, _) = call(reqwest::Method::GET, format!("{base}{path}"), &reader, None).await;
        assert_eq!(got, status, "{path}: {body}");
        assert_eq!(body["error"]["code"].as_str(), code, "{path}");
    }
}

#[tokio::test]
async fn admin_writes_change_what_graph_serves() {
    let emu =
        start(EmulatorConfig { job_timing: fast(), ..EmulatorConfig::new(directory_with_admin_client()) })
            .await
            .unwrap();
    let base = emu.base_url();
    let admin = token(&emu, "adadadad-0000-4000-8000-0000000000ad", "emulator-secret-admin").await;
    let developers = "00000034-5a3e-4c1d-9b2a-000000000034";
    let sp = "a0a0a0a0-0000-4000-8000-00000000aa01";

    let (status, user, _) = call(reqwest::Method::POST, format!("{base}/v1.0/users"), &admin,
        Some(json!({"accountEnabled": true, "displayName": "Ines Duarte", "mailNickname": "ines", "userPrincipalName": "ines.duarte@northwind.example",
                    "givenName": "Ines", "surname": "Duarte", "passwordProfile": {"password": "x"}}))).await;
    assert_eq!(status, 201, "{user}");
    assert!(user.get("passwordProfile").is_none());
    let id = user["id"].as_str().unwrap().to_owned();
    let reference = json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{id}")});
    let steps: Vec<(reqwest::Method, String, Option<Value>, u16)> = vec![
        (
            reqwest::Method::POST,
            format!("{base}/v1.0/groups/{developers}/members/$ref"),
            Some(reference.clone()),
            204,
        ),
        (
            reqwest::Method::POST,
            format!("{base}/v1.0/groups/{developers}/members/$ref"),
            Some(reference),
            400,
        ),
        (reqwest::Method::PATCH, format!("{base}/v1.0/users/{id}"), Some(json!({"jobTitle": "Pilot"})), 204),
        (
            reqwest::Method::POST,
            format!("{base}/v1.0/servicePrincipals/{sp}/appRoleAssignedTo"),
            Some(
                json!({"principalId": id, "resourceId": sp, "appRoleId": "00000000-0000-0000-0000-000000000000"}),
            ),
            201,
        ),
    ];
    for (method, url, body, status) in steps {
        let (got, answer, _) = call(method.clone(), url.clone(), &admin, body).await;
        assert_eq!(got, status, "{method} {url}: {answer}");
    }
    let (_, members, _) = call(
        reqwest::Method::GET,
        format!("{base}/v1.0/groups/{developers}/members?$select=id"),
        &admin,
        None,
    )
    .await;
    assert!(
        members["value"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["id"] == json!(id) && m["@odata.type"] == json!("#microsoft.graph.user"))
    );
    let (_, user, _) = call(
        reqwest::Method::GET,
        format!("{base}/v1.0/users/ines.duarte@northwind.example?$select=jobTitle"),
        &admin,
        None,
    )
    .await;
    assert_eq!(user["jobTitle"], json!("Pilot"));
    let (_, assigned, _) = call(
        reqwest::Method::GET,
        format!("{base}/v1.0/servicePrincipals/{sp}/appRoleAssignedTo"),
        &admin,
        None,
    )
    .await;
    let row =
        assigned["value"].as_array().unwrap().iter().find(|a| a["principalId"] == json!(id)).unwrap().clone();
    assert_eq!(row["principalType"], json!("User"));

    let (status, _, _) = call(
        reqwest::Method::DELETE,
        format!("{base}/v1.0/groups/{developers}/members/{id}/$ref"),
        &admin,
        None,
    )
    .await;
    assert_eq!(status, 204);
    let (status, _, _) = call(
        reqwest::Method::DELETE,
        format!("{base}/v1.0/servicePrincipals/{sp}/appRoleAssignedTo/{}", row["id"].as_str().unwrap()),
        &admin,
        None,
    )
    .await;
    assert_eq!(status, 204);
    let (status, _, _) = call(reqwest::Method::DELETE, format!("{base}/v1.0/users/{id}"), &admin, None).await;
    assert_eq!(status, 204);
    let (status, body, _) = call(reqwest::Method::GET, format!("{base}/v1.0/users/{id}"), &admin, None).await;
    assert_eq!((status, body["error"]["code"].as_str()), (404, Some("Request_ResourceNotFound")));
}

#[tokio::test]
async fn transitive_members_flatten_nested_groups() {
    let emu = emulator(fast()).await;
    let token = admin_token(&emu).await;
    let admins = "00000032-5a3e-4c1d-9b2a-000000000032";
    let (status, body, _) = call(
        reqwest::Method::GET,
        format!("{}/v1.0/groups/{admins}/transitiveMembers", emu.base_url()),
        &token,
        None,
    )
    .await;
    assert_eq!(status, 200);
    let types: Vec<&str> =
        body["value"].as_array().unwrap().iter().filter_map(|m| m["@odata.type"].as_str()).collect();
    assert_eq!(
        types.iter().filter(|t| **t == "#microsoft.graph.user").count(),
        4,
        "Omar plus the 3 of Platform-Team: {types:?}"
    );
    assert!(types.contains(&"#microsoft.graph.group") && types.contains(&"#microsoft.graph.device"));
}

#[tokio::test]
async fn on_demand_limits_members_and_rate() {
    let emu = emulator(fast()).await;
    let token = admin_token(&emu).await;
    let base = emu.base_url();
    let sp = "a0a0a0a0-0000-4000-8000-00000000aa01";
    let job = emu.entra().job().id;
    let (_, schema, _) = call(
        reqwest::Method::GET,
        format!("{base}/v1.0/servicePrincipals/{sp}/synchronization/jobs/{job}/schema"),
        &token,
        None,
    )
    .await;
    let rule = schema["synchronizationRules"][0]["id"].as_str().unwrap().to_owned();
    let url = format!("{base}/v1.0/servicePrincipals/{sp}/synchronization/jobs/{job}/provisionOnDemand");
    let developers =
        DirectoryFile::sample().groups.into_iter().find(|g| g.display_name == "Developers").unwrap();
    let body = |members: &[String]| {
        json!({"parameters": [{"ruleId": rule, "subjects": [{"objectId": developers.id, "objectTypeName": "Group",
        "links": {"members": members.iter().map(|m| json!({"objectId": m, "objectTypeName": "User"})).collect::<Vec<_>>()}}]}]})
    };
    let (status, answer, _) =
        call(reqwest::Method::POST, url.clone(), &token, Some(body(&developers.members[..6]))).await;
    assert_eq!(status, 400, "six members are too many: {answer}");
    let (status, answer, _) =
        call(reqwest::Method::POST, url.clone(), &token, Some(body(&developers.members[..2]))).await;
    assert_eq!(status, 200, "{answer}");
    let key: Value = serde_json::from_str(answer["key"].as_str().unwrap()).unwrap();
    assert_eq!(key["result"], json!("Success"));
    let value: Value = serde_json::from_str(answer["value"].as_str().unwrap()).unwrap();
    assert_eq!(value["action"], json!("Create"));
    // Two calls so far; three more fit in the window, the sixth is throttled.
    for _ in 0..3 {
        call(reqwest::Method::POST, url.clone(), &token, Some(body(&developers.members[..1]))).await;
    }
    let (status, answer, headers) =
        call(reqwest::Method::POST, url, &token, Some(body(&developers.members[..1]))).await;
    assert_eq!(status, 429, "{answer}");
    assert!(headers.get("retry-after").is_some());
}

#[tokio::test]
async fn an_active_job_runs_on_its_schedule() {
    let timing = JobTiming { interval: Some(Duration::from_millis(200)), ..fast() };
    let emu = emulator(timing).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while emu.entra().job().cycles_completed == 0 {
        assert!(tokio::time::Instant::now() < deadline, "no scheduled cycle ran");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(emu.aws().snapshot().group_by_name("Developers").is_some());
    assert!(!emu.entra().logs().is_empty());
    emu.shutdown().await;
}

#[tokio::test]
async fn env_points_at_one_listener_and_shutdown_stops_it() {
    let emu = emulator(fast()).await;
    let addr = emu.addr();
    let base = format!("http://{addr}");
    let env: std::collections::HashMap<String, String> = emu.env().into_iter().collect();
    for key in
        ["AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "SCIMSYNC_APP", "SCIMSYNC_SCIM_TOKEN"]
    {
        assert!(!env[key].is_empty(), "{key}");
    }
    assert_eq!(env["AZURE_AUTHORITY_HOST"], base);
    assert_eq!(env["SCIMSYNC_GRAPH_URL"], base);
    assert!(
        env["SCIMSYNC_SCIM_URL"].starts_with(&format!("{base}/"))
            && env["SCIMSYNC_SCIM_URL"].ends_with("/scim/v2")
    );
    // The SCIM endpoint answers on the same port.
    let scim = reqwest::Client::new()
        .get(format!("{}/Users", env["SCIMSYNC_SCIM_URL"]))
        .bearer_auth(&env["SCIMSYNC_SCIM_TOKEN"])
        .send()
        .await
        .unwrap();
    assert_eq!(scim.status().as_u16(), 200);
    emu.shutdown().await;
    assert!(reqwest::Client::new().get(format!("{base}/v1.0/users")).send().await.is_err(), "stopped");
}
