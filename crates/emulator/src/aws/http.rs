//! Request handling: tenant and token checks, routing by path, and each operation against the state.

use std::collections::BTreeSet;

use axum::body::{Body, Bytes};
use axum::extract::State as AxumState;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::filter::{self, Comparison};
use super::{AwsScim, Cursor, Fault, SeedError, State, StoredGroup};
use super::{schemas, users};

const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
const LIST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub(crate) const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const UNPARSABLE: &str = "Request is unparsable, syntactically incorrect, or violates schema.";
const DUPLICATE: &str = "Refused to create a new, duplicate resource.";
const MAX_PAGE: usize = 100;
const MAX_MEMBER_CHANGES: usize = 100;

/// What an operation answers, before the request id and headers are added.
#[derive(Debug)]
pub(crate) enum Reply {
    Json(StatusCode, Value),
    NoContent,
    Error(StatusCode, String),
}

impl Reply {
    fn bad(detail: impl Into<String>) -> Self {
        Reply::Error(StatusCode::BAD_REQUEST, detail.into())
    }

    fn not_found(id: &str) -> Self {
        Reply::Error(StatusCode::NOT_FOUND, format!("Resource {id} not found."))
    }

    fn conflict() -> Self {
        Reply::Error(StatusCode::CONFLICT, DUPLICATE.into())
    }

    pub(crate) fn into_seed_error(self) -> SeedError {
        match self {
            Reply::Error(status, detail) => SeedError { status: status.as_u16(), detail },
            other => SeedError { status: 500, detail: format!("unexpected answer {other:?}") },
        }
    }
}

fn now_meta() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn error_body(status: StatusCode, detail: &str, request_id: &str) -> Value {
    json!({
        "schema": [ERROR_SCHEMA],
        "schemas": [ERROR_SCHEMA],
        "detail": detail,
        "status": status.as_u16().to_string(),
        "exceptionRequestId": request_id,
        "timeStamp": chrono::Utc::now().format("%Y-%m-%d %H:%M:%S%.3f").to_string(),
    })
}

fn respond(status: StatusCode, body: Option<(&str, String)>, request_id: &str) -> Response {
    let mut builder = Response::builder().status(status).header("x-amzn-RequestId", request_id);
    let body = match body {
        Some((content_type, text)) => {
            builder = builder.header(header::CONTENT_TYPE, content_type);
            Body::from(text)
        }
        None => Body::empty(),
    };
    builder.body(body).unwrap_or_else(|_| {
        let mut fallback = Response::new(Body::empty());
        *fallback.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
        fallback
    })
}

fn render(reply: Reply, request_id: &str) -> Response {
    match reply {
        Reply::Json(status, body) => {
            respond(status, Some(("application/json", body.to_string())), request_id)
        }
        Reply::NoContent => respond(StatusCode::NO_CONTENT, None, request_id),
        Reply::Error(status, detail) => {
            let body = error_body(status, &detail, request_id).to_string();
            respond(status, Some(("application/json", body)), request_id)
        }
    }
}

