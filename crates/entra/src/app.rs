//! Finding the enterprise application (the service principal) scimsync works with.

use reqwest::header::HeaderMap;
use serde::{Deserialize, Serialize};

use crate::error::{AppCandidate, EntraError};
use crate::graph::{GraphClient, odata_quote};

/// How the user named the enterprise application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppSelector {
    /// The service principal's object id (also tried as an appId when no object has it).
    ObjectId(String),
    /// The application (client) id.
    AppId(String),
    DisplayName(String),
}

impl AppSelector {
    /// A GUID is taken as an object id (falling back to an appId), anything else as a display name.
    pub fn parse(text: &str) -> Self {
        let text = text.trim();
        if is_guid(text) {
            AppSelector::ObjectId(text.to_owned())
        } else {
            AppSelector::DisplayName(text.to_owned())
        }
    }
}

impl std::fmt::Display for AppSelector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AppSelector::ObjectId(id) => write!(f, "object id {id}"),
            AppSelector::AppId(id) => write!(f, "appId {id}"),
            AppSelector::DisplayName(name) => write!(f, "display name {name:?}"),
        }
    }
}

pub fn is_guid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, len)| g.len() == len && g.chars().all(|c| c.is_ascii_hexdigit()))
}

/// The enterprise application. Synchronization routes use `id` (the object id), never `app_id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServicePrincipal {
    pub id: String,
    pub app_id: String,
    #[serde(default)]
    pub display_name: String,
}

impl From<&ServicePrincipal> for AppCandidate {
    fn from(sp: &ServicePrincipal) -> Self {
        AppCandidate { id: sp.id.clone(), app_id: sp.app_id.clone(), display_name: sp.display_name.clone() }
    }
}

const SP_SELECT: &str = "id,appId,displayName";

/// Find exactly one enterprise application; zero or several matches are errors that list what was found.
pub async fn find_app(graph: &GraphClient, selector: &AppSelector) -> Result<ServicePrincipal, EntraError> {
    let not_found = || EntraError::AppNotFound { query: selector.to_string() };
    match selector {
        AppSelector::ObjectId(id) => match get_optional(graph, &format!("/servicePrincipals/{id}")).await? {
            Some(sp) => Ok(sp),
            None => get_optional(graph, &format!("/servicePrincipals(appId={})", odata_quote(id)))
                .await?
                .ok_or_else(not_found),
        },
        AppSelector::AppId(id) => {
            get_optional(graph, &format!("/servicePrincipals(appId={})", odata_quote(id)))
                .await?
                .ok_or_else(not_found)
        }
        AppSelector::DisplayName(name) => {
            let filter = format!("displayName eq {}", odata_quote(name));
            let url = graph.url("/servicePrincipals", &[("$filter", &filter), ("$select", SP_SELECT)])?;
            let mut found: Vec<ServicePrincipal> = graph.get_all(url, &HeaderMap::new()).await?;
            match found.len() {
                0 => Err(not_found()),
                1 => Ok(found.remove(0)),
                _ => Err(EntraError::AppAmbiguous {
                    query: selector.to_string(),
                    found: found.iter().map(AppCandidate::from).collect(),
                }),
            }
        }
    }
}

/// A GET that turns 404 (and Graph's 400 for a malformed id) into `None`.
async fn get_optional(graph: &GraphClient, path: &str) -> Result<Option<ServicePrincipal>, EntraError> {
    let url = graph.url(path, &[("$select", SP_SELECT)])?;
    match graph.get(url).await {
        Ok(sp) => Ok(Some(sp)),
        Err(EntraError::Graph(e)) if e.status == 404 => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selector_parsing() {
        let cases = [
            (
                "8a1b2c3d-1234-4abc-9def-0123456789ab",
                AppSelector::ObjectId("8a1b2c3d-1234-4abc-9def-0123456789ab".into()),
            ),
            (" AWS IAM Identity Center ", AppSelector::DisplayName("AWS IAM Identity Center".into())),
            (
                "8a1b2c3d-1234-4abc-9def-0123456789a",
                AppSelector::DisplayName("8a1b2c3d-1234-4abc-9def-0123456789a".into()),
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(AppSelector::parse(input), expected, "{input:?}");
        }
    }
}
