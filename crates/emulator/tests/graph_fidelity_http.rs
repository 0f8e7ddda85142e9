//! Sign-in errors, user queries, throttling and job credentials of the Entra emulator, over HTTP.

use std::time::Duration;

use scimsync_emulator::entra::ThrottleLimits;
use scimsync_emulator::{DirectoryFile, EmulatorConfig, JobTiming, RunningEmulator, start};
use serde_json::{Value, json};

const SP: &str = "a0a0a0a0-0000-4000-8000-00000000aa01";
const DEVELOPERS: &str = "00000034-5a3e-4c1d-9b2a-000000000034";

fn fast() -> JobTiming {
    JobTiming { interval: None, cycle_duration: Duration::from_millis(100), tick: Duration::from_millis(20) }
}

async fn emulator() -> RunningEmulator {
    start(EmulatorConfig { job_timing: fast(), ..EmulatorConfig::sample() }).await.unwrap()
}

async fn token(emu: &RunningEmulator) -> String {
    let url = format!("{}/{}/oauth2/v2.0/token", emu.base_url(), emu.env_value("AZURE_TENANT_ID").unwrap());
    let form = [
        ("grant_type", "client_credentials".to_owned()),
        ("client_id", emu.env_value("AZURE_CLIENT_ID").unwrap()),
        ("client_secret", emu.env_value("AZURE_CLIENT_SECRET").unwrap()),
        ("scope", "https://graph.microsoft.com/.default".to_owned()),
    ];
    let answer: Value =
        reqwest::Client::new().post(url).form(&form).send().await.unwrap().json().await.unwrap();
    answer["access_token"].as_str().unwrap().to_owned()
}

async fn get(
    emu: &RunningEmulator,
    token: &str,
    path: &str,
    eventual: bool,
) -> (u16, Value, reqwest::header::HeaderMap) {
    let mut request = reqwest::Client::new().get(format!("{}{path}", emu.base_url())).bearer_auth(token);
    if eventual {
        request = request.header("ConsistencyLevel", "eventual");
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, response.json().await.unwrap_or(Value::Null), headers)
}