pub(crate) async fn handle(
    AxumState(aws): AxumState<AwsScim>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let mut state = aws.lock();
    let (reply, retry_after) = serve(&mut state, &method, &uri, &headers, &body);
    drop(state);
    let mut response = match reply {
        Served::Reply(reply) => render(reply, &request_id),
        Served::Raw { status, content_type, body } => {
            respond(status, Some((content_type.as_str(), body)), &request_id)
        }
    };
    if let Some(secs) = retry_after
        && let Ok(value) = HeaderValue::from_str(&secs.to_string())
    {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    tracing::debug!(method = %method, path = %uri.path(), status = response.status().as_u16(), "AWS SCIM emulator");
    response
}

enum Served {
    Reply(Reply),
    Raw { status: StatusCode, content_type: String, body: String },
}

fn serve(
    state: &mut State,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> (Served, Option<u64>) {
    let mut segments = uri.path().trim_matches('/').split('/');
    let tenant = segments.next().unwrap_or_default();
    if tenant != state.tenant_id {
        let reply = Reply::Error(StatusCode::NOT_FOUND, "TENANT does not exist.".into());
        return (Served::Reply(reply), None);
    }
    // Skip "scim/v2"; the router guarantees them.
    let rest: Vec<&str> = segments.skip(2).filter(|s| !s.is_empty()).collect();
    count(state, method);
    if let Some(fault) = state.faults.pop_front() {
        return match fault {
            Fault::Status { status, retry_after_secs } => {
                let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                let detail = status.canonical_reason().unwrap_or("Injected fault").to_string();
                (Served::Reply(Reply::Error(status, detail)), retry_after_secs)
            }
            Fault::Raw { status, content_type, body } => {
                let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
                (Served::Raw { status, content_type, body }, None)
            }
        };
    }
    let authorized = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|token| token == state.token);
    if !authorized {
        let reply =
            Reply::Error(StatusCode::UNAUTHORIZED, "The access token is missing, invalid or expired.".into());
        return (Served::Reply(reply), None);
    }
    let query: Vec<(String, String)> =
        url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes()).into_owned().collect();
    (Served::Reply(route(state, method, &rest, &query, body)), None)
}

fn count(state: &mut State, method: &Method) {
    let counts = &mut state.counts;
    match *method {
        Method::POST => counts.post += 1,
        Method::PUT => counts.put += 1,
        Method::PATCH => counts.patch += 1,
        Method::DELETE => counts.delete += 1,
        _ => counts.get += 1,
    }
}

fn parse_object(body: &[u8]) -> Result<Value, Reply> {
    match serde_json::from_slice::<Value>(body) {
        Ok(value @ Value::Object(_)) => Ok(value),
        _ => Err(Reply::bad(UNPARSABLE)),
    }
}

fn route(
    state: &mut State,
    method: &Method,
    path: &[&str],
    query: &[(String, String)],
    body: &[u8],
) -> Reply {
    let with_body = |state: &mut State, op: fn(&mut State, Value) -> Reply| match parse_object(body) {
        Ok(value) => op(state, value),
        Err(reply) => reply,
    };
    if let (&Method::GET, ["Users" | "Groups", _]) = (method, path)
        && let Some(reply) = refused_parameter(query)
    {
        return reply;
    }
    match (method.as_str(), path) {
        ("GET", ["Users"]) => list(state, Resource::Users, query),
        ("POST", ["Users"]) => with_body(state, create_user),
        ("GET", ["Users", id]) => match state.user(id) {
            Some(doc) => Reply::Json(StatusCode::OK, users::render(doc)),
            None => Reply::not_found(id),
        },
        ("PUT", ["Users", id]) => match parse_object(body) {
            Ok(value) => replace_user(state, id, value),
            Err(reply) => reply,
        },
        ("PATCH", ["Users", id]) => match parse_object(body) {
            Ok(value) => patch_user(state, id, value),
            Err(reply) => reply,
        },
        ("DELETE", ["Users", id]) => delete_user(state, id),
        ("GET", ["Groups"]) => list(state, Resource::Groups, query),
        ("POST", ["Groups"]) => with_body(state, create_group),
        ("GET", ["Groups", id]) => match state.group(id) {
            Some(group) => Reply::Json(StatusCode::OK, render_group(group, false)),
            None => Reply::not_found(id),
        },
        ("PATCH", ["Groups", id]) => match parse_object(body) {
            Ok(value) => patch_group(state, id, value),
            Err(reply) => reply,
        },
        ("DELETE", ["Groups", id]) => delete_group(state, id),
        ("PUT", ["Groups", _]) => Reply::bad("Operation PUT on Groups is not supported."),
        ("GET", ["ServiceProviderConfig"]) => Reply::Json(StatusCode::OK, service_provider_config()),
        ("GET", ["Schemas"]) => Reply::Json(StatusCode::OK, list_of(schemas::all_schemas())),
        ("GET", ["Schemas", id]) => match schemas::schema_by_id(id) {
            Some(schema) => Reply::Json(StatusCode::OK, schema),
            None => Reply::not_found(id),
        },
        ("GET", ["ResourceTypes"]) => Reply::Json(StatusCode::OK, list_of(schemas::resource_types())),
        ("GET", ["ResourceTypes", id]) => match schemas::resource_type_by_id(id) {
            Some(resource_type) => Reply::Json(StatusCode::OK, resource_type),
            None => Reply::not_found(id),
        },
        (_, ["Users" | "Groups"] | ["Users" | "Groups", _]) => {
            Reply::bad(format!("Operation {method} is not supported."))
        }
        (_, ["Bulk" | "Me" | ".search", ..] | [_, ".search"]) => Reply::bad("Operation is not supported."),
        (_, ["ServiceProviderConfig" | "Schemas" | "ResourceTypes", ..]) => {
            Reply::bad(format!("Operation {method} is not supported."))
        }
        _ => Reply::Error(StatusCode::NOT_FOUND, "Resource not found.".into()),
    }
}

