//! The domain model: what the source (Entra ID) holds, what scimsync wants in the target (AWS), and what
//! the target holds now. None of these types is a wire format: adapters convert to and from them.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// A user as read from the source directory, with the attributes the default mapping uses.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceUser {
    /// Entra object id (a GUID); the stable key, written to AWS as externalId.
    pub id: String,
    pub user_principal_name: String,
    pub display_name: Option<String>,
    pub given_name: Option<String>,
    pub surname: Option<String>,
    pub mail: Option<String>,
    pub account_enabled: bool,
    pub job_title: Option<String>,
    pub department: Option<String>,
    pub company_name: Option<String>,
    pub employee_id: Option<String>,
    pub cost_center: Option<String>,
    pub division: Option<String>,
    /// "Member" or "Guest".
    pub user_type: Option<String>,
    /// The Entra object id of the user's manager (Graph `manager`), when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manager_id: Option<String>,
    /// Other Graph properties the mapping may use, by Graph name (`mailNickname`, `mobilePhone`,
    /// `businessPhones`, `city`, …). Multi-valued properties hold every value, others one.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub extra: std::collections::BTreeMap<String, Vec<String>>,
}

/// What kind of object a group member is. Only users (and groups, for nesting) matter to a sync.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum MemberKind {
    User,
    Group,
    /// Devices, service principals, contacts, …: skipped and counted. Holds the Graph type name.
    Other(String),
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct MemberRef {
    pub id: String,
    pub kind: MemberKind,
}

/// A group as read from the source directory, with its DIRECT members.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceGroup {
    /// Entra object id; written to AWS as externalId.
    pub id: String,
    pub display_name: String,
    pub members: Vec<MemberRef>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PrincipalType {
    User,
    Group,
    ServicePrincipal,
}

/// One row of the enterprise application's "Users and groups" (appRoleAssignedTo).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assignment {
    pub principal_id: String,
    pub principal_type: PrincipalType,
}

/// A complete, successful read of the source. Only a complete read may lead to removals.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Directory {
    pub users: Vec<SourceUser>,
    pub groups: Vec<SourceGroup>,
    pub assignments: Vec<Assignment>,
    /// Ids of the groups a Graph `$filter` selected (scope mode "groups" with `group_filter`); empty
    /// otherwise. The filter runs in Graph, so its result is part of the read.
    #[serde(default)]
    pub filtered_groups: Vec<String>,
    /// The app roles of the enterprise application assigned to each principal (user or group object
    /// id), by name (the role's value, else its displayName). Read only when the mapping uses
    /// `appRoleAssignments`; [`crate::plan::desired_with`] gives each user its own roles and those
    /// of the groups it is reached through.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub app_roles: BTreeMap<String, Vec<String>>,
}

/// The values scimsync writes for a user. Empty optional values are `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserValues {
    pub user_name: String,
    pub display_name: String,
    pub given_name: String,
    pub family_name: String,
    /// The one primary work email.
    pub email: Option<String>,
    pub active: bool,
    pub title: Option<String>,
    pub employee_number: Option<String>,
    pub cost_center: Option<String>,
    pub organization: Option<String>,
    pub division: Option<String>,
    pub department: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nick_name: Option<String>,
    /// The one primary work phone number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// The one work address, by part.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub street_address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locality: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// The manager's AWS id. The mapping puts the manager's Entra object id here; the planner turns it
    /// into the AWS id (or drops it when the manager is not in scope).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manager: Option<String>,
}

/// A user as scimsync wants it in AWS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DesiredUser {
    /// The Entra object id.
    pub external_id: String,
    pub values: UserValues,
}

/// A group as scimsync wants it in AWS. Members are Entra object ids of desired users.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DesiredGroup {
    pub external_id: String,
    pub display_name: String,
    pub members: BTreeSet<String>,
}

/// A user as AWS holds it now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetUser {
    /// The AWS id.
    pub id: String,
    pub external_id: Option<String>,
    pub values: UserValues,
}

/// A group as AWS holds it now. `members` holds AWS user ids, or `None` when they were not read
/// (scimsync reads the members of the groups it manages only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetGroup {
    pub id: String,
    pub external_id: Option<String>,
    pub display_name: String,
    pub members: Option<BTreeSet<String>>,
}

/// What AWS holds now.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Current {
    pub users: Vec<TargetUser>,
    pub groups: Vec<TargetGroup>,
}