async fn send(
    emu: &RunningEmulator,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Value,
) -> (u16, Value) {
    let response = reqwest::Client::new()
        .request(method, format!("{}{path}", emu.base_url()))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn token_errors_have_entras_codes_and_body() {
    let emu = emulator().await;
    let base = emu.base_url();
    let tenant = emu.env_value("AZURE_TENANT_ID").unwrap();
    let good_client = emu.env_value("AZURE_CLIENT_ID").unwrap();
    let good_secret = emu.env_value("AZURE_CLIENT_SECRET").unwrap();
    let scope = ("scope", "https://graph.microsoft.com/.default".to_owned());
    let grant = ("grant_type", "client_credentials".to_owned());
    let client = |id: &str| ("client_id", id.to_owned());
    let secret = |s: &str| ("client_secret", s.to_owned());
    // (what, tenant, endpoint, form, status, error, AADSTS code)
    type Case<'a> = (&'a str, &'a str, &'a str, Vec<(&'a str, String)>, u16, &'a str, u64);
    let cases: Vec<Case> = vec![
        (
            "bad secret",
            &tenant,
            "oauth2/v2.0/token",
            vec![grant.clone(), client(&good_client), secret("wrong"), scope.clone()],
            401,
            "invalid_client",
            7000215,
        ),
        (
            "the secret's id instead of its value",
            &tenant,
            "oauth2/v2.0/token",
            vec![
                grant.clone(),
                client(&good_client),
                secret("5ec12e70-0000-4000-8000-0000000000d1"),
                scope.clone(),
            ],
            401,
            "invalid_client",
            7000215,
        ),
        (
            "expired secret",
            &tenant,
            "oauth2/v2.0/token",
            vec![
                grant.clone(),
                client("c1c1c1c1-0000-4000-8000-0000000000c4"),
                secret("emulator-secret-expired"),
                scope.clone(),
            ],
            401,
            "invalid_client",
            7000222,
        ),
        (
            "unknown client",
            &tenant,
            "oauth2/v2.0/token",
            vec![grant.clone(), client("99999999-0000-4000-8000-000000000000"), secret("x"), scope.clone()],
            400,
            "unauthorized_client",
            700016,
        ),
        (
            "unknown tenant",
            "00000000-1111-4222-8333-444444444444",
            "oauth2/v2.0/token",
            vec![grant.clone(), client(&good_client), secret(&good_secret), scope.clone()],
            400,
            "invalid_request",
            90002,
        ),
        (
            "unknown tenant on v1",
            "nowhere.onmicrosoft.com",
            "oauth2/token",
            vec![
                grant.clone(),
                client(&good_client),
                secret(&good_secret),
                ("resource", "https://graph.microsoft.com".into()),
            ],
            400,
            "invalid_request",
            90002,
        ),
        (
            "resource on v2",
            &tenant,
            "oauth2/v2.0/token",
            vec![
                grant.clone(),
                client(&good_client),
                secret(&good_secret),
                ("resource", "https://graph.microsoft.com".into()),
            ],
            400,
            "invalid_request",
            901002,
        ),
        (
            "no credential",
            &tenant,
            "oauth2/v2.0/token",
            vec![grant.clone(), client(&good_client), scope.clone()],
            401,
            "invalid_client",
            7000218,
        ),
    ];
    // The keys of /work/shared/samples/graph/oauth2-token-client-credentials-error-invalid-scope.json,
    // plus error_uri, which Entra sends today.
    let keys =
        ["correlation_id", "error", "error_codes", "error_description", "error_uri", "timestamp", "trace_id"];
    let timestamp = regex_lite(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}Z$");
    for (what, tenant, endpoint, form, status, error, code) in cases {
        let response = reqwest::Client::new()
            .post(format!("{base}/{tenant}/{endpoint}"))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), status, "{what}");
        let body: Value = response.json().await.unwrap();
        let mut got: Vec<&str> = body.as_object().unwrap().keys().map(String::as_str).collect();
        got.sort_unstable();
        assert_eq!(got, keys, "{what}: {body}");
        assert_eq!(body["error"], json!(error), "{what}");
        assert_eq!(body["error_codes"], json!([code]), "{what}");
        let description = body["error_description"].as_str().unwrap();
        let ts = body["timestamp"].as_str().unwrap();
        assert!(timestamp(ts), "{what}: {ts}");
        let expected_tail = format!(
            "\r\nTrace ID: {}\r\nCorrelation ID: {}\r\nTimestamp: {ts}",
            body["trace_id"].as_str().unwrap(),
            body["correlation_id"].as_str().unwrap()
        );
        assert!(description.starts_with(&format!("AADSTS{code}: ")), "{what}: {description}");
        assert!(description.ends_with(&expected_tail), "{what}: {description:?}");
        assert_eq!(body["error_uri"], json!(format!("https://login.microsoftonline.com/error?code={code}")));
        for id in ["trace_id", "correlation_id"] {
            assert!(uuid_like(body[id].as_str().unwrap()), "{what}: {id}");
        }
    }
}

/// `YYYY-MM-DD HH:MM:SSZ`, without a regex crate.
fn regex_lite(_pattern: &str) -> impl Fn(&str) -> bool {
    |text: &str| {
        let shape = "dddd-dd-dd dd:dd:ddZ";
        text.len() == shape.len()
            && text
                .chars()
                .zip(shape.chars())
                .all(|(c, s)| if s == 'd' { c.is_ascii_digit() } else { c == s })
    }
}

fn uuid_like(text: &str) -> bool {
    text.len() == 36 && text.chars().filter(|c| *c == '-').count() == 4
}

