//! Graph routes for directory objects: users, groups, members, service principals and app role
//! assignments. One handler parses the path itself: Graph paths such as
//! `servicePrincipals(appId='…')` and `members/$ref` do not fit a router's patterns well.

use std::collections::{BTreeSet, HashMap};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use percent_encoding::percent_decode_str;
use serde_json::{Map, Value, json};

use super::signin::{Caller, TokenProblem, verify};
use super::{
    AssignmentRow, EntraEmulator, EntraState, Group, base_url, graph_error, json_response, new_id,
    no_content, now_text, sync,
};
use crate::directory::str_field;

pub(crate) const USERS_READ: &[&str] =
    &["User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"];
const USERS_WRITE: &[&str] = &["User.ReadWrite.All", "Directory.ReadWrite.All"];
pub(crate) const GROUPS_READ: &[&str] = &[
    "Group.Read.All",
    "Group.ReadWrite.All",
    "GroupMember.Read.All",
    "GroupMember.ReadWrite.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
];
const GROUPS_WRITE: &[&str] = &["Group.ReadWrite.All", "Directory.ReadWrite.All"];
const MEMBERS_WRITE: &[&str] =
    &["GroupMember.ReadWrite.All", "Group.ReadWrite.All", "Directory.ReadWrite.All"];
const APPS_READ: &[&str] = &[
    "Application.Read.All",
    "Application.ReadWrite.All",
    "Application.ReadWrite.OwnedBy",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
];
const ASSIGNMENTS_WRITE: &[&str] = &["AppRoleAssignment.ReadWrite.All", "Application.ReadWrite.All"];

/// The properties Graph returns for a user without `$select`.
pub(crate) const USER_DEFAULT: &[&str] = &[
    "businessPhones",
    "displayName",
    "givenName",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "surname",
    "userPrincipalName",
    "id",
];

/// Graph's default page size.
const DEFAULT_TOP: usize = 100;

/// A parsed Graph request.
pub(crate) struct GraphRequest {
    pub method: Method,
    /// `v1.0` or `beta`.
    pub version: String,
    pub segments: Vec<String>,
    pub query: HashMap<String, String>,
    pub body: Value,
    /// `http://host:port`
    pub base: String,
    /// The path as called, for nextLink.
    pub path: String,
    /// `ConsistencyLevel: eventual` was sent (advanced queries).
    pub eventual: bool,
}

impl GraphRequest {
    pub fn q(&self, key: &str) -> Option<&str> {
        self.query.get(key).map(String::as_str)
    }
}

pub(crate) fn forbidden() -> Response {
    graph_error(
        StatusCode::FORBIDDEN,
        "Authorization_RequestDenied",
        "Insufficient privileges to complete the operation.",
    )
}

pub(crate) fn not_found(id: &str) -> Response {
    graph_error(
        StatusCode::NOT_FOUND,
        "Request_ResourceNotFound",
        &format!(
            "Resource '{id}' does not exist or one of its queried reference-property objects are not present."
        ),
    )
}

pub(crate) fn bad_request(message: &str) -> Response {
    graph_error(StatusCode::BAD_REQUEST, "Request_BadRequest", message)
}

