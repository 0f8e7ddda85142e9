//! Graph delta queries: `GET /users/delta` and `GET /groups/delta`, followed page by page
//! (`@odata.nextLink`) to the `@odata.deltaLink`, turned into typed changes.
//!
//! A delta link is a secret (whoever holds it reads the directory's changes): [`DeltaLink`] never shows
//! it in `Debug`, and the Graph client's errors name the path only, never the query that carries the
//! token. An unknown, expired or reset token (HTTP 410 Gone, or 400 `syncStateNotFound`) is
//! [`DeltaError::Expired`], so that the caller falls back to a full read.

use reqwest::Method;
use reqwest::header::HeaderMap;
use scimsync_core::{MemberRef, SourceUser};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use url::Url;

use crate::directory::{GraphUser, USER_EXPAND, USER_SELECT, member_kind};
use crate::error::EntraError;
use crate::graph::GraphClient;

/// Which collection a delta round reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeltaResource {
    Users,
    Groups,
}

impl DeltaResource {
    pub fn name(self) -> &'static str {
        match self {
            DeltaResource::Users => "users",
            DeltaResource::Groups => "groups",
        }
    }
}

/// An `@odata.deltaLink`: where the next round starts. A secret; never printed.
#[derive(Clone)]
pub struct DeltaLink(SecretString);

impl std::fmt::Debug for DeltaLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DeltaLink(<redacted>)")
    }
}

impl DeltaLink {
    /// A link read back from the state store.
    pub fn from_stored(link: String) -> Self {
        DeltaLink(SecretString::from(link))
    }

    /// The link, to be stored (and nowhere else).
    pub fn expose_for_storage(&self) -> &str {
        self.0.expose_secret()
    }
}

/// A user's Graph properties as read: opaque outside this crate. Graph may send only the properties
/// that changed in a later round, so records are merged property by property.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserRecord(Map<String, Value>);

impl UserRecord {
    pub fn id(&self) -> &str {
        self.0.get("id").and_then(Value::as_str).unwrap_or_default()
    }

    /// Takes every property `newer` carries.
    pub fn merge(&mut self, newer: UserRecord) {
        for (key, value) in newer.0 {
            self.0.insert(key, value);
        }
    }

    /// The user as the core knows it.
    pub fn to_source(&self) -> Result<SourceUser, EntraError> {
        let user: GraphUser = serde_json::from_value(Value::Object(self.0.clone()))
            .map_err(|e| EntraError::decode("Graph /users/delta", format!("user {}: {e}", self.id())))?;
        user.into_source()
    }
}

/// One change a delta round carries.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// A new or changed user (merge it into what is known: it may hold only the changed properties).
    UserUpsert(UserRecord),
    UserRemoved {
        id: String,
    },
    /// A new or changed group; `display_name` is `None` when the answer did not carry it.
    GroupUpsert {
        id: String,
        display_name: Option<String>,
    },
    GroupRemoved {
        id: String,
    },
    MemberAdded {
        group: String,
        member: MemberRef,
    },
    MemberRemoved {
        group: String,
        member_id: String,
    },
}

