//! SCIM JSON as AWS IAM Identity Center speaks it, and the conversions to and from the core types.
//! Decoders are lenient: unknown fields are ignored, booleans may be strings ("True"), optional
//! objects may be missing or null.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value, json};

use scimsync_core::{AttrChange, AttrValue, DesiredUser, TargetGroup, TargetUser, UserAttr, UserValues};

use crate::error::ScimError;

pub(crate) const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub(crate) const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub(crate) const ENTERPRISE_SCHEMA: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub(crate) const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// AWS refuses PATCH /Groups with more member changes than this.
pub(crate) const MAX_MEMBER_CHANGES_PER_PATCH: usize = 100;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct User {
    pub id: String,
    #[serde(default)]
    pub external_id: Option<String>,
    #[serde(default)]
    pub user_name: String,
    #[serde(default)]
    pub name: Option<Name>,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    // A user without `active` is taken as active: AWS makes users active unless told otherwise.
    #[serde(default, deserialize_with = "lenient_bool")]
    pub active: Option<bool>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub emails: Vec<Email>,
    #[serde(default)]
    pub nick_name: Option<String>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub phone_numbers: Vec<Email>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub addresses: Vec<Address>,
    #[serde(default, rename = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User")]
    pub enterprise: Option<Enterprise>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Name {
    #[serde(default)]
    pub given_name: Option<String>,
    #[serde(default)]
    pub family_name: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct Email {
    #[serde(default)]
    pub value: Option<String>,
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub primary: Option<bool>,
}

/// A work address (AWS holds at most one).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Address {
    #[serde(default)]
    pub street_address: Option<String>,
    #[serde(default)]
    pub locality: Option<String>,
    #[serde(default)]
    pub region: Option<String>,
    #[serde(default)]
    pub postal_code: Option<String>,
    #[serde(default)]
    pub country: Option<String>,
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub primary: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct Manager {
    #[serde(default)]
    pub value: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Enterprise {
    #[serde(default)]
    pub employee_number: Option<String>,
    #[serde(default)]
    pub cost_center: Option<String>,
    #[serde(default)]
    pub organization: Option<String>,
    #[serde(default)]
    pub division: Option<String>,
    #[serde(default)]
    pub department: Option<String>,
    #[serde(default)]
    pub manager: Option<Manager>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Group {
    pub id: String,
    #[serde(default)]
    pub external_id: Option<String>,
    #[serde(default)]
    pub display_name: String,
    /// Only a generic RFC 7644 server fills it (AWS never shows members).
    #[serde(default, deserialize_with = "null_as_empty")]
    pub members: Vec<MemberRef>,
}

/// One entry of a group's `members`.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct MemberRef {
    pub value: String,
}

/// Both list shapes: the cursor page (`nextCursor`, no totalResults) and the classic one.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", bound(deserialize = "T: Deserialize<'de>"))]
pub(crate) struct ListResponse<T> {
    #[serde(default = "Vec::new", rename = "Resources", deserialize_with = "null_as_empty")]
    pub resources: Vec<T>,
    #[serde(default)]
    pub next_cursor: Option<String>,
    /// Never trusted for paging with AWS, which sets it to the number of items in this answer;
    /// a generic server's `startIndex` paging goes up to it.
    #[serde(default)]
    pub total_results: Option<u64>,
}

/// AWS's error body: `schema` beside `schemas`, `status` as a string, no `scimType`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ErrorBody {
    #[serde(default)]
    pub detail: Option<String>,
    // The HTTP status is authoritative; this one is decoded for tests and diagnostics.
    #[serde(default, deserialize_with = "lenient_status")]
    #[allow(dead_code)]
    pub status: Option<u16>,
    #[serde(default)]
    pub exception_request_id: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct PatchRequest {
    pub schemas: [&'static str; 1],
    #[serde(rename = "Operations")]
    pub operations: Vec<PatchOperation>,
}

impl PatchRequest {
    pub fn new(operations: Vec<PatchOperation>) -> Self {
        PatchRequest { schemas: [PATCH_SCHEMA], operations }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct PatchOperation {
    pub op: &'static str,
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
}

fn lenient_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(b)),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
        Some(other) => Err(serde::de::Error::custom(format!("expected a boolean, found {other}"))),
    }
}

fn lenient_status<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u16>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::String(s)) => s.trim().parse().ok(),
        Some(Value::Number(n)) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
        _ => None,
    })
}

