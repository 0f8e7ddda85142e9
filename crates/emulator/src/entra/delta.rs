//! Graph delta queries: `GET /users/delta` and `GET /groups/delta` (under `/v1.0` and `/beta`).
//!
//! Every admin write (POST/PATCH/DELETE of users and groups, member `$ref` adds and removes, and the
//! in-process helpers `edit_users` / `set_group_members`) is recorded in a change log with a sequence
//! number. A first call enumerates every object in pages (`@odata.nextLink`) and ends with an
//! `@odata.deltaLink` whose token holds the sequence the round started at; a later call with that
//! token returns the objects changed since, rendered as they are now. Deleted objects come as
//! `{"id", "@removed": {"reason": "deleted"}}`; group membership changes come in `members@delta`, removed
//! members carrying `@removed`. `$deltatoken=latest` starts from now with no objects. A token of
//! another emulator run, of the other resource, or older than [`EntraEmulator::expire_delta_tokens`]
//! answers 410 Gone with Graph's error body, as an expired token does.

use std::collections::{BTreeMap, BTreeSet};

use axum::http::StatusCode;
use axum::response::Response;
use base64::Engine as _;
use serde_json::{Map, Value, json};

use super::graph::{GROUPS_READ, GraphRequest, USER_DEFAULT, USERS_READ, forbidden, project};
use super::signin::Caller;
use super::{EntraEmulator, EntraState, Group, graph_error, json_response};

/// Page size of a delta round when the caller does not ask (`$top`), unless
/// [`EntraEmulator::set_delta_page_size`] changed it.
pub(crate) const DEFAULT_PAGE: usize = 100;

/// One recorded change.
#[derive(Debug, Clone)]
pub(crate) enum Change {
    User(String),
    Group(String),
    Member { group: String, member: String, odata_type: &'static str },
}

/// The change log behind delta tokens.
#[derive(Debug)]
pub(crate) struct DeltaLog {
    /// The sequence of the newest change.
    pub seq: u64,
    pub entries: Vec<(u64, Change)>,
    /// Tokens older than this are expired.
    pub floor: u64,
    /// Tokens of another emulator run are unknown.
    pub epoch: u32,
    /// The page size when the caller gives no `$top`: at most this many objects per page, and at
    /// most this many `members@delta` entries in all.
    pub page_size: usize,
}

impl Default for DeltaLog {
    fn default() -> Self {
        DeltaLog { seq: 0, entries: Vec::new(), floor: 0, epoch: rand::random(), page_size: DEFAULT_PAGE }
    }
}

impl DeltaLog {
    fn push(&mut self, change: Change) {
        self.seq += 1;
        self.entries.push((self.seq, change));
    }

    fn since(&self, since: u64, upto: u64) -> impl Iterator<Item = &Change> {
        self.entries.iter().filter(move |(s, _)| *s > since && *s <= upto).map(|(_, c)| c)
    }
}

/// The directory before a write, to record what the write changed.
pub(crate) struct Before {
    users: BTreeMap<String, Map<String, Value>>,
    groups: BTreeMap<String, Group>,
}

impl Before {
    pub fn capture(state: &EntraState) -> Self {
        Before { users: state.users.clone(), groups: state.groups.clone() }
    }

