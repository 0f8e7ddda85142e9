//! Graph delta queries on the Entra emulator, over plain HTTP.

use scimsync_emulator::{DirectoryFile, EmulatorConfig, RunningEmulator, start};
use serde_json::{Value, json};

const ADMIN_ID: &str = "adadadad-0000-4000-8000-0000000000ad";
const ADMIN_SECRET: &str = "emulator-secret-admin";

fn sample_id(n: u32) -> String {
    format!("{n:08x}-5a3e-4c1d-9b2a-0000000000{:02x}", n % 256)
}

async fn emulator() -> RunningEmulator {
    let mut directory = DirectoryFile::sample();
    let mut admin = directory.clients[0].clone();
    admin.client_id = ADMIN_ID.into();
    admin.secret = ADMIN_SECRET.into();
    admin.roles.extend(["User.ReadWrite.All", "Group.ReadWrite.All"].map(String::from));
    directory.clients.push(admin);
    start(EmulatorConfig::new(directory)).await.unwrap()
}

async fn token(emu: &RunningEmulator) -> String {
    let url = format!("{}/{}/oauth2/v2.0/token", emu.base_url(), emu.env_value("AZURE_TENANT_ID").unwrap());
    let scope = format!("{}/.default", emu.base_url());
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", ADMIN_ID),
        ("client_secret", ADMIN_SECRET),
        ("scope", &scope),
    ];
    let answer: Value =
        reqwest::Client::new().post(url).form(&form).send().await.unwrap().json().await.unwrap();
    answer["access_token"].as_str().unwrap().to_owned()
}

async fn call(method: reqwest::Method, url: &str, token: &str, body: Option<Value>) -> (u16, Value) {
    let mut request = reqwest::Client::new().request(method, url).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Follows nextLink to the deltaLink; returns the items, the deltaLink and the pages read.
async fn round(url: &str, token: &str) -> (Vec<Value>, String, usize) {
    let mut items = Vec::new();
    let mut next = url.to_owned();
    let mut pages = 0;
    loop {
        let (status, body) = call(reqwest::Method::GET, &next, token, None).await;
        assert_eq!(status, 200, "{body}");
        pages += 1;
        items.extend(body["value"].as_array().unwrap().iter().cloned());
        if let Some(link) = body["@odata.nextLink"].as_str() {
            assert!(body.get("@odata.deltaLink").is_none());
            next = link.to_owned();
        } else {
            return (items, body["@odata.deltaLink"].as_str().expect("deltaLink").to_owned(), pages);
        }
    }
}

fn by_id<'a>(items: &'a [Value], id: &str) -> Option<&'a Value> {
    items.iter().find(|i| i["id"] == id)
}

#[tokio::test]
async fn users_delta_pages_then_returns_only_changes() {
    let emu = emulator().await;
    let token = token(&emu).await;
    let base = emu.base_url();
    let first = format!("{base}/v1.0/users/delta?$select=id,displayName,accountEnabled&$top=5");
    let (items, link, pages) = round(&first, &token).await;
    assert_eq!(items.len(), 16);
    assert_eq!(pages, 4, "16 users at 5 a page");
    // $select is honoured.
    let maya = by_id(&items, &sample_id(1)).unwrap();
    assert_eq!(maya, &json!({"id": sample_id(1), "displayName": "Maya Patel", "accountEnabled": true}));

    // Nothing changed: nothing comes back.
    let (items, link, _) = round(&link, &token).await;
    assert!(items.is_empty(), "{items:?}");

    // A PATCH and a DELETE through Graph.
    let (status, _) = call(
        reqwest::Method::PATCH,
        &format!("{base}/v1.0/users/{}", sample_id(2)),
        &token,
        Some(json!({"displayName": "Jonas B."})),
    )
    .await;
    assert_eq!(status, 204);
    let (status, _) =
        call(reqwest::Method::DELETE, &format!("{base}/v1.0/users/{}", sample_id(15)), &token, None).await;
    assert_eq!(status, 204);
    let (items, link, _) = round(&link, &token).await;
    assert_eq!(items.len(), 2, "{items:?}");
    assert_eq!(by_id(&items, &sample_id(2)).unwrap()["displayName"], "Jonas B.");
    assert_eq!(by_id(&items, &sample_id(15)).unwrap()["@removed"], json!({"reason": "deleted"}));

    // The beta route serves the same, and `latest` starts from now.
    let (items, latest, _) = round(&format!("{base}/beta/users/delta?$deltatoken=latest"), &token).await;
    assert!(items.is_empty());
    emu.entra().edit_users(|users| {
        users.get_mut(&sample_id(3)).unwrap().insert("jobTitle".into(), json!("CTO"));
    });
    let (items, _, _) = round(&latest, &token).await;
    assert_eq!(items.len(), 1);
    let (items, _, _) = round(&link, &token).await;
    assert_eq!(items.len(), 1, "the older link sees the same change");
}