pub(super) async fn handle(
    State(emulator): State<EntraEmulator>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let key = emulator.lock().signing_key;
    let authorization = headers.get("authorization").and_then(|v| v.to_str().ok());
    let caller = match verify(&key, authorization) {
        Ok(caller) => caller,
        Err(TokenProblem::Missing) => {
            return graph_error(
                StatusCode::UNAUTHORIZED,
                "InvalidAuthenticationToken",
                "Access token is empty.",
            );
        }
        Err(TokenProblem::Invalid) => {
            return graph_error(
                StatusCode::UNAUTHORIZED,
                "InvalidAuthenticationToken",
                "Access token validation failure. Invalid audience or signature.",
            );
        }
        Err(TokenProblem::Expired) => {
            return graph_error(
                StatusCode::UNAUTHORIZED,
                "InvalidAuthenticationToken",
                "Lifetime validation failed, the token is expired.",
            );
        }
    };
    let path = uri.path().to_owned();
    let (version, rest) = match path.strip_prefix("/v1.0/") {
        Some(rest) => ("v1.0", rest),
        None => ("beta", path.strip_prefix("/beta/").unwrap_or_default()),
    };
    let segments: Vec<String> = rest
        .trim_end_matches('/')
        .split('/')
        .map(|s| percent_decode_str(s).decode_utf8_lossy().into_owned())
        .collect();
    let query: HashMap<String, String> = url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let body = if body.is_empty() {
        Value::Null
    } else {
        match serde_json::from_slice(&body) {
            Ok(v) => v,
            Err(e) => return bad_request(&format!("Unable to read JSON request payload: {e}")),
        }
    };
    let request = GraphRequest {
        method,
        version: version.into(),
        segments,
        query,
        body,
        base: base_url(&headers),
        path,
        eventual: headers
            .get("consistencylevel")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("eventual")),
    };
    let segs: Vec<&str> = request.segments.iter().map(String::as_str).collect();
    // Graph's throttling: resource units and writes per app (see `throttle.rs`).
    let meter = match super::throttle::gate(&emulator, &caller, &request, &segs) {
        Ok(meter) => meter,
        Err(throttled) => return *throttled,
    };
    let mut response = match segs.as_slice() {
        ["servicePrincipals", sp, "synchronization", rest @ ..] => {
            let rest: Vec<String> = rest.iter().map(|s| s.to_string()).collect();
            sync::handle(&emulator, &caller, &request, sp, &rest).await
        }
        ["auditLogs", "provisioning"] => sync::logs(&emulator, &caller, &request),
        [resource @ ("users" | "groups"), "delta"] if request.method == Method::GET => {
            let resource = if *resource == "users" {
                super::delta::Resource::Users
            } else {
                super::delta::Resource::Groups
            };
            super::delta::serve(&emulator.lock(), &caller, &request, resource)
        }
        _ => {
            let mut state = emulator.lock();
            // Every write is recorded in the change log behind delta queries.
            let before = (request.method != Method::GET).then(|| super::delta::Before::capture(&state));
            let response = directory_route(&mut state, &caller, &request, &segs);
            if let Some(before) = before {
                before.record(&mut state);
            }
            response
        }
    };
    if let Some(meter) = meter {
        meter.stamp(&mut response);
    }
    response
}