fn list_of(resources: Vec<Value>) -> Value {
    json!({
        "schemas": [LIST_SCHEMA],
        "totalResults": resources.len(),
        "itemsPerPage": resources.len(),
        "startIndex": 1,
        "Resources": resources,
    })
}

fn service_provider_config() -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
        "documentationUri": "https://docs.aws.amazon.com/singlesignon/latest/developerguide/what-is-scim.html",
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "OAuth Bearer Token",
            "description": "Authentication scheme using the OAuth Bearer Token Standard",
            "specUri": "https://www.rfc-editor.org/info/rfc6750",
            "documentationUri": "https://docs.aws.amazon.com/singlesignon/latest/developerguide/provision-automatically.html",
            "primary": true
        }],
        "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": true, "maxResults": MAX_PAGE},
        "patch": {"supported": true},
        "changePassword": {"supported": false},
        "sort": {"supported": false},
        "etag": {"supported": false}
    })
}

// ---- listing ------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Resource {
    Users,
    Groups,
}

impl Resource {
    fn name(self) -> &'static str {
        match self {
            Resource::Users => "Users",
            Resource::Groups => "Groups",
        }
    }
}

/// Which objects a filter selects.
enum Selection {
    All,
    UserName(String),
    ExternalId(String),
    UsersInGroup(String),
    GroupsOfUser(String),
    DisplayName(String),
    /// `id eq .. and manager eq ..`
    UserWithManager {
        id: String,
        manager: String,
    },
    /// `id eq .. and members eq ..`
    GroupWithMember {
        group: String,
        user: String,
    },
}

