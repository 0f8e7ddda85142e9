//! Builders shared by the planner's test binaries.

use scimsync_core::SourceUser;

/// A complete user that maps without repairs: `{id}@contoso.example`, surname the id in capitals.
pub fn source_user(id: &str) -> SourceUser {
    SourceUser {
        id: id.into(),
        user_principal_name: format!("{id}@contoso.example"),
        display_name: Some(format!("User {id}")),
        given_name: Some("Given".into()),
        surname: Some(id.to_uppercase()),
        mail: Some(format!("{id}@contoso.example")),
        account_enabled: true,
        ..Default::default()
    }
}
