//! Attribute mapping: from a source user to the values AWS should hold. The default is what Entra's
//! AWS IAM Identity Center application maps; every target attribute can instead take a source
//! attribute, a constant or an Entra expression ([`crate::expr`]). Values AWS would refuse are repaired
//! where the repair is unambiguous and otherwise reported, so that nothing is sent only to fail.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use serde::{Deserialize, Serialize};

use crate::attr::UserAttr;
use crate::expr::{Expr, Pos, Value};
use std::collections::{HashMap, HashSet};

use crate::model::{Current, DesiredUser, SourceUser, TargetUser, UserValues};
use crate::plan::{Desired, Managed, ObjectKind, Plan, Target};

/// Longest userName AWS accepts.
const MAX_USER_NAME: usize = 128;
/// Longest other string AWS accepts.
const MAX_STRING: usize = 1024;
/// Characters AWS refuses in a userName.
const USER_NAME_FORBIDDEN: &[char] = &['<', '>', ';', ':', '%'];
/// userNames AWS reserves.
const RESERVED_USER_NAMES: &[&str] = &["Administrator", "AWSAdministrators"];

/// Graph user properties read beyond the ones `SourceUser` has fields for; they land in
/// `SourceUser::extra` under these names. The Entra reader selects exactly these.
pub const EXTRA_PROPERTIES: &[&str] = &[
    "mailNickname",
    "mobilePhone",
    "businessPhones",
    "faxNumber",
    "otherMails",
    "employeeType",
    "streetAddress",
    "city",
    "state",
    "postalCode",
    "country",
    "officeLocation",
    "preferredLanguage",
    "usageLocation",
];

/// The source attribute that holds a user's app roles of the enterprise app (for
/// `SingleAppRoleAssignment`); filled from [`crate::Directory::app_roles`], not read from `/users`.
pub const APP_ROLE_ASSIGNMENTS: &str = "appRoleAssignments";

/// Multi-valued Graph properties: an expression sees them as lists.
const MULTI_VALUED: &[&str] = &["businessPhones", "otherMails", "appRoleAssignments"];

/// Source attribute names with a field of their own in `SourceUser` (Graph names), and the names
/// Entra's mapping editor uses for Graph properties (`telephoneNumber` is `businessPhones`, …).
const FIELD_ATTRIBUTES: &[&str] = &[
    "id",
    "objectId",
    "userPrincipalName",
    "displayName",
    "givenName",
    "surname",
    "mail",
    "accountEnabled",
    "jobTitle",
    "department",
    "companyName",
    "employeeId",
    "costCenter",
    "division",
    "employeeOrgData.costCenter",
    "employeeOrgData.division",
    "userType",
    "manager",
    "IsSoftDeleted",
    "appRoleAssignments",
];
const ALIASES: &[(&str, &str)] = &[
    ("telephoneNumber", "businessPhones"),
    ("mobile", "mobilePhone"),
    ("facsimileTelephoneNumber", "faxNumber"),
    ("physicalDeliveryOfficeName", "officeLocation"),
];

/// Whether `name` is a source attribute an expression may read.
pub fn is_source_attribute(name: &str) -> bool {
    let known = |list: &[&str]| list.iter().any(|k| k.eq_ignore_ascii_case(name));
    known(FIELD_ATTRIBUTES)
        || known(EXTRA_PROPERTIES)
        || ALIASES.iter().any(|(a, _)| a.eq_ignore_ascii_case(name))
}

/// The source attributes by name, for messages that list them.
pub fn source_attribute_names() -> Vec<&'static str> {
    FIELD_ATTRIBUTES.iter().chain(EXTRA_PROPERTIES).copied().collect()
}

/// The value of a source attribute of `user`, by (case-insensitive) name.
pub fn source_value(user: &SourceUser, name: &str) -> Value {
    let name = ALIASES.iter().find(|(a, _)| a.eq_ignore_ascii_case(name)).map_or(name, |(_, to)| *to);
    let text = |v: &Option<String>| v.clone().map_or(Value::Null, Value::Text);
    let is = |n: &str| n.eq_ignore_ascii_case(name);
    match () {
        _ if is("id") || is("objectId") => Value::Text(user.id.clone()),
        _ if is("userPrincipalName") => Value::Text(user.user_principal_name.clone()),
        _ if is("displayName") => text(&user.display_name),
        _ if is("givenName") => text(&user.given_name),
        _ if is("surname") => text(&user.surname),
        _ if is("mail") => text(&user.mail),
        _ if is("accountEnabled") => Value::Text(if user.account_enabled { "True" } else { "False" }.into()),
        _ if is("jobTitle") => text(&user.job_title),
        _ if is("department") => text(&user.department),
        _ if is("companyName") => text(&user.company_name),
        _ if is("employeeId") => text(&user.employee_id),
        _ if is("costCenter") || is("employeeOrgData.costCenter") => text(&user.cost_center),
        _ if is("division") || is("employeeOrgData.division") => text(&user.division),
        _ if is("userType") => text(&user.user_type),
        _ if is("manager") => text(&user.manager_id),
        // Soft-deleted users are not in Graph's /users: every user read is not soft-deleted.
        _ if is("IsSoftDeleted") => Value::Text("False".into()),
        _ => match user.extra.iter().find(|(k, _)| is(k)) {
            None => Value::Null,
            Some((k, values)) if MULTI_VALUED.iter().any(|m| m.eq_ignore_ascii_case(k)) => {
                Value::List(values.clone())
            }
            Some((_, values)) => values.first().cloned().map_or(Value::Null, Value::Text),
        },
    }
}

/// How a guest's userPrincipalName (`alice_example.com#EXT#@tenant.onmicrosoft.com`) becomes a userName.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GuestUserName {
    /// The email the mapping sends (their mail), else the decoded address (default).
    #[default]
    Mail,
    /// The address the UPN encodes: `alice@example.com`.
    Decoded,
    /// The UPN as it is.
    Upn,
}

