//! User documents: what AWS accepts, how PATCH paths change them, and how they are shown.
//! Documents are stored as the JSON AWS shows (without `schemas`), so PATCH paths apply directly.

use serde_json::{Map, Value, json};

pub(crate) const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub(crate) const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// Single-valued string attributes of the core schema.
const STRINGS: [&str; 10] = [
    "userName",
    "displayName",
    "nickName",
    "profileUrl",
    "title",
    "userType",
    "preferredLanguage",
    "locale",
    "timezone",
    "externalId",
];
const NAME_PARTS: [&str; 6] =
    ["formatted", "familyName", "givenName", "middleName", "honorificPrefix", "honorificSuffix"];
const LISTS: [&str; 4] = ["emails", "phoneNumbers", "addresses", "roles"];
const ENTERPRISE_STRINGS: [&str; 5] =
    ["employeeNumber", "costCenter", "organization", "division", "department"];
/// Refused outright on a user.
const REFUSED: [&str; 6] = ["password", "groups", "photos", "ims", "entitlements", "x509Certificates"];
const RESERVED_USER_NAMES: [&str; 2] = ["Administrator", "AWSAdministrators"];

/// A refusal: the detail of a 400.
pub(crate) type Invalid = String;

fn constraint(path: &str, what: &str) -> Invalid {
    format!("1 validation error detected: Value at '{path}' failed to satisfy constraint: {what}")
}

/// The canonical spelling of a known attribute name (names ignore case), or `None`.
fn canonical<'a>(name: &str, known: &[&'a str]) -> Option<&'a str> {
    known.iter().copied().find(|k| k.eq_ignore_ascii_case(name))
}

fn top_level_name(name: &str) -> Option<&'static str> {
    if name.eq_ignore_ascii_case(ENTERPRISE) {
        return Some(ENTERPRISE);
    }
    canonical(name, &STRINGS)
        .or_else(|| canonical(name, &LISTS))
        .or_else(|| canonical(name, &["name", "active"]))
}

