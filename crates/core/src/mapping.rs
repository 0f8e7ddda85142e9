//! Attribute mapping: from a source user to the values AWS should hold, as Entra's AWS IAM Identity
//! Center application maps them by default. Values AWS would refuse are repaired where the repair is
//! unambiguous and otherwise reported, so that nothing is sent only to fail.

use serde::{Deserialize, Serialize};

use crate::model::{DesiredUser, SourceUser, UserValues};

/// Longest userName AWS accepts.
const MAX_USER_NAME: usize = 128;
/// Longest other string AWS accepts.
const MAX_STRING: usize = 1024;
/// Characters AWS refuses in a userName.
const USER_NAME_FORBIDDEN: &[char] = &['<', '>', ';', ':', '%'];
/// userNames AWS reserves.
const RESERVED_USER_NAMES: &[&str] = &["Administrator", "AWSAdministrators"];

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
    let mut reasons = Vec::new();
    let user_name = clean(&user.user_principal_name);
    if let Some(reason) = user_name_problem(&user_name) {
        reasons.push(reason);
    }
    let mut required = |attr: &str, source: &str, value: &Option<String>| -> String {
        match value.as_deref().map(clean).filter(|v| !v.is_empty()) {
            Some(v) => v,
            None => {
                reasons.push(format!("{attr} is empty (Entra {source} is not set); AWS requires it"));
                String::new()
            }
        }
    };
    let display_name = required("displayName", "displayName", &user.display_name);
    let given_name = required("name.givenName", "givenName", &user.given_name);
    let family_name = required("name.familyName", "surname", &user.surname);

    let values = UserValues {
        user_name,
        display_name,
        given_name,
        family_name,
        email: optional(&user.mail),
        active: user.account_enabled,
        title: optional(&user.job_title),
        employee_number: optional(&user.employee_id),
        cost_center: optional(&user.cost_center),
        organization: optional(&user.company_name),
        division: optional(&user.division),
        department: optional(&user.department),
    };
    for (attr, value) in [
        ("displayName", Some(&values.display_name)),
        ("name.givenName", Some(&values.given_name)),
        ("name.familyName", Some(&values.family_name)),
        ("emails", values.email.as_ref()),
        ("title", values.title.as_ref()),
        ("department", values.department.as_ref()),
    ] {
        if let Some(v) = value
            && v.chars().count() > MAX_STRING
        {
            reasons.push(format!("{attr} is longer than {MAX_STRING} characters"));
        }
    }
    if reasons.is_empty() {
        Ok(DesiredUser { external_id: user.id.clone(), values })
    } else {
        Err(Rejection { external_id: user.id.clone(), name: user.user_principal_name.clone(), reasons })
    }
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

fn user_name_problem(user_name: &str) -> Option<String> {
    if user_name.is_empty() {
        return Some("userName is empty (Entra userPrincipalName is not set)".into());
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

fn optional(value: &Option<String>) -> Option<String> {
    value.as_deref().map(clean).filter(|v| !v.is_empty())
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

    #[test]
    fn group_names() {
        assert_eq!(map_group_name("g", " Admins ").as_deref(), Ok("Admins"));
        assert!(map_group_name("g", "  ").is_err());
    }
}