/// What a missing given or family name becomes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum NameFallback {
    Rule(FallbackRule),
    Constant {
        constant: String,
    },
    #[default]
    #[serde(skip)]
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FallbackRule {
    /// No fallback: the user is reported and not sent (default).
    None,
    /// The first word of the displayName.
    FirstWord,
    /// The last word of the displayName.
    LastWord,
    /// The whole displayName.
    DisplayName,
}

/// Where one target attribute comes from, as written in the config file: an expression string (a bare
/// word is the attribute of that name), or a table with one of `attribute`, `constant`, `expression`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SourceSpec {
    Expression(String),
    Table(SourceTable),
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceTable {
    pub attribute: Option<String>,
    pub constant: Option<String>,
    pub expression: Option<String>,
}

/// The `[mapping]` section of the config file. Every key is optional; a missing one keeps the default.
/// Unknown keys land in `attributes` and are refused by [`Mapping::compile`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MappingConfig {
    /// Target attribute (SCIM name: `userName`, `givenName`, `email`, `phone`, `manager`, …) → source.
    #[serde(flatten)]
    pub attributes: BTreeMap<String, SourceSpec>,
    pub guest_user_name: Option<GuestUserName>,
    pub given_name_fallback: Option<NameFallback>,
    pub family_name_fallback: Option<NameFallback>,
}

/// A `[mapping]` entry that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("mapping.{key}: {}{message}", pos.map(|p| format!("{p}: ")).unwrap_or_default())]
pub struct MappingError {
    pub key: String,
    pub pos: Option<Pos>,
    pub message: String,
}

/// The config key of a target attribute.
pub fn config_key(attr: UserAttr) -> &'static str {
    match attr {
        UserAttr::UserName => "userName",
        UserAttr::DisplayName => "displayName",
        UserAttr::GivenName => "givenName",
        UserAttr::FamilyName => "familyName",
        UserAttr::Email => "email",
        UserAttr::Active => "active",
        UserAttr::Title => "title",
        UserAttr::EmployeeNumber => "employeeNumber",
        UserAttr::CostCenter => "costCenter",
        UserAttr::Organization => "organization",
        UserAttr::Division => "division",
        UserAttr::Department => "department",
        UserAttr::NickName => "nickName",
        UserAttr::Phone => "phone",
        UserAttr::StreetAddress => "streetAddress",
        UserAttr::Locality => "locality",
        UserAttr::Region => "region",
        UserAttr::PostalCode => "postalCode",
        UserAttr::Country => "country",
        UserAttr::Manager => "manager",
        UserAttr::ExternalId => "externalId",
    }
}

/// The default source of each target attribute: Entra's AWS IAM Identity Center application.
/// `None`: not sent unless configured.
pub fn default_source(attr: UserAttr) -> Option<&'static str> {
    Some(match attr {
        UserAttr::UserName => "[userPrincipalName]",
        UserAttr::DisplayName => "[displayName]",
        UserAttr::GivenName => "[givenName]",
        UserAttr::FamilyName => "[surname]",
        UserAttr::Email => "[mail]",
        UserAttr::Active => "[accountEnabled]",
        UserAttr::Title => "[jobTitle]",
        UserAttr::EmployeeNumber => "[employeeId]",
        UserAttr::CostCenter => "[costCenter]",
        UserAttr::Organization => "[companyName]",
        UserAttr::Division => "[division]",
        UserAttr::Department => "[department]",
        // Entra sends the work and the mobile phone; AWS holds one: the work one, else the mobile.
        UserAttr::Phone => "Coalesce([telephoneNumber], [mobile])",
        UserAttr::StreetAddress => "[streetAddress]",
        UserAttr::Locality => "[city]",
        UserAttr::Region => "[state]",
        UserAttr::PostalCode => "[postalCode]",
        UserAttr::Country => "[country]",
        UserAttr::Manager => "[manager]",
        UserAttr::NickName | UserAttr::ExternalId => return None,
    })
}

/// A compiled mapping: an expression per target attribute, and the guest and fallback rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    rules: Vec<(UserAttr, Option<Expr>)>,
    pub guest_user_name: GuestUserName,
    pub given_name_fallback: NameFallback,
    pub family_name_fallback: NameFallback,
}

static DEFAULT: LazyLock<Mapping> =
    LazyLock::new(|| Mapping::compile(&MappingConfig::default()).expect("the default mapping compiles"));

impl Default for Mapping {
    fn default() -> Self {
        DEFAULT.clone()
    }
}

impl Mapping {
    /// Compiles a `[mapping]` section over the defaults. Errors name the key, and for expressions the
    /// line and column.
    pub fn compile(config: &MappingConfig) -> Result<Mapping, MappingError> {
        let error =
            |key: &str, pos: Option<Pos>, message: String| MappingError { key: key.into(), pos, message };
        for key in config.attributes.keys() {
            if !UserAttr::VALUES.iter().any(|a| config_key(*a) == key) {
                let known: Vec<&str> = UserAttr::VALUES.iter().map(|a| config_key(*a)).collect();
                return Err(error(
                    key,
                    None,
                    format!(
                        "unknown target attribute; expected one of {}, guest_user_name, given_name_fallback, family_name_fallback",
                        known.join(", ")
                    ),
                ));
            }
        }
        let mut rules = Vec::new();
        for attr in UserAttr::VALUES {
            let key = config_key(attr);
            let expr = match config.attributes.get(key) {
                None => default_source(attr).map(|d| Expr::parse(d).expect("default expressions parse")),
                Some(spec) => compile_spec(spec).map_err(|(pos, message)| error(key, pos, message))?,
            };
            if let Some(expr) = &expr {
                for (name, pos) in expr.attributes() {
                    if !is_source_attribute(name) {
                        return Err(error(
                            key,
                            Some(pos),
                            format!(
                                "unknown source attribute `{name}`; expected one of {}, {}",
                                FIELD_ATTRIBUTES.join(", "),
                                EXTRA_PROPERTIES.join(", ")
                            ),
                        ));
                    }
                }
            } else if matches!(
                attr,
                UserAttr::UserName
                    | UserAttr::DisplayName
                    | UserAttr::GivenName
                    | UserAttr::FamilyName
                    | UserAttr::Active
            ) {
                return Err(error(
                    key,
                    None,
                    "AWS requires this attribute; it cannot be left unmapped".into(),
                ));
            }
            rules.push((attr, expr));
        }
        let fallback = |f: &Option<NameFallback>| match f {
            None | Some(NameFallback::Rule(FallbackRule::None)) => NameFallback::None,
            Some(other) => other.clone(),
        };
        Ok(Mapping {
            rules,
            guest_user_name: config.guest_user_name.unwrap_or_default(),
            given_name_fallback: fallback(&config.given_name_fallback),
            family_name_fallback: fallback(&config.family_name_fallback),
        })
    }