fn null_as_empty<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Vec<T>, D::Error> {
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

/// `None` for missing and for empty strings: the core model keeps "no value" as `None` only.
fn non_empty(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.is_empty())
}

impl From<User> for TargetUser {
    fn from(user: User) -> Self {
        let name = user.name.unwrap_or_default();
        // The primary email; else the work one; else the first (AWS holds at most one).
        let one = |list: &[Email]| {
            list.iter()
                .find(|e| e.primary == Some(true))
                .or_else(|| list.iter().find(|e| e.kind.as_deref() == Some("work")))
                .or_else(|| list.first())
                .and_then(|e| non_empty(e.value.clone()))
        };
        let email = one(&user.emails);
        let phone = one(&user.phone_numbers);
        let address = user
            .addresses
            .iter()
            .find(|a| a.primary == Some(true))
            .or_else(|| user.addresses.iter().find(|a| a.kind.as_deref() == Some("work")))
            .or_else(|| user.addresses.first())
            .cloned()
            .unwrap_or_default();
        let ent = user.enterprise.unwrap_or_default();
        TargetUser {
            id: user.id,
            external_id: non_empty(user.external_id),
            values: UserValues {
                user_name: user.user_name,
                display_name: user.display_name.unwrap_or_default(),
                given_name: name.given_name.unwrap_or_default(),
                family_name: name.family_name.unwrap_or_default(),
                email,
                active: user.active.unwrap_or(true),
                title: non_empty(user.title),
                employee_number: non_empty(ent.employee_number),
                cost_center: non_empty(ent.cost_center),
                organization: non_empty(ent.organization),
                division: non_empty(ent.division),
                department: non_empty(ent.department),
                nick_name: non_empty(user.nick_name),
                phone,
                street_address: non_empty(address.street_address),
                locality: non_empty(address.locality),
                region: non_empty(address.region),
                postal_code: non_empty(address.postal_code),
                country: non_empty(address.country),
                manager: non_empty(ent.manager.and_then(|m| m.value)),
            },
        }
    }
}

impl From<Group> for TargetGroup {
    fn from(group: Group) -> Self {
        TargetGroup {
            id: group.id,
            external_id: non_empty(group.external_id),
            display_name: group.display_name,
            members: None,
        }
    }
}

fn required<'a>(label: &str, value: &'a str) -> Result<&'a str, ScimError> {
    if value.is_empty() {
        Err(ScimError::InvalidInput(format!("{label} is required by AWS and is empty")))
    } else {
        Ok(value)
    }
}

/// The POST /Users body: only non-empty values, the email as the one primary work email, the
/// enterprise extension only when it holds something.
pub(crate) fn create_user_body(user: &DesiredUser) -> Result<Value, ScimError> {
    let v = &user.values;
    let mut body = Map::new();
    body.insert("userName".into(), required("userName", &v.user_name)?.into());
    if !user.external_id.is_empty() {
        body.insert("externalId".into(), user.external_id.clone().into());
    }
    body.insert(
        "name".into(),
        json!({
            "givenName": required("name.givenName", &v.given_name)?,
            "familyName": required("name.familyName", &v.family_name)?,
        }),
    );
    body.insert("displayName".into(), required("displayName", &v.display_name)?.into());
    if let Some(title) = v.title.as_deref().filter(|s| !s.is_empty()) {
        body.insert("title".into(), title.into());
    }
    body.insert("active".into(), v.active.into());
    if let Some(email) = v.email.as_deref().filter(|s| !s.is_empty()) {
        body.insert("emails".into(), email_list(email));
    }
    if let Some(nick_name) = v.nick_name.as_deref().filter(|s| !s.is_empty()) {
        body.insert("nickName".into(), nick_name.into());
    }
    if let Some(phone) = v.phone.as_deref().filter(|s| !s.is_empty()) {
        body.insert("phoneNumbers".into(), phone_list(phone));
    }
    let mut address = Map::new();
    for (key, value) in address_parts(v) {
        if let Some(value) = value.as_deref().filter(|s| !s.is_empty()) {
            address.insert(key.into(), value.into());
        }
    }
    if !address.is_empty() {
        address.insert("type".into(), "work".into());
        address.insert("primary".into(), true.into());
        body.insert("addresses".into(), Value::Array(vec![Value::Object(address)]));
    }
    let mut enterprise = Map::new();
    for (key, value) in [
        ("employeeNumber", &v.employee_number),
        ("costCenter", &v.cost_center),
        ("organization", &v.organization),
        ("division", &v.division),
        ("department", &v.department),
    ] {
        if let Some(value) = value.as_deref().filter(|s| !s.is_empty()) {
            enterprise.insert(key.into(), value.into());
        }
    }
    if let Some(manager) = v.manager.as_deref().filter(|s| !s.is_empty()) {
        enterprise.insert("manager".into(), json!({ "value": manager }));
    }
    let mut schemas = vec![USER_SCHEMA];
    if !enterprise.is_empty() {
        schemas.push(ENTERPRISE_SCHEMA);
        body.insert(ENTERPRISE_SCHEMA.into(), Value::Object(enterprise));
    }
    body.insert("schemas".into(), json!(schemas));
    Ok(Value::Object(body))
}