fn select(state: &State, resource: Resource, filter: Option<&str>) -> Result<Selection, Reply> {
    let Some(filter) = filter else {
        return Ok(Selection::All);
    };
    let unsupported = || Reply::bad(format!("Filter {filter} is not supported."));
    let comparisons = filter::parse(filter).ok_or_else(unsupported)?;
    let find = |attrs: &[&str]| {
        comparisons.iter().find(|c| attrs.contains(&c.attr.as_str())).map(|c| c.value.clone())
    };
    let member_check = |id: &str, exists: bool| -> Result<(), Reply> {
        if id.is_empty() {
            Err(Reply::bad(UNPARSABLE))
        } else if !exists {
            Err(Reply::not_found(id))
        } else {
            Ok(())
        }
    };
    let attrs: Vec<&str> = comparisons.iter().map(|Comparison { attr, .. }| attr.as_str()).collect();
    let selection = match (resource, attrs.as_slice()) {
        (Resource::Users, ["username"]) => Selection::UserName(comparisons[0].value.clone()),
        (Resource::Users, ["externalid"]) | (Resource::Groups, ["externalid"]) => {
            Selection::ExternalId(comparisons[0].value.clone())
        }
        (Resource::Users, ["groups.value"]) => {
            let group = comparisons[0].value.clone();
            member_check(&group, state.group(&group).is_some())?;
            Selection::UsersInGroup(group)
        }
        (Resource::Users, ["id", "manager" | "manager.value"] | ["manager" | "manager.value", "id"]) => {
            Selection::UserWithManager {
                id: find(&["id"]).unwrap_or_default(),
                manager: find(&["manager", "manager.value"]).unwrap_or_default(),
            }
        }
        (Resource::Groups, ["displayname"]) => Selection::DisplayName(comparisons[0].value.clone()),
        (Resource::Groups, ["members.value"]) => {
            let user = comparisons[0].value.clone();
            member_check(&user, state.user(&user).is_some())?;
            Selection::GroupsOfUser(user)
        }
        (Resource::Groups, ["id", "members" | "members.value"] | ["members" | "members.value", "id"]) => {
            let user = find(&["members", "members.value"]).unwrap_or_default();
            member_check(&user, state.user(&user).is_some())?;
            Selection::GroupWithMember { group: find(&["id"]).unwrap_or_default(), user }
        }
        _ => return Err(unsupported()),
    };
    Ok(selection)
}

fn user_selected(state: &State, doc: &Map<String, Value>, selection: &Selection) -> bool {
    let text = |key: &str| doc.get(key).and_then(Value::as_str).unwrap_or_default();
    let id = text("id");
    match selection {
        Selection::All => true,
        // userName is caseExact false: filters ignore case.
        Selection::UserName(name) => text("userName").to_lowercase() == name.to_lowercase(),
        Selection::ExternalId(ext) => doc.get("externalId").and_then(Value::as_str) == Some(ext.as_str()),
        Selection::UsersInGroup(group) => state.memberships.contains(&(group.clone(), id.to_string())),
        Selection::UserWithManager { id: wanted, manager } => {
            id == wanted
                && doc
                    .get(users::ENTERPRISE)
                    .and_then(|e| e.pointer("/manager/value"))
                    .and_then(Value::as_str)
                    == Some(manager.as_str())
        }
        _ => false,
    }
}

fn group_selected(state: &State, group: &StoredGroup, selection: &Selection) -> bool {
    match selection {
        Selection::All => true,
        Selection::ExternalId(ext) => group.external_id.as_deref() == Some(ext.as_str()),
        Selection::DisplayName(name) => &group.display_name == name,
        Selection::GroupsOfUser(user) => state.memberships.contains(&(group.id.clone(), user.clone())),
        Selection::GroupWithMember { group: wanted, user } => {
            &group.id == wanted && state.memberships.contains(&(group.id.clone(), user.clone()))
        }
        _ => false,
    }
}

/// `attributes`, `excludedAttributes`, `sortBy`, `sortOrder`: AWS refuses them (400), on lists and
/// on single reads alike.
fn refused_parameter(query: &[(String, String)]) -> Option<Reply> {
    ["attributes", "excludedAttributes", "sortBy", "sortOrder"].into_iter().find_map(|refused| {
        query
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case(refused))
            .then(|| Reply::bad(format!("Parameter {refused} is not supported.")))
    })
}