    /// Whether some target attribute reads the source attribute `name` (without regard to case).
    pub fn reads(&self, name: &str) -> bool {
        self.rules
            .iter()
            .filter_map(|(_, e)| e.as_ref())
            .any(|e| e.attributes().iter().any(|(n, _)| n.eq_ignore_ascii_case(name)))
    }

    fn expr(&self, attr: UserAttr) -> Option<&Expr> {
        self.rules.iter().find(|(a, _)| *a == attr).and_then(|(_, e)| e.as_ref())
    }

    /// Maps a source user. `Err` lists every reason AWS would refuse it.
    pub fn map_user(&self, user: &SourceUser) -> Result<DesiredUser, Rejection> {
        let lookup = |name: &str| source_value(user, name);
        let value = |attr: UserAttr| -> Option<String> {
            // A list (several phones, several mails) gives its first value: AWS holds one, primary.
            self.expr(attr).and_then(|e| e.eval(&lookup).single().map(clean)).filter(|v| !v.is_empty())
        };
        let mut reasons = Vec::new();
        let email = value(UserAttr::Email);
        let mut user_name = value(UserAttr::UserName).unwrap_or_default();
        if let Some(guest) = decode_guest(&user_name) {
            user_name = match self.guest_user_name {
                GuestUserName::Mail => email.clone().unwrap_or(guest),
                GuestUserName::Decoded => guest,
                GuestUserName::Upn => user_name,
            };
        }
        if let Some(reason) = user_name_problem(&user_name, self.expr(UserAttr::UserName)) {
            reasons.push(reason);
        }
        let display_name = value(UserAttr::DisplayName);
        let mut required = |attr: UserAttr, value: Option<String>, fallback: &NameFallback| -> String {
            let fallen_back = || match fallback {
                NameFallback::None => None,
                NameFallback::Constant { constant } => Some(clean(constant)),
                NameFallback::Rule(rule) => {
                    let words: Vec<&str> = display_name.as_deref().unwrap_or("").split(' ').collect();
                    match rule {
                        FallbackRule::None => None,
                        FallbackRule::FirstWord => words.first().map(|w| w.to_string()),
                        FallbackRule::LastWord => words.last().map(|w| w.to_string()),
                        FallbackRule::DisplayName => display_name.clone(),
                    }
                }
            };
            match value.or_else(|| fallen_back().filter(|v| !v.is_empty())) {
                Some(v) => v,
                None => {
                    let source = describe(self.expr(attr));
                    let hint = match attr {
                        UserAttr::GivenName => "; set mapping.given_name_fallback to derive one",
                        UserAttr::FamilyName => "; set mapping.family_name_fallback to derive one",
                        _ => "",
                    };
                    reasons.push(format!("{} is empty ({source}); AWS requires it{hint}", attr.label()));
                    String::new()
                }
            }
        };
        let display_name_value = required(UserAttr::DisplayName, display_name.clone(), &NameFallback::None);
        let given_name = required(UserAttr::GivenName, value(UserAttr::GivenName), &self.given_name_fallback);
        let family_name =
            required(UserAttr::FamilyName, value(UserAttr::FamilyName), &self.family_name_fallback);
        let active = self
            .expr(UserAttr::Active)
            .is_some_and(|e| e.eval(&lookup).single().is_some_and(|v| v.trim().eq_ignore_ascii_case("true")));

        let values = UserValues {
            user_name,
            display_name: display_name_value,
            given_name,
            family_name,
            email,
            active,
            title: value(UserAttr::Title),
            employee_number: value(UserAttr::EmployeeNumber),
            cost_center: value(UserAttr::CostCenter),
            organization: value(UserAttr::Organization),
            division: value(UserAttr::Division),
            department: value(UserAttr::Department),
            nick_name: value(UserAttr::NickName),
            phone: value(UserAttr::Phone),
            street_address: value(UserAttr::StreetAddress),
            locality: value(UserAttr::Locality),
            region: value(UserAttr::Region),
            postal_code: value(UserAttr::PostalCode),
            country: value(UserAttr::Country),
            manager: value(UserAttr::Manager),
        };
        for attr in UserAttr::VALUES {
            if let Some(crate::attr::AttrValue::Text(v)) = attr.get(&values)
                && attr != UserAttr::UserName
                && v.chars().count() > MAX_STRING
            {
                reasons.push(format!("{} is longer than {MAX_STRING} characters", attr.label()));
            }
        }
        if reasons.is_empty() {
            Ok(DesiredUser { external_id: user.id.clone(), values })
        } else {
            Err(Rejection { external_id: user.id.clone(), name: user.user_principal_name.clone(), reasons })
        }
    }
}