fn email_list(email: &str) -> Value {
    json!([{ "value": email, "type": "work", "primary": true }])
}

fn phone_list(phone: &str) -> Value {
    json!([{ "value": phone, "type": "work", "primary": true }])
}

fn address_parts(v: &UserValues) -> [(&'static str, &Option<String>); 5] {
    [
        ("streetAddress", &v.street_address),
        ("locality", &v.locality),
        ("region", &v.region),
        ("postalCode", &v.postal_code),
        ("country", &v.country),
    ]
}

/// Where an attribute lives in a SCIM PATCH.
fn patch_path(attr: UserAttr) -> String {
    let enterprise = |name: &str| format!("{ENTERPRISE_SCHEMA}:{name}");
    match attr {
        UserAttr::UserName => "userName".into(),
        UserAttr::DisplayName => "displayName".into(),
        UserAttr::GivenName => "name.givenName".into(),
        UserAttr::FamilyName => "name.familyName".into(),
        // The whole list: AWS holds one email, and replacing the list works whether or not one exists.
        UserAttr::Email => "emails".into(),
        UserAttr::Active => "active".into(),
        UserAttr::Title => "title".into(),
        UserAttr::EmployeeNumber => enterprise("employeeNumber"),
        UserAttr::CostCenter => enterprise("costCenter"),
        UserAttr::Organization => enterprise("organization"),
        UserAttr::Division => enterprise("division"),
        UserAttr::Department => enterprise("department"),
        UserAttr::NickName => "nickName".into(),
        // Like emails: the whole one-item list.
        UserAttr::Phone => "phoneNumbers".into(),
        // One part of the one work address, as Entra writes it.
        UserAttr::StreetAddress => r#"addresses[type eq "work"].streetAddress"#.into(),
        UserAttr::Locality => r#"addresses[type eq "work"].locality"#.into(),
        UserAttr::Region => r#"addresses[type eq "work"].region"#.into(),
        UserAttr::PostalCode => r#"addresses[type eq "work"].postalCode"#.into(),
        UserAttr::Country => r#"addresses[type eq "work"].country"#.into(),
        UserAttr::Manager => enterprise("manager"),
        UserAttr::ExternalId => "externalId".into(),
    }
}

/// One PATCH operation per change: `replace` for a new value, `remove` to clear one.
pub(crate) fn user_patch_operations(changes: &[AttrChange]) -> Result<Vec<PatchOperation>, ScimError> {
    changes
        .iter()
        .map(|change| {
            let attr = change.attr;
            let path = patch_path(attr);
            let must_have_value = matches!(
                attr,
                UserAttr::UserName
                    | UserAttr::Active
                    | UserAttr::DisplayName
                    | UserAttr::GivenName
                    | UserAttr::FamilyName
            );
            let new = match &change.new {
                Some(AttrValue::Text(s)) if s.is_empty() => None,
                other => other.clone(),
            };
            match (attr, new) {
                (_, None) if must_have_value => {
                    Err(ScimError::InvalidInput(format!("{} cannot be cleared in AWS", attr.label())))
                }
                (_, None) => Ok(PatchOperation { op: "remove", path, value: None }),
                (UserAttr::Active, Some(AttrValue::Bool(active))) => {
                    Ok(PatchOperation { op: "replace", path, value: Some(Value::Bool(active)) })
                }
                (UserAttr::Email, Some(AttrValue::Text(email))) => {
                    Ok(PatchOperation { op: "replace", path, value: Some(email_list(&email)) })
                }
                (UserAttr::Phone, Some(AttrValue::Text(phone))) => {
                    Ok(PatchOperation { op: "replace", path, value: Some(phone_list(&phone)) })
                }
                (UserAttr::Manager, Some(AttrValue::Text(id))) => {
                    Ok(PatchOperation { op: "replace", path, value: Some(json!({ "value": id })) })
                }
                // A part of an address that may not exist yet is added, as Entra does.
                (
                    UserAttr::StreetAddress
                    | UserAttr::Locality
                    | UserAttr::Region
                    | UserAttr::PostalCode
                    | UserAttr::Country,
                    Some(AttrValue::Text(text)),
                ) if change.old.is_none() => {
                    Ok(PatchOperation { op: "add", path, value: Some(Value::String(text)) })
                }
                (attr, Some(AttrValue::Text(text))) if attr != UserAttr::Active => {
                    Ok(PatchOperation { op: "replace", path, value: Some(Value::String(text)) })
                }
                (attr, Some(value)) => {
                    Err(ScimError::InvalidInput(format!("{} cannot take the value {value}", attr.label())))
                }
            }
        })
        .collect()
}

/// The PATCH /Groups bodies for member changes, each with at most 100 changes; adds go first.
pub(crate) fn member_patches(add: &[String], remove: &[String]) -> Vec<PatchRequest> {
    let changes: Vec<(&'static str, &String)> =
        add.iter().map(|id| ("add", id)).chain(remove.iter().map(|id| ("remove", id))).collect();
    changes
        .chunks(MAX_MEMBER_CHANGES_PER_PATCH)
        .map(|chunk| {
            let operations = ["add", "remove"]
                .into_iter()
                .filter_map(|op| {
                    let members: Vec<Value> = chunk
                        .iter()
                        .filter(|(o, _)| *o == op)
                        .map(|(_, id)| json!({ "value": id }))
                        .collect();
                    (!members.is_empty()).then(|| PatchOperation {
                        op,
                        path: "members".into(),
                        value: Some(Value::Array(members)),
                    })
                })
                .collect();
            PatchRequest::new(operations)
        })
        .collect()
}

/// The RFC 7644 §3.5.2.2 form for a generic server: removals as `remove` with a
/// `members[value eq "id"]` path (no value), additions as AWS sends them; at most 100 changes each.
pub(crate) fn member_patches_rfc(add: &[String], remove: &[String]) -> Vec<PatchRequest> {
    member_patches(add, &[])
        .into_iter()
        .chain(remove.chunks(MAX_MEMBER_CHANGES_PER_PATCH).map(|chunk| {
            PatchRequest::new(
                chunk
                    .iter()
                    .map(|id| PatchOperation {
                        op: "remove",
                        path: format!("members[value eq {}]", Value::String(id.clone())),
                        value: None,
                    })
                    .collect(),
            )
        }))
        .collect()
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use pretty_assertions::assert_eq;

    use super::*;

    fn samples_dir() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/samples/aws-scim")
    }

    fn sample(name: &str) -> Value {
        let path = samples_dir().join(name);
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read sample {}: {e}", path.display()));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("sample {name} is not JSON: {e}"))
    }

    /// Every sample, decoded with the decoder its name calls for.
    #[test]
    fn every_sample_decodes() {
        let mut seen = 0;
        for entry in std::fs::read_dir(samples_dir()).expect("samples folder beside the repo") {
            let name = entry.expect("dir entry").file_name().to_string_lossy().into_owned();
            if !name.ends_with(".json") {
                continue;
            }
            let body = sample(&name);
            let decoded: Result<(), String> = if name.contains("Conflict") {
                serde_json::from_value::<ErrorBody>(body)
                    .map(|e| assert_eq!(e.status, Some(409), "{name}"))
                    .map_err(|e| e.to_string())
            } else if name.starts_with("ListGroups") {
                serde_json::from_value::<ListResponse<Group>>(body)
                    .map(|l| assert!(!l.resources.is_empty(), "{name}"))
                    .map_err(|e| e.to_string())
            } else if name.starts_with("ListUser") {
                serde_json::from_value::<ListResponse<User>>(body)
                    .map(|l| assert!(!l.resources.is_empty(), "{name}"))
                    .map_err(|e| e.to_string())
            } else if name.contains("Group") {
                serde_json::from_value::<Group>(body)
                    .map(|g| assert!(!g.id.is_empty(), "{name}"))
                    .map_err(|e| e.to_string())
            } else if name.contains("User") {
                serde_json::from_value::<User>(body)
                    .map(|u| assert!(!u.user_name.is_empty(), "{name}"))
                    .map_err(|e| e.to_string())
            } else {
                // ServiceProviderConfig: the client does not read it; it must be JSON at least.
                Ok(())
            };
            decoded.unwrap_or_else(|e| panic!("{name} does not decode: {e}"));
            seen += 1;
        }
        assert!(seen >= 12, "expected the AWS samples, found {seen} files");
    }

    #[test]
    fn full_user_maps_to_target_user() {
        let user: User = serde_json::from_value(sample("CreateUserResponse_Active.json")).unwrap();
        let target = TargetUser::from(user);
        assert_eq!(
            target,
            TargetUser {
                id: "9067729b3d-94f1e0b3-c394-48d5-8ab1-2c122a167074".into(),
                external_id: Some("701984".into()),
                values: UserValues {
                    user_name: "bjensen".into(),
                    display_name: "Babs Jensen".into(),
                    given_name: "Barbara".into(),
                    family_name: "Jensen".into(),
                    email: Some("bjensen@example.com".into()),
                    active: true,
                    title: Some("Tour Guide".into()),
                    employee_number: Some("701984".into()),
                    cost_center: Some("4130".into()),
                    organization: Some("Universal Studios".into()),
                    division: Some("Theme Park".into()),
                    department: Some("Tour Operations".into()),
                    nick_name: Some("Babs".into()),
                    phone: Some("555-555-5555".into()),
                    street_address: Some("100 Universal City Plaza".into()),
                    locality: Some("Hollywood".into()),
                    region: Some("CA".into()),
                    postal_code: Some("91608".into()),
                    country: Some("USA".into()),
                    manager: Some("9067729b3d-ee533c18-538a-4cd3-a572-63fb863ed734".into()),
                },
            }
        );
    }

    #[test]
    fn list_without_emails_maps_to_no_email() {
        let list: ListResponse<User> =
            serde_json::from_value(sample("ListUserResponse_no_emails.json")).unwrap();
        let user = TargetUser::from(list.resources.into_iter().next().unwrap());
        assert_eq!(user.values.email, None);
        assert!(!user.values.active);
    }

    #[test]
    fn cursor_pages_carry_next_cursor_only_until_the_end() {
        let cases = [
            ("ListGroupsResponse_CursorPage1.json", Some("Q3Vyc29yUGFnZTI="), 2),
            ("ListGroupsResponse_CursorPage2.json", None, 1),
            ("ListGroupsResponse.json", None, 1),
        ];
        for (name, cursor, count) in cases {
            let list: ListResponse<Group> = serde_json::from_value(sample(name)).unwrap();
            assert_eq!(list.next_cursor.as_deref(), cursor, "{name}");
            assert_eq!(list.resources.len(), count, "{name}");
        }
    }

    #[test]
    fn lenient_decoding_cases() {
        // (body, expected active, expected email)
        let cases = [
            (json!({"id":"a","userName":"u","active":"True"}), true, None),
            (json!({"id":"a","userName":"u","active":"false"}), false, None),
            (json!({"id":"a","userName":"u","active":null,"emails":null}), true, None),
            (
                json!({"id":"a","userName":"u","active":false,"unknown":{"x":1},
                       "emails":[{"value":"x@y","primary":"True"}]}),
                false,
                Some("x@y"),
            ),
        ];
        for (body, active, email) in cases {
            let user: User = serde_json::from_value(body.clone()).unwrap();
            let user = TargetUser::from(user);
            assert_eq!(user.values.active, active, "{body}");
            assert_eq!(user.values.email.as_deref(), email, "{body}");
        }
    }

    #[test]
    fn error_status_as_string_or_number() {
        for (body, status) in [
            (json!({"status":"409","detail":"x"}), Some(409)),
            (json!({"status":400}), Some(400)),
            (json!({"schema":["urn:ietf:params:scim:api:messages:2.0:Error"]}), None),
        ] {
            let e: ErrorBody = serde_json::from_value(body).unwrap();
            assert_eq!(e.status, status);
        }
    }

    fn desired() -> DesiredUser {
        DesiredUser {
            external_id: "ext-1".into(),
            values: UserValues {
                user_name: "ada@example.com".into(),
                display_name: "Ada Lovelace".into(),
                given_name: "Ada".into(),
                family_name: "Lovelace".into(),
                email: Some("ada@example.com".into()),
                active: true,
                title: Some(String::new()),
                department: Some("Maths".into()),
                ..UserValues::default()
            },
        }
    }

    #[test]
    fn create_body_omits_empty_values() {
        let body = create_user_body(&desired()).unwrap();
        assert_eq!(
            body,
            json!({
                "schemas": [USER_SCHEMA, ENTERPRISE_SCHEMA],
                "userName": "ada@example.com",
                "externalId": "ext-1",
                "name": {"givenName": "Ada", "familyName": "Lovelace"},
                "displayName": "Ada Lovelace",
                "active": true,
                "emails": [{"value": "ada@example.com", "type": "work", "primary": true}],
                ENTERPRISE_SCHEMA: {"department": "Maths"},
            })
        );
    }

    #[test]
    fn create_body_carries_phone_address_nick_name_and_manager() {
        let mut user = desired();
        user.values.department = None;
        user.values.nick_name = Some("Ada".into());
        user.values.phone = Some("+44 20 7946 0000".into());
        user.values.locality = Some("London".into());
        user.values.country = Some("GB".into());
        user.values.manager = Some("aws-id-of-manager".into());
        let body = create_user_body(&user).unwrap();
        assert_eq!(body["nickName"], json!("Ada"));
        assert_eq!(
            body["phoneNumbers"],
            json!([{"value": "+44 20 7946 0000", "type": "work", "primary": true}])
        );
        assert_eq!(
            body["addresses"],
            json!([{"locality": "London", "country": "GB", "type": "work", "primary": true}])
        );
        assert_eq!(body[ENTERPRISE_SCHEMA], json!({"manager": {"value": "aws-id-of-manager"}}));
        // The body decodes back to the same values: a second sync sees no difference.
        let mut echoed = body.clone();
        echoed["id"] = json!("id-1");
        let back = TargetUser::from(serde_json::from_value::<User>(echoed).unwrap());
        assert_eq!(back.values, user.values.clone().tap_title_none());
    }

    trait TapTitle {
        fn tap_title_none(self) -> Self;
    }

    impl TapTitle for UserValues {
        /// `desired()` holds an empty title, which is not sent and so comes back as none.
        fn tap_title_none(mut self) -> Self {
            self.title = None;
            self
        }
    }

    #[test]
    fn create_body_refuses_missing_required_values() {
        let mut user = desired();
        user.values.given_name.clear();
        assert!(
            matches!(create_user_body(&user), Err(ScimError::InvalidInput(m)) if m.contains("givenName"))
        );
    }

    #[test]
    fn patch_operations_per_change() {
        let text = |s: &str| Some(AttrValue::Text(s.into()));
        let cases: Vec<(AttrChange, Result<PatchOperation, &str>)> = vec![
            (
                AttrChange { attr: UserAttr::GivenName, old: text("A"), new: text("B") },
                Ok(PatchOperation { op: "replace", path: "name.givenName".into(), value: Some(json!("B")) }),
            ),
            (
                AttrChange {
                    attr: UserAttr::Active,
                    old: Some(AttrValue::Bool(true)),
                    new: Some(AttrValue::Bool(false)),
                },
                Ok(PatchOperation { op: "replace", path: "active".into(), value: Some(json!(false)) }),
            ),
            (
                AttrChange { attr: UserAttr::Email, old: None, new: text("a@b") },
                Ok(PatchOperation { op: "replace", path: "emails".into(), value: Some(email_list("a@b")) }),
            ),
            (
                AttrChange { attr: UserAttr::Department, old: text("x"), new: None },
                Ok(PatchOperation {
                    op: "remove",
                    path: format!("{ENTERPRISE_SCHEMA}:department"),
                    value: None,
                }),
            ),
            (
                AttrChange { attr: UserAttr::Title, old: text("x"), new: text("") },
                Ok(PatchOperation { op: "remove", path: "title".into(), value: None }),
            ),
            (
                AttrChange { attr: UserAttr::ExternalId, old: None, new: text("e") },
                Ok(PatchOperation { op: "replace", path: "externalId".into(), value: Some(json!("e")) }),
            ),
            (
                AttrChange { attr: UserAttr::Phone, old: None, new: text("+1 555") },
                Ok(PatchOperation {
                    op: "replace",
                    path: "phoneNumbers".into(),
                    value: Some(json!([{"value": "+1 555", "type": "work", "primary": true}])),
                }),
            ),
            (
                AttrChange { attr: UserAttr::Phone, old: text("+1 555"), new: None },
                Ok(PatchOperation { op: "remove", path: "phoneNumbers".into(), value: None }),
            ),
            (
                AttrChange { attr: UserAttr::NickName, old: None, new: text("Babs") },
                Ok(PatchOperation { op: "replace", path: "nickName".into(), value: Some(json!("Babs")) }),
            ),
            (
                AttrChange { attr: UserAttr::Locality, old: None, new: text("Oslo") },
                Ok(PatchOperation {
                    op: "add",
                    path: r#"addresses[type eq "work"].locality"#.into(),
                    value: Some(json!("Oslo")),
                }),
            ),
            (
                AttrChange { attr: UserAttr::Country, old: text("NO"), new: text("SE") },
                Ok(PatchOperation {
                    op: "replace",
                    path: r#"addresses[type eq "work"].country"#.into(),
                    value: Some(json!("SE")),
                }),
            ),
            (
                AttrChange { attr: UserAttr::Region, old: text("CA"), new: None },
                Ok(PatchOperation {
                    op: "remove",
                    path: r#"addresses[type eq "work"].region"#.into(),
                    value: None,
                }),
            ),
            (
                AttrChange { attr: UserAttr::Manager, old: None, new: text("m-1") },
                Ok(PatchOperation {
                    op: "replace",
                    path: format!("{ENTERPRISE_SCHEMA}:manager"),
                    value: Some(json!({"value": "m-1"})),
                }),
            ),
            (
                AttrChange { attr: UserAttr::Manager, old: text("m-1"), new: None },
                Ok(PatchOperation {
                    op: "remove",
                    path: format!("{ENTERPRISE_SCHEMA}:manager"),
                    value: None,
                }),
            ),
            (AttrChange { attr: UserAttr::UserName, old: text("x"), new: None }, Err("userName")),
            (AttrChange { attr: UserAttr::Active, old: None, new: None }, Err("active")),
            (AttrChange { attr: UserAttr::Active, old: None, new: text("yes") }, Err("active")),
            (AttrChange { attr: UserAttr::Title, old: None, new: Some(AttrValue::Bool(true)) }, Err("title")),
        ];
        for (change, expected) in cases {
            let got = user_patch_operations(std::slice::from_ref(&change));
            match (got, expected) {
                (Ok(ops), Ok(op)) => assert_eq!(ops, vec![op], "{change:?}"),
                (Err(ScimError::InvalidInput(msg)), Err(word)) => assert!(msg.contains(word), "{msg}"),
                (got, expected) => panic!("{change:?}: got {got:?}, expected {expected:?}"),
            }
        }
    }

    #[test]
    fn member_patches_split_at_100_changes() {
        let ids = |n: usize, p: &str| (0..n).map(|i| format!("{p}{i}")).collect::<Vec<_>>();
        // (adds, removes, expected member changes per request)
        let cases = [
            (0, 0, vec![]),
            (1, 1, vec![2]),
            (100, 0, vec![100]),
            (101, 0, vec![100, 1]),
            (150, 120, vec![100, 100, 70]),
        ];
        for (adds, removes, expected) in cases {
            let patches = member_patches(&ids(adds, "a"), &ids(removes, "r"));
            let sizes: Vec<usize> = patches
                .iter()
                .map(|p| {
                    p.operations
                        .iter()
                        .map(|op| op.value.as_ref().and_then(Value::as_array).map_or(0, Vec::len))
                        .sum()
                })
                .collect();
            assert_eq!(sizes, expected, "{adds} adds, {removes} removes");
            for p in &patches {
                assert!(p.operations.iter().all(|op| op.path == "members" && op.value.is_some()));
            }
        }
    }
}
