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
//!            "owners": ["client id of an owning app", ...],
//!            "appRoles": [ { "id": "GUID", "value": "Admin", "displayName": "Administrator" } ] },
//!   "otherServicePrincipals": [ { "id": "...", "appId": "...", "displayName": "..." } ],
//!   "appRoleAssignments": [ { "principalId": "object id", "principalType": "User" | "Group",
//!                             "appRoleId": "optional: an id of app.appRoles; default access otherwise" } ],
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
//!
//! Keys other than those above are refused (a typo must not pass silently), except inside users,
//! groups and other objects, which take any Graph property. [`DirectoryFile::validate`] lists the
//! other rules; `docs/emulator.md` has the format for people, with an example.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// Why a directory file was refused: what is wrong and where.
#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    /// The file cannot be read: missing, a folder, no permission, not UTF-8.
    #[error("cannot read the directory file {}: {reason}", path.display())]
    Read { path: PathBuf, reason: String },
    /// Not JSON at all.
    #[error("{} is not valid JSON: {message} at line {line}, column {column}", describe(file.as_deref()))]
    Syntax { file: Option<PathBuf>, message: String, line: usize, column: usize },
    /// JSON of the wrong shape: `at` is a JSON path such as `users[2].id` (`the top level` for the
    /// root).
    #[error(
        "{} is not valid: at {at} (line {line}, column {column}): {message}",
        describe(file.as_deref())
    )]
    Shape { file: Option<PathBuf>, at: String, message: String, line: usize, column: usize },
    /// Well-formed, but not a directory the emulators can serve: `at` names the object, such as
    /// `groups[0] ("Developers")`.
    #[error("{} is not valid: {at}: {message}", describe(file.as_deref()))]
    Invalid { file: Option<PathBuf>, at: String, message: String },
}

fn describe(file: Option<&Path>) -> String {
    match file {
        Some(path) => format!("the directory file {}", path.display()),
        None => "the directory file".to_owned(),
    }
}

impl DirectoryError {
    fn invalid(at: impl Into<String>, message: impl Into<String>) -> Self {
        DirectoryError::Invalid { file: None, at: at.into(), message: message.into() }
    }

    /// The same error, naming the file it comes from.
    pub fn in_file(self, path: &Path) -> Self {
        let named = Some(path.to_path_buf());
        match self {
            DirectoryError::Syntax { message, line, column, .. } => {
                DirectoryError::Syntax { file: named, message, line, column }
            }
            DirectoryError::Shape { at, message, line, column, .. } => {
                DirectoryError::Shape { file: named, at, message, line, column }
            }
            DirectoryError::Invalid { at, message, .. } => {
                DirectoryError::Invalid { file: named, at, message }
            }
            read @ DirectoryError::Read { .. } => read,
        }
    }

    fn from_json(error: serde_path_to_error::Error<serde_json::Error>) -> Self {
        let at = error.path().to_string();
        Self::from_serde(at, error.into_inner())
    }