fn compile_spec(spec: &SourceSpec) -> Result<Option<Expr>, (Option<Pos>, String)> {
    let parse = |text: &str| {
        if text.trim().is_empty() {
            // An empty expression: the attribute is not sent (and cleared in AWS).
            return Ok(None);
        }
        Expr::parse(text).map(Some).map_err(|e| (Some(e.pos), e.message))
    };
    match spec {
        SourceSpec::Expression(text) => parse(text),
        SourceSpec::Table(table) => match (&table.attribute, &table.constant, &table.expression) {
            (Some(name), None, None) => {
                Ok(Some(Expr::Attr { name: name.trim().to_string(), pos: Pos { line: 1, column: 1 } }))
            }
            (None, Some(constant), None) => Ok(Some(Expr::Text(constant.clone()))),
            (None, None, Some(text)) => parse(text),
            _ => Err((None, "expected exactly one of attribute, constant, expression".into())),
        },
    }
}

/// How a person would describe where an empty value came from.
fn describe(expr: Option<&Expr>) -> String {
    match expr {
        Some(Expr::Attr { name, .. }) => format!("Entra {name} is not set"),
        Some(_) => "its mapping expression gives no value".into(),
        None => "it is not mapped".into(),
    }
}

/// The address a guest's UPN encodes (`alice_example.com#EXT#@tenant…` → `alice@example.com`); `None`
/// for a UPN that is not a guest's.
pub fn decode_guest(upn: &str) -> Option<String> {
    let at = upn.find("#EXT#")?;
    let local = &upn[..at];
    let underscore = local.rfind('_')?;
    let (user, domain) = (&local[..underscore], &local[underscore + 1..]);
    (!user.is_empty() && !domain.is_empty()).then(|| format!("{user}@{domain}"))
}

/// An object that will not be sent to AWS, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejection {
    /// The Entra object id.
    pub external_id: String,
    /// What a person knows the object by (userPrincipalName or group name).
    pub name: String,
    pub reasons: Vec<String>,
}

/// Maps a source user with the default mapping. `Err` lists every reason AWS would refuse it.
pub fn map_user(user: &SourceUser) -> Result<DesiredUser, Rejection> {
    DEFAULT.map_user(user)
}

/// A manager this run sets once both users exist in AWS: the manager is created by this run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManagerLink {
    pub user: Target,
    pub user_name: String,
    pub manager: Target,
    pub manager_name: String,
}

/// Entra object id → AWS id of the users AWS holds, by externalId, then by the state's id map.
fn aws_ids<'a>(current: &'a Current, managed: &'a Managed) -> HashMap<&'a str, &'a str> {
    let mut ids: HashMap<&str, &str> = HashMap::new();
    for user in &current.users {
        if let Some(ext) = managed.users.get(&user.id) {
            ids.insert(ext.as_str(), user.id.as_str());
        }
    }
    for user in &current.users {
        if let Some(ext) = user.external_id.as_deref() {
            ids.insert(ext, user.id.as_str());
        }
    }
    ids
}

/// Turns each wanted manager (an Entra object id, from the mapping) into the manager's AWS id. A
/// manager out of scope is no manager. A manager this run creates is not known yet: the user keeps the
/// manager AWS holds for now, and the pair is returned for [`link_managers`].
pub fn resolve_managers(
    desired: &Desired,
    current: &Current,
    managed: &Managed,
) -> (Desired, Vec<(String, String)>) {
    let in_scope: HashSet<&str> = desired.users.iter().map(|u| u.external_id.as_str()).collect();
    let ids = aws_ids(current, managed);
    let holds: HashMap<&str, &TargetUser> = current.users.iter().map(|u| (u.id.as_str(), u)).collect();
    let mut pending = Vec::new();
    let mut out = desired.clone();
    for user in &mut out.users {
        let Some(manager) = user.values.manager.take() else { continue };
        if manager == user.external_id || !in_scope.contains(manager.as_str()) {
            continue;
        }
        match ids.get(manager.as_str()) {
            Some(id) => user.values.manager = Some((*id).to_string()),
            None => {
                user.values.manager = ids
                    .get(user.external_id.as_str())
                    .and_then(|id| holds.get(id))
                    .and_then(|have| have.values.manager.clone());
                pending.push((user.external_id.clone(), manager));
            }
        }
    }
    (out, pending)
}

/// The manager links of `pending` that this plan can make: the manager is created (or adopted) by it.
pub fn link_managers(plan: &mut Plan, pending: &[(String, String)], current: &Current, managed: &Managed) {
    let ids = aws_ids(current, managed);
    let target = |ext: &str| -> Option<(Target, String)> {
        if let Some(u) = plan.user_creates.iter().find(|u| u.external_id == ext) {
            return Some((Target::New(ext.into()), u.values.user_name.clone()));
        }
        if let Some(a) = plan.adoptions.iter().find(|a| a.kind == ObjectKind::User && a.external_id == ext) {
            return Some((Target::Existing(a.id.clone()), a.name.clone()));
        }
        let id = ids.get(ext)?;
        let name = current.users.iter().find(|u| u.id == *id).map(|u| u.values.user_name.clone())?;
        Some((Target::Existing((*id).to_string()), name))
    };
    let links: Vec<ManagerLink> = pending
        .iter()
        .filter_map(|(user, manager)| {
            let (user, user_name) = target(user)?;
            let (manager, manager_name) = target(manager)?;
            Some(ManagerLink { user, user_name, manager, manager_name })
        })
        .collect();
    plan.manager_links.extend(links);
}

/// Maps a group's display name; `Err` says why AWS would refuse it.
pub fn map_group_name(id: &str, display_name: &str) -> Result<String, Rejection> {
    let name = clean(display_name);
    let reason = if name.is_empty() {
        "displayName is empty"
    } else if name.chars().count() > MAX_STRING {
        "displayName is longer than 1024 characters"
    } else {
        return Ok(name);
    };
    Err(Rejection {
        external_id: id.to_string(),
        name: display_name.to_string(),
        reasons: vec![reason.into()],
    })
}

