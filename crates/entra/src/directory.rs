//! Reading the source directory: the app's assignments, users, and the assigned groups with their
//! members, nested groups included. A read either completes or fails: never a partial Directory.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use futures::{StreamExt, TryStreamExt};
use reqwest::header::HeaderMap;
use scimsync_core::scope::ScopeMode;
use scimsync_core::{
    Assignment, Directory, MemberKind, MemberRef, PrincipalType, ScopeOptions, SourceGroup, SourceUser,
};
use serde::Deserialize;

use crate::error::EntraError;
use crate::graph::GraphClient;

/// The user properties a SourceUser needs (Graph returns only a default set without `$select`).
pub const USER_SELECT: &str = "id,userPrincipalName,displayName,givenName,surname,mail,accountEnabled,\
jobTitle,department,companyName,employeeId,employeeOrgData,userType,\
mailNickname,mobilePhone,businessPhones,faxNumber,otherMails,employeeType,streetAddress,city,state,\
postalCode,country,officeLocation,preferredLanguage,usageLocation";

/// The manager comes as an expanded navigation property, its id only.
pub const USER_EXPAND: &str = "manager($select=id)";

/// Groups read at once.
const GROUP_CONCURRENCY: usize = 8;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GraphUser {
    id: String,
    #[serde(default)]
    user_principal_name: String,
    display_name: Option<String>,
    given_name: Option<String>,
    surname: Option<String>,
    mail: Option<String>,
    // Absent only when not selected; a missing value must not disable anyone, so it is an error below.
    account_enabled: Option<bool>,
    job_title: Option<String>,
    department: Option<String>,
    company_name: Option<String>,
    employee_id: Option<String>,
    employee_org_data: Option<EmployeeOrgData>,
    user_type: Option<String>,
    #[serde(default)]
    manager: Option<ManagerRef>,
    /// The properties of `scimsync_core::mapping::EXTRA_PROPERTIES`, and whatever else came.
    #[serde(flatten)]
    rest: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Deserialize)]