fn directory_route(state: &mut EntraState, caller: &Caller, r: &GraphRequest, segs: &[&str]) -> Response {
    let m = &r.method;
    let need = |roles: &[&str]| caller.has_any(roles);
    match segs {
        ["users"] if m == Method::GET => {
            if !need(USERS_READ) {
                return forbidden();
            }
            let users: Vec<Map<String, Value>> = state.users.values().cloned().collect();
            // `$expand=manager(...)` serves the `manager` property the directory file gives a user.
            let expand = r.q("$expand").filter(|e| e.trim_start().starts_with("manager")).map(|_| "manager");
            list(r, "users", users, Some(USER_DEFAULT), expand)
        }
        ["users"] if m == Method::POST => {
            if !need(USERS_WRITE) {
                return forbidden();
            }
            create_user(state, r)
        }
        ["users", id] => {
            let found = state
                .users
                .iter()
                .find(|(uid, u)| {
                    uid.as_str() == *id
                        || str_field(u, "userPrincipalName").is_some_and(|upn| upn.eq_ignore_ascii_case(id))
                })
                .map(|(uid, _)| uid.clone());
            let Some(uid) = found else { return if need(USERS_READ) { not_found(id) } else { forbidden() } };
            match *m {
                Method::GET if need(USERS_READ) => {
                    let user = &state.users[&uid];
                    json_response(
                        StatusCode::OK,
                        with_context(
                            r,
                            "users/$entity",
                            project(user, r.q("$select"), Some(USER_DEFAULT), None),
                        ),
                    )
                }
                Method::PATCH if need(USERS_WRITE) => {
                    let Some(changes) = r.body.as_object() else {
                        return bad_request("A JSON object is expected.");
                    };
                    if let Some(user) = state.users.get_mut(&uid) {
                        for (k, v) in changes {
                            if k != "id" && k != "passwordProfile" {
                                user.insert(k.clone(), v.clone());
                            }
                        }
                    }
                    no_content()
                }
                Method::DELETE if need(USERS_WRITE) => {
                    state.users.remove(&uid);
                    remove_everywhere(state, &uid);
                    no_content()
                }
                Method::GET | Method::PATCH | Method::DELETE => forbidden(),
                _ => method_not_allowed(),
            }
        }
        ["groups"] if m == Method::GET => {
            if !need(GROUPS_READ) {
                return forbidden();
            }
            let groups: Vec<Map<String, Value>> =
                state.groups.values().map(|g| g.properties.clone()).collect();
            list(r, "groups", groups, None, None)
        }
        ["groups"] if m == Method::POST => {
            if !need(GROUPS_WRITE) {
                return forbidden();
            }
            create_group(state, r)
        }
        ["groups", id] => {
            if !state.groups.contains_key(*id) {
                return if need(GROUPS_READ) { not_found(id) } else { forbidden() };
            }
            match *m {
                Method::GET if need(GROUPS_READ) => {
                    let group = &state.groups[*id];
                    json_response(
                        StatusCode::OK,
                        with_context(
                            r,
                            "groups/$entity",
                            project(&group.properties, r.q("$select"), None, None),
                        ),
                    )
                }
                Method::PATCH if need(GROUPS_WRITE) => {
                    let Some(changes) = r.body.as_object() else {
                        return bad_request("A JSON object is expected.");
                    };
                    if let Some(group) = state.groups.get_mut(*id) {
                        for (k, v) in changes {
                            if k != "id" && k != "members@odata.bind" {
                                group.properties.insert(k.clone(), v.clone());
                            }
                        }
                    }
                    no_content()
                }
                Method::DELETE if need(GROUPS_WRITE) => {
                    state.groups.remove(*id);
                    remove_everywhere(state, id);
                    no_content()
                }
                Method::GET | Method::PATCH | Method::DELETE => forbidden(),
                _ => method_not_allowed(),
            }
        }
        ["groups", id, kind @ ("members" | "transitiveMembers")] if m == Method::GET => {
            if !need(GROUPS_READ) {
                return forbidden();
            }
            let Some(group) = state.groups.get(*id) else { return not_found(id) };
            let ids = if *kind == "members" { group.members.clone() } else { transitive_members(state, id) };
            let objects: Vec<Map<String, Value>> = ids
                .iter()
                .filter_map(|mid| state.object(mid))
                .map(|(odata_type, mut object)| {
                    object.insert("@odata.type".into(), Value::String(odata_type.into()));
                    object
                })
                .collect();
            list(r, "directoryObjects", objects, None, Some("@odata.type"))
        }
        ["groups", id, "members", "$ref"] if m == Method::POST => {
            if !need(MEMBERS_WRITE) {
                return forbidden();
            }
            let Some(reference) = r.body.get("@odata.id").and_then(Value::as_str) else {
                return bad_request("The request body must carry '@odata.id'.");
            };
            let member_id = reference.trim_end_matches('/').rsplit('/').next().unwrap_or_default().to_owned();
            if state.object(&member_id).is_none() {
                return not_found(&member_id);
            }
            let Some(group) = state.groups.get_mut(*id) else { return not_found(id) };
            if group.members.contains(&member_id) {
                return bad_request(
                    "One or more added object references already exist for the following modified properties: 'members'.",
                );
            }
            group.members.push(member_id);
            no_content()
        }
        ["groups", id, "members", member_id, "$ref"] if m == Method::DELETE => {
            if !need(MEMBERS_WRITE) {
                return forbidden();
            }
            let Some(group) = state.groups.get_mut(*id) else { return not_found(id) };
            let before = group.members.len();
            group.members.retain(|mid| mid != member_id);
            if group.members.len() == before {
                return not_found(member_id);
            }
            no_content()
        }
        ["servicePrincipals"] if m == Method::GET => {
            if !need(APPS_READ) {
                return forbidden();
            }
            let sps: Vec<Map<String, Value>> = state.service_principals.iter().map(sp_json).collect();
            list(r, "servicePrincipals", sps, None, None)
        }
        [sp_ref] if sp_ref.starts_with("servicePrincipals(") && m == Method::GET => {
            if !need(APPS_READ) {
                return forbidden();
            }
            let Some(app_id) = sp_ref
                .strip_prefix("servicePrincipals(appId=")
                .and_then(|s| s.strip_suffix(')'))
                .map(|s| s.trim_matches('\'').replace("''", "'"))
            else {
                return bad_request(&format!("Invalid object identifier '{sp_ref}'."));
            };
            match state.service_principals.iter().find(|s| s.app_id.eq_ignore_ascii_case(&app_id)) {
                Some(sp) => json_response(
                    StatusCode::OK,
                    with_context(
                        r,
                        "servicePrincipals/$entity",
                        project(&sp_json(sp), r.q("$select"), None, None),
                    ),
                ),
                None => not_found(&format!("appId={app_id}")),
            }
        }
        ["servicePrincipals", id] if m == Method::GET => {
            if !need(APPS_READ) {
                return forbidden();
            }
            match state.service_principals.iter().find(|s| s.id.eq_ignore_ascii_case(id)) {
                Some(sp) => json_response(
                    StatusCode::OK,
                    with_context(
                        r,
                        "servicePrincipals/$entity",
                        project(&sp_json(sp), r.q("$select"), None, None),
                    ),
                ),
                None => not_found(id),
            }
        }
        ["servicePrincipals", id, "appRoleAssignedTo"] => {
            let Some(sp) = state.service_principals.iter().find(|s| s.id.eq_ignore_ascii_case(id)).cloned()
            else {
                return if need(APPS_READ) { not_found(id) } else { forbidden() };
            };
            // Only the enterprise app carries assignments in this emulator.
            let is_app = sp.id == state.app().id;
            match *m {
                Method::GET => {
                    if !need(APPS_READ) && !need(ASSIGNMENTS_WRITE) {
                        return forbidden();
                    }
                    let rows: Vec<Map<String, Value>> = if is_app {
                        state.assignments.iter().map(|a| assignment_json(state, a)).collect()
                    } else {
                        Vec::new()
                    };
                    list(r, &format!("servicePrincipals('{}')/appRoleAssignedTo", sp.id), rows, None, None)
                }
                Method::POST => {
                    if !need(ASSIGNMENTS_WRITE) {
                        return forbidden();
                    }
                    if !is_app {
                        return bad_request(
                            "This emulator keeps assignments for the enterprise application only.",
                        );
                    }
                    let Some(principal_id) =
                        r.body.get("principalId").and_then(Value::as_str).map(str::to_owned)
                    else {
                        return bad_request("principalId is required.");
                    };
                    let principal_type = match state.object(&principal_id) {
                        Some(("#microsoft.graph.user", _)) => "User",
                        Some(("#microsoft.graph.group", _)) => "Group",
                        Some(("#microsoft.graph.servicePrincipal", _)) => "ServicePrincipal",
                        Some(_) => {
                            return bad_request("Only users, groups and service principals can be assigned.");
                        }
                        None => return not_found(&principal_id),
                    };
                    let app_role_id = r
                        .body
                        .get("appRoleId")
                        .and_then(Value::as_str)
                        .unwrap_or(crate::directory::DEFAULT_ACCESS_ROLE_ID)
                        .to_lowercase();
                    let known = app_role_id == crate::directory::DEFAULT_ACCESS_ROLE_ID
                        || sp.app_roles.iter().any(|role| {
                            role.get("id")
                                .and_then(Value::as_str)
                                .is_some_and(|id| id.eq_ignore_ascii_case(&app_role_id))
                        });
                    if !known {
                        return bad_request(&format!(
                            "Permission {app_role_id} doesn't exist on the application {}.",
                            sp.app_id
                        ));
                    }
                    if state.assignments.iter().any(|a| {
                        a.principal_id == principal_id && a.app_role_id.eq_ignore_ascii_case(&app_role_id)
                    }) {
                        return bad_request("Permission being assigned already exists on the object");
                    }
                    let row = AssignmentRow {
                        id: new_id(),
                        principal_id,
                        principal_type: principal_type.into(),
                        app_role_id,
                        created: now_text(),
                    };
                    let body = assignment_json(state, &row);
                    state.assignments.push(row);
                    json_response(StatusCode::CREATED, Value::Object(body))
                }
                _ => method_not_allowed(),
            }
        }
        ["servicePrincipals", _id, "appRoleAssignedTo", assignment_id] if m == Method::DELETE => {
            if !need(ASSIGNMENTS_WRITE) {
                return forbidden();
            }
            let before = state.assignments.len();
            state.assignments.retain(|a| a.id != *assignment_id);
            if state.assignments.len() == before {
                return not_found(assignment_id);
            }
            no_content()
        }
        _ => graph_error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            &format!("Resource not found for the segment '{}'.", segs.first().copied().unwrap_or("")),
        ),
    }
}