fn lenient_bool(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

/// Keeps the attributes AWS stores, canonically spelled; booleans sent as strings become booleans.
/// Refused attributes fail; unknown ones are dropped.
pub(crate) fn normalize(input: Map<String, Value>) -> Result<Map<String, Value>, Invalid> {
    let mut doc = Map::new();
    for (key, value) in input {
        if let Some(refused) = canonical(&key, &REFUSED) {
            return Err(format!("Attribute {refused} is not supported."));
        }
        let Some(name) = top_level_name(&key) else {
            continue;
        };
        if value.is_null() {
            continue;
        }
        let value = match name {
            "active" => Value::Bool(
                lenient_bool(&value).ok_or_else(|| constraint("active", "Member must be a boolean"))?,
            ),
            "name" => Value::Object(canonical_object(value, "name", &NAME_PARTS)?),
            ENTERPRISE => Value::Object(canonical_object(
                value,
                ENTERPRISE,
                &[&ENTERPRISE_STRINGS[..], &["manager"]].concat(),
            )?),
            list if LISTS.contains(&list) => normalize_list(value, list)?,
            _ => value,
        };
        doc.insert(name.to_string(), value);
    }
    Ok(doc)
}

fn canonical_object(value: Value, path: &str, known: &[&str]) -> Result<Map<String, Value>, Invalid> {
    let Value::Object(map) = value else {
        return Err(constraint(path, "Member must be an object"));
    };
    Ok(map
        .into_iter()
        .filter(|(_, v)| !v.is_null())
        .filter_map(|(k, v)| canonical(&k, known).map(|k| (k.to_string(), v)))
        .collect())
}

fn normalize_list(value: Value, name: &str) -> Result<Value, Invalid> {
    let items = match value {
        Value::Array(items) => items,
        single @ Value::Object(_) => vec![single],
        _ => return Err(constraint(name, "Member must be a list")),
    };
    let items = items
        .into_iter()
        .map(|item| match item {
            Value::Object(mut map) => {
                if let Some(primary) = map.get("primary").and_then(lenient_bool) {
                    map.insert("primary".into(), Value::Bool(primary));
                }
                Ok(Value::Object(map))
            }
            _ => Err(constraint(name, "Member must be a list of objects")),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Value::Array(items))
}

fn check_string(path: &str, value: Option<&Value>, required: bool, max: usize) -> Result<(), Invalid> {
    let text = match value {
        None if required => return Err(constraint(path, "Member must not be null")),
        None => return Ok(()),
        Some(Value::String(s)) => s,
        Some(_) => return Err(constraint(path, "Member must be a string")),
    };
    if text.is_empty() {
        return Err(constraint(path, "Member must have length greater than or equal to 1"));
    }
    if text.chars().count() > max {
        return Err(constraint(path, &format!("Member must have length less than or equal to {max}")));
    }
    if text.contains(['\t', '\r', '\n']) {
        return Err(constraint(path, "Member must not contain tab, carriage return or line feed"));
    }
    Ok(())
}

/// The checks AWS makes on a whole user (create, replace, and the result of a patch).
pub(crate) fn validate(doc: &Map<String, Value>) -> Result<(), Invalid> {
    check_string("userName", doc.get("userName"), true, 128)?;
    let user_name = doc.get("userName").and_then(Value::as_str).unwrap_or_default();
    if user_name.contains(|c: char| c.is_whitespace() || "<>;:%".contains(c)) {
        return Err(constraint(
            "userName",
            r"Member must satisfy regular expression pattern: [\p{L}\p{M}\p{S}\p{N}\p{P}]+ without < > ; : %",
        ));
    }
    if RESERVED_USER_NAMES.iter().any(|r| r.eq_ignore_ascii_case(user_name)) {
        return Err(format!("The userName {user_name} is reserved."));
    }
    let name = doc.get("name").and_then(Value::as_object);
    for part in NAME_PARTS {
        let required = matches!(part, "givenName" | "familyName");
        check_string(&format!("name.{part}"), name.and_then(|n| n.get(part)), required, 1024)?;
    }
    for attr in STRINGS.into_iter().filter(|a| *a != "userName") {
        check_string(attr, doc.get(attr), attr == "displayName", 1024)?;
    }
    if doc.get("active").is_some_and(|a| !a.is_boolean()) {
        return Err(constraint("active", "Member must be a boolean"));
    }
    for list in LISTS {
        let Some(items) = doc.get(list).and_then(Value::as_array) else {
            continue;
        };
        if items.len() > 1 {
            return Err(format!("List attribute {list} exceeds allowed limit of 1"));
        }
        for item in items.iter().filter_map(Value::as_object) {
            if item.contains_key("display") {
                return Err(format!("Sub-attribute display of {list} is not supported."));
            }
            for (key, value) in item {
                if let Value::String(_) = value {
                    check_string(&format!("{list}.{key}"), Some(value), false, 1024)?;
                }
            }
            if list == "emails" && item.get("primary") != Some(&Value::Bool(true)) {
                return Err(constraint("emails.primary", "The email must be primary"));
            }
        }
    }
    if let Some(ext) = doc.get(ENTERPRISE).and_then(Value::as_object) {
        for attr in ENTERPRISE_STRINGS {
            check_string(attr, ext.get(attr), false, 1024)?;
        }
        if let Some(manager) = ext.get("manager") {
            let manager =
                manager.as_object().ok_or_else(|| constraint("manager", "Member must be an object"))?;
            if manager.contains_key("displayName") {
                return Err("Sub-attribute displayName of manager is not supported.".into());
            }
            check_string("manager.value", manager.get("value"), false, 1024)?;
        }
    }
    Ok(())
}

/// The primary email value (AWS holds at most one email).
pub(crate) fn primary_email(doc: &Map<String, Value>) -> Option<&str> {
    doc.get("emails")?
        .as_array()?
        .iter()
        .find(|e| e.get("primary") == Some(&Value::Bool(true)))?
        .get("value")?
        .as_str()
}

/// The user as GET shows it: both schemas, always.
pub(crate) fn render(doc: &Map<String, Value>) -> Value {
    let mut shown = doc.clone();
    shown.insert("schemas".into(), json!([USER_SCHEMA, ENTERPRISE]));
    Value::Object(shown)
}

/// A PATCH path on a user.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Path {
    /// `userName`, `emails`, `name`, the enterprise extension as a whole.
    Attr(&'static str),
    /// `name.givenName`, `<enterprise>:department`, `<enterprise>:manager.value` (as "manager","value").
    Sub(&'static str, String),
    /// `emails[type eq "work"]` with an optional `.value`.
    Filtered { list: &'static str, key: String, value: String, sub: Option<String> },
}

fn parse_path(raw: &str) -> Result<Path, Invalid> {
    let unknown = || format!("Attribute path {raw} is not supported.");
    let raw = raw.trim();
    // The enterprise URN contains dots and colons; match it as a prefix.
    if raw.len() >= ENTERPRISE.len() && raw[..ENTERPRISE.len()].eq_ignore_ascii_case(ENTERPRISE) {
        let rest = &raw[ENTERPRISE.len()..];
        if rest.is_empty() {
            return Ok(Path::Attr(ENTERPRISE));
        }
        let rest = rest.strip_prefix(':').ok_or_else(unknown)?;
        let known: Vec<&str> = [&ENTERPRISE_STRINGS[..], &["manager", "manager.value"]].concat();
        let sub = canonical(rest, &known).ok_or_else(unknown)?;
        return Ok(Path::Sub(ENTERPRISE, sub.to_string()));
    }
    if let Some(open) = raw.find('[') {
        let list = canonical(&raw[..open], &LISTS).ok_or_else(unknown)?;
        let close = raw.rfind(']').ok_or_else(unknown)?;
        let inner = super::filter::parse(&raw[open + 1..close]).ok_or_else(unknown)?;
        let [comparison] = inner.as_slice() else {
            return Err(unknown());
        };
        let sub = match &raw[close + 1..] {
            "" => None,
            rest => Some(rest.strip_prefix('.').ok_or_else(unknown)?.to_string()),
        };
        return Ok(Path::Filtered {
            list,
            key: comparison.attr.clone(),
            value: comparison.value.clone(),
            sub,
        });
    }
    if let Some(refused) = canonical(raw.split('.').next().unwrap_or(raw), &REFUSED) {
        return Err(format!("Attribute {refused} is not supported."));
    }
    match raw.split_once('.') {
        Some((top, sub)) if top.eq_ignore_ascii_case("name") => {
            let sub = canonical(sub, &NAME_PARTS).ok_or_else(unknown)?;
            Ok(Path::Sub("name", sub.to_string()))
        }
        Some(_) => Err(unknown()),
        None => top_level_name(raw).map(Path::Attr).ok_or_else(unknown),
    }
}

fn object_at<'a>(doc: &'a mut Map<String, Value>, key: &str) -> &'a mut Map<String, Value> {
    let slot = doc.entry(key.to_string()).or_insert_with(|| json!({}));
    if !slot.is_object() {
        *slot = json!({});
    }
    match slot {
        Value::Object(map) => map,
        _ => unreachable!("just made an object"),
    }
}

fn matches_filter(item: &Value, key: &str, value: &str) -> bool {
    item.as_object().and_then(|m| m.iter().find(|(k, _)| k.eq_ignore_ascii_case(key))).is_some_and(
        |(_, v)| match v {
            Value::String(s) => s == value,
            other => lenient_bool(other).is_some_and(|b| b.to_string() == value.to_lowercase()),
        },
    )
}

/// Applies one PATCH operation to a user document. `op` is lower-cased.
pub(crate) fn apply(
    doc: &mut Map<String, Value>,
    op: &str,
    path: Option<&str>,
    value: Option<Value>,
) -> Result<(), Invalid> {
    match (op, path) {
        ("remove", None) => Err("Operation remove requires a path.".into()),
        ("remove", Some(path)) => remove(doc, &parse_path(path)?),
        ("add" | "replace", None) => {
            let Some(Value::Object(values)) = value else {
                return Err("Operation without a path needs an object value.".into());
            };
            for (key, value) in values {
                set(doc, op, &parse_path(&key)?, value)?;
            }
            Ok(())
        }
        ("add" | "replace", Some(path)) => {
            let value = value.ok_or_else(|| format!("Operation {op} needs a value."))?;
            set(doc, op, &parse_path(path)?, value)
        }
        _ => Err(format!("Unsupported operation {op}.")),
    }
}

fn remove(doc: &mut Map<String, Value>, path: &Path) -> Result<(), Invalid> {
    match path {
        Path::Attr(attr @ ("userName" | "active")) => Err(format!("Attribute {attr} cannot be removed.")),
        Path::Attr(attr) => {
            doc.remove(*attr);
            Ok(())
        }
        Path::Sub(top, sub) => {
            if let Some(map) = doc.get_mut(*top).and_then(Value::as_object_mut) {
                match sub.split_once('.') {
                    Some((parent, _)) => map.remove(parent),
                    None => map.remove(sub.as_str()),
                };
            }
            Ok(())
        }
        Path::Filtered { list, key, value, sub } => {
            if let Some(items) = doc.get_mut(*list).and_then(Value::as_array_mut) {
                match sub {
                    None => items.retain(|item| !matches_filter(item, key, value)),
                    Some(sub) => items
                        .iter_mut()
                        .filter(|item| matches_filter(item, key, value))
                        .filter_map(Value::as_object_mut)
                        .for_each(|item| {
                            item.remove(sub);
                        }),
                }
            }
            Ok(())
        }
    }
}

fn set(doc: &mut Map<String, Value>, op: &str, path: &Path, value: Value) -> Result<(), Invalid> {
    match path {
        Path::Attr(attr @ ("name" | ENTERPRISE)) => {
            let Value::Object(values) = value else {
                return Err(constraint(attr, "Member must be an object"));
            };
            let target = object_at(doc, attr);
            for (k, v) in values {
                target.insert(k, v);
            }
        }
        Path::Attr(list) if LISTS.contains(list) => {
            let mut items = match value {
                Value::Array(items) => items,
                single => vec![single],
            };
            if op == "add"
                && let Some(Value::Array(existing)) = doc.get(*list)
            {
                let mut merged = existing.clone();
                merged.append(&mut items);
                items = merged;
            }
            doc.insert(list.to_string(), Value::Array(items));
        }
        Path::Attr(attr) => {
            doc.insert(attr.to_string(), value);
        }
        Path::Sub(top, sub) => {
            let target = object_at(doc, top);
            match sub.split_once('.') {
                // manager.value
                Some((parent, leaf)) => {
                    object_at(target, parent).insert(leaf.to_string(), value);
                }
                None => {
                    target.insert(sub.clone(), value);
                }
            }
        }
        Path::Filtered { list, key, value: wanted, sub } => {
            let items = doc.entry(list.to_string()).or_insert_with(|| json!([]));
            let Value::Array(items) = items else {
                return Err(constraint(list, "Member must be a list"));
            };
            let existing = items.iter_mut().find(|item| matches_filter(item, key, wanted));
            let item = match existing {
                Some(item) => item,
                None => {
                    let mut fresh = Map::new();
                    fresh.insert(key.clone(), Value::String(wanted.clone()));
                    if *list == "emails" {
                        fresh.insert("primary".into(), Value::Bool(true));
                    }
                    items.push(Value::Object(fresh));
                    items.last_mut().unwrap_or_else(|| unreachable!("just pushed"))
                }
            };
            let Value::Object(item) = item else {
                return Err(constraint(list, "Member must be a list of objects"));
            };
            match (sub, value) {
                (Some(sub), value) => {
                    item.insert(sub.clone(), value);
                }
                (None, Value::Object(values)) => item.extend(values),
                (None, _) => return Err(constraint(list, "Member must be an object")),
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> Map<String, Value> {
        let doc = json!({
            "userName": "ada", "displayName": "Ada L",
            "name": {"givenName": "Ada", "familyName": "Lovelace"},
            "active": true,
            "emails": [{"value": "ada@x.org", "type": "work", "primary": true}],
        });
        match doc {
            Value::Object(map) => map,
            _ => unreachable!(),
        }
    }

    #[test]
    fn validation_cases() {
        let cases: Vec<(Value, Option<&str>)> = vec![
            (json!({}), None),
            (json!({"userName": ""}), Some("Value at 'userName'")),
            (json!({"userName": "a b"}), Some("regular expression")),
            (json!({"userName": "a:b"}), Some("regular expression")),
            (json!({"userName": "x".repeat(129)}), Some("less than or equal to 128")),
            (json!({"userName": "administrator"}), Some("reserved")),
            (json!({"name": {"givenName": ""}}), Some("Value at 'name.givenName'")),
            (json!({"name": {"familyName": null}}), Some("Value at 'name.familyName'")),
            (json!({"displayName": null}), Some("Value at 'displayName'")),
            (json!({"title": "a\tb"}), Some("tab")),
            (
                json!({"emails": [{"value": "a@x", "primary": true}, {"value": "b@x"}]}),
                Some("List attribute emails exceeds allowed limit of 1"),
            ),
            (json!({"emails": [{"value": "a@x"}]}), Some("primary")),
            (json!({"emails": [{"value": "a@x", "primary": "True"}]}), None),
            (json!({"emails": [{"value": "a@x", "primary": true, "display": "A"}]}), Some("display")),
            (json!({"password": "x"}), Some("password")),
            (json!({"active": "False"}), None),
            (json!({ENTERPRISE: {"manager": {"value": "m", "displayName": "M"}}}), Some("manager")),
        ];
        for (change, expected) in cases {
            let mut doc = user();
            if let Value::Object(change) = change.clone() {
                for (k, v) in change {
                    if v.is_null() {
                        doc.remove(&k);
                    } else if k == "name" {
                        let name = object_at(&mut doc, "name");
                        for (part, value) in v.as_object().cloned().unwrap_or_default() {
                            match value {
                                Value::Null => name.remove(&part),
                                value => name.insert(part, value),
                            };
                        }
                    } else {
                        doc.insert(k, v);
                    }
                }
            }
            let got = normalize(doc).and_then(|doc| validate(&doc));
            match (got, expected) {
                (Ok(()), None) => {}
                (Err(detail), Some(word)) => assert!(detail.contains(word), "{change}: {detail}"),
                (got, expected) => panic!("{change}: got {got:?}, expected {expected:?}"),
            }
        }
    }

    #[test]
    fn patch_paths() {
        let department = format!("{ENTERPRISE}:department");
        let department_at = format!("/{ENTERPRISE}/department");
        let manager = format!("{ENTERPRISE}:manager.value");
        let manager_at = format!("/{ENTERPRISE}/manager/value");
        // (op, path, value, attribute to read, expected value there)
        type Case<'a> = (&'a str, Option<&'a str>, Option<Value>, &'a str, Option<Value>);
        let cases: Vec<Case> = vec![
            (
                "replace",
                Some("name.givenName"),
                Some(json!("Augusta")),
                "/name/givenName",
                Some(json!("Augusta")),
            ),
            ("Replace", Some("DISPLAYNAME"), Some(json!("A")), "/displayName", Some(json!("A"))),
            (
                "replace",
                Some(r#"emails[type eq "work"].value"#),
                Some(json!("n@x")),
                "/emails/0/value",
                Some(json!("n@x")),
            ),
            (
                "replace",
                Some("emails"),
                Some(json!([{"value":"z@x","type":"work","primary":true}])),
                "/emails/0/value",
                Some(json!("z@x")),
            ),
            ("remove", Some("emails"), None, "/emails", None),
            ("remove", Some(r#"emails[type eq "work"]"#), None, "/emails/0", None),
            ("add", Some(&department), Some(json!("R&D")), &department_at, Some(json!("R&D"))),
            ("replace", Some(&manager), Some(json!("m1")), &manager_at, Some(json!("m1"))),
            (
                "replace",
                None,
                Some(json!({"title": "Dr", "name.familyName": "Byron"})),
                "/name/familyName",
                Some(json!("Byron")),
            ),
            ("replace", Some("active"), Some(json!("False")), "/active", Some(json!("False"))),
        ];
        for (op, path, value, pointer, expected) in cases {
            let mut doc = user();
            apply(&mut doc, &op.to_lowercase(), path, value).unwrap_or_else(|e| panic!("{op} {path:?}: {e}"));
            let got = Value::Object(doc).pointer(pointer).cloned();
            assert_eq!(got, expected, "{op} {path:?}");
        }
    }

    #[test]
    fn patch_refusals() {
        let cases: Vec<(&str, Option<&str>, Option<Value>)> = vec![
            ("remove", Some("userName"), None),
            ("remove", Some("active"), None),
            ("remove", None, None),
            ("replace", Some("nosuch"), Some(json!("x"))),
            ("replace", Some("password"), Some(json!("x"))),
            ("move", Some("title"), Some(json!("x"))),
            ("replace", Some(r#"emails[type co "w"].value"#), Some(json!("x"))),
        ];
        for (op, path, value) in cases {
            let mut doc = user();
            assert!(apply(&mut doc, op, path, value).is_err(), "{op} {path:?}");
        }
    }
}