fn list(state: &mut State, resource: Resource, query: &[(String, String)]) -> Reply {
    let param =
        |name: &str| query.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str());
    if let Some(reply) = refused_parameter(query) {
        return reply;
    }
    // startIndex: AWS pages by cursor only. 1 (the start, as the classic answer says) is taken.
    if param("startIndex").is_some_and(|v| v.trim() != "1") {
        return Reply::bad("Parameter startIndex is not supported.");
    }
    let count = match param("count").map(str::parse::<usize>) {
        None => MAX_PAGE,
        Some(Ok(n)) if n >= 1 => n.min(MAX_PAGE),
        Some(_) => return Reply::bad(UNPARSABLE),
    };
    let filter = param("filter").map(str::to_string);
    let selection = match select(state, resource, filter.as_deref()) {
        Ok(selection) => selection,
        Err(reply) => return reply,
    };
    let (after_seq, cursor_mode) = match param("cursor") {
        None => (0, false),
        Some("") => (0, true),
        Some(token) => match state.cursors.get(token) {
            Some(cursor) if cursor.resource == resource.name() && cursor.filter == filter => {
                (cursor.after_seq, true)
            }
            Some(_) => return Reply::bad("The filter or resource changed between pages."),
            None => return Reply::bad("The cursor is invalid or expired."),
        },
    };
    let page_size =
        if cursor_mode { count.min(state.options.cursor_page_limit.unwrap_or(count).max(1)) } else { count };
    // One more than the page, to know whether a next page exists.
    let mut page: Vec<(u64, Value)> = match resource {
        Resource::Users => state
            .users
            .range(after_seq + 1..)
            .filter(|(_, doc)| user_selected(state, doc, &selection))
            .take(page_size + 1)
            .map(|(seq, doc)| (*seq, users::render(doc)))
            .collect(),
        Resource::Groups => state
            .groups
            .range(after_seq + 1..)
            .filter(|(_, group)| group_selected(state, group, &selection))
            .take(page_size + 1)
            .map(|(seq, group)| (*seq, render_group(group, true)))
            .collect(),
    };
    let more = page.len() > page_size;
    page.truncate(page_size);
    let last_seq = page.last().map(|(seq, _)| *seq);
    let resources: Vec<Value> = page.into_iter().map(|(_, item)| item).collect();
    if !cursor_mode {
        // The classic answer: one page, and totalResults is the size of that page.
        return Reply::Json(StatusCode::OK, list_of(resources));
    }
    let mut body = json!({
        "schemas": [LIST_SCHEMA],
        "itemsPerPage": resources.len(),
        "Resources": resources,
    });
    if let (true, Some(last_seq)) = (more, last_seq) {
        let token = uuid::Uuid::new_v4().simple().to_string();
        state
            .cursors
            .insert(token.clone(), Cursor { resource: resource.name(), filter, after_seq: last_seq });
        body["nextCursor"] = Value::String(token);
    }
    Reply::Json(StatusCode::OK, body)
}

// ---- users --------------------------------------------------------------------------------------

/// 409 when another user holds this userName, primary email or externalId.
fn user_conflict(state: &State, doc: &Map<String, Value>, except_id: Option<&str>) -> bool {
    let user_name = doc.get("userName").and_then(Value::as_str);
    let email = users::primary_email(doc).map(str::to_lowercase);
    let external_id = doc.get("externalId").and_then(Value::as_str);
    state.users.values().any(|other| {
        if other.get("id").and_then(Value::as_str) == except_id && except_id.is_some() {
            return false;
        }
        let same_name = match (user_name, other.get("userName").and_then(Value::as_str)) {
            (Some(a), Some(b)) => state.same_name(a, b),
            _ => false,
        };
        let same_email = email.is_some() && users::primary_email(other).map(str::to_lowercase) == email;
        let same_external =
            external_id.is_some() && other.get("externalId").and_then(Value::as_str) == external_id;
        same_name || same_email || same_external
    })
}

fn checked_user(
    state: &State,
    input: Map<String, Value>,
    except_id: Option<&str>,
) -> Result<Map<String, Value>, Reply> {
    let doc = users::normalize(input).map_err(Reply::bad)?;
    users::validate(&doc).map_err(Reply::bad)?;
    if user_conflict(state, &doc, except_id) {
        return Err(Reply::conflict());
    }
    Ok(doc)
}

fn into_object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