fn method_not_allowed() -> Response {
    graph_error(
        StatusCode::METHOD_NOT_ALLOWED,
        "Request_BadRequest",
        "The method is not allowed on this resource.",
    )
}

fn sp_json(sp: &super::ServicePrincipalRow) -> Map<String, Value> {
    let value = json!({
        "id": sp.id,
        "appId": sp.app_id,
        "displayName": sp.display_name,
        "accountEnabled": true,
        "servicePrincipalType": "Application",
        "appRoleAssignmentRequired": true,
        "appRoles": sp.app_roles,
        "tags": ["WindowsAzureActiveDirectoryIntegratedApp"],
    });
    value.as_object().cloned().unwrap_or_default()
}

fn assignment_json(state: &EntraState, a: &AssignmentRow) -> Map<String, Value> {
    let name =
        state.object(&a.principal_id).and_then(|(_, o)| str_field(&o, "displayName").map(str::to_owned));
    let app = state.app();
    let value = json!({
        "id": a.id,
        "appRoleId": a.app_role_id,
        "createdDateTime": a.created,
        "deletedDateTime": null,
        "principalDisplayName": name,
        "principalId": a.principal_id,
        "principalType": a.principal_type,
        "resourceDisplayName": app.display_name,
        "resourceId": app.id,
    });
    value.as_object().cloned().unwrap_or_default()
}

