//! User attributes as the target knows them, and a change of one of them.

use serde::{Deserialize, Serialize};

use crate::model::UserValues;

/// A target user attribute that scimsync writes. Adapters map each to their wire path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum UserAttr {
    UserName,
    DisplayName,
    GivenName,
    FamilyName,
    Email,
    Active,
    Title,
    EmployeeNumber,
    CostCenter,
    Organization,
    Division,
    Department,
    NickName,
    Phone,
    StreetAddress,
    Locality,
    Region,
    PostalCode,
    Country,
    /// The manager's AWS id.
    Manager,
    ExternalId,
}

impl UserAttr {
    /// The SCIM name people know the attribute by, for plans and logs.
    pub fn label(self) -> &'static str {
        match self {
            UserAttr::UserName => "userName",
            UserAttr::DisplayName => "displayName",
            UserAttr::GivenName => "name.givenName",
            UserAttr::FamilyName => "name.familyName",
            UserAttr::Email => "emails[work]",
            UserAttr::Active => "active",
            UserAttr::Title => "title",
            UserAttr::EmployeeNumber => "employeeNumber",
            UserAttr::CostCenter => "costCenter",
            UserAttr::Organization => "organization",
            UserAttr::Division => "division",
            UserAttr::Department => "department",
            UserAttr::NickName => "nickName",
            UserAttr::Phone => "phoneNumbers[work]",
            UserAttr::StreetAddress => "addresses[work].streetAddress",
            UserAttr::Locality => "addresses[work].locality",
            UserAttr::Region => "addresses[work].region",
            UserAttr::PostalCode => "addresses[work].postalCode",
            UserAttr::Country => "addresses[work].country",
            UserAttr::Manager => "manager",
            UserAttr::ExternalId => "externalId",
        }
    }

    /// Every attribute that is part of [`UserValues`], in display order.
    pub const VALUES: [UserAttr; 20] = [
        UserAttr::UserName,
        UserAttr::DisplayName,
        UserAttr::GivenName,
        UserAttr::FamilyName,
        UserAttr::Email,
        UserAttr::Active,
        UserAttr::Title,
        UserAttr::EmployeeNumber,
        UserAttr::CostCenter,
        UserAttr::Organization,
        UserAttr::Division,
        UserAttr::Department,
        UserAttr::NickName,
        UserAttr::Phone,
        UserAttr::StreetAddress,
        UserAttr::Locality,
        UserAttr::Region,
        UserAttr::PostalCode,
        UserAttr::Country,
        UserAttr::Manager,
    ];

    /// The value of this attribute in `values`; `None` when empty. `ExternalId` is not a value.
    pub fn get(self, values: &UserValues) -> Option<AttrValue> {
        let text = |s: &Option<String>| s.clone().map(AttrValue::Text);
        match self {
            UserAttr::UserName => Some(AttrValue::Text(values.user_name.clone())),
            UserAttr::DisplayName => Some(AttrValue::Text(values.display_name.clone())),
            UserAttr::GivenName => Some(AttrValue::Text(values.given_name.clone())),
            UserAttr::FamilyName => Some(AttrValue::Text(values.family_name.clone())),
            UserAttr::Email => text(&values.email),
            UserAttr::Active => Some(AttrValue::Bool(values.active)),
            UserAttr::Title => text(&values.title),
            UserAttr::EmployeeNumber => text(&values.employee_number),
            UserAttr::CostCenter => text(&values.cost_center),
            UserAttr::Organization => text(&values.organization),
            UserAttr::Division => text(&values.division),
            UserAttr::Department => text(&values.department),
            UserAttr::NickName => text(&values.nick_name),
            UserAttr::Phone => text(&values.phone),
            UserAttr::StreetAddress => text(&values.street_address),
            UserAttr::Locality => text(&values.locality),
            UserAttr::Region => text(&values.region),
            UserAttr::PostalCode => text(&values.postal_code),
            UserAttr::Country => text(&values.country),
            UserAttr::Manager => text(&values.manager),
            UserAttr::ExternalId => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum AttrValue {
    Text(String),
    Bool(bool),
}

impl std::fmt::Display for AttrValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AttrValue::Text(s) => write!(f, "{s:?}"),
            AttrValue::Bool(b) => write!(f, "{b}"),
        }
    }
}

/// One attribute changing from `old` to `new`. `new == None` clears the attribute.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttrChange {
    pub attr: UserAttr,
    pub old: Option<AttrValue>,
    pub new: Option<AttrValue>,
}

/// The attributes that differ between what AWS holds and what is wanted, in display order.
pub fn diff_user(current: &UserValues, desired: &UserValues) -> Vec<AttrChange> {
    UserAttr::VALUES
        .iter()
        .filter_map(|&attr| {
            let old = attr.get(current);
            let new = attr.get(desired);
            (old != new).then_some(AttrChange { attr, old, new })
        })
        .collect()
}