#[tokio::test]
async fn user_queries_follow_graph() {
    let emu = emulator().await;
    let token = token(&emu).await;
    let default_keys = [
        "businessPhones",
        "displayName",
        "givenName",
        "id",
        "jobTitle",
        "mail",
        "mobilePhone",
        "officeLocation",
        "preferredLanguage",
        "surname",
        "userPrincipalName",
    ];
    let (status, body, _) = get(&emu, &token, "/v1.0/users", false).await;
    assert_eq!(status, 200);
    let users = body["value"].as_array().unwrap();
    assert_eq!(users.len(), 16);
    for user in users {
        let mut keys: Vec<&str> = user.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, default_keys, "the default set, accountEnabled not among it");
    }
    let (_, body, _) = get(&emu, &token, "/v1.0/users?$select=accountEnabled,department&$top=1", false).await;
    let keys: Vec<&String> = body["value"][0].as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 3, "{keys:?}");

    // (path, ConsistencyLevel: eventual, status, error code, users returned, @odata.count)
    type Case = (&'static str, bool, u16, Option<&'static str>, Option<usize>, Option<usize>);
    let cases: Vec<Case> = vec![
        ("/v1.0/users?$top=1", false, 200, None, Some(1), None),
        ("/v1.0/users?$top=999", false, 200, None, Some(16), None),
        ("/v1.0/users?$top=1000", false, 400, Some("Request_UnsupportedQuery"), None, None),
        ("/v1.0/users?$top=0", false, 400, Some("Request_UnsupportedQuery"), None, None),
        (
            "/v1.0/users?$filter=userPrincipalName eq 'MAYA.PATEL@northwind.example'",
            false,
            200,
            None,
            Some(1),
            None,
        ),
        ("/v1.0/users?$filter=startswith(displayName,'l')", false, 200, None, Some(2), None),
        ("/v1.0/users?$filter=accountEnabled eq false", false, 200, None, Some(1), None),
        ("/v1.0/users?$filter=givenName eq 'Lena' and surname eq 'Fischer'", false, 200, None, Some(1), None),
        ("/v1.0/users?$filter=userType eq 'Guest'", false, 200, None, Some(1), None),
        // Advanced queries: refused without ConsistencyLevel and $count=true.
        (
            "/v1.0/users?$filter=accountEnabled ne false",
            false,
            400,
            Some("Request_UnsupportedQuery"),
            None,
            None,
        ),
        (
            "/v1.0/users?$filter=accountEnabled ne false",
            true,
            400,
            Some("Request_UnsupportedQuery"),
            None,
            None,
        ),
        ("/v1.0/users?$filter=accountEnabled ne false&$count=true", true, 200, None, Some(15), Some(15)),
        (
            "/v1.0/users?$filter=endswith(userPrincipalName,'onmicrosoft.com')",
            false,
            400,
            Some("Request_UnsupportedQuery"),
            None,
            None,
        ),
        (
            "/v1.0/users?$filter=endswith(userPrincipalName,'onmicrosoft.com')&$count=true",
            true,
            200,
            None,
            Some(1),
            Some(1),
        ),
        (
            "/v1.0/users?$filter=not(startswith(displayName,'l'))&$count=true",
            false,
            400,
            Some("Request_BadRequest"),
            None,
            None,
        ),
        (
            "/v1.0/users?$filter=not(startswith(displayName,'l'))&$count=true",
            true,
            200,
            None,
            Some(14),
            Some(14),
        ),
        ("/v1.0/users?$count=true", false, 400, Some("Request_BadRequest"), None, None),
        ("/v1.0/users?$count=true&$top=5", true, 200, None, Some(5), Some(16)),
        ("/v1.0/groups?$count=true&$filter=startswith(displayName,'A')", true, 200, None, Some(2), Some(2)),
    ];
    for (path, eventual, status, code, returned, count) in cases {
        let (got, body, _) = get(&emu, &token, path, eventual).await;
        assert_eq!(got, status, "{path} (eventual: {eventual}): {body}");
        assert_eq!(body["error"]["code"].as_str(), code, "{path}");
        assert_eq!(body["value"].as_array().map(Vec::len), returned, "{path}");
        assert_eq!(body["@odata.count"].as_u64().map(|n| n as usize), count, "{path}");
    }
    let (_, body, _) = get(&emu, &token, "/v1.0/users?$top=1000", false).await;
    assert_eq!(
        body["error"]["message"],
        json!("Invalid page size specified: '1000'. Must be between 1 and 999 inclusive.")
    );
    let (_, body, _) = get(&emu, &token, "/v1.0/users?$count=true", false).await;
    assert_eq!(body["error"]["message"], json!("$count is not currently supported."));
}