#[tokio::test]
async fn groups_delta_carries_member_changes() {
    let emu = emulator().await;
    let token = token(&emu).await;
    let base = emu.base_url();
    let (items, link, _) =
        round(&format!("{base}/v1.0/groups/delta?$select=displayName,members"), &token).await;
    assert_eq!(items.len(), 5);
    let admins = by_id(&items, &sample_id(50)).unwrap();
    let members = admins["members@delta"].as_array().unwrap();
    assert_eq!(members.len(), 3);
    assert!(members.iter().any(|m| m["id"] == sample_id(51) && m["@odata.type"] == "#microsoft.graph.group"));
    assert!(admins.get("members").is_none());

    let group = |n: u32| format!("{base}/v1.0/groups/{}", sample_id(n));
    let (status, _) = call(
        reqwest::Method::POST,
        &format!("{}/members/$ref", group(51)),
        &token,
        Some(json!({"@odata.id": format!("{base}/v1.0/directoryObjects/{}", sample_id(5))})),
    )
    .await;
    assert_eq!(status, 204);
    let (status, _) =
        call(reqwest::Method::DELETE, &format!("{}/members/{}/$ref", group(50), sample_id(51)), &token, None)
            .await;
    assert_eq!(status, 204);
    let (status, _) =
        call(reqwest::Method::PATCH, &group(54), &token, Some(json!({"displayName": "Money"}))).await;
    assert_eq!(status, 204);
    let (status, _) = call(reqwest::Method::DELETE, &group(53), &token, None).await;
    assert_eq!(status, 204);

    let (items, _, _) = round(&link, &token).await;
    assert_eq!(items.len(), 4, "{items:#?}");
    assert_eq!(
        by_id(&items, &sample_id(51)).unwrap()["members@delta"],
        json!([{"@odata.type": "#microsoft.graph.user", "id": sample_id(5)}])
    );
    assert_eq!(
        by_id(&items, &sample_id(50)).unwrap()["members@delta"],
        json!([{"@odata.type": "#microsoft.graph.group", "id": sample_id(51), "@removed": {"reason": "deleted"}}])
    );
    assert_eq!(by_id(&items, &sample_id(54)).unwrap()["displayName"], "Money");
    assert_eq!(by_id(&items, &sample_id(53)).unwrap()["@removed"], json!({"reason": "deleted"}));
}

#[tokio::test]
async fn unknown_or_expired_tokens_answer_410() {
    let emu = emulator().await;
    let token = token(&emu).await;
    let base = emu.base_url();
    let (_, link, _) = round(&format!("{base}/v1.0/users/delta"), &token).await;
    for bad in [
        format!("{base}/v1.0/users/delta?$deltatoken=bm9wZQ"),
        format!("{base}/v1.0/groups/delta?{}", link.split_once('?').unwrap().1),
    ] {
        let (status, body) = call(reqwest::Method::GET, &bad, &token, None).await;
        assert_eq!(status, 410, "{bad}: {body}");
        assert_eq!(body["error"]["code"], "syncStateNotFound");
        assert!(body["error"]["innerError"]["request-id"].is_string());
    }
    let (status, _) = call(reqwest::Method::GET, &link, &token, None).await;
    assert_eq!(status, 200);
    emu.entra().expire_delta_tokens();
    let (status, body) = call(reqwest::Method::GET, &link, &token, None).await;
    assert_eq!(status, 410, "{body}");
    // A fresh round works again.
    let (items, _, _) = round(&format!("{base}/v1.0/users/delta"), &token).await;
    assert_eq!(items.len(), 16);
}