/// What one round read.
#[derive(Debug)]
pub struct DeltaRound {
    pub resource: DeltaResource,
    pub changes: Vec<Change>,
    /// Where the next round starts.
    pub link: DeltaLink,
    /// True when the round enumerated every object (no link to start from): the changes are the
    /// whole collection, and what was known before is to be replaced.
    pub initial: bool,
    pub pages: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum DeltaError {
    /// The delta token is unknown, expired or was reset: read everything again.
    #[error("the {0} delta token is expired or unknown (Graph answered {1}); a full read is needed")]
    Expired(&'static str, u16),
    #[error(transparent)]
    Graph(#[from] EntraError),
}

#[derive(Deserialize)]
struct DeltaPage {
    value: Vec<Value>,
    #[serde(rename = "@odata.nextLink")]
    next_link: Option<String>,
    #[serde(rename = "@odata.deltaLink")]
    delta_link: Option<String>,
}

/// The first URL of a round that enumerates everything.
pub fn initial_url(graph: &GraphClient, resource: DeltaResource) -> Result<Url, EntraError> {
    match resource {
        DeltaResource::Users => {
            graph.url("/users/delta", &[("$select", USER_SELECT), ("$expand", USER_EXPAND)])
        }
        DeltaResource::Groups => graph.url("/groups/delta", &[("$select", "id,displayName,members")]),
    }
}

fn is_expired(error: &EntraError) -> Option<u16> {
    match error {
        EntraError::Graph(e)
            if e.status == 410
                || (e.status == 400
                    && ["syncStateNotFound", "resyncRequired", "Directory_ExpiredPageToken"]
                        .iter()
                        .any(|c| e.code.eq_ignore_ascii_case(c))) =>
        {
            Some(e.status)
        }
        _ => None,
    }
}

/// Reads one delta round: from `from` (a stored delta link), or everything when `None`.
pub async fn read_delta(
    graph: &GraphClient,
    resource: DeltaResource,
    from: Option<&DeltaLink>,
) -> Result<DeltaRound, DeltaError> {
    let what = match resource {
        DeltaResource::Users => "Graph /users/delta",
        DeltaResource::Groups => "Graph /groups/delta",
    };
    let mut next = match from {
        Some(link) => Url::parse(link.expose_for_storage())
            .map_err(|_| EntraError::decode(what, "the stored delta link is not a URL"))?,
        None => initial_url(graph, resource)?,
    };
    let mut changes = Vec::new();
    let mut pages = 0;
    loop {
        let raw = match graph.send(Method::GET, next.clone(), None, &HeaderMap::new()).await {
            Ok(raw) => raw,
            Err(e) => {
                return Err(match is_expired(&e) {
                    Some(status) => DeltaError::Expired(resource.name(), status),
                    None => DeltaError::Graph(e),
                });
            }
        };
        pages += 1;
        let page: DeltaPage = serde_json::from_slice(&raw.body)
            .map_err(|e| EntraError::decode(what, format!("unexpected JSON: {e}")))?;
        for item in page.value {
            match resource {
                DeltaResource::Users => user_change(item, &mut changes)?,
                DeltaResource::Groups => group_changes(item, &mut changes)?,
            }
        }
        match (page.next_link, page.delta_link) {
            (Some(link), _) => {
                next = Url::parse(&link)
                    .map_err(|_| EntraError::decode(what, "@odata.nextLink is not a URL"))?;
            }
            (None, Some(link)) => {
                return Ok(DeltaRound {
                    resource,
                    changes,
                    link: DeltaLink(SecretString::from(link)),
                    initial: from.is_none(),
                    pages,
                });
            }
            (None, None) => {
                return Err(EntraError::decode(what, "a page carried neither nextLink nor deltaLink").into());
            }
        }
    }
}

fn id_of(item: &Map<String, Value>, what: &str) -> Result<String, EntraError> {
    item.get("id")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| EntraError::decode(what, "an item came without an id"))
}

fn user_change(item: Value, changes: &mut Vec<Change>) -> Result<(), EntraError> {
    let Value::Object(item) = item else {
        return Err(EntraError::decode("Graph /users/delta", "an item is not an object"));
    };
    let id = id_of(&item, "Graph /users/delta")?;
    if item.contains_key("@removed") {
        changes.push(Change::UserRemoved { id });
    } else {
        changes.push(Change::UserUpsert(UserRecord(item)));
    }
    Ok(())
}

fn group_changes(item: Value, changes: &mut Vec<Change>) -> Result<(), EntraError> {
    let Value::Object(item) = item else {
        return Err(EntraError::decode("Graph /groups/delta", "an item is not an object"));
    };
    let id = id_of(&item, "Graph /groups/delta")?;
    if item.contains_key("@removed") {
        changes.push(Change::GroupRemoved { id });
        return Ok(());
    }
    let display_name = item.get("displayName").and_then(Value::as_str).map(str::to_owned);
    changes.push(Change::GroupUpsert { id: id.clone(), display_name });
    for member in item.get("members@delta").and_then(Value::as_array).into_iter().flatten() {
        let Some(member_id) = member.get("id").and_then(Value::as_str) else { continue };
        if member.get("@removed").is_some() {
            changes.push(Change::MemberRemoved { group: id.clone(), member_id: member_id.to_owned() });
        } else {
            let odata_type = member.get("@odata.type").and_then(Value::as_str).unwrap_or_default();
            changes.push(Change::MemberAdded {
                group: id.clone(),
                member: MemberRef { id: member_id.to_owned(), kind: member_kind(odata_type) },
            });
        }
    }
    Ok(())
}

/// Decodes `bytes` as one page of a users and of a groups delta round, into changes. For fuzzing: it
/// must never panic.
#[doc(hidden)]
pub fn decode_page_for_fuzz(bytes: &[u8]) -> usize {
    let Ok(page) = serde_json::from_slice::<DeltaPage>(bytes) else { return 0 };
    let mut changes = Vec::new();
    for item in page.value {
        let _ = user_change(item.clone(), &mut changes);
        let _ = group_changes(item, &mut changes);
    }
    for change in &changes {
        if let Change::UserUpsert(record) = change {
            let _ = record.to_source();
        }
    }
    changes.len() + usize::from(page.next_link.is_some()) + usize::from(page.delta_link.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn group_items_become_changes() {
        let mut changes = Vec::new();
        group_changes(
            json!({"id": "g1", "displayName": "G", "members@delta": [
                {"@odata.type": "#microsoft.graph.user", "id": "u1"},
                {"@odata.type": "#microsoft.graph.group", "id": "g2", "@removed": {"reason": "deleted"}}
            ]}),
            &mut changes,
        )
        .unwrap();
        group_changes(json!({"id": "g3", "@removed": {"reason": "changed"}}), &mut changes).unwrap();
        assert_eq!(
            changes,
            vec![
                Change::GroupUpsert { id: "g1".into(), display_name: Some("G".into()) },
                Change::MemberAdded {
                    group: "g1".into(),
                    member: MemberRef { id: "u1".into(), kind: scimsync_core::MemberKind::User }
                },
                Change::MemberRemoved { group: "g1".into(), member_id: "g2".into() },
                Change::GroupRemoved { id: "g3".into() },
            ]
        );
    }

    #[test]
    fn partial_user_records_merge() {
        let mut user = UserRecord(
            json!({"id": "u1", "userPrincipalName": "a@x", "accountEnabled": true, "jobTitle": "A"})
                .as_object()
                .cloned()
                .unwrap(),
        );
        user.merge(UserRecord(json!({"id": "u1", "jobTitle": "B"}).as_object().cloned().unwrap()));
        let source = user.to_source().unwrap();
        assert_eq!(source.job_title.as_deref(), Some("B"));
        assert!(source.account_enabled);
    }

    #[test]
    fn delta_links_are_never_shown() {
        let link = DeltaLink::from_stored("https://graph/v1.0/users/delta?$deltatoken=SECRET".into());
        assert!(!format!("{link:?}").contains("SECRET"));
    }
}