#[tokio::test]
async fn resource_units_are_metered_and_throttled() {
    let emu = emulator().await;
    let token = token(&emu).await;
    // Graph's default, for a tenant under 50 users.
    assert_eq!(emu.entra().throttle_limits().units_for(16), 3_500);
    // (path, x-ms-resource-unit)
    let costs = [
        ("/v1.0/users", 2),
        ("/v1.0/users?$select=id", 1),
        ("/v1.0/users/00000001-5a3e-4c1d-9b2a-000000000001", 1),
        (&*format!("/v1.0/groups/{DEVELOPERS}/members"), 3),
        (&*format!("/v1.0/groups/{DEVELOPERS}/members?$select=id"), 2),
        (&*format!("/v1.0/groups/{DEVELOPERS}/transitiveMembers"), 5),
        ("/v1.0/groups", 1),
        (&*format!("/v1.0/servicePrincipals/{SP}/appRoleAssignedTo"), 1),
    ];
    for (path, units) in costs {
        let (status, _, headers) = get(&emu, &token, path, false).await;
        assert_eq!(status, 200, "{path}");
        assert_eq!(headers["x-ms-resource-unit"], units.to_string().as_str(), "{path}");
        assert!(headers.get("x-ms-throttle-limit-percentage").is_none(), "far below 80 %");
    }

    emu.entra().set_throttle_limits(ThrottleLimits { resource_units: Some(10), ..ThrottleLimits::default() });
    // 16 units used in this window already: the next call is refused.
    let (status, body, headers) = get(&emu, &token, "/v1.0/groups", false).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["error"]["code"], json!("TooManyRequests"));
    let retry: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=10).contains(&retry), "{retry}");
    let client = emu.env_value("AZURE_CLIENT_ID").unwrap();
    let tenant = emu.env_value("AZURE_TENANT_ID").unwrap();
    assert_eq!(
        headers["x-ms-throttle-scope"],
        format!("Tenant_Application/ReadWrite/{client}/{tenant}").as_str()
    );
    assert!(headers.get("x-ms-throttle-limit-percentage").is_some());
    assert!(headers.get("x-ms-resource-unit").is_some());
    assert_eq!(emu.entra().throttled_requests(), 1);
    // The job routes are not metered by these limits.
    let (status, _, headers) =
        get(&emu, &token, &format!("/v1.0/servicePrincipals/{SP}/synchronization/jobs"), false).await;
    assert_eq!(status, 200);
    assert!(headers.get("x-ms-resource-unit").is_none());

    // Past the window, calls are served again; above 80 % the percentage shows.
    emu.entra().set_throttle_limits(ThrottleLimits {
        resource_units: Some(10),
        resource_unit_window_secs: 1,
        ..ThrottleLimits::default()
    });
    tokio::time::sleep(Duration::from_millis(1100)).await;
    // Each call costs 2 of 10: 20 %, 40 %, 60 %, 80 % (not above), 100 %.
    for (n, expected) in [(1, None), (2, None), (3, None), (4, None), (5, Some("1.0"))] {
        let (status, _, headers) = get(&emu, &token, "/v1.0/users", false).await;
        assert_eq!(status, 200, "call {n}");
        assert_eq!(
            headers.get("x-ms-throttle-limit-percentage").map(|v| v.to_str().unwrap()),
            expected,
            "call {n}"
        );
    }
    let (status, _, _) = get(&emu, &token, "/v1.0/users/00000001-5a3e-4c1d-9b2a-000000000001", false).await;
    assert_eq!(status, 429, "the limit is used up");
}

#[tokio::test]
async fn writes_have_their_own_quota() {
    let mut directory = DirectoryFile::sample();
    let mut admin = directory.clients[0].clone();
    admin.client_id = "adadadad-0000-4000-8000-0000000000ad".into();
    admin.secret = "emulator-secret-admin".into();
    admin.roles.push("User.ReadWrite.All".into());
    directory.clients = vec![admin];
    directory.throttling = Some(ThrottleLimits { writes: 2, ..ThrottleLimits::default() });
    let emu = start(EmulatorConfig { job_timing: fast(), ..EmulatorConfig::new(directory) }).await.unwrap();
    let token = token(&emu).await;
    let user = "/v1.0/users/00000001-5a3e-4c1d-9b2a-000000000001";
    for expected in [204, 204, 429] {
        let (status, body) =
            send(&emu, &token, reqwest::Method::PATCH, user, json!({"jobTitle": "Pilot"})).await;
        assert_eq!(status, expected, "{body}");
    }
    let response = reqwest::Client::new()
        .patch(format!("{}{user}", emu.base_url()))
        .bearer_auth(&token)
        .json(&json!({"jobTitle": "Captain"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 429);
    let scope = response.headers()["x-ms-throttle-scope"].to_str().unwrap().to_owned();
    assert!(scope.starts_with("Tenant_Application/Write/adadadad-"), "{scope}");
    let retry: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=150).contains(&retry));
    // Reads still go through.
    let (status, _, _) = get(&emu, &token, user, false).await;
    assert_eq!(status, 200);
}