    fn from_serde(at: String, inner: serde_json::Error) -> Self {
        let at = if at == "." { "the top level".to_owned() } else { at };
        let (line, column) = (inner.line(), inner.column());
        // serde_json ends its messages with " at line L column C"; this error says where itself.
        let full = inner.to_string();
        let message =
            full.strip_suffix(&format!(" at line {line} column {column}")).unwrap_or(&full).to_owned();
        if inner.is_syntax() || inner.is_eof() {
            DirectoryError::Syntax { file: None, message, line, column }
        } else {
            DirectoryError::Shape { file: None, at, message, line, column }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
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
    /// Graph's throttling limits (default: Graph's, by tenant size).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throttling: Option<crate::entra::ThrottleLimits>,
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
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DirApp {
    pub id: String,
    pub app_id: String,
    #[serde(default = "default_app_name")]
    pub display_name: String,
    /// Client ids of apps that own the service principal.
    #[serde(default)]
    pub owners: Vec<String>,
    /// The app's own roles (Graph `appRoles`). The default access role
    /// (`00000000-0000-0000-0000-000000000000`) is never listed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub app_roles: Vec<DirAppRole>,
}

/// One app role of the enterprise app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DirAppRole {
    pub id: String,
    /// The role's value (what tokens and `SingleAppRoleAssignment` carry); gallery roles may have none.
    #[serde(default)]
    pub value: Option<String>,
    pub display_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// The id of the default access role, assigned when no role of the app's own is.
pub const DEFAULT_ACCESS_ROLE_ID: &str = "00000000-0000-0000-0000-000000000000";

fn default_app_name() -> String {
    "AWS IAM Identity Center".into()
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DirServicePrincipal {
    pub id: String,
    pub app_id: String,
    pub display_name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DirAssignment {
    pub principal_id: String,
    pub principal_type: String,
    /// One of `app.appRoles`; absent or the zero GUID: the default access role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_role_id: Option<String>,
}

impl DirAssignment {
    /// The assigned role's id (the default access role when none is given).
    pub fn role_id(&self) -> &str {
        self.app_role_id.as_deref().unwrap_or(DEFAULT_ACCESS_ROLE_ID)
    }
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
#[serde(rename_all = "camelCase", deny_unknown_fields)]
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
    /// The accidental-deletion threshold (Entra's `QuarantineTooManyDeletesThreshold`): a cycle that
    /// would disable more users than this quarantines the job with `TooManyDeletes` instead.
    #[serde(default = "default_delete_threshold")]
    pub quarantine_too_many_deletes_threshold: u64,
}

fn default_delete_threshold() -> u64 {
    500
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
            quarantine_too_many_deletes_threshold: default_delete_threshold(),
        }
    }
}

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
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
#[serde(rename_all = "camelCase", deny_unknown_fields)]
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
#[serde(rename_all = "camelCase", deny_unknown_fields)]
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

/// The longest schedule interval a file may give (a year); longer ones are surely mistakes.
const MAX_INTERVAL: std::time::Duration = std::time::Duration::from_secs(366 * 86_400);

/// The Graph types an `otherObjects` entry may have.
const OTHER_TYPES: [&str; 3] =
    ["#microsoft.graph.device", "#microsoft.graph.servicePrincipal", "#microsoft.graph.orgContact"];

/// `users[2] ("ada@contoso.com")`: where an object is, and a name to recognise it by.
fn locate(list: &str, index: usize, name: Option<&str>) -> String {
    match name {
        Some(name) => format!("{list}[{index}] ({name:?})"),
        None => format!("{list}[{index}]"),
    }
}

/// A text that must be present and not empty.
fn required<'a>(object: &'a Map<String, Value>, key: &str, at: &str) -> Result<&'a str, DirectoryError> {
    match object.get(key) {
        None | Some(Value::Null) => Err(DirectoryError::invalid(at, format!("{key} is missing"))),
        Some(Value::String(text)) if text.trim().is_empty() => {
            Err(DirectoryError::invalid(at, format!("{key} is empty")))
        }
        Some(Value::String(text)) => Ok(text),
        Some(other) => {
            Err(DirectoryError::invalid(at, format!("{key} must be a string, not {}", json_kind(other))))
        }
    }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// A text that must not be empty, and that goes into URL paths (no `/`, no blanks).
fn path_segment(value: &str, at: &str, what: &str) -> Result<(), DirectoryError> {
    if value.trim().is_empty() {
        return Err(DirectoryError::invalid(at, format!("{what} is empty")));
    }
    if value.contains(['/', '?', '#', '%']) || value.contains(char::is_whitespace) {
        return Err(DirectoryError::invalid(
            at,
            format!("{what} {value:?} goes into URL paths: it must not hold '/', '?', '#', '%' or blanks"),
        ));
    }
    Ok(())
}

impl DirectoryFile {
    /// Parses and validates a directory file's text. Errors say what is wrong and where (a JSON
    /// path, and the line and column when the JSON itself is at fault).
    pub fn from_json(text: &str) -> Result<Self, DirectoryError> {
        // Editors on Windows may start UTF-8 files with a byte order mark; JSON does not allow it.
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        // serde would take a list as the fields in order; say plainly that an object is wanted.
        if !text.trim_start().starts_with('{') {
            let value: Value =
                serde_json::from_str(text).map_err(|e| DirectoryError::from_serde(".".into(), e))?;
            let blank = &text[..text.len() - text.trim_start().len()];
            let line_start = blank.rfind('\n').map_or(0, |i| i + 1);
            return Err(DirectoryError::Shape {
                file: None,
                at: "the top level".into(),
                message: format!("the file must hold one JSON object {{ ... }}, not {}", json_kind(&value)),
                line: blank.matches('\n').count() + 1,
                column: blank[line_start..].chars().count() + 1,
            });
        }
        let mut deserializer = serde_json::Deserializer::from_str(text);
        let file: DirectoryFile =
            serde_path_to_error::deserialize(&mut deserializer).map_err(DirectoryError::from_json)?;
        deserializer.end().map_err(|e| DirectoryError::from_serde(".".into(), e))?;
        file.validate()?;
        Ok(file)
    }

    /// Reads, parses and validates a directory file; errors name the file.
    pub fn load(path: &Path) -> Result<Self, DirectoryError> {
        let read_error = |reason: String| DirectoryError::Read { path: path.to_path_buf(), reason };
        let bytes = std::fs::read(path).map_err(|e| read_error(e.to_string()))?;
        let text = String::from_utf8(bytes).map_err(|e| {
            read_error(format!("it is not UTF-8 text (bad byte at offset {})", e.utf8_error().valid_up_to()))
        })?;
        Self::from_json(&text).map_err(|e| e.in_file(path))
    }

    /// Checks what serde cannot: the tenant and the AWS tenant fit in URL paths; every user, group
    /// and other object has a non-empty string `id`, unique among them; users have a unique
    /// `userPrincipalName`; other objects have a known `@odata.type`; groups list existing members,
    /// each once, never themselves; assignments point at an existing object of the type they say,
    /// once each; the job interval is an ISO 8601 duration between 1 second and a year; client ids
    /// are unique and secrets not empty; AWS users pass the checks of AWS's POST /Users, and AWS
    /// groups pass those of POST /Groups and list users of `aws.users` by userName.
    pub fn validate(&self) -> Result<(), DirectoryError> {
        let invalid = |at: &str, message: String| Err(DirectoryError::invalid(at, message));
        path_segment(&self.tenant_id, "tenantId", "the tenant id")?;
        if self.app.id.trim().is_empty() {
            return invalid("app.id", "the enterprise app's object id is empty".into());
        }
        if self.app.app_id.trim().is_empty() {
            return invalid("app.appId", "the enterprise app's appId is empty".into());
        }

        // Object ids are unique across users, groups and other objects, as in a real directory.
        let mut owners: HashMap<String, String> = HashMap::new();
        let mut kinds: HashMap<String, &'static str> = HashMap::new();
        let mut claim = |id: &str, at: &str, kind: &'static str| -> Result<(), DirectoryError> {
            if let Some(first) = owners.get(id) {
                return Err(DirectoryError::invalid(
                    at,
                    format!(
                        "id {id:?} is already the id of {first}; every user, group and other object needs \
                         its own id"
                    ),
                ));
            }
            owners.insert(id.to_owned(), at.to_owned());
            kinds.insert(id.to_owned(), kind);
            Ok(())
        };
        let mut upns: HashMap<String, String> = HashMap::new();
        for (i, user) in self.users.iter().enumerate() {
            let name = str_field(user, "userPrincipalName").or_else(|| str_field(user, "displayName"));
            let at = locate("users", i, name);
            let id = required(user, "id", &at)?;
            let upn = required(user, "userPrincipalName", &at)?;
            claim(id, &at, "User")?;
            if let Some(first) = upns.insert(upn.to_lowercase(), at.clone()) {
                return invalid(&at, format!("userPrincipalName {upn:?} is already the one of {first}"));
            }
        }
        for (i, other) in self.other_objects.iter().enumerate() {
            let at = locate("otherObjects", i, str_field(other, "displayName"));
            let id = required(other, "id", &at)?;
            let kind = match other.get("@odata.type") {
                None => "#microsoft.graph.device",
                Some(Value::String(kind)) if OTHER_TYPES.contains(&kind.as_str()) => kind.as_str(),
                Some(kind) => {
                    return invalid(
                        &at,
                        format!("@odata.type {kind} is not one of {}", OTHER_TYPES.join(", ")),
                    );
                }
            };
            let kind = if kind == "#microsoft.graph.servicePrincipal" { "ServicePrincipal" } else { "Other" };
            claim(id, &at, kind)?;
        }
        for (i, group) in self.groups.iter().enumerate() {
            let at = locate("groups", i, Some(&group.display_name));
            if group.id.trim().is_empty() {
                return invalid(&at, "id is empty".into());
            }
            if group.display_name.trim().is_empty() {
                return invalid(&at, "displayName is empty".into());
            }
            claim(&group.id, &at, "Group")?;
        }
        for (i, group) in self.groups.iter().enumerate() {
            let at = locate("groups", i, Some(&group.display_name));
            let mut seen = HashSet::new();
            for member in &group.members {
                if !owners.contains_key(member) {
                    return invalid(
                        &at,
                        format!(
                            "member {member:?} is not the id of any user, group or other object in the file"
                        ),
                    );
                }
                if member == &group.id {
                    return invalid(&at, "the group lists itself as a member".into());
                }
                if !seen.insert(member) {
                    return invalid(&at, format!("member {member:?} is listed twice"));
                }
            }
        }
        let mut role_ids = HashSet::new();
        for (i, role) in self.app.app_roles.iter().enumerate() {
            let at = format!("app.appRoles[{i}]");
            path_segment(&role.id, &at, "the role id")?;
            if role.id == DEFAULT_ACCESS_ROLE_ID {
                return invalid(&at, "the default access role's id is not listed among appRoles".into());
            }
            if !role_ids.insert(role.id.to_lowercase()) {
                return invalid(&at, format!("role id {:?} is listed twice", role.id));
            }
        }
        let mut assigned = HashSet::new();
        for (i, a) in self.app_role_assignments.iter().enumerate() {
            let at = locate("appRoleAssignments", i, Some(&a.principal_id));
            if !matches!(a.principal_type.as_str(), "User" | "Group" | "ServicePrincipal") {
                return invalid(
                    &at,
                    format!(
                        "principalType {:?} is not one of User, Group, ServicePrincipal",
                        a.principal_type
                    ),
                );
            }
            let Some(kind) = kinds.get(&a.principal_id) else {
                return invalid(
                    &at,
                    format!(
                        "principalId {:?} is not the id of any user, group or other object in the file",
                        a.principal_id
                    ),
                );
            };
            if *kind != a.principal_type {
                return invalid(
                    &at,
                    format!(
                        "principalType is {:?}, but {} is a {}",
                        a.principal_type,
                        owners[&a.principal_id],
                        match *kind {
                            "Other" => "device or contact, which cannot be assigned",
                            kind => kind,
                        }
                    ),
                );
            }
            let role = a.role_id().to_lowercase();
            if role != DEFAULT_ACCESS_ROLE_ID && !role_ids.contains(&role) {
                return invalid(
                    &at,
                    format!("appRoleId {:?} is not the id of any role in app.appRoles", a.role_id()),
                );
            }
            if !assigned.insert((&a.principal_id, role)) {
                return invalid(&at, "this principal is already assigned to the app with this role".into());
            }
        }
        match crate::entra::parse_iso_duration(&self.job.interval) {
            None => {
                return invalid(
                    "job.interval",
                    format!(
                        "{:?} is not an ISO 8601 duration like PT40M, PT1H30M or PT20S",
                        self.job.interval
                    ),
                );
            }
            Some(interval) if interval < std::time::Duration::from_secs(1) || interval > MAX_INTERVAL => {
                return invalid(
                    "job.interval",
                    format!("{:?} is outside the range from PT1S to P366D", self.job.interval),
                );
            }
            Some(_) => {}
        }
        if self.job.id.as_deref().is_some_and(|id| id.trim().is_empty() || id.contains(['/', '?', '#'])) {
            return invalid("job.id", "a job id must not be empty nor hold '/', '?' or '#'".into());
        }
        let mut clients: HashMap<String, String> = HashMap::new();
        for (i, client) in self.clients.iter().enumerate() {
            let at = locate("clients", i, client.display_name.as_deref().or(Some(&client.client_id)));
            if client.client_id.trim().is_empty() {
                return invalid(&at, "clientId is empty".into());
            }
            if client.secret.is_empty() {
                return invalid(&at, "secret is empty".into());
            }
            if let Some(first) = clients.insert(client.client_id.to_lowercase(), at.clone()) {
                return invalid(
                    &at,
                    format!("clientId {:?} is already the one of {first}", client.client_id),
                );
            }
        }
        if let Some(aws) = &self.aws {
            aws.validate()?;
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
        let admin_role = "a0a0a0a0-0000-4000-8000-00000000ab01";
        let auditor_role = "a0a0a0a0-0000-4000-8000-00000000ab02";
        let assign = |n: u32, kind: &str, role: Option<&str>| DirAssignment {
            principal_id: sample_id(n),
            principal_type: kind.into(),
            app_role_id: role.map(str::to_owned),
        };
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
                app_roles: vec![
                    DirAppRole {
                        id: admin_role.into(),
                        value: Some("Admin".into()),
                        display_name: "Administrator".into(),
                        description: Some("Administers the AWS organization".into()),
                    },
                    DirAppRole {
                        id: auditor_role.into(),
                        value: Some("Auditor".into()),
                        display_name: "Auditor".into(),
                        description: None,
                    },
                ],
            },
            other_service_principals: vec![DirServicePrincipal {
                id: "b0b0b0b0-0000-4000-8000-00000000bb01".into(),
                app_id: "00000003-0000-0000-c000-000000000000".into(),
                display_name: "Microsoft Graph".into(),
            }],
            app_role_assignments: vec![
                assign(50, "Group", Some(admin_role)),
                assign(52, "Group", None),
                assign(53, "Group", Some(auditor_role)),
                assign(14, "User", None),
            ],
            job: DirJob { state: InitialJobState::Active, ..DirJob::default() },
            clients: vec![
                DirClient {
                    client_id: "c1c1c1c1-0000-4000-8000-0000000000c1".into(),
                    secret: "emulator-secret-scimsync".into(),
                    secret_id: Some("5ec12e70-0000-4000-8000-0000000000d1".into()),
                    display_name: Some("scimsync".into()),
                    // What scimsync needs, plus the directory writes an admin makes, so that people
                    // and tests can change the emulated directory with the printed client.
                    roles: [
                        "User.Read.All",
                        "GroupMember.Read.All",
                        "Application.Read.All",
                        "Synchronization.ReadWrite.All",
                        "AuditLog.Read.All",
                        "User.ReadWrite.All",
                        "Group.ReadWrite.All",
                        "AppRoleAssignment.ReadWrite.All",
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
            throttling: None,
        }
    }
}

impl DirAws {
    /// The AWS seed goes through the same checks as AWS's POST /Users and POST /Groups, on a
    /// scratch emulator, so that a refusal names the entry at fault before anything starts.
    fn validate(&self) -> Result<(), DirectoryError> {
        path_segment(&self.tenant_id, "aws.tenantId", "the AWS tenant id")?;
        if self.token.is_empty() {
            return Err(DirectoryError::invalid("aws.token", "the SCIM token is empty"));
        }
        let scratch = crate::aws::AwsScim::new(self.tenant_id.clone(), self.token.clone());
        let mut ids_by_name = HashMap::new();
        for (i, user) in self.users.iter().enumerate() {
            let name = user.get("userName").and_then(Value::as_str);
            let at = locate("aws.users", i, name);
            if !user.is_object() {
                return Err(DirectoryError::invalid(
                    at,
                    format!("a SCIM user must be an object, not {}", json_kind(user)),
                ));
            }
            let id = scratch.seed_user(user.clone()).map_err(|e| {
                DirectoryError::invalid(
                    &at,
                    format!("AWS would refuse this user ({} {})", e.status, e.detail),
                )
            })?;
            if let Some(name) = name {
                ids_by_name.insert(name.to_owned(), id);
            }
        }
        for (i, group) in self.groups.iter().enumerate() {
            let at = locate("aws.groups", i, Some(&group.display_name));
            let members = group
                .members
                .iter()
                .map(|name| {
                    ids_by_name.get(name).cloned().ok_or_else(|| {
                        DirectoryError::invalid(
                            &at,
                            format!("member {name:?} is not the userName of any user in aws.users"),
                        )
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            scratch.seed_group(&group.display_name, group.external_id.clone(), &members).map_err(|e| {
                DirectoryError::invalid(
                    &at,
                    format!("AWS would refuse this group ({} {})", e.status, e.detail),
                )
            })?;
        }
        Ok(())
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

    /// A small valid file; each bad case below changes one thing in it.
    fn base() -> Value {
        json!({
            "tenantId": "11111111-1111-4111-8111-111111111111",
            "users": [
                {"id": "u1", "userPrincipalName": "ada@x.test", "displayName": "Ada L", "givenName": "Ada",
                 "surname": "Lovelace"},
                {"id": "u2", "userPrincipalName": "alan@x.test", "displayName": "Alan T"}
            ],
            "groups": [{"id": "g1", "displayName": "AWS-Admins", "members": ["u1", "d1"]}],
            "otherObjects": [{"id": "d1", "@odata.type": "#microsoft.graph.device", "displayName": "agent"}],
            "app": {"id": "sp1", "appId": "app1"},
            "appRoleAssignments": [{"principalId": "g1", "principalType": "Group"}],
            "job": {"interval": "PT40M", "state": "Active"},
            "clients": [{"clientId": "c1", "secret": "s1", "roles": ["User.Read.All"]}],
            "aws": {
                "tenantId": "aws1", "token": "tok",
                "users": [{"userName": "ct@x.test", "displayName": "C T", "name": {"givenName": "C", "familyName": "T"},
                           "emails": [{"value": "ct@x.test", "type": "work", "primary": true}]}],
                "groups": [{"displayName": "CT", "members": ["ct@x.test"]}]
            }
        })
    }

    /// The base file with the value at a JSON pointer replaced (`None` removes it).
    fn with(pointer: &str, value: Option<Value>) -> String {
        let mut file = base();
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        let target = file.pointer_mut(parent).unwrap_or_else(|| panic!("{pointer}"));
        match (target, value) {
            (Value::Object(map), Some(v)) => drop(map.insert(key.into(), v)),
            (Value::Object(map), None) => drop(map.remove(key)),
            (Value::Array(items), Some(v)) if key == "-" => items.push(v),
            (Value::Array(items), Some(v)) => items[key.parse::<usize>().unwrap()] = v,
            (Value::Array(items), None) => drop(items.remove(key.parse::<usize>().unwrap())),
            _ => panic!("{pointer}"),
        }
        serde_json::to_string_pretty(&file).unwrap()
    }

    #[test]
    fn the_base_file_is_valid() {
        DirectoryFile::from_json(&base().to_string()).unwrap();
    }

    #[test]
    fn bad_files_are_refused_with_what_and_where() {
        let set = |pointer: &str, value: Value| with(pointer, Some(value));
        let remove = |pointer: &str| with(pointer, None);
        let duplicate_user = json!({"id": "u1", "userPrincipalName": "other@x.test"});
        // (the file's text, words the error must hold: what is wrong, and where)
        let cases: Vec<(String, Vec<&str>)> = vec![
            // Not JSON.
            ("".into(), vec!["not valid JSON", "EOF", "line 1"]),
            ("hello".into(), vec!["not valid JSON", "expected value", "line 1, column 1"]),
            (
                "{\n  \"tenantId\": \"t\",\n}".into(),
                vec!["not valid JSON", "trailing comma", "line 3, column 1"],
            ),
            (format!("{} extra", base()), vec!["not valid JSON", "trailing characters"]),
            // JSON of the wrong shape.
            ("[1, 2]".into(), vec!["at the top level", "must hold one JSON object", "not a list"]),
            ("\n  \"x\"".into(), vec!["at the top level (line 2, column 3)", "not a string"]),
            (remove("/app"), vec!["at the top level", "missing field `app`"]),
            (remove("/tenantId"), vec!["missing field `tenantId`"]),
            (set("/users", json!({"id": "u1"})), vec!["at users", "expected a sequence"]),
            (set("/users/0", json!("u1")), vec!["at users[0]", "expected a map"]),
            (set("/groups/0/members", json!("u1")), vec!["at groups[0].members", "expected a sequence"]),
            (set("/user", json!([])), vec!["unknown field `user`", "expected one of", "`users`"]),
            (set("/app/owner", json!([])), vec!["at app.owner", "unknown field `owner`"]),
            (
                set("/job/state", json!("Running")),
                vec!["at job.state", "unknown variant `Running`", "`NotRun`"],
            ),
            (
                set("/clients/0/roles", json!("User.Read.All")),
                vec!["at clients[0].roles", "expected a sequence"],
            ),
            (set("/aws/groups/0/member", json!([])), vec!["at aws.groups[0].member", "unknown field"]),
            // Well-formed, but not a directory.
            (set("/tenantId", json!("")), vec!["tenantId", "empty"]),
            (set("/tenantId", json!("a/b")), vec!["tenantId", "must not hold '/'"]),
            (set("/app/id", json!(" ")), vec!["app.id", "empty"]),
            (remove("/users/1/id"), vec!["users[1] (\"alan@x.test\")", "id is missing"]),
            (set("/users/1/id", json!(7)), vec!["users[1]", "id must be a string, not a number"]),
            (set("/users/1/id", json!("")), vec!["users[1]", "id is empty"]),
            (
                remove("/users/1/userPrincipalName"),
                vec!["users[1] (\"Alan T\")", "userPrincipalName is missing"],
            ),
            (
                set("/users/-", duplicate_user),
                vec!["users[2]", "id \"u1\" is already the id of users[0]", "its own id"],
            ),
            (
                set("/groups/0/id", json!("u2")),
                vec!["groups[0] (\"AWS-Admins\")", "already the id of users[1]"],
            ),
            (
                set("/otherObjects/0/id", json!("u1")),
                vec!["otherObjects[0] (\"agent\")", "already the id of users[0]"],
            ),
            (
                set("/users/1/userPrincipalName", json!("ADA@x.test")),
                vec!["users[1]", "userPrincipalName \"ADA@x.test\" is already the one of users[0]"],
            ),
            (
                set("/otherObjects/0/@odata.type", json!("#microsoft.graph.robot")),
                vec!["otherObjects[0]", "@odata.type", "is not one of"],
            ),
            (set("/groups/0/displayName", json!("")), vec!["groups[0]", "displayName is empty"]),
            (
                set("/groups/0/members/-", json!("u9")),
                vec!["groups[0] (\"AWS-Admins\")", "member \"u9\" is not the id of any"],
            ),
            (set("/groups/0/members/-", json!("u1")), vec!["groups[0]", "member \"u1\" is listed twice"]),
            (set("/groups/0/members/-", json!("g1")), vec!["groups[0]", "lists itself"]),
            (
                set("/appRoleAssignments/0/principalId", json!("nope")),
                vec!["appRoleAssignments[0]", "principalId \"nope\" is not the id of any"],
            ),
            (
                set("/appRoleAssignments/0/principalType", json!("Robot")),
                vec!["appRoleAssignments[0]", "principalType \"Robot\" is not one of"],
            ),
            (
                set("/appRoleAssignments/0/principalType", json!("User")),
                vec![
                    "appRoleAssignments[0]",
                    "principalType is \"User\", but groups[0] (\"AWS-Admins\") is a Group",
                ],
            ),
            (
                set("/appRoleAssignments/-", json!({"principalId": "g1", "principalType": "Group"})),
                vec!["appRoleAssignments[1]", "already assigned"],
            ),
            (
                set(
                    "/appRoleAssignments/-",
                    json!({"principalId": "d1", "principalType": "ServicePrincipal"}),
                ),
                vec!["appRoleAssignments[1]", "device or contact"],
            ),
            (
                set("/appRoleAssignments/0/appRoleId", json!("r9")),
                vec!["appRoleAssignments[0]", "appRoleId \"r9\" is not the id of any role in app.appRoles"],
            ),
            (
                set(
                    "/app/appRoles",
                    json!([{"id": "r1", "displayName": "A"}, {"id": "R1", "displayName": "B"}]),
                ),
                vec!["app.appRoles[1]", "listed twice"],
            ),
            (
                set(
                    "/app/appRoles",
                    json!([{"id": "00000000-0000-0000-0000-000000000000", "displayName": "A"}]),
                ),
                vec!["app.appRoles[0]", "default access role"],
            ),
            (
                set("/job/interval", json!("40 minutes")),
                vec!["job.interval", "not an ISO 8601 duration like PT40M"],
            ),
            (set("/job/interval", json!("PT0S")), vec!["job.interval", "outside the range"]),
            (
                set("/job/interval", json!("P1000000000000000000D")),
                vec!["job.interval", "not an ISO 8601 duration"],
            ),
            (
                set("/job/interval", json!("P400D")),
                vec!["job.interval", "outside the range from PT1S to P366D"],
            ),
            (set("/job/id", json!("a/b")), vec!["job.id", "must not be empty nor hold '/'"]),
            (set("/clients/0/secret", json!("")), vec!["clients[0] (\"c1\")", "secret is empty"]),
            (
                set("/clients/-", json!({"clientId": "C1", "secret": "x"})),
                vec!["clients[1]", "clientId \"C1\" is already the one of clients[0]"],
            ),
            (set("/aws/tenantId", json!("")), vec!["aws.tenantId", "empty"]),
            (set("/aws/token", json!("")), vec!["aws.token", "empty"]),
            (
                set("/aws/users/0/userName", json!("c t")),
                vec!["aws.users[0] (\"c t\")", "AWS would refuse this user", "400", "userName"],
            ),
            (set("/aws/users/-", json!(5)), vec!["aws.users[1]", "must be an object, not a number"]),
            (
                set("/aws/groups/0/members/-", json!("nobody")),
                vec![
                    "aws.groups[0] (\"CT\")",
                    "member \"nobody\" is not the userName of any user in aws.users",
                ],
            ),
            (
                set("/aws/groups/-", json!({"displayName": "ct"})),
                vec!["aws.groups[1] (\"ct\")", "AWS would refuse this group", "409"],
            ),
        ];
        for (text, words) in cases {
            let error = match DirectoryFile::from_json(&text) {
                Ok(_) => panic!("accepted: {text}"),
                Err(e) => e.to_string(),
            };
            assert!(error.starts_with("the directory file "), "{error}");
            for word in words {
                assert!(error.contains(word), "{error:?} lacks {word:?}; file:\n{text}");
            }
        }
    }

    #[test]
    fn load_names_the_file() {
        let dir = std::env::temp_dir().join(format!("scimsync-directory-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // (file name, its content or none for a missing file, words the error must hold)
        type Case<'a> = (&'a str, Option<&'a [u8]>, Vec<&'a str>);
        let cases: Vec<Case> = vec![
            ("missing.json", None, vec!["cannot read the directory file", "missing.json"]),
            (
                "bad.json",
                Some(b"{\"tenantId\": 1}"),
                vec!["bad.json is not valid", "at tenantId", "line 1, column 14"],
            ),
            ("latin1.json", Some(b"{\"tenantId\": \"\xe9\"}"), vec!["latin1.json", "not UTF-8"]),
        ];
        for (name, content, words) in cases {
            let path = dir.join(name);
            if let Some(content) = content {
                std::fs::write(&path, content).unwrap();
            }
            let error = DirectoryFile::load(&path).unwrap_err().to_string();
            for word in words {
                assert!(error.contains(word), "{error:?} lacks {word:?}");
            }
        }
        // A byte order mark, as some editors write, is no error.
        let path = dir.join("bom.json");
        std::fs::write(&path, format!("\u{feff}{}", base())).unwrap();
        DirectoryFile::load(&path).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