    /// Records every difference between this and `state` in the change log.
    pub fn record(self, state: &mut EntraState) {
        let mut changes = Vec::new();
        let user_ids: BTreeSet<&String> = self.users.keys().chain(state.users.keys()).collect();
        for id in user_ids {
            if self.users.get(id) != state.users.get(id) {
                changes.push(Change::User(id.clone()));
            }
        }
        let group_ids: BTreeSet<&String> = self.groups.keys().chain(state.groups.keys()).collect();
        for id in group_ids {
            let (old, new) = (self.groups.get(id), state.groups.get(id));
            if old.map(|g| &g.properties) != new.map(|g| &g.properties) {
                changes.push(Change::Group(id.clone()));
            }
            let members = |g: Option<&Group>| -> BTreeSet<String> {
                g.map(|g| g.members.iter().cloned().collect()).unwrap_or_default()
            };
            let (was, is) = (members(old), members(new));
            // A deleted group's members need no record: the group itself comes as removed.
            if new.is_none() {
                continue;
            }
            for member in was.symmetric_difference(&is) {
                let odata_type = if state.users.contains_key(member) || self.users.contains_key(member) {
                    "#microsoft.graph.user"
                } else if state.groups.contains_key(member) || self.groups.contains_key(member) {
                    "#microsoft.graph.group"
                } else {
                    "#microsoft.graph.device"
                };
                changes.push(Change::Member { group: id.clone(), member: member.clone(), odata_type });
            }
        }
        for change in changes {
            state.delta.push(change);
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Resource {
    Users,
    Groups,
}

impl Resource {
    fn letter(self) -> char {
        match self {
            Resource::Users => 'u',
            Resource::Groups => 'g',
        }
    }
}

/// Where a round is: changes after `since` (None: every object) up to `upto`, objects from `from`
/// on (its id, inclusive, and how many of its members earlier pages already carried).
struct Position {
    since: Option<u64>,
    upto: u64,
    from: Option<(String, usize)>,
}

fn encode(text: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}

fn decode(token: &str) -> Option<String> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token).ok()?;
    String::from_utf8(bytes).ok()
}

fn delta_token(log: &DeltaLog, resource: Resource, seq: u64) -> String {
    encode(&format!("d.{:x}.{}.{seq}", log.epoch, resource.letter()))
}

fn page_token(log: &DeltaLog, resource: Resource, p: &Position) -> String {
    let since = p.since.map_or_else(|| "-".to_owned(), |s| s.to_string());
    let (from, offset) = p.from.as_ref().map_or(("", 0), |(id, offset)| (id.as_str(), *offset));
    encode(&format!("p.{:x}.{}.{since}.{}.{offset}.{from}", log.epoch, resource.letter(), p.upto))
}

/// Reads a `$deltatoken` or `$skiptoken`; `None` when it is unknown, of another resource, or expired.
fn parse_token(log: &DeltaLog, resource: Resource, token: &str, page: bool) -> Option<Position> {
    let text = decode(token)?;
    let mut parts = text.splitn(7, '.');
    let tag = parts.next()?;
    let epoch = u32::from_str_radix(parts.next()?, 16).ok()?;
    let letter = parts.next()?;
    if epoch != log.epoch || !letter.starts_with(resource.letter()) {
        return None;
    }
    let position = match (tag, page) {
        ("d", false) => {
            let since: u64 = parts.next()?.parse().ok()?;
            Position { since: Some(since), upto: log.seq, from: None }
        }
        ("p", true) => {
            let since = match parts.next()? {
                "-" => None,
                s => Some(s.parse().ok()?),
            };
            let upto: u64 = parts.next()?.parse().ok()?;
            let offset: usize = parts.next()?.parse().ok()?;
            let from = parts.next().filter(|a| !a.is_empty()).map(|id| (id.to_owned(), offset));
            Position { since, upto, from }
        }
        _ => return None,
    };
    // A token older than the log keeps is expired; so is the page of a round that started before.
    let oldest = position.since.unwrap_or(position.upto);
    if oldest < log.floor || position.upto > log.seq {
        return None;
    }
    Some(position)
}

fn gone() -> Response {
    graph_error(
        StatusCode::GONE,
        "syncStateNotFound",
        "The sync state generation is invalid or has expired. Please restart with a new delta request \
         without a token.",
    )
}

/// `GET /users/delta` or `GET /groups/delta`.
pub(crate) fn serve(state: &EntraState, caller: &Caller, r: &GraphRequest, resource: Resource) -> Response {
    let roles = match resource {
        Resource::Users => USERS_READ,
        Resource::Groups => GROUPS_READ,
    };
    if !caller.has_any(roles) {
        return forbidden();
    }
    let log = &state.delta;
    let position = match (r.q("$deltatoken"), r.q("$skiptoken")) {
        (Some("latest"), _) => {
            return finish(r, resource, Vec::new(), Some(delta_token(log, resource, log.seq)), None);
        }
        (Some(token), _) => match parse_token(log, resource, token, false) {
            Some(p) => p,
            None => return gone(),
        },
        (None, Some(token)) => match parse_token(log, resource, token, true) {
            Some(p) => p,
            None => return gone(),
        },
        (None, None) => Position { since: None, upto: log.seq, from: None },
    };
    let top = match r.q("$top").map(str::parse::<usize>) {
        None => log.page_size,
        Some(Ok(n)) if (1..=999).contains(&n) => n,
        Some(_) => {
            return graph_error(
                StatusCode::BAD_REQUEST,
                "Request_UnsupportedQuery",
                "Invalid page size specified. Must be between 1 and 999 inclusive.",
            );
        }
    };
    // The ids this round covers, in id order.
    let mut touched: BTreeMap<String, BTreeMap<String, &'static str>> = BTreeMap::new();
    match position.since {
        None => {
            let ids: Vec<&String> = match resource {
                Resource::Users => state.users.keys().collect(),
                Resource::Groups => state.groups.keys().collect(),
            };
            for id in ids {
                touched.entry(id.clone()).or_default();
            }
        }
        Some(since) => {
            for change in log.since(since, position.upto) {
                match (resource, change) {
                    (Resource::Users, Change::User(id)) | (Resource::Groups, Change::Group(id)) => {
                        touched.entry(id.clone()).or_default();
                    }
                    (Resource::Groups, Change::Member { group, member, odata_type }) => {
                        touched.entry(group.clone()).or_default().insert(member.clone(), odata_type);
                    }
                    _ => {}
                }
            }
        }
    }
    let remaining: Vec<(&String, &BTreeMap<String, &'static str>)> =
        touched.iter().filter(|(id, _)| position.from.as_ref().is_none_or(|(from, _)| *id >= from)).collect();
    // A page holds at most `top` objects and at most `top` members in all: a group whose member
    // changes do not fit ends the page, and the next page repeats it with the rest, as Graph does.
    let mut page = Vec::new();
    let mut member_budget = top;
    let mut next: Option<(String, usize)> = None;
    for (id, members) in &remaining {
        if page.len() == top {
            next = Some(((*id).clone(), 0));
            break;
        }
        let skip = match &position.from {
            Some((from, offset)) if from == *id => *offset,
            _ => 0,
        };
        let mut object = match resource {
            Resource::Users => render_user(state, r, id),
            Resource::Groups => render_group(state, r, id, position.since.is_none(), members),
        };
        if let Some(Value::Array(all)) = object.get_mut("members@delta") {
            let rest: Vec<Value> = all.drain(..).skip(skip).collect();
            if !rest.is_empty() && member_budget == 0 {
                next = Some(((*id).clone(), skip));
                break;
            }
            let fits = rest.len().min(member_budget);
            member_budget -= fits;
            let more = rest.len() > fits;
            all.extend(rest.into_iter().take(fits));
            page.push(object);
            if more {
                next = Some(((*id).clone(), skip + fits));
                break;
            }
            continue;
        }
        page.push(object);
    }
    match next {
        Some(from) => {
            let next = Position { since: position.since, upto: position.upto, from: Some(from) };
            finish(r, resource, page, None, Some(page_token(log, resource, &next)))
        }
        None => finish(r, resource, page, Some(delta_token(log, resource, position.upto)), None),
    }
}

fn removed(id: &str) -> Value {
    json!({"id": id, "@removed": {"reason": "deleted"}})
}

fn render_user(state: &EntraState, r: &GraphRequest, id: &str) -> Value {
    let Some(user) = state.users.get(id) else { return removed(id) };
    let keep = r.q("$expand").filter(|e| e.trim_start().starts_with("manager")).map(|_| "manager");
    Value::Object(project(user, r.q("$select"), Some(USER_DEFAULT), keep))
}

fn render_group(
    state: &EntraState,
    r: &GraphRequest,
    id: &str,
    initial: bool,
    touched_members: &BTreeMap<String, &'static str>,
) -> Value {
    let Some(group) = state.groups.get(id) else { return removed(id) };
    let selected: Option<Vec<&str>> =
        r.q("$select").map(|s| s.split(',').map(str::trim).filter(|p| !p.is_empty()).collect());
    let wants_members =
        selected.as_ref().is_some_and(|s| s.iter().any(|p| p.eq_ignore_ascii_case("members")));
    let others: Option<String> = selected.as_ref().map(|s| {
        s.iter().filter(|p| !p.eq_ignore_ascii_case("members")).copied().collect::<Vec<_>>().join(",")
    });
    let mut object = project(&group.properties, others.as_deref(), None, None);
    if wants_members {
        let kind = |member: &str| match state.object(member) {
            Some((kind, _)) => kind,
            None => "#microsoft.graph.directoryObject",
        };
        let members: Vec<Value> = if initial {
            group.members.iter().map(|m| json!({"@odata.type": kind(m), "id": m})).collect()
        } else {
            touched_members
                .iter()
                .map(|(m, odata_type)| {
                    if group.members.contains(m) {
                        json!({"@odata.type": kind(m), "id": m})
                    } else {
                        json!({"@odata.type": odata_type, "id": m, "@removed": {"reason": "deleted"}})
                    }
                })
                .collect()
        };
        object.insert("members@delta".into(), Value::Array(members));
    }
    Value::Object(object)
}

fn finish(
    r: &GraphRequest,
    resource: Resource,
    page: Vec<Value>,
    delta: Option<String>,
    skip: Option<String>,
) -> Response {
    let name = match resource {
        Resource::Users => "users",
        Resource::Groups => "groups",
    };
    let link = |key: &str, token: &str| {
        let mut pairs = url::form_urlencoded::Serializer::new(String::new());
        for option in ["$select", "$expand", "$top"] {
            if let Some(value) = r.q(option) {
                pairs.append_pair(option, value);
            }
        }
        pairs.append_pair(key, token);
        format!("{}/{}/{name}/delta?{}", r.base, r.version, pairs.finish())
    };
    let mut body = Map::new();
    body.insert("@odata.context".into(), Value::String(format!("{}/{}/$metadata#{name}", r.base, r.version)));
    if let Some(token) = skip {
        body.insert("@odata.nextLink".into(), Value::String(link("$skiptoken", &token)));
    }
    if let Some(token) = delta {
        body.insert("@odata.deltaLink".into(), Value::String(link("$deltatoken", &token)));
    }
    body.insert("value".into(), Value::Array(page));
    json_response(StatusCode::OK, Value::Object(body))
}

impl EntraEmulator {
    /// Makes every delta token issued so far expired: the next call with one answers 410 Gone.
    pub fn expire_delta_tokens(&self) {
        let mut state = self.lock();
        state.delta.floor = state.delta.seq + 1;
        // A token issued at the newest sequence must expire too: move the sequence past it.
        state.delta.seq += 1;
    }

    /// The delta page size when the caller gives no `$top` (default 100; 1–999): at most this many
    /// objects per page and this many `members@delta` entries, so a large group's members are
    /// spread over several pages that repeat the group.
    pub fn set_delta_page_size(&self, size: usize) {
        self.lock().delta.page_size = size.clamp(1, 999);
    }

    /// The sequence of the newest recorded directory change.
    pub fn change_seq(&self) -> u64 {
        self.lock().delta.seq
    }
}
