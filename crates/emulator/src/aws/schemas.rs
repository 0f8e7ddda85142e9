//! The discovery documents: `/Schemas` (User, Group, the enterprise extension) and
//! `/ResourceTypes`, in full, with the attributes AWS accepts and AWS's characteristics
//! (`userName` unique and `caseExact: false`; emails, phoneNumbers, addresses and roles
//! multi-valued in the schema but limited to one value by the validator).

use serde_json::{Value, json};

use super::http::GROUP_SCHEMA;
use super::users::{ENTERPRISE, USER_SCHEMA};

const SCHEMA_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";
const RESOURCE_TYPE_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";

/// One attribute definition (RFC 7643 §7) with the common defaults.
fn attr(name: &str, kind: &str, description: &str) -> Value {
    json!({
        "name": name,
        "type": kind,
        "multiValued": false,
        "description": description,
        "required": false,
        "caseExact": false,
        "mutability": "readWrite",
        "returned": "default",
        "uniqueness": "none",
    })
}

fn with(mut attr: Value, changes: Value) -> Value {
    if let (Some(a), Some(c)) = (attr.as_object_mut(), changes.as_object()) {
        for (k, v) in c {
            a.insert(k.clone(), v.clone());
        }
    }
    attr
}

fn text(name: &str, description: &str) -> Value {
    attr(name, "string", description)
}

fn complex(name: &str, description: &str, multi: bool, sub: Vec<Value>) -> Value {
    with(attr(name, "complex", description), json!({"multiValued": multi, "subAttributes": sub}))
}

fn typed_multi(name: &str, description: &str, value: Value, types: &[&str]) -> Value {
    complex(
        name,
        description,
        true,
        vec![
            value,
            with(
                text("type", "A label indicating the attribute's function."),
                json!({"canonicalValues": types}),
            ),
            attr("primary", "boolean", "Whether this is the primary value."),
        ],
    )
}

fn schema(id: &str, name: &str, description: &str, attributes: Vec<Value>) -> Value {
    json!({
        "schemas": [SCHEMA_SCHEMA],
        "id": id,
        "name": name,
        "description": description,
        "attributes": attributes,
        "meta": {"resourceType": "Schema", "location": format!("/v2/Schemas/{id}")},
    })
}

pub(crate) fn user_schema() -> Value {
    schema(
        USER_SCHEMA,
        "User",
        "User Account",
        vec![
            with(
                text("userName", "Unique identifier for the User; 1 to 128 characters, no whitespace."),
                json!({"required": true, "uniqueness": "server"}),
            ),
            with(
                complex(
                    "name",
                    "The components of the user's real name.",
                    false,
                    vec![
                        text("formatted", "The full name."),
                        with(text("familyName", "The family name."), json!({"required": true})),
                        with(text("givenName", "The given name."), json!({"required": true})),
                        text("middleName", "The middle name."),
                        text("honorificPrefix", "The honorific prefix."),
                        text("honorificSuffix", "The honorific suffix."),
                    ],
                ),
                json!({"required": true}),
            ),
            with(text("displayName", "The name of the User, for display."), json!({"required": true})),
            text("nickName", "The casual name of the User."),
            with(
                attr("profileUrl", "reference", "A URI of the User's online profile."),
                json!({"referenceTypes": ["external"]}),
            ),
            text("title", "The user's title."),
            text("userType", "The relationship between the organization and the user."),
            text("preferredLanguage", "The User's preferred written or spoken language."),
            text("locale", "The User's default location."),
            text("timezone", "The User's time zone, in the IANA Time Zone database format."),
            attr("active", "boolean", "The User's administrative status."),
            typed_multi(
                "emails",
                "Email addresses for the user; at most one, marked primary.",
                text("value", "Email address."),
                &["work", "home", "other"],
            ),
            typed_multi(
                "phoneNumbers",
                "Phone numbers for the User; at most one.",
                text("value", "Phone number."),
                &["work", "home", "mobile", "fax", "pager", "other"],
            ),
            complex(
                "addresses",
                "A physical mailing address for this User; at most one.",
                true,
                vec![
                    text("formatted", "The full mailing address."),
                    text("streetAddress", "The full street address."),
                    text("locality", "The city or locality."),
                    text("region", "The state or region."),
                    text("postalCode", "The zip code or postal code."),
                    text("country", "The country name."),
                    with(
                        text("type", "A label indicating the address's function."),
                        json!({"canonicalValues": ["work", "home", "other"]}),
                    ),
                    attr("primary", "boolean", "Whether this is the primary address."),
                ],
            ),
            typed_multi("roles", "Roles for the User; at most one.", text("value", "The role."), &[]),
        ],
    )
}

pub(crate) fn group_schema() -> Value {
    schema(
        GROUP_SCHEMA,
        "Group",
        "Group",
        vec![
            with(
                text("displayName", "A human-readable name for the Group; 1 to 1024 characters."),
                json!({"required": true, "uniqueness": "server"}),
            ),
            complex(
                "members",
                "The users in the group; never returned by AWS (read them with a members filter).",
                true,
                vec![
                    with(text("value", "The id of the member."), json!({"mutability": "immutable"})),
                    with(
                        attr("$ref", "reference", "The URI of the member."),
                        json!({"mutability": "immutable", "referenceTypes": ["User"]}),
                    ),
                    with(
                        text("type", "The type of the member."),
                        json!({"mutability": "immutable", "canonicalValues": ["User"]}),
                    ),
                ],
            ),
        ],
    )
}

pub(crate) fn enterprise_schema() -> Value {
    schema(
        ENTERPRISE,
        "EnterpriseUser",
        "Enterprise User",
        vec![
            text("employeeNumber", "Numeric or alphanumeric identifier assigned to a person."),
            text("costCenter", "Identifies the name of a cost center."),
            text("organization", "Identifies the name of an organization."),
            text("division", "Identifies the name of a division."),
            text("department", "Identifies the name of a department."),
            complex(
                "manager",
                "The User's manager (only its id is accepted).",
                false,
                vec![
                    text("value", "The id of the manager."),
                    with(
                        attr("$ref", "reference", "The URI of the manager."),
                        json!({"referenceTypes": ["User"]}),
                    ),
                ],
            ),
        ],
    )
}

pub(crate) fn all_schemas() -> Vec<Value> {
    vec![user_schema(), group_schema(), enterprise_schema()]
}

pub(crate) fn schema_by_id(id: &str) -> Option<Value> {
    all_schemas().into_iter().find(|s| s["id"] == id)
}

pub(crate) fn resource_types() -> Vec<Value> {
    vec![
        json!({
            "schemas": [RESOURCE_TYPE_SCHEMA],
            "id": "User",
            "name": "User",
            "endpoint": "/Users",
            "description": "User Account",
            "schema": USER_SCHEMA,
            "schemaExtensions": [{"schema": ENTERPRISE, "required": false}],
            "meta": {"resourceType": "ResourceType", "location": "/v2/ResourceTypes/User"},
        }),
        json!({
            "schemas": [RESOURCE_TYPE_SCHEMA],
            "id": "Group",
            "name": "Group",
            "endpoint": "/Groups",
            "description": "Group",
            "schema": GROUP_SCHEMA,
            "schemaExtensions": [],
            "meta": {"resourceType": "ResourceType", "location": "/v2/ResourceTypes/Group"},
        }),
    ]
}

pub(crate) fn resource_type_by_id(id: &str) -> Option<Value> {
    resource_types().into_iter().find(|r| r["id"] == id)
}