struct ManagerRef {
    #[serde(default)]
    id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct EmployeeOrgData {
    division: Option<String>,
    cost_center: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GraphAssignment {
    principal_id: String,
    principal_type: String,
    #[serde(default)]
    app_role_id: Option<String>,
}

/// The id of the "Default Access" role: an assignment without a role of the app's own.
pub const DEFAULT_ACCESS_ROLE_ID: &str = "00000000-0000-0000-0000-000000000000";

/// What `SingleAppRoleAssignment` gives for the default access role. It has no entry in the
/// service principal's `appRoles`; Entra labels it `msiam_access` on gallery SAML apps such as AWS
/// IAM Identity Center (Microsoft documents no value for it: this is scimsync's choice).
pub const DEFAULT_ACCESS_ROLE_NAME: &str = "msiam_access";

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GraphAppRole {
    id: String,
    #[serde(default)]
    value: Option<String>,
    #[serde(default)]
    display_name: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GraphServicePrincipalRoles {
    #[serde(default)]
    app_roles: Vec<GraphAppRole>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GraphGroup {
    id: String,
    #[serde(default)]
    display_name: Option<String>,
}

#[derive(Debug, Deserialize)]
struct GraphMember {
    id: String,
    #[serde(rename = "@odata.type", default)]
    odata_type: String,
}

fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.trim().is_empty())
}

impl GraphUser {
    pub(crate) fn into_source(self) -> Result<SourceUser, EntraError> {
        let account_enabled = self.account_enabled.ok_or_else(|| {
            EntraError::decode("Graph /users", format!("user {} came without accountEnabled", self.id))
        })?;
        let mut extra = std::collections::BTreeMap::new();
        for name in scimsync_core::mapping::EXTRA_PROPERTIES {
            let values: Vec<String> = match self.rest.get(*name) {
                Some(serde_json::Value::String(s)) => vec![s.clone()],
                Some(serde_json::Value::Array(items)) => {
                    items.iter().filter_map(serde_json::Value::as_str).map(str::to_string).collect()
                }
                _ => vec![],
            };
            let values: Vec<String> = values.into_iter().filter(|v| !v.trim().is_empty()).collect();
            if !values.is_empty() {
                extra.insert((*name).to_string(), values);
            }
        }
        let (division, cost_center) = match self.employee_org_data {
            Some(org) => (non_empty(org.division), non_empty(org.cost_center)),
            None => (None, None),
        };
        Ok(SourceUser {
            id: self.id,
            user_principal_name: self.user_principal_name,
            display_name: non_empty(self.display_name),
            given_name: non_empty(self.given_name),
            surname: non_empty(self.surname),
            mail: non_empty(self.mail),
            account_enabled,
            job_title: non_empty(self.job_title),
            department: non_empty(self.department),
            company_name: non_empty(self.company_name),
            employee_id: non_empty(self.employee_id),
            cost_center,
            division,
            user_type: non_empty(self.user_type),
            manager_id: non_empty(self.manager.and_then(|m| m.id)),
            extra,
        })
    }
}

/// `#microsoft.graph.user` → User, `#microsoft.graph.group` → Group, anything else → Other.
pub fn member_kind(odata_type: &str) -> MemberKind {
    match odata_type.trim_start_matches('#').trim_start_matches("microsoft.graph.") {
        "user" => MemberKind::User,
        "group" => MemberKind::Group,
        other => MemberKind::Other(other.to_owned()),
    }
}

fn principal_type(text: &str) -> Option<PrincipalType> {
    match text {
        "User" => Some(PrincipalType::User),
        "Group" => Some(PrincipalType::Group),
        "ServicePrincipal" => Some(PrincipalType::ServicePrincipal),
        _ => None,
    }
}

/// The users and groups assigned to the enterprise application (`appRoleAssignedTo`).
pub async fn read_assignments(graph: &GraphClient, sp_id: &str) -> Result<Vec<Assignment>, EntraError> {
    Ok(read_assignments_with_roles(graph, sp_id, false).await?.0)
}

/// The app's roles by id → the name `SingleAppRoleAssignment` gives: the role's `value`, else its
/// `displayName` (gallery roles such as `msiam_access` have no value).
pub async fn read_app_roles(
    graph: &GraphClient,
    sp_id: &str,
) -> Result<BTreeMap<String, String>, EntraError> {
    let url = graph.url(&format!("/servicePrincipals/{sp_id}"), &[("$select", "id,appRoles")])?;
    let sp: GraphServicePrincipalRoles = graph.get(url).await?;
    Ok(sp
        .app_roles
        .into_iter()
        .filter_map(|r| {
            let name = non_empty(r.value).or_else(|| non_empty(r.display_name))?;
            Some((r.id.to_lowercase(), name))
        })
        .collect())
}

/// The assignments, and with `roles` the app roles each principal holds by name (see
/// [`Directory::app_roles`]); reading the roles costs one more Graph call, made only when some
/// assignment is to a role of the app's own.
pub async fn read_assignments_with_roles(
    graph: &GraphClient,
    sp_id: &str,
    roles: bool,
) -> Result<(Vec<Assignment>, BTreeMap<String, Vec<String>>), EntraError> {
    let url = graph.url(
        &format!("/servicePrincipals/{sp_id}/appRoleAssignedTo"),
        &[("$select", "principalId,principalType,appRoleId"), ("$top", "999")],
    )?;
    let rows: Vec<GraphAssignment> = graph.get_all(url, &HeaderMap::new()).await?;
    let mut app_roles: BTreeMap<String, Vec<String>> = BTreeMap::new();
    if roles {
        let own_roles = rows.iter().any(|r| {
            r.app_role_id.as_deref().is_some_and(|id| !id.eq_ignore_ascii_case(DEFAULT_ACCESS_ROLE_ID))
        });
        let names = if own_roles { read_app_roles(graph, sp_id).await? } else { BTreeMap::new() };
        for row in &rows {
            let id = row.app_role_id.as_deref().unwrap_or(DEFAULT_ACCESS_ROLE_ID).to_lowercase();
            let name = if id == DEFAULT_ACCESS_ROLE_ID {
                DEFAULT_ACCESS_ROLE_NAME.to_string()
            } else if let Some(name) = names.get(&id) {
                name.clone()
            } else {
                tracing::warn!(
                    "app role {id} assigned to {} is not among the app's roles; it is left out",
                    row.principal_id
                );
                continue;
            };
            let held = app_roles.entry(row.principal_id.clone()).or_default();
            if !held.contains(&name) {
                held.push(name);
            }
        }
    }
    let mut seen = HashSet::new();
    let mut assignments = Vec::new();
    for row in rows {
        let kind = principal_type(&row.principal_type).ok_or_else(|| {
            EntraError::decode(
                "Graph appRoleAssignedTo",
                format!("unknown principalType {:?}", row.principal_type),
            )
        })?;
        // One principal can hold several app roles; scimsync cares about the principal once.
        if seen.insert(row.principal_id.clone()) {
            assignments.push(Assignment { principal_id: row.principal_id, principal_type: kind });
        }
    }
    Ok((assignments, app_roles))
}

/// Every user in the tenant, with the properties SourceUser needs.
pub async fn read_users(graph: &GraphClient, page_size: u16) -> Result<Vec<SourceUser>, EntraError> {
    let top = page_size.clamp(1, 999).to_string();
    let url = graph.url("/users", &[("$select", USER_SELECT), ("$expand", USER_EXPAND), ("$top", &top)])?;
    let users: Vec<GraphUser> = graph.get_all(url, &HeaderMap::new()).await?;
    users.into_iter().map(GraphUser::into_source).collect()
}

/// One group with its direct members.
pub async fn read_group(
    graph: &GraphClient,
    group_id: &str,
    page_size: u16,
) -> Result<SourceGroup, EntraError> {
    let url = graph.url(&format!("/groups/{group_id}"), &[("$select", "id,displayName")])?;
    let group: GraphGroup = graph.get(url).await?;
    let top = page_size.clamp(1, 999).to_string();
    let url = graph.url(&format!("/groups/{group_id}/members"), &[("$select", "id"), ("$top", &top)])?;
    let members: Vec<GraphMember> = graph.get_all(url, &HeaderMap::new()).await?;
    Ok(SourceGroup {
        id: group.id,
        display_name: group.display_name.unwrap_or_default(),
        members: members
            .into_iter()
            .map(|m| MemberRef { kind: member_kind(&m.odata_type), id: m.id })
            .collect(),
    })
}

/// Options of a directory read.
#[derive(Debug, Clone)]
pub struct ReadOptions {
    /// `$top` for users and members, 1–999.
    pub page_size: u16,
    /// Read the app roles assigned to users and groups ([`Directory::app_roles`]), for a mapping
    /// that uses `appRoleAssignments` (see `Mapping::reads`).
    pub app_roles: bool,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions { page_size: 999, app_roles: false }
    }
}

/// Read everything a sync needs: assignments, all users, the assigned groups and every group nested
/// in them (each read once; cycles end because a group is never read twice).
pub async fn read_directory(
    graph: &GraphClient,
    sp_id: &str,
    options: &ReadOptions,
) -> Result<Directory, EntraError> {
    read_directory_scoped(graph, sp_id, options, &ScopeOptions::default()).await
}

/// Groups by id and display name: all of them, or those a Graph `$filter` selects (sent as an
/// advanced query, `ConsistencyLevel: eventual` with `$count=true`, so that operators such as
/// `endswith` and `ne` work).
pub async fn list_groups(
    graph: &GraphClient,
    filter: Option<&str>,
    page_size: u16,
) -> Result<Vec<(String, String)>, EntraError> {
    let top = page_size.clamp(1, 999).to_string();
    let mut query = vec![("$select", "id,displayName"), ("$top", top.as_str())];
    let mut headers = HeaderMap::new();
    if let Some(filter) = filter {
        query.push(("$filter", filter));
        query.push(("$count", "true"));
        headers.insert("ConsistencyLevel", reqwest::header::HeaderValue::from_static("eventual"));
    }
    let url = graph.url("/groups", &query)?;
    let groups: Vec<GraphGroup> = graph.get_all(url, &headers).await?;
    Ok(groups.into_iter().map(|g| (g.id, g.display_name.unwrap_or_default())).collect())
}

/// Read what the scope needs: the users, the groups the scope mode starts from (the app's assigned
/// groups; every group; or the groups chosen by name pattern, id or `$filter`) and every group nested
/// in them (each read once; cycles end because a group is never read twice). The choice of groups
/// is made by the pure core ([`scimsync_core::scope::GroupSelection::selects`]); the `$filter`
/// result is returned in [`Directory::filtered_groups`].
pub async fn read_directory_scoped(
    graph: &GraphClient,
    sp_id: &str,
    options: &ReadOptions,
    scope: &ScopeOptions,
) -> Result<Directory, EntraError> {
    let users = read_users(graph, options.page_size).await?;
    let mut assignments = Vec::new();
    let mut app_roles = BTreeMap::new();
    if options.app_roles && scope.mode != ScopeMode::Assigned {
        app_roles = read_assignments_with_roles(graph, sp_id, true).await?.1;
    }
    let mut filtered_groups = Vec::new();
    let roots: Vec<String> = match scope.mode {
        ScopeMode::Assigned => {
            (assignments, app_roles) = read_assignments_with_roles(graph, sp_id, options.app_roles).await?;
            assignments
                .iter()
                .filter(|a| a.principal_type == PrincipalType::Group)
                .map(|a| a.principal_id.clone())
                .collect()
        }
        ScopeMode::All => {
            list_groups(graph, None, options.page_size).await?.into_iter().map(|(id, _)| id).collect()
        }
        ScopeMode::Groups => {
            let choice = &scope.groups;
            let mut roots: Vec<String> = Vec::new();
            if !choice.names.is_empty() || !choice.ids.is_empty() {
                let all = list_groups(graph, None, options.page_size).await?;
                roots.extend(all.into_iter().filter(|(id, name)| choice.selects(id, name)).map(|(id, _)| id));
            }
            if let Some(filter) = &choice.filter {
                filtered_groups = list_groups(graph, Some(filter), options.page_size)
                    .await?
                    .into_iter()
                    .map(|(id, _)| id)
                    .collect();
                roots.extend(filtered_groups.iter().cloned());
            }
            roots
        }
    };

    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut next: Vec<String> = roots.into_iter().filter(|id| seen.insert(id.clone())).collect();
    let mut groups = Vec::new();
    // Breadth first, one level at a time, each level read concurrently.
    while !next.is_empty() {
        let level: Vec<SourceGroup> = futures::stream::iter(next.iter())
            .map(|id| read_group(graph, id, options.page_size))
            .buffered(GROUP_CONCURRENCY)
            .try_collect()
            .await?;
        next = level
            .iter()
            .flat_map(|g| g.members.iter())
            .filter(|m| m.kind == MemberKind::Group)
            .filter(|m| seen.insert(m.id.clone()))
            .map(|m| m.id.clone())
            .collect();
        groups.extend(level);
    }
    Ok(Directory { users, groups, assignments, filtered_groups, app_roles })
}

/// Decodes `bytes` as a page of Graph users and converts each into a `SourceUser`. For fuzzing: it
/// must never panic.
#[doc(hidden)]
pub fn decode_users_for_fuzz(bytes: &[u8]) -> usize {
    #[derive(Deserialize)]
    struct Users {
        value: Vec<GraphUser>,
    }
    match serde_json::from_slice::<Users>(bytes) {
        Ok(page) => page.value.into_iter().filter_map(|u| u.into_source().ok()).count(),
        Err(_) => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_kinds() {
        let cases = [
            ("#microsoft.graph.user", MemberKind::User),
            ("#microsoft.graph.group", MemberKind::Group),
            ("#microsoft.graph.device", MemberKind::Other("device".into())),
            ("#microsoft.graph.orgContact", MemberKind::Other("orgContact".into())),
        ];
        for (odata, kind) in cases {
            assert_eq!(member_kind(odata), kind, "{odata}");
        }
    }

    #[test]
    fn user_conversion_drops_empty_values_and_reads_org_data() {
        let user: GraphUser = serde_json::from_value(serde_json::json!({
            "id": "u1", "userPrincipalName": "a@x", "displayName": "A", "givenName": "", "surname": null,
            "accountEnabled": false, "employeeOrgData": {"division": "R&D", "costCenter": "42"}
        }))
        .unwrap();
        let user = user.into_source().unwrap();
        assert_eq!(user.given_name, None);
        assert_eq!(user.surname, None);
        assert!(!user.account_enabled);
        assert_eq!(user.division.as_deref(), Some("R&D"));
        assert_eq!(user.cost_center.as_deref(), Some("42"));
    }

    #[test]
    fn the_select_reads_every_property_the_mapping_may_use() {
        let selected: Vec<&str> = USER_SELECT.split(',').collect();
        for name in scimsync_core::mapping::EXTRA_PROPERTIES {
            assert!(selected.contains(name), "{name} is not in USER_SELECT");
        }
    }

    #[test]
    fn user_conversion_reads_manager_and_extra_properties() {
        let user: GraphUser = serde_json::from_value(serde_json::json!({
            "id": "u1", "userPrincipalName": "a@x", "accountEnabled": true,
            "manager": {"@odata.type": "#microsoft.graph.user", "id": "m1"},
            "businessPhones": ["+1 555 0100", ""], "mobilePhone": "+1 555 0199", "city": "Oslo",
            "mailNickname": "a", "officeLocation": "  ", "unrelated": "x"
        }))
        .unwrap();
        let user = user.into_source().unwrap();
        assert_eq!(user.manager_id.as_deref(), Some("m1"));
        assert_eq!(user.extra.get("businessPhones"), Some(&vec!["+1 555 0100".to_string()]));
        assert_eq!(user.extra.get("mobilePhone"), Some(&vec!["+1 555 0199".to_string()]));
        assert_eq!(user.extra.get("city"), Some(&vec!["Oslo".to_string()]));
        assert_eq!(user.extra.get("officeLocation"), None);
        assert_eq!(user.extra.get("unrelated"), None);
    }

    #[test]
    fn user_without_account_enabled_is_an_error() {
        let user: GraphUser = serde_json::from_value(serde_json::json!({"id": "u1"})).unwrap();
        assert!(user.into_source().is_err());
    }
}
