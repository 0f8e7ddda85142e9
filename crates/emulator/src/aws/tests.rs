//! The emulator over HTTP: its answers have the shapes of the real AWS samples, and it refuses
//! what AWS refuses.

use std::path::PathBuf;

use pretty_assertions::assert_eq;
use reqwest::{Method, StatusCode};
use serde_json::{Map, Value, json};

use super::{AwsOptions, AwsScim, RunningAws};

const TOKEN: &str = "emulator-test-token";
const TENANT: &str = "d-1234567890";

fn sample(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/samples/aws-scim").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The structure of a JSON value: object keys and leaf types, arrays by their first element.
fn shape(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(map.iter().map(|(k, v)| (k.clone(), shape(v))).collect()),
        Value::Array(items) => Value::Array(items.first().map(shape).into_iter().collect()),
        Value::String(_) => json!("string"),
        Value::Number(_) => json!("number"),
        Value::Bool(_) => json!("bool"),
        Value::Null => json!("null"),
    }
}

/// A sample body as a request: without what the server assigns.
fn as_request(mut body: Value) -> Value {
    if let Value::Object(map) = &mut body {
        for key in ["id", "meta"] {
            map.remove(key);
        }
    }
    body
}

struct Http {
    aws: AwsScim,
    running: RunningAws,
    http: reqwest::Client,
}

struct Answer {
    status: StatusCode,
    request_id: Option<String>,
    body: Option<Value>,
}

impl Http {
    async fn start() -> Self {
        let aws = AwsScim::new(TENANT.into(), TOKEN.into());
        let running = aws.spawn().await.expect("bind");
        Http { aws, running, http: reqwest::Client::new() }
    }

    async fn send_as(
        &self,
        token: &str,
        base: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Answer {
        let mut request = self.http.request(method, format!("{base}{path}")).bearer_auth(token);
        if let Some(body) = body {
            request = request.header("content-type", "application/scim+json").body(body.to_string());
        }
        let response = request.send().await.expect("emulator answers");
        let status = response.status();
        let request_id =
            response.headers().get("x-amzn-RequestId").and_then(|v| v.to_str().ok()).map(str::to_string);
        let bytes = response.bytes().await.expect("body");
        let body = (!bytes.is_empty()).then(|| serde_json::from_slice(&bytes).expect("JSON body"));
        Answer { status, request_id, body }
    }

    async fn send(&self, method: Method, path: &str, body: Option<Value>) -> Answer {
        let base = self.running.base_url.clone();
        self.send_as(TOKEN, &base, method, path, body).await
    }

    async fn ok(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let answer = self.send(method.clone(), path, body).await;
        assert!(answer.status.is_success(), "{method} {path}: {} {:?}", answer.status, answer.body);
        answer.body.unwrap_or(Value::Null)
    }
}

fn id_of(body: &Value) -> String {
    body["id"].as_str().expect("an id").to_string()
}

#[tokio::test]
async fn answers_have_the_shapes_of_the_aws_samples() {
    let h = Http::start().await;
    // Users: create, get, patch, put, list.
    let created =
        h.ok(Method::POST, "/Users", Some(as_request(sample("CreateUserResponse_Active.json")))).await;
    assert_eq!(shape(&created), shape(&sample("CreateUserResponse_Active.json")), "POST /Users");
    let id = id_of(&created);
    assert!(uuid::Uuid::parse_str(&id).is_ok(), "ids are UUIDs: {id}");
    let got = h.ok(Method::GET, &format!("/Users/{id}"), None).await;
    assert_eq!(got, created);
    let patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [
        {"op": "Replace", "path": "displayName", "value": "Barbara Jensen"},
        {"op": "replace", "path": "active", "value": "False"},
    ]});
    let patched = h.ok(Method::PATCH, &format!("/Users/{id}"), Some(patch)).await;
    assert_eq!(shape(&patched), shape(&sample("PatchUserResponse.json")), "PATCH /Users");
    assert_eq!(
        (patched["displayName"].clone(), patched["active"].clone()),
        (json!("Barbara Jensen"), json!(false))
    );
    let put =
        h.ok(Method::PUT, &format!("/Users/{id}"), Some(as_request(sample("PutUserResponse.json")))).await;
    assert_eq!(shape(&put), shape(&sample("PutUserResponse.json")), "PUT /Users");
    assert_eq!(put["meta"]["created"], created["meta"]["created"]);

    let listed_user = sample("ListUserResponse.json")["Resources"][0].clone();
    h.ok(Method::PUT, &format!("/Users/{id}"), Some(as_request(listed_user))).await;
    let listed = h.ok(Method::GET, "/Users", None).await;
    assert_eq!(shape(&listed), shape(&sample("ListUserResponse.json")), "GET /Users");
    assert_eq!(listed["totalResults"], json!(1));

    // Groups: create without members, classic list, cursor pages.
    let group = h.ok(Method::POST, "/Groups", Some(json!({"displayName": "Group Bar"}))).await;
    assert_eq!(shape(&group), shape(&sample("CreateGroupResponse.json")), "POST /Groups");
    let single = h.ok(Method::GET, &format!("/Groups/{}", id_of(&group)), None).await;
    assert_eq!(single.get("members"), None, "GET /Groups/{{id}} shows no members");
    let listed = h.ok(Method::GET, "/Groups", None).await;
    assert_eq!(shape(&listed), shape(&sample("ListGroupsResponse.json")), "GET /Groups");

    h.ok(Method::DELETE, &format!("/Groups/{}", id_of(&group)), None).await;
    for n in 1..=3 {
        let body = json!({"displayName": format!("Group {n}"), "externalId": format!("eid_{n}")});
        h.ok(Method::POST, "/Groups", Some(body)).await;
    }
    let page1 = h.ok(Method::GET, "/Groups?count=2&cursor=", None).await;
    assert_eq!(shape(&page1), shape(&sample("ListGroupsResponse_CursorPage1.json")), "cursor page 1");
    let cursor = page1["nextCursor"].as_str().expect("a next cursor");
    let page2 = h.ok(Method::GET, &format!("/Groups?count=2&cursor={cursor}"), None).await;
    assert_eq!(shape(&page2), shape(&sample("ListGroupsResponse_CursorPage2.json")), "cursor page 2");

    let conflict = h.send(Method::POST, "/Groups", Some(json!({"displayName": "group 1"}))).await;
    assert_eq!(conflict.status, StatusCode::CONFLICT);
    let body = conflict.body.expect("error body");
    assert_eq!(shape(&body), shape(&sample("CreateGroupResponse_Conflict.json")), "409");
    assert_eq!(body["exceptionRequestId"].as_str(), conflict.request_id.as_deref());

    let config = h.ok(Method::GET, "/ServiceProviderConfig", None).await;
    assert_eq!(shape(&config), shape(&sample("ServiceProviderConfig.json")));
    assert_eq!(config["filter"]["maxResults"], json!(100));
}