/// Members of members, each once; cycles end because an id is visited once.
pub(crate) fn transitive_members(state: &EntraState, group_id: &str) -> Vec<String> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    let mut stack = vec![group_id.to_owned()];
    seen.insert(group_id.to_owned());
    while let Some(gid) = stack.pop() {
        let Some(group) = state.groups.get(&gid) else { continue };
        for member in &group.members {
            if seen.insert(member.clone()) {
                out.push(member.clone());
                if state.groups.contains_key(member) {
                    stack.push(member.clone());
                }
            }
        }
    }
    out
}

/// Remove a deleted object from groups and assignments.
fn remove_everywhere(state: &mut EntraState, id: &str) {
    for group in state.groups.values_mut() {
        group.members.retain(|m| m != id);
    }
    state.assignments.retain(|a| a.principal_id != id);
}

fn create_user(state: &mut EntraState, r: &GraphRequest) -> Response {
    let Some(body) = r.body.as_object() else { return bad_request("A JSON object is expected.") };
    let Some(upn) = str_field(body, "userPrincipalName").map(str::to_owned) else {
        return bad_request("Property userPrincipalName is required.");
    };
    if str_field(body, "displayName").is_none() {
        return bad_request("Property displayName is required.");
    }
    if state
        .users
        .values()
        .any(|u| str_field(u, "userPrincipalName").is_some_and(|v| v.eq_ignore_ascii_case(&upn)))
    {
        return bad_request(
            "Another object with the same value for property userPrincipalName already exists.",
        );
    }
    let id = new_id();
    let mut user = body.clone();
    // Graph never returns the password.
    user.remove("passwordProfile");
    user.insert("id".into(), Value::String(id.clone()));
    user.entry("accountEnabled").or_insert(Value::Bool(true));
    user.entry("userType").or_insert(Value::String("Member".into()));
    state.users.insert(id, user.clone());
    json_response(
        StatusCode::CREATED,
        with_context(r, "users/$entity", project(&user, None, Some(USER_DEFAULT), None)),
    )
}

