//! The directory file: the seed both emulators start from.
//!
//! # Format (JSON, camelCase keys)
//!
//! ```json
//! {
//!   "tenantId": "GUID",                       // the Entra tenant
//!   "tenantDomain": "northwind.onmicrosoft.com", // optional; sign-in accepts it in place of the id
//!   "users": [ { "id": "GUID", "userPrincipalName": "...", "displayName": "...", "givenName": "...",
//!                "surname": "...", "mail": "...", "accountEnabled": true, ... } ],
//!   "groups": [ { "id": "GUID", "displayName": "...", "members": ["object id", ...], ... } ],
//!   "otherObjects": [ { "id": "GUID", "@odata.type": "#microsoft.graph.device", "displayName": "..." } ],
//!   "app": { "id": "sp object id", "appId": "GUID", "displayName": "AWS IAM Identity Center",
//!            "owners": ["client id of an owning app", ...] },
//!   "otherServicePrincipals": [ { "id": "...", "appId": "...", "displayName": "..." } ],
//!   "appRoleAssignments": [ { "principalId": "object id", "principalType": "User" | "Group" } ],
//!   "job": { "id": "optional", "templateId": "scim", "interval": "PT40M",
//!            "state": "Active" | "Paused" | "Quarantine" | "NotRun" | "NotConfigured",
//!            "quarantineReason": "EncounteredQuarantineException" },
//!   "clients": [ { "clientId": "GUID", "secret": "...", "secretId": "GUID",
//!                  "roles": ["User.Read.All", "Synchronization.ReadWrite.All", ...],
//!                  "expired": false, "ownedServicePrincipals": ["sp object id", ...] } ],
//!   "aws": { "tenantId": "...", "token": "...",
//!            "users": [ SCIM user JSON, ... ],
//!            "groups": [ { "displayName": "...", "externalId": null, "members": ["userName", ...] } ] }
//! }
//! ```
//!
//! Users, groups and other objects are Graph-shaped: every property given is served as is (a group's
//! `members` list is held apart and served through `/members`). Every object needs an `id`; users
//! need a `userPrincipalName`. The first client is the one `env()` hands out. The calling app owns
//! the enterprise app when its client id is in `app.owners` or the app's object id is in its
//! `ownedServicePrincipals` (either is enough; Application.ReadWrite.OwnedBy needs ownership).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    #[error("cannot read the directory file: {0}")]
    Io(#[from] std::io::Error),
    #[error("the directory file is not valid: {0}")]
    Json(#[from] serde_json::Error),
    #[error("the directory file is not valid: {0}")]
    Invalid(String),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DirectoryFile {
    pub tenant_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_domain: Option<String>,
    #[serde(default)]
    pub users: Vec<Map<String, Value>>,
    #[serde(default)]
    pub groups: Vec<DirGroup>,
    #[serde(default)]
    pub other_objects: Vec<Map<String, Value>>,
    pub app: DirApp,
    #[serde(default)]
    pub other_service_principals: Vec<DirServicePrincipal>,
    #[serde(default)]
    pub app_role_assignments: Vec<DirAssignment>,
    #[serde(default)]
    pub job: DirJob,
    #[serde(default)]
    pub clients: Vec<DirClient>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws: Option<DirAws>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DirGroup {
    pub id: String,
    pub display_name: String,
    /// Object ids of the direct members (users, groups, other objects).
    #[serde(default)]
    pub members: Vec<String>,
    /// Any other Graph property (description, mailNickname, …), served as is.
    #[serde(flatten)]
    pub properties: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DirApp {
    pub id: String,
    pub app_id: String,
    #[serde(default = "default_app_name")]
    pub display_name: String,
    /// Client ids of apps that own the service principal.
    #[serde(default)]
    pub owners: Vec<String>,
}

fn default_app_name() -> String {
    "AWS IAM Identity Center".into()
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DirServicePrincipal {
    pub id: String,
    pub app_id: String,
    pub display_name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DirAssignment {
    pub principal_id: String,
    pub principal_type: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum InitialJobState {
    Active,
    Paused,
    Quarantine,
    NotRun,
    NotConfigured,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DirJob {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default = "default_template")]
    pub template_id: String,
    /// ISO 8601 duration (PTnHnMnS).
    #[serde(default = "default_interval")]
    pub interval: String,
    #[serde(default = "default_job_state")]
    pub state: InitialJobState,
    #[serde(default)]
    pub quarantine_reason: Option<String>,
}

fn default_template() -> String {
    "scim".into()
}

fn default_interval() -> String {
    "PT40M".into()
}

fn default_job_state() -> InitialJobState {
    InitialJobState::NotRun
}

impl Default for DirJob {
    fn default() -> Self {
        DirJob {
            id: None,
            template_id: default_template(),
            interval: default_interval(),
            state: default_job_state(),
            quarantine_reason: None,
        }
    }
}

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DirClient {
    pub client_id: String,
    pub secret: String,
    /// The secret's ID (what people paste by mistake); signing in with it gives AADSTS7000215.
    #[serde(default)]
    pub secret_id: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
    /// Application permissions granted (the token's `roles`).
    #[serde(default)]
    pub roles: Vec<String>,
    #[serde(default)]
    pub expired: bool,
    #[serde(default)]
    pub owned_service_principals: Vec<String>,
}

impl std::fmt::Debug for DirClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DirClient")
            .field("client_id", &self.client_id)
            .field("roles", &self.roles)
            .field("expired", &self.expired)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DirAws {
    pub tenant_id: String,
    pub token: String,
    /// Users created by someone else (SCIM JSON, as POST /Users takes it).
    #[serde(default)]
    pub users: Vec<Value>,
    #[serde(default)]
    pub groups: Vec<DirAwsGroup>,
}

impl std::fmt::Debug for DirAws {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DirAws").field("tenant_id", &self.tenant_id).finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DirAwsGroup {
    pub display_name: String,
    #[serde(default)]
    pub external_id: Option<String>,
    /// userNames of members (users of the `aws.users` list).
    #[serde(default)]
    pub members: Vec<String>,
}

pub fn str_field<'a>(object: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    object.get(key).and_then(Value::as_str)
}

impl DirectoryFile {
    pub fn from_json(text: &str) -> Result<Self, DirectoryError> {
        let file: DirectoryFile = serde_json::from_str(text)?;
        file.validate()?;
        Ok(file)
    }

    pub fn load(path: &std::path::Path) -> Result<Self, DirectoryError> {
        Self::from_json(&std::fs::read_to_string(path)?)
    }

    /// Every object has an id, ids are unique, users have a UPN, members and assignments point at
    /// objects that exist.
    pub fn validate(&self) -> Result<(), DirectoryError> {
        let invalid = |m: String| Err(DirectoryError::Invalid(m));
        let mut ids = std::collections::HashSet::new();
        for user in &self.users {
            let Some(id) = str_field(user, "id") else { return invalid("a user has no id".into()) };
            if str_field(user, "userPrincipalName").is_none() {
                return invalid(format!("user {id} has no userPrincipalName"));
            }
            if !ids.insert(id.to_owned()) {
                return invalid(format!("id {id} is used twice"));
            }
        }
        for other in &self.other_objects {
            let Some(id) = str_field(other, "id") else { return invalid("an object has no id".into()) };
            if !ids.insert(id.to_owned()) {
                return invalid(format!("id {id} is used twice"));
            }
        }
        for group in &self.groups {
            if !ids.insert(group.id.clone()) {
                return invalid(format!("id {} is used twice", group.id));
            }
        }
        for group in &self.groups {
            if let Some(missing) = group.members.iter().find(|m| !ids.contains(*m)) {
                return invalid(format!(
                    "group {:?} lists member {missing}, which does not exist",
                    group.display_name
                ));
            }
        }
        for a in &self.app_role_assignments {
            if !ids.contains(&a.principal_id) {
                return invalid(format!("assignment to {}, which does not exist", a.principal_id));
            }
            if !matches!(a.principal_type.as_str(), "User" | "Group" | "ServicePrincipal") {
                return invalid(format!("assignment principalType {:?}", a.principal_type));
            }
        }
        if crate::entra::parse_iso_duration(&self.job.interval).is_none() {
            return invalid(format!(
                "job interval {:?} is not an ISO 8601 duration like PT40M",
                self.job.interval
            ));
        }
        Ok(())
    }

    /// A fictional company, "Northwind Aviation", that exercises what matters: nested groups
    /// (AWS-Admins holds Platform-Team), a guest (#EXT# UPN), a disabled user, a user without a
    /// surname, an assigned group with more than 5 members, a device member, a directly assigned
    /// user, users and a group out of scope, and an AWS group made by Control Tower.
    pub fn sample() -> Self {
        let tenant = "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b";
        let domain = "northwind.example";
        let person = |n: u32, given: &str, surname: Option<&str>, dept: &str, title: &str| {
            let nick = match surname {
                Some(s) => format!("{}.{}", given.to_lowercase(), s.to_lowercase()),
                None => given.to_lowercase(),
            };
            let display = match surname {
                Some(s) => format!("{given} {s}"),
                None => given.to_owned(),
            };
            let mut user = json!({
                "id": sample_id(n),
                "userPrincipalName": format!("{nick}@{domain}"),
                "displayName": display,
                "givenName": given,
                "surname": surname,
                "mail": format!("{nick}@{domain}"),
                "mailNickname": nick,
                "accountEnabled": true,
                "jobTitle": title,
                "department": dept,
                "companyName": "Northwind Aviation",
                "employeeId": format!("E{:04}", 1000 + n),
                "employeeOrgData": {"division": "Operations", "costCenter": format!("CC-{}", 100 + n % 3)},
                "userType": "Member",
                "businessPhones": [],
                "mobilePhone": null,
                "officeLocation": "Hangar 2",
                "preferredLanguage": "en-US"
            });
            if surname.is_none() {
                user["surname"] = Value::Null;
            }
            into_map(user)
        };
        let mut users = vec![
            person(1, "Maya", Some("Patel"), "Platform", "Platform Engineer"),
            person(2, "Jonas", Some("Berg"), "Platform", "Site Reliability Engineer"),
            person(3, "Lena", Some("Fischer"), "Platform", "Platform Lead"),
            person(4, "Omar", Some("Haddad"), "IT", "Cloud Administrator"),
            person(5, "Sofia", Some("Rossi"), "Engineering", "Software Engineer"),
            person(6, "Kenji", Some("Watanabe"), "Engineering", "Software Engineer"),
            person(7, "Amara", Some("Okafor"), "Engineering", "Data Engineer"),
            person(8, "Lucas", Some("Martin"), "Engineering", "Engineering Manager"),
            person(9, "Elif", Some("Yilmaz"), "Engineering", "QA Engineer"),
            person(10, "Noah", Some("Schmidt"), "Engineering", "Software Engineer"),
            person(11, "Priya", Some("Nair"), "Engineering", "Software Engineer"),
            person(12, "Teo", None, "Engineering", "Intern"),
            person(14, "Hannah", Some("Kowalski"), "Security", "Security Analyst"),
            person(15, "Diego", Some("Alvarez"), "Sales", "Account Executive"),
            person(16, "Freya", Some("Larsen"), "Finance", "Controller"),
        ];
        // Priya left on leave: disabled in Entra.
        users[10].insert("accountEnabled".into(), Value::Bool(false));
        // A guest from a partner company.
        users.push(into_map(json!({
            "id": sample_id(13),
            "userPrincipalName": format!("chris_partner.example#EXT#@northwind.onmicrosoft.com"),
            "displayName": "Chris Morgan (Partner)",
            "givenName": "Chris",
            "surname": "Morgan",
            "mail": "chris@partner.example",
            "mailNickname": "chris_partner.example#EXT#",
            "accountEnabled": true,
            "userType": "Guest",
            "businessPhones": []
        })));
        let device = sample_id(90);
        let group = |n: u32, name: &str, members: Vec<String>| DirGroup {
            id: sample_id(n),
            display_name: name.into(),
            members,
            properties: into_map(json!({
                "mailNickname": name.to_lowercase(),
                "securityEnabled": true,
                "mailEnabled": false,
                "groupTypes": [],
                "description": format!("{name} (sample)")
            })),
        };
        let ids = |ns: &[u32]| ns.iter().map(|n| sample_id(*n)).collect::<Vec<_>>();
        let mut admins = ids(&[4, 51]);
        admins.push(device.clone());
        let groups = vec![
            group(50, "AWS-Admins", admins),
            group(51, "Platform-Team", ids(&[1, 2, 3])),
            group(52, "Developers", ids(&[5, 6, 7, 8, 9, 10, 11, 12])),
            group(53, "Auditors", ids(&[13])),
            group(54, "Finance", ids(&[16])),
        ];
        let assign =
            |n: u32, kind: &str| DirAssignment { principal_id: sample_id(n), principal_type: kind.into() };
        DirectoryFile {
            tenant_id: tenant.into(),
            tenant_domain: Some("northwind.onmicrosoft.com".into()),
            users,
            groups,
            other_objects: vec![into_map(json!({
                "id": device,
                "@odata.type": "#microsoft.graph.device",
                "displayName": "build-agent-01",
                "accountEnabled": true
            }))],
            app: DirApp {
                id: "a0a0a0a0-0000-4000-8000-00000000aa01".into(),
                app_id: "a0a0a0a0-0000-4000-8000-00000000aa02".into(),
                display_name: default_app_name(),
                owners: vec!["c1c1c1c1-0000-4000-8000-0000000000c3".into()],
            },
            other_service_principals: vec![DirServicePrincipal {
                id: "b0b0b0b0-0000-4000-8000-00000000bb01".into(),
                app_id: "00000003-0000-0000-c000-000000000000".into(),
                display_name: "Microsoft Graph".into(),
            }],
            app_role_assignments: vec![
                assign(50, "Group"),
                assign(52, "Group"),
                assign(53, "Group"),
                assign(14, "User"),
            ],
            job: DirJob { state: InitialJobState::Active, ..DirJob::default() },
            clients: vec![
                DirClient {
                    client_id: "c1c1c1c1-0000-4000-8000-0000000000c1".into(),
                    secret: "emulator-secret-scimsync".into(),
                    secret_id: Some("5ec12e70-0000-4000-8000-0000000000d1".into()),
                    display_name: Some("scimsync".into()),
                    roles: [
                        "User.Read.All",
                        "GroupMember.Read.All",
                        "Application.Read.All",
                        "Synchronization.ReadWrite.All",
                        "AuditLog.Read.All",
                    ]
                    .map(String::from)
                    .to_vec(),
                    expired: false,
                    owned_service_principals: Vec::new(),
                },
                DirClient {
                    client_id: "c1c1c1c1-0000-4000-8000-0000000000c2".into(),
                    secret: "emulator-secret-readonly".into(),
                    secret_id: None,
                    display_name: Some("directory reader".into()),
                    roles: ["User.Read.All", "GroupMember.Read.All", "Application.Read.All"]
                        .map(String::from)
                        .to_vec(),
                    expired: false,
                    owned_service_principals: Vec::new(),
                },
                DirClient {
                    client_id: "c1c1c1c1-0000-4000-8000-0000000000c3".into(),
                    secret: "emulator-secret-owner".into(),
                    secret_id: None,
                    display_name: Some("owner of the enterprise app".into()),
                    roles: ["Application.ReadWrite.OwnedBy", "User.Read.All", "GroupMember.Read.All"]
                        .map(String::from)
                        .to_vec(),
                    expired: false,
                    owned_service_principals: Vec::new(),
                },
                DirClient {
                    client_id: "c1c1c1c1-0000-4000-8000-0000000000c4".into(),
                    secret: "emulator-secret-expired".into(),
                    secret_id: None,
                    display_name: Some("expired secret".into()),
                    roles: vec!["User.Read.All".into()],
                    expired: true,
                    owned_service_principals: Vec::new(),
                },
            ],
            aws: Some(DirAws {
                tenant_id: "9067a1b2c3-emulated".into(),
                token: "emulator-scim-token".into(),
                users: vec![json!({
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                    "userName": "ct-admin@northwind.example",
                    "name": {"givenName": "Control", "familyName": "Tower"},
                    "displayName": "Control Tower Admin",
                    "emails": [{"value": "ct-admin@northwind.example", "type": "work", "primary": true}],
                    "active": true
                })],
                groups: vec![DirAwsGroup {
                    display_name: "AWSControlTowerAdmins".into(),
                    external_id: None,
                    members: vec!["ct-admin@northwind.example".into()],
                }],
            }),
        }
    }
}

/// `0000000n-…` ids make the sample readable in logs.
fn sample_id(n: u32) -> String {
    format!("{n:08x}-5a3e-4c1d-9b2a-0000000000{:02x}", n % 256)
}

fn into_map(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_is_valid_and_round_trips() {
        let sample = DirectoryFile::sample();
        sample.validate().unwrap();
        let text = serde_json::to_string_pretty(&sample).unwrap();
        assert_eq!(DirectoryFile::from_json(&text).unwrap(), sample);
    }

    #[test]
    fn sample_has_the_cases_tests_need() {
        let s = DirectoryFile::sample();
        let upn = |u: &Map<String, Value>| str_field(u, "userPrincipalName").unwrap_or("").to_owned();
        assert!(s.users.iter().any(|u| upn(u).contains("#EXT#")), "a guest");
        assert!(
            s.users.iter().any(|u| u.get("accountEnabled") == Some(&Value::Bool(false))),
            "a disabled user"
        );
        assert!(s.users.iter().any(|u| u.get("surname") == Some(&Value::Null)), "a user without surname");
        let group_ids: Vec<&str> = s.groups.iter().map(|g| g.id.as_str()).collect();
        assert!(
            s.groups.iter().any(|g| g.members.iter().any(|m| group_ids.contains(&m.as_str()))),
            "nesting"
        );
        let assigned_big = s
            .app_role_assignments
            .iter()
            .any(|a| s.groups.iter().any(|g| g.id == a.principal_id && g.members.len() > 5));
        assert!(assigned_big, "an assigned group with more than 5 members");
        assert!(!s.other_objects.is_empty(), "a device");
    }

    #[test]
    fn invalid_files_are_refused_with_a_reason() {
        type Edit = Box<dyn Fn(&mut DirectoryFile)>;
        let cases: Vec<(Edit, &str)> = vec![
            (Box::new(|f| f.groups[0].members.push("nope".into())), "does not exist"),
            (
                Box::new(|f| f.users[0].remove("userPrincipalName").map(drop).unwrap_or(())),
                "no userPrincipalName",
            ),
            (Box::new(|f| f.job.interval = "40 minutes".into()), "ISO 8601"),
            (Box::new(|f| f.app_role_assignments[0].principal_type = "Robot".into()), "principalType"),
        ];
        for (change, needle) in cases {
            let mut file = DirectoryFile::sample();
            change(&mut file);
            let e = file.validate().unwrap_err().to_string();
            assert!(e.contains(needle), "{e}");
        }
    }
}