/// One request and what AWS answers to it.
struct Case {
    what: &'static str,
    method: Method,
    path: String,
    body: Option<Value>,
    status: u16,
    detail: Option<&'static str>,
}

fn patch_op(ops: Value) -> Option<Value> {
    Some(json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops}))
}

fn user_body(user_name: &str, email: &str) -> Value {
    json!({
        "userName": user_name, "displayName": "D",
        "name": {"givenName": "G", "familyName": "F"},
        "emails": [{"value": email, "type": "work", "primary": true}],
    })
}

#[tokio::test]
async fn refuses_what_aws_refuses() {
    let h = Http::start().await;
    let user = id_of(&h.ok(Method::POST, "/Users", Some(user_body("ada", "ada@x.org"))).await);
    let other = id_of(&h.ok(Method::POST, "/Users", Some(user_body("bob", "bob@x.org"))).await);
    let group = id_of(
        &h.ok(Method::POST, "/Groups", Some(json!({"displayName": "G1", "members": [{"value": user}]})))
            .await,
    );
    let many: Vec<Value> = (0..101).map(|n| json!({"value": format!("u{n}")})).collect();
    let case =
        |what, method, path: String, body, status, detail| Case { what, method, path, body, status, detail };
    let cases = vec![
        case(
            "PUT group",
            Method::PUT,
            format!("/Groups/{group}"),
            Some(json!({"displayName": "X"})),
            400,
            None,
        ),
        case(
            "101 member changes",
            Method::PATCH,
            format!("/Groups/{group}"),
            patch_op(json!([{"op": "add", "path": "members", "value": many}])),
            400,
            Some("Request is unparsable, syntactically incorrect, or violates schema."),
        ),
        case(
            "replace members",
            Method::PATCH,
            format!("/Groups/{group}"),
            patch_op(json!([{"op": "replace", "path": "members", "value": [{"value": other}]}])),
            400,
            None,
        ),
        case(
            "remove all members",
            Method::PATCH,
            format!("/Groups/{group}"),
            patch_op(json!([{"op": "remove", "path": "members"}])),
            400,
            None,
        ),
        case(
            "add a member",
            Method::PATCH,
            format!("/Groups/{group}"),
            patch_op(json!([{"op": "ADD", "path": "members", "value": [{"value": other}]}])),
            204,
            None,
        ),
        case(
            "remove a member by filter",
            Method::PATCH,
            format!("/Groups/{group}"),
            patch_op(json!([{"op": "remove", "path": format!("members[value eq \"{other}\"]")}])),
            204,
            None,
        ),
        case(
            "add an unknown member",
            Method::PATCH,
            format!("/Groups/{group}"),
            patch_op(json!([{"op": "add", "path": "members", "value": [{"value": "nobody"}]}])),
            404,
            None,
        ),
        case(
            "filter on another attribute",
            Method::GET,
            "/Users?filter=title%20eq%20%22x%22".into(),
            None,
            400,
            None,
        ),
        case("filter with co", Method::GET, "/Users?filter=userName%20co%20%22a%22".into(), None, 400, None),
        case(
            "filter with or",
            Method::GET,
            "/Users?filter=userName%20eq%20%22a%22%20or%20userName%20eq%20%22b%22".into(),
            None,
            400,
            None,
        ),
        case(
            "member filter naming no user",
            Method::GET,
            "/Groups?filter=members.value%20eq%20%22nobody%22".into(),
            None,
            404,
            None,
        ),
        case(
            "empty member filter",
            Method::GET,
            format!("/Groups?filter=id%20eq%20%22{group}%22%20and%20members%20eq%20%22%22"),
            None,
            400,
            None,
        ),
        case("count 0", Method::GET, "/Users?count=0".into(), None, 400, None),
        case("attributes parameter", Method::GET, "/Users?attributes=userName".into(), None, 400, None),
        case(
            "missing givenName",
            Method::POST,
            "/Users".into(),
            Some(json!({"userName": "c", "displayName": "C", "name": {"familyName": "F"}})),
            400,
            Some("1 validation error detected: Value at 'name.givenName' failed to satisfy constraint"),
        ),
        case(
            "empty displayName",
            Method::POST,
            "/Users".into(),
            Some(json!({"userName": "c", "displayName": "", "name": {"givenName": "G", "familyName": "F"}})),
            400,
            Some("Value at 'displayName'"),
        ),
        case(
            "two emails",
            Method::POST,
            "/Users".into(),
            Some(json!({"userName": "c", "displayName": "C", "name": {"givenName": "G", "familyName": "F"},
                "emails": [{"value": "a@x", "primary": true}, {"value": "b@x"}]})),
            400,
            Some("List attribute emails exceeds allowed limit of 1"),
        ),
        case(
            "reserved userName",
            Method::POST,
            "/Users".into(),
            Some(user_body("AWSAdministrators", "c@x.org")),
            400,
            None,
        ),
        case(
            "userName with a space",
            Method::POST,
            "/Users".into(),
            Some(user_body("c d", "c@x.org")),
            400,
            None,
        ),
        case(
            "duplicate userName ignoring case",
            Method::POST,
            "/Users".into(),
            Some(user_body("ADA", "c@x.org")),
            409,
            Some("Refused to create a new, duplicate resource."),
        ),
        case("duplicate email", Method::POST, "/Users".into(), Some(user_body("c", "ADA@x.org")), 409, None),
        case(
            "password",
            Method::POST,
            "/Users".into(),
            Some(
                json!({"userName": "c", "displayName": "C", "name": {"givenName": "G", "familyName": "F"}, "password": "p"}),
            ),
            400,
            None,
        ),
        case("not JSON", Method::POST, "/Users".into(), None, 400, Some("Request is unparsable")),
        case(
            "remove userName",
            Method::PATCH,
            format!("/Users/{user}"),
            patch_op(json!([{"op": "remove", "path": "userName"}])),
            400,
            None,
        ),
        case(
            "remove active",
            Method::PATCH,
            format!("/Users/{user}"),
            patch_op(json!([{"op": "remove", "path": "active"}])),
            400,
            None,
        ),
        case(
            "patch to a taken userName",
            Method::PATCH,
            format!("/Users/{user}"),
            patch_op(json!([{"op": "replace", "path": "userName", "value": "bob"}])),
            409,
            None,
        ),
        case(
            "patch the enterprise extension",
            Method::PATCH,
            format!("/Users/{user}"),
            patch_op(
                json!([{"op": "add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:costCenter", "value": "7"}]),
            ),
            200,
            None,
        ),
        case(
            "unknown user",
            Method::GET,
            "/Users/00000000-0000-0000-0000-000000000000".into(),
            None,
            404,
            None,
        ),
        case("delete unknown group", Method::DELETE, "/Groups/nope".into(), None, 404, None),
        case("bulk", Method::POST, "/Bulk".into(), Some(json!({})), 400, None),
        case("me", Method::GET, "/Me".into(), None, 400, Some("not supported")),
        case("search", Method::POST, "/Users/.search".into(), Some(json!({})), 400, Some("not supported")),
        case("sortBy", Method::GET, "/Users?sortBy=userName".into(), None, 400, Some("sortBy")),
        case("sortOrder", Method::GET, "/Groups?sortOrder=descending".into(), None, 400, Some("sortOrder")),
        case("startIndex past 1", Method::GET, "/Users?startIndex=2".into(), None, 400, Some("startIndex")),
        case("startIndex 1 is the start", Method::GET, "/Users?startIndex=1".into(), None, 200, None),
        case(
            "attributes on a list",
            Method::GET,
            "/Users?attributes=userName".into(),
            None,
            400,
            Some("attributes"),
        ),
        case(
            "attributes on a read",
            Method::GET,
            format!("/Users/{user}?attributes=userName"),
            None,
            400,
            Some("attributes"),
        ),
        case(
            "excludedAttributes on a read",
            Method::GET,
            format!("/Groups/{group}?excludedAttributes=members"),
            None,
            400,
            Some("excludedAttributes"),
        ),
        case("POST discovery", Method::POST, "/Schemas".into(), Some(json!({})), 400, Some("not supported")),
        case("DELETE discovery", Method::DELETE, "/ServiceProviderConfig".into(), None, 400, None),
        case("unknown schema", Method::GET, "/Schemas/urn:nope".into(), None, 404, None),
        case("unknown resource type", Method::GET, "/ResourceTypes/Device".into(), None, 404, None),
    ];
    for c in cases {
        let answer = h.send(c.method.clone(), &c.path, c.body.clone()).await;
        assert_eq!(answer.status.as_u16(), c.status, "{}: {:?}", c.what, answer.body);
        assert!(answer.request_id.is_some(), "{}: every answer has x-amzn-RequestId", c.what);
        if answer.status.is_client_error() {
            let body = answer.body.expect("error body");
            assert_eq!(body["status"], json!(c.status.to_string()), "{}", c.what);
            assert_eq!(body.get("scimType"), None, "{}", c.what);
            assert_eq!(body["exceptionRequestId"].as_str(), answer.request_id.as_deref(), "{}", c.what);
            if let Some(detail) = c.detail {
                let got = body["detail"].as_str().unwrap_or_default();
                assert!(got.contains(detail), "{}: {got}", c.what);
            }
        } else if answer.status == StatusCode::NO_CONTENT {
            assert_eq!(answer.body, None, "{}: 204 is empty", c.what);
        }
    }
}