fn create_group(state: &mut EntraState, r: &GraphRequest) -> Response {
    let Some(body) = r.body.as_object() else { return bad_request("A JSON object is expected.") };
    if str_field(body, "displayName").is_none() {
        return bad_request("Property displayName is required.");
    }
    let id = new_id();
    let mut properties = body.clone();
    let members: Vec<String> = properties
        .remove("members@odata.bind")
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(Value::as_str)
        .filter_map(|link| link.rsplit('/').next().map(str::to_owned))
        .filter(|mid| state.object(mid).is_some())
        .collect();
    properties.insert("id".into(), Value::String(id.clone()));
    state.groups.insert(id, Group { properties: properties.clone(), members });
    json_response(StatusCode::CREATED, with_context(r, "groups/$entity", properties))
}

fn with_context(r: &GraphRequest, context: &str, mut object: Map<String, Value>) -> Value {
    object.insert(
        "@odata.context".into(),
        Value::String(format!("{}/{}/$metadata#{context}", r.base, r.version)),
    );
    Value::Object(object)
}

/// Keep the selected properties (or the default set); `id` always, `keep` always when present.
pub(crate) fn project(
    object: &Map<String, Value>,
    select: Option<&str>,
    default: Option<&[&str]>,
    keep: Option<&str>,
) -> Map<String, Value> {
    let wanted: Option<Vec<&str>> = match select {
        Some(s) => Some(s.split(',').map(str::trim).filter(|p| !p.is_empty()).collect()),
        None => default.map(<[&str]>::to_vec),
    };
    let Some(wanted) = wanted else { return object.clone() };
    let mut out = Map::new();
    if let Some(k) = keep
        && let Some(v) = object.get(k)
    {
        out.insert(k.into(), v.clone());
    }
    for name in wanted.iter().copied().chain(["id"]) {
        // Graph matches property names without regard to case.
        let found = object.iter().find(|(k, _)| k.eq_ignore_ascii_case(name));
        let (key, value) = match found {
            Some((k, v)) => (k.clone(), v.clone()),
            None => (name.to_owned(), Value::Null),
        };
        out.insert(key, value);
    }
    out
}

/// Why a `$filter` was refused: the error code and message Graph answers with.
#[derive(Debug)]
pub(crate) struct FilterError {
    code: &'static str,
    message: String,
}

fn unsupported(message: String) -> FilterError {
    FilterError { code: "Request_UnsupportedQuery", message }
}

/// `$filter`s as Graph takes them on directory objects: `prop eq 'value'` (or `true`/`false`) and
/// `startswith(prop,'value')`, joined by `and`; with `advanced` (`ConsistencyLevel: eventual` and
/// `$count=true`) also `ne`, `endswith(prop,'value')` and `not(…)`.
fn filter_matches(filter: &str, object: &Map<String, Value>, advanced: bool) -> Result<bool, FilterError> {
    for clause in split_and(filter) {
        if !clause_matches(clause.trim(), object, advanced)? {
            return Ok(false);
        }
    }
    Ok(true)
}

fn advanced_only(operator: &str) -> FilterError {
    unsupported(format!(
        "Operator '{operator}' is not supported because the required parameters might be missing. Try adding \
         $count=true query parameter and ConsistencyLevel:eventual header. Refer to \
         https://aka.ms/graph-docs/advanced-queries for more information"
    ))
}