pub(crate) fn create_user(state: &mut State, body: Value) -> Reply {
    let mut doc = match checked_user(state, into_object(body), None) {
        Ok(doc) => doc,
        Err(reply) => return reply,
    };
    let id = state.options.new_id();
    let now = now_meta();
    doc.insert("id".into(), Value::String(id.clone()));
    doc.insert("meta".into(), json!({"resourceType": "User", "created": now, "lastModified": now}));
    doc.entry("active").or_insert(Value::Bool(true));
    let shown = users::render(&doc);
    let seq = state.take_seq();
    state.users.insert(seq, doc);
    state.user_seq.insert(id, seq);
    Reply::Json(StatusCode::CREATED, shown)
}

/// Stores a changed user, keeping its id and created time.
fn store_user(state: &mut State, id: &str, mut doc: Map<String, Value>) -> Reply {
    let Some(&seq) = state.user_seq.get(id) else {
        return Reply::not_found(id);
    };
    let created = state
        .users
        .get(&seq)
        .and_then(|old| old.get("meta"))
        .and_then(|m| m.get("created"))
        .cloned()
        .unwrap_or_else(|| Value::String(now_meta()));
    doc.insert("id".into(), Value::String(id.to_string()));
    doc.insert(
        "meta".into(),
        json!({"resourceType": "User", "created": created, "lastModified": now_meta()}),
    );
    let shown = users::render(&doc);
    state.users.insert(seq, doc);
    Reply::Json(StatusCode::OK, shown)
}

fn replace_user(state: &mut State, id: &str, body: Value) -> Reply {
    if state.user(id).is_none() {
        return Reply::not_found(id);
    }
    match checked_user(state, into_object(body), Some(id)) {
        Ok(doc) => store_user(state, id, doc),
        Err(reply) => reply,
    }
}

/// One PATCH operation: op lower-cased, path, value.
type Operation = (String, Option<String>, Option<Value>);

fn operations(body: &Value) -> Result<Vec<Operation>, Reply> {
    let ops = body
        .get("Operations")
        .or_else(|| body.get("operations"))
        .and_then(Value::as_array)
        .filter(|ops| !ops.is_empty())
        .ok_or_else(|| Reply::bad(UNPARSABLE))?;
    ops.iter()
        .map(|op| {
            let name = op.get("op").and_then(Value::as_str).ok_or_else(|| Reply::bad(UNPARSABLE))?;
            let path = op.get("path").and_then(Value::as_str).map(str::to_string);
            Ok((name.to_lowercase(), path, op.get("value").cloned()))
        })
        .collect()
}

fn patch_user(state: &mut State, id: &str, body: Value) -> Reply {
    let Some(current) = state.user(id) else {
        return Reply::not_found(id);
    };
    let ops = match operations(&body) {
        Ok(ops) => ops,
        Err(reply) => return reply,
    };
    let mut doc = current.clone();
    for (op, path, value) in ops {
        if let Err(detail) = users::apply(&mut doc, &op, path.as_deref(), value) {
            return Reply::bad(detail);
        }
    }
    doc.remove("meta");
    match checked_user(state, doc, Some(id)) {
        Ok(doc) => store_user(state, id, doc),
        Err(reply) => reply,
    }
}

fn delete_user(state: &mut State, id: &str) -> Reply {
    let Some(seq) = state.user_seq.remove(id) else {
        return Reply::not_found(id);
    };
    state.users.remove(&seq);
    state.memberships.retain(|(_, user)| user != id);
    Reply::NoContent
}

// ---- groups -------------------------------------------------------------------------------------

/// A group as AWS shows it: lists show `"members": []`, single answers no members key at all.
fn render_group(group: &StoredGroup, in_list: bool) -> Value {
    let mut shown = json!({
        "id": group.id,
        "meta": {"resourceType": "Group", "created": group.created, "lastModified": group.last_modified},
        "schemas": [GROUP_SCHEMA],
        "displayName": group.display_name,
    });
    if let Some(external_id) = &group.external_id {
        shown["externalId"] = Value::String(external_id.clone());
    }
    if in_list {
        shown["members"] = json!([]);
    }
    shown
}