async fn wait_for_cycle(emu: &RunningEmulator, cycles: u64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while emu.entra().job().cycles_completed < cycles || emu.entra().job().running {
        assert!(tokio::time::Instant::now() < deadline, "the cycle did not end");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn job_credentials_are_validated_and_a_bad_token_quarantines() {
    let emu = emulator().await;
    let token = token(&emu).await;
    let job = emu.entra().job().id;
    let jobs = format!("/v1.0/servicePrincipals/{SP}/synchronization");
    let scim_url = emu.env_value("SCIMSYNC_SCIM_URL").unwrap();
    let scim_token = emu.env_value("SCIMSYNC_SCIM_TOKEN").unwrap();
    let creds = |url: &str, token: &str| json!([{"key": "BaseAddress", "value": url}, {"key": "SecretToken", "value": token}]);
    let validate = format!("{jobs}/jobs/{job}/validateCredentials");
    // (body, status, text in the message)
    let cases = [
        (json!({"useSavedCredentials": true}), 204, None),
        (json!({}), 204, None),
        (json!({"useSavedCredentials": false, "credentials": creds(&scim_url, &scim_token)}), 204, None),
        (
            json!({"useSavedCredentials": false, "credentials": creds(&scim_url, "wrong-token")}),
            400,
            Some("CredentialValidationUnauthorized"),
        ),
        (
            json!({"useSavedCredentials": false, "credentials": creds("http://127.0.0.1:9/scim/v2", "t")}),
            400,
            Some("CredentialValidationUnavailable"),
        ),
        (json!({"useSavedCredentials": false, "credentials": []}), 400, Some("BaseAddress")),
    ];
    for (body, status, text) in cases {
        let (got, answer) = send(&emu, &token, reqwest::Method::POST, &validate, body.clone()).await;
        assert_eq!(got, status, "{body}: {answer}");
        if let Some(text) = text {
            assert!(answer["error"]["message"].as_str().unwrap().contains(text), "{answer}");
            assert!(!answer.to_string().contains("wrong-token"), "the token never shows");
        }
    }

    // A cycle with good credentials: progress and counts by type.
    let (status, _) =
        send(&emu, &token, reqwest::Method::POST, &format!("{jobs}/jobs/{job}/start"), json!(null)).await;
    assert_eq!(status, 204);
    wait_for_cycle(&emu, 1).await;
    let (_, body, _) = get(&emu, &token, &format!("{jobs}/jobs/{job}"), false).await;
    let progress = &body["status"]["progress"][0];
    assert_eq!((progress["completedUnits"].as_u64(), progress["totalUnits"].as_u64()), (Some(14), Some(14)));
    assert_eq!(progress["units"], json!("Objects"));
    let counts = body["status"]["synchronizedEntryCountByType"].as_array().unwrap();
    let count = |prefix: &str| {
        counts.iter().find(|c| c["key"].as_str().unwrap().starts_with(prefix)).unwrap()["value"].as_u64()
    };
    assert_eq!((count("user"), count("group")), (Some(10), Some(3)), "{counts:?}");

    // Save a wrong token: the next cycle quarantines, and validateCredentials says why.
    let (status, _) = send(
        &emu,
        &token,
        reqwest::Method::PUT,
        &format!("{jobs}/secrets"),
        json!({"value": creds(&scim_url, "wrong-token")}),
    )
    .await;
    assert_eq!(status, 204);
    let (status, answer) =
        send(&emu, &token, reqwest::Method::POST, &validate, json!({"useSavedCredentials": true})).await;
    assert_eq!(status, 400, "{answer}");
    let (status, _) =
        send(&emu, &token, reqwest::Method::POST, &format!("{jobs}/jobs/{job}/start"), json!(null)).await;
    assert_eq!(status, 204);
    wait_for_cycle(&emu, 2).await;
    let (_, body, _) = get(&emu, &token, &format!("{jobs}/jobs/{job}"), false).await;
    assert_eq!(body["status"]["code"], json!("Quarantine"), "{body}");
    assert_eq!(body["status"]["quarantine"]["reason"], json!("EncounteredQuarantineException"));
    assert_eq!(body["status"]["lastExecution"]["state"], json!("Failed"));
    assert_eq!(emu.entra().job().status_code, "Quarantine");
}