fn clause_matches(clause: &str, object: &Map<String, Value>, advanced: bool) -> Result<bool, FilterError> {
    let function = |name: &str| {
        let lower = clause.to_ascii_lowercase();
        lower
            .starts_with(&format!("{name}("))
            .then(|| &clause[name.len() + 1..])
            .and_then(|c| c.strip_suffix(')'))
    };
    let bad = || unsupported(format!("Invalid filter clause: {clause}"));
    if let Some(inner) = function("not") {
        if !advanced {
            return Err(advanced_only("not"));
        }
        return Ok(!clause_matches(inner.trim(), object, advanced)?);
    }
    for (name, ends) in [("startswith", false), ("endswith", true)] {
        if let Some(inner) = function(name) {
            if ends && !advanced {
                return Err(advanced_only("endsWith"));
            }
            let (prop, value) = inner.split_once(',').ok_or_else(bad)?;
            let value = unquote(value.trim()).map_err(unsupported)?.to_lowercase();
            return Ok(text_of(object, prop.trim()).is_some_and(|v| {
                let v = v.to_lowercase();
                if ends { v.ends_with(&value) } else { v.starts_with(&value) }
            }));
        }
    }
    let (negate, (prop, value)) = match (clause.split_once(" eq "), clause.split_once(" ne ")) {
        (Some(parts), _) => (false, parts),
        (None, Some(parts)) => {
            if !advanced {
                return Err(advanced_only("ne"));
            }
            (true, parts)
        }
        (None, None) => {
            return Err(unsupported(format!(
                "Unsupported or invalid query filter clause specified for property of resource: {clause}"
            )));
        }
    };
    let (prop, value) = (prop.trim(), value.trim());
    let equal = match value {
        "true" | "false" => object.get(prop) == Some(&Value::Bool(value == "true")),
        _ => {
            let value = unquote(value).map_err(unsupported)?;
            text_of(object, prop).is_some_and(|v| v.eq_ignore_ascii_case(&value))
        }
    };
    Ok(equal != negate)
}

pub(crate) fn split_and(filter: &str) -> Vec<String> {
    // Split on " and " outside of quotes.
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let chars: Vec<char> = filter.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            quoted = !quoted;
        }
        if !quoted && chars[i..].iter().take(5).collect::<String>().eq_ignore_ascii_case(" and ") {
            parts.push(std::mem::take(&mut current));
            i += 5;
            continue;
        }
        current.push(c);
        i += 1;
    }
    parts.push(current);
    parts
}

/// `'O''Brien'` → `O'Brien`.
pub(crate) fn unquote(value: &str) -> Result<String, String> {
    value
        .strip_prefix('\'')
        .and_then(|v| v.strip_suffix('\''))
        .map(|v| v.replace("''", "'"))
        .ok_or_else(|| format!("Invalid literal {value}: string literals are quoted with '"))
}

fn text_of<'a>(object: &'a Map<String, Value>, prop: &str) -> Option<&'a str> {
    object.iter().find(|(k, _)| k.eq_ignore_ascii_case(prop)).and_then(|(_, v)| v.as_str())
}

/// A page of a collection: `$filter`, `$select`, `$top` (1–999), `$skiptoken`, `@odata.nextLink`.
pub(crate) fn list(
    r: &GraphRequest,
    context: &str,
    items: Vec<Map<String, Value>>,
    default_select: Option<&[&str]>,
    keep: Option<&str>,
) -> Response {
    list_filtered(r, context, items, default_select, keep, false)
}