fn check_group_text(path: &str, value: Option<&Value>, required: bool) -> Result<Option<String>, Reply> {
    let constraint = |what: &str| {
        Reply::bad(format!(
            "1 validation error detected: Value at '{path}' failed to satisfy constraint: {what}"
        ))
    };
    match value {
        None | Some(Value::Null) if required => Err(constraint("Member must not be null")),
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => {
            Err(constraint("Member must have length greater than or equal to 1"))
        }
        Some(Value::String(s)) if s.chars().count() > 1024 => {
            Err(constraint("Member must have length less than or equal to 1024"))
        }
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(constraint("Member must be a string")),
    }
}

fn group_conflict(
    state: &State,
    display_name: &str,
    external_id: Option<&str>,
    except_id: Option<&str>,
) -> bool {
    state.groups.values().any(|g| {
        Some(g.id.as_str()) != except_id
            && (state.same_name(&g.display_name, display_name)
                || (external_id.is_some() && g.external_id.as_deref() == external_id))
    })
}

/// The user ids of a `members` value: `[{"value": id}, ...]`.
fn member_ids(value: Option<&Value>) -> Result<Vec<String>, Reply> {
    let Some(Value::Array(items)) = value else {
        return Err(Reply::bad(UNPARSABLE));
    };
    items
        .iter()
        .map(|item| {
            item.get("value")
                .and_then(Value::as_str)
                .filter(|id| !id.is_empty())
                .map(str::to_string)
                .ok_or_else(|| Reply::bad(UNPARSABLE))
        })
        .collect()
}

pub(crate) fn create_group(state: &mut State, body: Value) -> Reply {
    let display_name = match check_group_text("displayName", body.get("displayName"), true) {
        Ok(name) => name.unwrap_or_default(),
        Err(reply) => return reply,
    };
    let external_id = match check_group_text("externalId", body.get("externalId"), false) {
        Ok(ext) => ext,
        Err(reply) => return reply,
    };
    let members = match body.get("members") {
        None | Some(Value::Null) => Vec::new(),
        some => match member_ids(some) {
            Ok(ids) => ids,
            Err(reply) => return reply,
        },
    };
    if members.len() > MAX_MEMBER_CHANGES {
        return Reply::bad(UNPARSABLE);
    }
    if let Some(unknown) = members.iter().find(|id| state.user(id).is_none()) {
        return Reply::not_found(unknown);
    }
    if group_conflict(state, &display_name, external_id.as_deref(), None) {
        return Reply::conflict();
    }
    let now = now_meta();
    let group = StoredGroup {
        id: state.options.new_id(),
        display_name,
        external_id,
        created: now.clone(),
        last_modified: now,
    };
    for member in members {
        state.memberships.insert((group.id.clone(), member));
    }
    let shown = render_group(&group, false);
    let seq = state.take_seq();
    state.group_seq.insert(group.id.clone(), seq);
    state.groups.insert(seq, group);
    Reply::Json(StatusCode::CREATED, shown)
}

/// The changes one group PATCH asks for, checked before any is applied.
#[derive(Default)]
struct GroupChanges {
    display_name: Option<String>,
    external_id: Option<Option<String>>,
    add: BTreeSet<String>,
    remove: BTreeSet<String>,
    member_changes: usize,
}

impl GroupChanges {
    fn set(&mut self, attr: &str, value: Option<&Value>) -> Result<(), Reply> {
        if attr.eq_ignore_ascii_case("displayName") {
            self.display_name = check_group_text("displayName", value, true)?;
        } else if attr.eq_ignore_ascii_case("externalId") {
            self.external_id = Some(check_group_text("externalId", value, true)?);
        } else if attr.eq_ignore_ascii_case("members") {
            self.add_members(value)?;
        } else {
            return Err(Reply::bad(format!("Attribute {attr} cannot be changed on a group.")));
        }
        Ok(())
    }