fn user_name_problem(user_name: &str, source: Option<&Expr>) -> Option<String> {
    if user_name.is_empty() {
        return Some(format!("userName is empty ({})", describe(source)));
    }
    if user_name.chars().count() > MAX_USER_NAME {
        return Some(format!("userName {user_name:?} is longer than {MAX_USER_NAME} characters"));
    }
    if user_name.chars().any(char::is_whitespace) {
        return Some(format!("userName {user_name:?} contains white space, which AWS refuses"));
    }
    if let Some(c) = user_name.chars().find(|c| USER_NAME_FORBIDDEN.contains(c)) {
        return Some(format!("userName {user_name:?} contains {c:?}; AWS refuses any of < > ; : %"));
    }
    if RESERVED_USER_NAMES.iter().any(|r| r.eq_ignore_ascii_case(user_name)) {
        return Some(format!("userName {user_name:?} is reserved by AWS"));
    }
    None
}

/// Turns control characters (AWS refuses tab, CR and LF) into spaces, folds runs of white space and
/// trims: an unambiguous repair.
fn clean(value: &str) -> String {
    let spaced: String = value.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    spaced.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn complete() -> SourceUser {
        SourceUser {
            id: "00000000-0000-0000-0000-000000000001".into(),
            user_principal_name: "ada@contoso.example".into(),
            display_name: Some("Ada Lovelace".into()),
            given_name: Some("Ada".into()),
            surname: Some("Lovelace".into()),
            mail: Some("ada@contoso.example".into()),
            account_enabled: true,
            job_title: Some("Engineer".into()),
            department: Some("R&D".into()),
            company_name: Some("Contoso".into()),
            employee_id: Some("1001".into()),
            cost_center: Some("CC-7".into()),
            division: Some("Labs".into()),
            user_type: Some("Member".into()),
            ..Default::default()
        }
    }

    #[test]
    fn the_default_mapping_follows_entra() {
        let desired = map_user(&complete()).expect("complete user maps");
        assert_eq!(desired.external_id, "00000000-0000-0000-0000-000000000001");
        let v = desired.values;
        assert_eq!(
            (v.user_name.as_str(), v.display_name.as_str(), v.given_name.as_str(), v.family_name.as_str()),
            ("ada@contoso.example", "Ada Lovelace", "Ada", "Lovelace")
        );
        assert_eq!(v.email.as_deref(), Some("ada@contoso.example"));
        assert!(v.active);
        assert_eq!(v.title.as_deref(), Some("Engineer"));
        assert_eq!(v.employee_number.as_deref(), Some("1001"));
        assert_eq!(v.organization.as_deref(), Some("Contoso"));
        assert_eq!(v.cost_center.as_deref(), Some("CC-7"));
        assert_eq!(v.division.as_deref(), Some("Labs"));
        assert_eq!(v.department.as_deref(), Some("R&D"));
    }

    #[test]
    fn rejections_name_every_reason() {
        type Edit = fn(&mut SourceUser);
        let cases: &[(&str, Edit, &[&str])] = &[
            ("no surname", |u| u.surname = None, &["name.familyName is empty"]),
            ("blank given name", |u| u.given_name = Some("  ".into()), &["name.givenName is empty"]),
            ("no display name", |u| u.display_name = None, &["displayName is empty"]),
            ("space in userName", |u| u.user_principal_name = "ada l@x.example".into(), &["white space"]),
            ("colon in userName", |u| u.user_principal_name = "ada:l@x.example".into(), &["contains ':'"]),
            ("reserved userName", |u| u.user_principal_name = "administrator".into(), &["reserved"]),
            ("too long userName", |u| u.user_principal_name = "a".repeat(129), &["longer than 128"]),
            (
                "two problems",
                |u| {
                    u.surname = None;
                    u.given_name = None
                },
                &["name.givenName", "name.familyName"],
            ),
        ];
        for (name, edit, wanted) in cases {
            let mut user = complete();
            edit(&mut user);
            let rejection = map_user(&user).expect_err(name);
            assert_eq!(rejection.reasons.len(), wanted.len(), "{name}: {:?}", rejection.reasons);
            for (reason, want) in rejection.reasons.iter().zip(wanted.iter()) {
                assert!(reason.contains(want), "{name}: {reason:?} should mention {want:?}");
            }
        }
    }

    #[test]
    fn unambiguous_repairs_are_made() {
        let mut user = complete();
        user.display_name = Some("  Ada\tLovelace\n".into());
        user.mail = Some("   ".into());
        let v = map_user(&user).expect("repairable").values;
        assert_eq!(v.display_name, "Ada Lovelace");
        assert_eq!(v.email, None, "a blank mail is no email");
    }

    #[test]
    fn disabled_in_entra_is_inactive() {
        let mut user = complete();
        user.account_enabled = false;
        assert!(!map_user(&user).expect("maps").values.active);
    }

    fn config(toml_like: &[(&str, &str)]) -> MappingConfig {
        MappingConfig {
            attributes: toml_like
                .iter()
                .map(|(k, v)| (k.to_string(), SourceSpec::Expression(v.to_string())))
                .collect(),
            ..Default::default()
        }
    }

    fn with_extra(mut user: SourceUser, extra: &[(&str, &[&str])]) -> SourceUser {
        for (k, v) in extra {
            user.extra.insert(k.to_string(), v.iter().map(|s| s.to_string()).collect());
        }
        user
    }

    #[test]
    fn the_default_mapping_adds_phone_address_and_manager_as_entra_does() {
        let mut user = with_extra(
            complete(),
            &[
                ("businessPhones", &["  +1 555 0100 ", "+1 555 0101"]),
                ("mobilePhone", &["+1 555 0199"]),
                ("streetAddress", &["1 Main St"]),
                ("city", &["Springfield"]),
                ("state", &["IL"]),
                ("postalCode", &["62701"]),
                ("country", &["US"]),
                ("mailNickname", &["ada"]),
            ],
        );
        user.manager_id = Some("manager-object-id".into());
        let v = map_user(&user).expect("maps").values;
        assert_eq!(v.phone.as_deref(), Some("+1 555 0100"), "one phone, the first work one, trimmed");
        assert_eq!(
            (v.street_address.as_deref(), v.locality.as_deref(), v.region.as_deref()),
            (Some("1 Main St"), Some("Springfield"), Some("IL"))
        );
        assert_eq!((v.postal_code.as_deref(), v.country.as_deref()), (Some("62701"), Some("US")));
        assert_eq!(v.manager.as_deref(), Some("manager-object-id"), "the Entra id; the planner resolves it");
        assert_eq!(v.nick_name, None, "nickName is not mapped by default");

        user.extra.remove("businessPhones");
        assert_eq!(
            map_user(&user).unwrap().values.phone.as_deref(),
            Some("+1 555 0199"),
            "mobile when no work phone"
        );
    }

    #[test]
    fn configured_mappings() {
        // (config entries, edit of the user, attribute, expected value)
        type Edit = fn(&mut SourceUser);
        let none: Edit = |_| {};
        type Case<'a> = (&'a [(&'a str, &'a str)], Edit, UserAttr, Option<&'a str>);
        let cases: &[Case] = &[
            (
                &[("displayName", r#"Join(" ", [givenName], [surname])"#)],
                none,
                UserAttr::DisplayName,
                Some("Ada Lovelace"),
            ),
            (&[("title", "department")], none, UserAttr::Title, Some("R&D")),
            (&[("title", r#""Staff""#)], none, UserAttr::Title, Some("Staff")),
            (&[("title", "")], none, UserAttr::Title, None),
            (
                &[("nickName", "[mailNickname]")],
                |u| {
                    u.extra.insert("mailNickname".into(), vec!["ada".into()]);
                },
                UserAttr::NickName,
                Some("ada"),
            ),
            (
                &[("userName", "ToLower([mail])")],
                |u| u.mail = Some("Ada@Contoso.Example".into()),
                UserAttr::UserName,
                Some("ada@contoso.example"),
            ),
            (
                &[("email", "Coalesce([mail], [otherMails])")],
                |u| {
                    u.mail = None;
                    u.extra.insert("otherMails".into(), vec!["a@x.example".into(), "b@x.example".into()]);
                },
                UserAttr::Email,
                Some("a@x.example"),
            ),
            (
                &[("organization", r#"Switch([companyName], "Other", "Contoso", "Contoso Ltd")"#)],
                none,
                UserAttr::Organization,
                Some("Contoso Ltd"),
            ),
            (
                &[("department", r#"IIF([department]="R&D", "Research", [department])"#)],
                none,
                UserAttr::Department,
                Some("Research"),
            ),
            (
                &[("givenName", "NormalizeDiacritics([givenName])")],
                |u| u.given_name = Some("Zoë".into()),
                UserAttr::GivenName,
                Some("Zoe"),
            ),
            (
                &[("active", r#"Switch([IsSoftDeleted], , "False", "True", "True", "False")"#)],
                none,
                UserAttr::Active,
                None,
            ),
            (&[("costCenter", "[employeeOrgData.costCenter]")], none, UserAttr::CostCenter, Some("CC-7")),
            (
                &[("phone", "[mobile]")],
                |u| {
                    u.extra.insert("mobilePhone".into(), vec!["+47 1".into()]);
                },
                UserAttr::Phone,
                Some("+47 1"),
            ),
            (&[("division", "Trim(\"\t Labs \n\")")], none, UserAttr::Division, Some("Labs")),
        ];
        for (entries, edit, attr, want) in cases {
            let mapping = Mapping::compile(&config(entries)).unwrap_or_else(|e| panic!("{entries:?}: {e}"));
            let mut user = complete();
            edit(&mut user);
            let values = mapping.map_user(&user).unwrap_or_else(|r| panic!("{entries:?}: {r:?}")).values;
            let got = attr.get(&values).map(|v| match v {
                crate::attr::AttrValue::Text(s) => s,
                crate::attr::AttrValue::Bool(b) => b.to_string(),
            });
            let want = match (attr, want) {
                (UserAttr::Active, None) => Some("true".to_string()),
                (_, w) => w.map(str::to_string),
            };
            assert_eq!(got, want, "{entries:?}");
        }
    }

    #[test]
    fn configuration_errors_name_the_key_and_position() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (
                &[("displayName", "Join(\" \",\n [givenName] [surname])")],
                "mapping.displayName: line 2, column 14: expected `,` or `)`",
            ),
            (
                &[("title", "[jobTitel]")],
                "mapping.title: line 1, column 1: unknown source attribute `jobTitel`",
            ),
            (&[("title", "Trim([x], [y])")], "mapping.title: line 1, column 1: Trim expects 1 arguments"),
            (&[("titel", "[jobTitle]")], "mapping.titel: unknown target attribute"),
            (&[("userName", "")], "mapping.userName: AWS requires this attribute"),
            (
                &[("familyName", "Frob([surname])")],
                "mapping.familyName: line 1, column 1: unknown function `Frob`",
            ),
        ];
        for (entries, want) in cases {
            let err = Mapping::compile(&config(entries)).expect_err(want).to_string();
            assert!(err.starts_with(want), "{entries:?}:\n  got  {err}\n  want {want}");
        }
        let both = MappingConfig {
            attributes: [(
                "title".to_string(),
                SourceSpec::Table(SourceTable {
                    attribute: Some("a".into()),
                    constant: Some("b".into()),
                    expression: None,
                }),
            )]
            .into(),
            ..Default::default()
        };
        assert!(Mapping::compile(&both).unwrap_err().to_string().contains("exactly one of"));
        let constant = MappingConfig {
            attributes: [(
                "title".to_string(),
                SourceSpec::Table(SourceTable {
                    constant: Some("[not an attribute]".into()),
                    ..Default::default()
                }),
            )]
            .into(),
            ..Default::default()
        };
        let v = Mapping::compile(&constant).unwrap().map_user(&complete()).unwrap().values;
        assert_eq!(v.title.as_deref(), Some("[not an attribute]"), "a constant is taken as it is");
    }

    #[test]
    fn guests_get_a_usable_user_name() {
        let guest_upn = "alice_example.com#EXT#@contoso.onmicrosoft.com";
        // (rule, mail, expected userName)
        let cases: &[(GuestUserName, Option<&str>, &str)] = &[
            (GuestUserName::Mail, Some("alice.smith@example.com"), "alice.smith@example.com"),
            (GuestUserName::Mail, None, "alice@example.com"),
            (GuestUserName::Decoded, Some("alice.smith@example.com"), "alice@example.com"),
            (GuestUserName::Upn, Some("alice.smith@example.com"), guest_upn),
        ];
        for (rule, mail, want) in cases {
            let mapping =
                Mapping::compile(&MappingConfig { guest_user_name: Some(*rule), ..Default::default() })
                    .unwrap();
            let mut user = complete();
            user.user_principal_name = guest_upn.into();
            user.user_type = Some("Guest".into());
            user.mail = mail.map(str::to_string);
            let v = mapping.map_user(&user).expect("a guest maps").values;
            assert_eq!(v.user_name, *want, "{rule:?}");
        }
        assert_eq!(
            decode_guest("bob_sub.example.co.uk#EXT#@t.onmicrosoft.com").as_deref(),
            Some("bob@sub.example.co.uk")
        );
        assert_eq!(
            decode_guest("first_last_example.com#EXT#@t.onmicrosoft.com").as_deref(),
            Some("first_last@example.com")
        );
        assert_eq!(decode_guest("ada@contoso.example"), None);
        assert_eq!(decode_guest("#EXT#@t.onmicrosoft.com"), None);
    }

    #[test]
    fn missing_names_take_the_configured_fallback() {
        use FallbackRule::{DisplayName, FirstWord, LastWord};
        // (given fallback, family fallback, displayName, given, family, expected given/family or reasons)
        type Want = Result<(&'static str, &'static str), &'static [&'static str]>;
        let c = |s: &str| NameFallback::Constant { constant: s.into() };
        type Case = (
            NameFallback,
            NameFallback,
            Option<&'static str>,
            Option<&'static str>,
            Option<&'static str>,
            Want,
        );
        let cases: Vec<Case> = vec![
            (
                NameFallback::None,
                NameFallback::None,
                Some("Cher"),
                None,
                None,
                Err(&["name.givenName is empty", "name.familyName is empty"]),
            ),
            (
                NameFallback::Rule(FirstWord),
                NameFallback::Rule(LastWord),
                Some("Jean Paul Sartre"),
                None,
                None,
                Ok(("Jean", "Sartre")),
            ),
            (
                NameFallback::Rule(FirstWord),
                NameFallback::Rule(LastWord),
                Some("Cher"),
                None,
                None,
                Ok(("Cher", "Cher")),
            ),
            (
                NameFallback::Rule(FirstWord),
                NameFallback::Rule(LastWord),
                Some("Jean Sartre"),
                Some("J-P"),
                None,
                Ok(("J-P", "Sartre")),
            ),
            (
                NameFallback::Rule(DisplayName),
                c("-"),
                Some("Build Agent"),
                None,
                None,
                Ok(("Build Agent", "-")),
            ),
            (c("Unknown"), c("  "), Some("X"), None, None, Err(&["name.familyName is empty"])),
            (
                NameFallback::Rule(FirstWord),
                NameFallback::Rule(LastWord),
                None,
                None,
                None,
                Err(&["displayName is empty", "name.givenName is empty", "name.familyName is empty"]),
            ),
        ];
        for (given_fb, family_fb, display, given, family, want) in cases {
            let mapping = Mapping::compile(&MappingConfig {
                given_name_fallback: Some(given_fb.clone()),
                family_name_fallback: Some(family_fb.clone()),
                ..Default::default()
            })
            .unwrap();
            let mut user = complete();
            user.display_name = display.map(str::to_string);
            user.given_name = given.map(str::to_string);
            user.surname = family.map(str::to_string);
            let label = format!("{given_fb:?}/{family_fb:?}/{display:?}");
            match (mapping.map_user(&user), want) {
                (Ok(d), Ok((g, f))) => assert_eq!(
                    (d.values.given_name.as_str(), d.values.family_name.as_str()),
                    (g, f),
                    "{label}"
                ),
                (Err(r), Err(reasons)) => {
                    assert_eq!(r.reasons.len(), reasons.len(), "{label}: {:?}", r.reasons);
                    for (got, want) in r.reasons.iter().zip(reasons.iter()) {
                        assert!(got.contains(want), "{label}: {got}");
                    }
                }
                (got, want) => panic!("{label}: got {got:?}, want {want:?}"),
            }
        }
        let hint = map_user(&SourceUser { given_name: None, ..complete() }).unwrap_err().reasons.join(" ");
        assert!(hint.contains("given_name_fallback"), "{hint}");
    }

    #[test]
    fn values_aws_would_refuse_are_repaired_or_reported() {
        type Edit = fn(&mut SourceUser);
        // (edit, attribute, repaired value) — each repair is unambiguous.
        let repairs: &[(Edit, UserAttr, Option<&str>)] = &[
            (|u| u.job_title = Some("Lead\tEngineer\r\n".into()), UserAttr::Title, Some("Lead Engineer")),
            (|u| u.department = Some("\u{7}R&D\u{0}".into()), UserAttr::Department, Some("R&D")),
            (|u| u.mail = Some(" \n ".into()), UserAttr::Email, None),
            (
                |u| {
                    u.extra.insert("businessPhones".into(), vec!["".into(), "+1 2".into(), "+1 3".into()]);
                },
                UserAttr::Phone,
                Some("+1 2"),
            ),
            (
                |u| u.user_principal_name = "  ada@contoso.example\n".into(),
                UserAttr::UserName,
                Some("ada@contoso.example"),
            ),
        ];
        for (edit, attr, want) in repairs {
            let mut user = complete();
            edit(&mut user);
            let values = map_user(&user).expect("repairable").values;
            let got = attr.get(&values).map(|v| v.to_string().trim_matches('"').to_string());
            assert_eq!(got.as_deref(), *want, "{attr:?}");
        }
        let mut user = complete();
        user.job_title = Some("x".repeat(1025));
        let reasons = map_user(&user).unwrap_err().reasons;
        assert_eq!(reasons, vec!["title is longer than 1024 characters".to_string()]);
    }

    #[test]
    fn clearing_in_entra_clears_in_aws() {
        let mut user = complete();
        let before = map_user(&user).unwrap().values;
        user.job_title = None;
        user.department = None;
        let after = map_user(&user).unwrap().values;
        let changes = crate::attr::diff_user(&before, &after);
        let cleared: Vec<UserAttr> = changes.iter().filter(|c| c.new.is_none()).map(|c| c.attr).collect();
        assert_eq!(cleared, vec![UserAttr::Title, UserAttr::Department]);
    }

    mod managers {
        use super::*;
        use crate::model::{Assignment, Directory, PrincipalType, TargetUser};
        use crate::plan::{PlanOptions, desired, plan};
        use crate::scope::ScopeOptions;

        fn person(id: &str, manager: Option<&str>) -> SourceUser {
            SourceUser {
                id: id.into(),
                user_principal_name: format!("{id}@contoso.example"),
                display_name: Some(format!("{id} Person")),
                given_name: Some(id.into()),
                surname: Some("Person".into()),
                account_enabled: true,
                manager_id: manager.map(str::to_string),
                ..Default::default()
            }
        }

        fn directory(users: Vec<SourceUser>, assigned: &[&str]) -> Directory {
            Directory {
                users,
                assignments: assigned
                    .iter()
                    .map(|id| Assignment {
                        principal_id: id.to_string(),
                        principal_type: PrincipalType::User,
                    })
                    .collect(),
                ..Default::default()
            }
        }

        fn in_aws(aws_id: &str, ext: &str, manager: Option<&str>) -> TargetUser {
            let mut values = map_user(&person(ext, None)).unwrap().values;
            values.manager = manager.map(str::to_string);
            TargetUser { id: aws_id.into(), external_id: Some(ext.into()), values }
        }

        #[test]
        fn manager_cases() {
            // (case, AWS users as (aws id, ext, manager aws id), expected user update of "emp"'s manager
            // as (old, new), expected links as (user, manager))
            type Case<'a> = (
                &'a str,
                Vec<(&'a str, &'a str, Option<&'a str>)>,
                &'a [&'a str],
                Option<(Option<&'a str>, Option<&'a str>)>,
                Vec<(Target, Target)>,
            );
            let cases: Vec<Case> = vec![
                (
                    "both new: link after creation",
                    vec![],
                    &["emp", "boss"],
                    None,
                    vec![(Target::New("emp".into()), Target::New("boss".into()))],
                ),
                (
                    "manager exists: its AWS id, on create",
                    vec![("aws-boss", "boss", None)],
                    &["emp", "boss"],
                    None,
                    vec![],
                ),
                (
                    "both exist, in step: nothing",
                    vec![("aws-boss", "boss", None), ("aws-emp", "emp", Some("aws-boss"))],
                    &["emp", "boss"],
                    None,
                    vec![],
                ),
                (
                    "both exist, manager unset: update",
                    vec![("aws-boss", "boss", None), ("aws-emp", "emp", None)],
                    &["emp", "boss"],
                    Some((None, Some("aws-boss"))),
                    vec![],
                ),
                (
                    "manager out of scope: cleared",
                    vec![("aws-boss", "boss", None), ("aws-emp", "emp", Some("aws-boss"))],
                    &["emp"],
                    Some((Some("aws-boss"), None)),
                    vec![],
                ),
                (
                    "user exists, manager new: link",
                    vec![("aws-emp", "emp", None)],
                    &["emp", "boss"],
                    None,
                    vec![(Target::Existing("aws-emp".into()), Target::New("boss".into()))],
                ),
            ];
            for (name, aws, assigned, want_update, want_links) in cases {
                let dir = directory(vec![person("emp", Some("boss")), person("boss", None)], assigned);
                let desired = desired(&dir, &ScopeOptions::default());
                let current = Current {
                    users: aws.iter().map(|(id, ext, m)| in_aws(id, ext, *m)).collect(),
                    groups: vec![],
                };
                let managed = Managed {
                    users: aws.iter().map(|(id, ext, _)| (id.to_string(), ext.to_string())).collect(),
                    ..Default::default()
                };
                let p = plan(&desired, &current, &managed, &PlanOptions::default());
                let update = p.user_updates.iter().find(|u| u.external_id == "emp").and_then(|u| {
                    u.changes.iter().find(|c| c.attr == UserAttr::Manager).map(|c| {
                        let text = |v: &Option<crate::attr::AttrValue>| {
                            v.as_ref().map(|v| v.to_string().trim_matches('"').to_string())
                        };
                        (text(&c.old), text(&c.new))
                    })
                });
                let want_update = want_update.map(|(o, n)| (o.map(str::to_string), n.map(str::to_string)));
                assert_eq!(update, want_update, "{name}");
                let links: Vec<(Target, Target)> =
                    p.manager_links.iter().map(|l| (l.user.clone(), l.manager.clone())).collect();
                assert_eq!(links, want_links, "{name}");
                if let Some(created) = p.user_creates.iter().find(|u| u.external_id == "emp") {
                    let expected =
                        aws.iter().find(|(_, ext, _)| *ext == "boss").map(|(id, _, _)| id.to_string());
                    assert_eq!(
                        created.values.manager, expected,
                        "{name}: the create carries a known manager"
                    );
                }
                assert!(
                    p.user_creates.iter().all(|u| u.values.manager.as_deref() != Some("boss")),
                    "{name}: never an Entra id"
                );
            }
        }
    }

    #[test]
    fn group_names() {
        assert_eq!(map_group_name("g", " Admins ").as_deref(), Ok("Admins"));
        assert!(map_group_name("g", "  ").is_err());
    }
}