#[tokio::test]
async fn token_and_tenant_are_checked() {
    let h = Http::start().await;
    let base = h.running.base_url.clone();
    let cases = [
        ("wrong token", "nope", base.clone(), 401, None),
        ("right token", TOKEN, base.clone(), 200, None),
        ("unknown tenant", TOKEN, base.replace(TENANT, "d-0000000000"), 404, Some("TENANT does not exist.")),
    ];
    for (what, token, base, status, detail) in cases {
        let answer = h.send_as(token, &base, Method::GET, "/Users", None).await;
        assert_eq!(answer.status.as_u16(), status, "{what}");
        assert!(answer.request_id.is_some(), "{what}");
        if let Some(detail) = detail {
            assert_eq!(answer.body.expect("body")["detail"], json!(detail), "{what}");
        }
    }
}

#[tokio::test]
async fn cursor_paging_follows_aws_rules() {
    let h = Http::start().await;
    h.aws.set_options(AwsOptions { cursor_page_limit: Some(3), ..AwsOptions::default() });
    let mut ids = Vec::new();
    for n in 0..8 {
        ids.push(id_of(
            &h.ok(Method::POST, "/Users", Some(user_body(&format!("u{n}"), &format!("u{n}@x.org")))).await,
        ));
    }
    // The classic answer: one page, totalResults = what was returned.
    let classic = h.ok(Method::GET, "/Users?count=5", None).await;
    assert_eq!(
        (classic["totalResults"].clone(), classic["Resources"].as_array().map(Vec::len)),
        (json!(5), Some(5))
    );

    // Cursor pages are short (limit 3) and carry nextCursor until the end.
    let mut seen = Vec::new();
    let mut cursor = String::new();
    let mut pages = 0;
    loop {
        let page = h.ok(Method::GET, &format!("/Users?count=100&cursor={cursor}"), None).await;
        pages += 1;
        assert_eq!(page.get("totalResults"), None);
        let resources = page["Resources"].as_array().cloned().unwrap_or_default();
        assert_eq!(page["itemsPerPage"], json!(resources.len()));
        seen.extend(resources.iter().map(id_of));
        match page.get("nextCursor").and_then(Value::as_str) {
            Some(next) => cursor = next.to_string(),
            None => break,
        }
    }
    assert_eq!((seen, pages), (ids.clone(), 3));

    // A filter changed between pages is refused.
    let first = h.ok(Method::GET, "/Users?cursor&filter=userName%20eq%20%22u1%22", None).await;
    assert_eq!(first.get("nextCursor"), None, "one match, one page");
    let page = h.ok(Method::GET, "/Users?cursor=", None).await;
    let next = page["nextCursor"].as_str().expect("more pages");
    let changed =
        h.send(Method::GET, &format!("/Users?cursor={next}&filter=userName%20eq%20%22u1%22"), None).await;
    assert_eq!(changed.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn memberships_follow_deletes_and_filters() {
    // Both id styles: plain UUIDs, and the older 10-hex prefix before the UUID.
    for prefixed_ids in [false, true] {
        memberships_follow_deletes_and_filters_with(prefixed_ids).await;
    }
}

async fn memberships_follow_deletes_and_filters_with(prefixed_ids: bool) {
    let h = Http::start().await;
    h.aws.set_options(AwsOptions { prefixed_ids, ..AwsOptions::default() });
    let users: Vec<String> = (0..3)
        .map(|n| h.aws.seed_user(user_body(&format!("m{n}"), &format!("m{n}@x.org"))).expect("seed"))
        .collect();
    let group = h.aws.seed_group("Team", Some("ext-team".into()), &users).expect("seed group");
    for id in users.iter().chain([&group]) {
        let uuid = if prefixed_ids {
            let (prefix, rest) = id.split_at(11);
            assert!(prefix.ends_with('-') && prefix[..10].chars().all(|c| c.is_ascii_hexdigit()), "{id}");
            rest
        } else {
            id.as_str()
        };
        assert!(uuid::Uuid::parse_str(uuid).is_ok(), "{id} ({prefixed_ids})");
    }
    let in_group = |body: &Value| -> Vec<String> {
        body["Resources"].as_array().into_iter().flatten().map(id_of).collect()
    };
    let filter = format!("/Users?filter=groups.value%20eq%20%22{group}%22");
    assert_eq!(in_group(&h.ok(Method::GET, &filter, None).await), users);
    let of_user =
        h.ok(Method::GET, &format!("/Groups?filter=members.value%20eq%20%22{}%22", users[0]), None).await;
    assert_eq!(in_group(&of_user), vec![group.clone()]);
    let pair = h
        .ok(
            Method::GET,
            &format!("/Groups?filter=members%20eq%20%22{}%22%20and%20id%20eq%20%22{group}%22", users[1]),
            None,
        )
        .await;
    assert_eq!(in_group(&pair), vec![group.clone()]);

    h.ok(Method::DELETE, &format!("/Users/{}", users[0]), None).await;
    assert_eq!(in_group(&h.ok(Method::GET, &filter, None).await), users[1..].to_vec());
    h.ok(Method::DELETE, &format!("/Groups/{group}"), None).await;
    let snapshot = h.aws.snapshot();
    assert_eq!((snapshot.users.len(), snapshot.groups.len()), (2, 0));
    let counts = h.aws.request_count();
    assert_eq!((counts.get, counts.delete, counts.writes()), (4, 2, 2));
}

#[test]
fn seeding_applies_the_create_checks() {
    let aws = AwsScim::new(TENANT.into(), TOKEN.into());
    let id = aws.seed_user(user_body("ct-admin", "ct@x.org")).expect("seed");
    let duplicate = aws.seed_user(user_body("CT-ADMIN", "other@x.org")).expect_err("duplicate");
    assert_eq!(duplicate.status, 409);
    let invalid = aws.seed_user(json!({"userName": "x"})).expect_err("invalid");
    assert_eq!(invalid.status, 400);
    let group = aws.seed_group("AWSControlTowerAdmins", None, std::slice::from_ref(&id)).expect("group");
    let snapshot = aws.snapshot();
    let seeded = snapshot.group_by_name("AWSControlTowerAdmins").expect("group");
    assert_eq!((seeded.id.clone(), seeded.member_ids.iter().cloned().collect::<Vec<_>>()), (group, vec![id]));
    let user: &Map<String, Value> =
        snapshot.user_by_name("ct-admin").and_then(Value::as_object).expect("user");
    assert_eq!(user["active"], json!(true));
}

#[tokio::test]
async fn discovery_documents_are_served_in_full() {
    let h = Http::start().await;
    let spc = h.ok(Method::GET, "/ServiceProviderConfig", None).await;
    for (feature, supported) in [
        ("bulk", false),
        ("sort", false),
        ("etag", false),
        ("patch", true),
        ("changePassword", false),
        ("filter", true),
    ] {
        assert_eq!(spc[feature]["supported"], json!(supported), "{feature}");
    }
    let schemas = h.ok(Method::GET, "/Schemas", None).await;
    let ids: Vec<&str> =
        schemas["Resources"].as_array().expect("list").iter().filter_map(|s| s["id"].as_str()).collect();
    assert_eq!(
        ids,
        [
            "urn:ietf:params:scim:schemas:core:2.0:User",
            "urn:ietf:params:scim:schemas:core:2.0:Group",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
        ]
    );
    // (schema, attribute path, characteristic, value)
    let cases = [
        ("User", "userName", "required", json!(true)),
        ("User", "userName", "caseExact", json!(false)),
        ("User", "userName", "uniqueness", json!("server")),
        ("User", "displayName", "required", json!(true)),
        ("User", "name", "required", json!(true)),
        ("User", "name.familyName", "required", json!(true)),
        ("User", "name.givenName", "required", json!(true)),
        ("User", "emails", "multiValued", json!(true)),
        ("User", "active", "type", json!("boolean")),
        ("Group", "displayName", "required", json!(true)),
        ("Group", "members.value", "type", json!("string")),
        ("EnterpriseUser", "manager.value", "type", json!("string")),
        ("EnterpriseUser", "department", "type", json!("string")),
    ];
    for (schema_name, path, key, want) in cases {
        let schema = schemas["Resources"]
            .as_array()
            .and_then(|all| all.iter().find(|s| s["name"] == schema_name))
            .unwrap_or_else(|| panic!("schema {schema_name}"));
        let mut attrs = &schema["attributes"];
        let mut found = &Value::Null;
        for part in path.split('.') {
            found = attrs
                .as_array()
                .and_then(|a| a.iter().find(|x| x["name"] == part))
                .unwrap_or_else(|| panic!("{schema_name} {path}"));
            attrs = &found["subAttributes"];
        }
        assert_eq!(found[key], want, "{schema_name} {path} {key}");
        let one = h.ok(Method::GET, &format!("/Schemas/{}", schema["id"].as_str().expect("id")), None).await;
        assert_eq!(&one, schema, "/Schemas/{{id}} serves the same document");
    }
    // Not accepted by AWS, so not in the schema.
    let user = &schemas["Resources"][0]["attributes"];
    for absent in ["password", "groups", "photos", "ims", "entitlements", "x509Certificates"] {
        assert!(!user.as_array().expect("attrs").iter().any(|a| a["name"] == absent), "{absent}");
    }
    let types = h.ok(Method::GET, "/ResourceTypes", None).await;
    assert_eq!(types["totalResults"], json!(2));
    let user_type = h.ok(Method::GET, "/ResourceTypes/User", None).await;
    assert_eq!(user_type["endpoint"], json!("/Users"));
    assert_eq!(
        user_type["schemaExtensions"][0]["schema"],
        json!("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User")
    );
    assert_eq!(
        h.ok(Method::GET, "/ResourceTypes/Group", None).await["schema"],
        json!("urn:ietf:params:scim:schemas:core:2.0:Group")
    );
}