    fn add_members(&mut self, value: Option<&Value>) -> Result<(), Reply> {
        let ids = member_ids(value)?;
        self.member_changes += ids.len();
        self.add.extend(ids);
        Ok(())
    }

    fn apply_op(&mut self, op: &str, path: Option<&str>, value: Option<&Value>) -> Result<(), Reply> {
        match (op, path) {
            ("replace", Some(p)) if p.eq_ignore_ascii_case("members") => {
                Err(Reply::bad("Replacing the members of a group is not supported."))
            }
            ("add" | "replace", Some(p)) => self.set(p, value),
            ("add" | "replace", None) => {
                let Some(Value::Object(values)) = value else {
                    return Err(Reply::bad(UNPARSABLE));
                };
                for (attr, value) in values {
                    if op == "replace" && attr.eq_ignore_ascii_case("members") {
                        return Err(Reply::bad("Replacing the members of a group is not supported."));
                    }
                    self.set(attr, Some(value))?;
                }
                Ok(())
            }
            ("remove", Some(p)) if p.eq_ignore_ascii_case("members") => match value {
                None | Some(Value::Null) => {
                    Err(Reply::bad("Removing all members of a group is not supported."))
                }
                some => {
                    let ids = member_ids(some)?;
                    self.member_changes += ids.len();
                    self.remove.extend(ids);
                    Ok(())
                }
            },
            ("remove", Some(p)) if p.eq_ignore_ascii_case("externalId") => {
                self.external_id = Some(None);
                Ok(())
            }
            ("remove", Some(p)) if p.to_ascii_lowercase().starts_with("members[") => {
                let inner = p.get(8..p.len().saturating_sub(1)).unwrap_or_default();
                match filter::parse(inner).as_deref() {
                    Some([Comparison { attr, value }]) if attr == "value" && p.ends_with(']') => {
                        self.member_changes += 1;
                        self.remove.insert(value.clone());
                        Ok(())
                    }
                    _ => Err(Reply::bad(UNPARSABLE)),
                }
            }
            ("remove", _) => Err(Reply::bad(UNPARSABLE)),
            _ => Err(Reply::bad(format!("Unsupported operation {op}."))),
        }
    }
}

fn patch_group(state: &mut State, id: &str, body: Value) -> Reply {
    let Some(group) = state.group(id).cloned() else {
        return Reply::not_found(id);
    };
    let ops = match operations(&body) {
        Ok(ops) => ops,
        Err(reply) => return reply,
    };
    let mut changes = GroupChanges::default();
    for (op, path, value) in &ops {
        if let Err(reply) = changes.apply_op(op, path.as_deref(), value.as_ref()) {
            return reply;
        }
    }
    if changes.member_changes > MAX_MEMBER_CHANGES {
        return Reply::bad(UNPARSABLE);
    }
    if let Some(unknown) = changes.add.iter().find(|u| state.user(u).is_none()) {
        return Reply::not_found(unknown);
    }
    let display_name = changes.display_name.clone().unwrap_or(group.display_name.clone());
    let external_id = changes.external_id.clone().unwrap_or(group.external_id.clone());
    if group_conflict(state, &display_name, external_id.as_deref(), Some(id)) {
        return Reply::conflict();
    }
    for user in changes.add {
        state.memberships.insert((id.to_string(), user));
    }
    for user in changes.remove {
        state.memberships.remove(&(id.to_string(), user));
    }
    if let Some(seq) = state.group_seq.get(id).copied()
        && let Some(stored) = state.groups.get_mut(&seq)
    {
        stored.display_name = display_name;
        stored.external_id = external_id;
        stored.last_modified = now_meta();
    }
    Reply::NoContent
}

fn delete_group(state: &mut State, id: &str) -> Reply {
    let Some(seq) = state.group_seq.remove(id) else {
        return Reply::not_found(id);
    };
    state.groups.remove(&seq);
    state.memberships.retain(|(group, _)| group != id);
    Reply::NoContent
}