/// [`list`] for items the caller already filtered (its own `$filter` grammar).
pub(crate) fn list_filtered(
    r: &GraphRequest,
    context: &str,
    items: Vec<Map<String, Value>>,
    default_select: Option<&[&str]>,
    keep: Option<&str>,
    filtered: bool,
) -> Response {
    let filter = if filtered { None } else { r.q("$filter") };
    // `$count=true` needs `ConsistencyLevel: eventual` on directory objects, and both make a
    // query "advanced" (ne, endsWith, not).
    let count = !filtered && r.q("$count").is_some_and(|c| c.eq_ignore_ascii_case("true"));
    if count && !r.eventual {
        return graph_error(
            StatusCode::BAD_REQUEST,
            "Request_BadRequest",
            "$count is not currently supported.",
        );
    }
    let advanced = count && r.eventual;
    let items = match filter {
        Some(filter) => {
            let mut kept = Vec::new();
            for item in items {
                match filter_matches(filter, &item, advanced) {
                    Ok(true) => kept.push(item),
                    Ok(false) => {}
                    Err(e) => return graph_error(StatusCode::BAD_REQUEST, e.code, &e.message),
                }
            }
            kept
        }
        None => items,
    };
    let top = match r.q("$top") {
        None => DEFAULT_TOP,
        Some(text) => match text.parse::<usize>() {
            Ok(n) if (1..=999).contains(&n) => n,
            _ => {
                return graph_error(
                    StatusCode::BAD_REQUEST,
                    "Request_UnsupportedQuery",
                    &format!("Invalid page size specified: '{text}'. Must be between 1 and 999 inclusive."),
                );
            }
        },
    };
    let skip = match r.q("$skiptoken") {
        None => 0,
        Some(token) => match token
            .strip_prefix("X'")
            .and_then(|t| t.strip_suffix('\''))
            .and_then(|t| usize::from_str_radix(t, 16).ok())
        {
            Some(n) => n,
            None => {
                return graph_error(
                    StatusCode::BAD_REQUEST,
                    "Directory_ExpiredPageToken",
                    "The specified page token value has expired and can no longer be included in your request.",
                );
            }
        },
    };
    let page: Vec<Value> = items
        .iter()
        .skip(skip)
        .take(top)
        .map(|item| Value::Object(project(item, r.q("$select"), default_select, keep)))
        .collect();
    let mut body = Map::new();
    body.insert(
        "@odata.context".into(),
        Value::String(format!("{}/{}/$metadata#{context}", r.base, r.version)),
    );
    if count {
        body.insert("@odata.count".into(), Value::from(items.len()));
    }
    if skip + top < items.len() {
        // Keep every other query option; Graph's nextLink carries them (headers it does not).
        let mut pairs = url::form_urlencoded::Serializer::new(String::new());
        let mut keys: Vec<&String> = r.query.keys().filter(|k| k.as_str() != "$skiptoken").collect();
        keys.sort();
        for key in keys {
            pairs.append_pair(key, &r.query[key]);
        }
        pairs.append_pair("$skiptoken", &format!("X'{:x}'", skip + top));
        body.insert(
            "@odata.nextLink".into(),
            Value::String(format!("{}{}?{}", r.base, r.path, pairs.finish())),
        );
    }
    body.insert("value".into(), Value::Array(page));
    json_response(StatusCode::OK, Value::Object(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters() {
        let object: Map<String, Value> =
            json!({"displayName": "O'Brien's App", "appId": "A1", "accountEnabled": true})
                .as_object()
                .cloned()
                .unwrap();
        let cases = [
            ("displayName eq 'O''Brien''s App'", Ok(true)),
            ("displayName eq 'o''brien''s app'", Ok(true)),
            ("displayName eq 'Other'", Ok(false)),
            ("appId eq 'A1' and accountEnabled eq true", Ok(true)),
            ("startswith(displayName,'O''B')", Ok(true)),
            ("displayName ne 'x'", Err(())),
            ("endswith(displayName,'app')", Err(())),
            ("not(startswith(displayName,'O'))", Err(())),
        ];
        for (filter, expected) in cases {
            assert_eq!(filter_matches(filter, &object, false).map_err(drop), expected, "{filter}");
        }
        let advanced = [
            ("displayName ne 'x'", true),
            ("displayName ne 'o''brien''s app'", false),
            ("endswith(displayName,'APP')", true),
            ("not(startswith(displayName,'O'))", false),
            ("not(displayName eq 'x') and accountEnabled ne false", true),
        ];
        for (filter, expected) in advanced {
            assert_eq!(filter_matches(filter, &object, true).unwrap(), expected, "{filter}");
        }
    }

    #[test]
    fn projection_keeps_id_and_marks_missing_as_null() {
        let object: Map<String, Value> =
            json!({"id": "1", "displayName": "A", "mail": "a@x"}).as_object().cloned().unwrap();
        let projected = project(&object, Some("displayName,surname"), None, None);
        assert_eq!(Value::Object(projected), json!({"id": "1", "displayName": "A", "surname": null}));
    }
}
