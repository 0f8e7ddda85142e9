//! What the client needs to reach one AWS SCIM endpoint, and how politely to call it.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use url::Url;

use crate::error::ScimError;

/// Which SCIM dialect the endpoint speaks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ScimProfile {
    /// AWS IAM Identity Center: cursor paging, groups never show members (read them with a
    /// `groups.value eq` filter on /Users).
    #[default]
    Aws,
    /// A plain RFC 7644 server: `startIndex` paging up to `totalResults`, members read from the
    /// group itself. The first step toward SCIM targets other than AWS.
    Generic,
}

#[derive(Debug, Clone)]
pub struct ScimConfig {
    /// The SCIM endpoint as the console shows it, with or without the trailing slash, e.g.
    /// `https://scim.us-east-1.amazonaws.com/<tenant>/scim/v2/`.
    pub base_url: String,
    /// The bearer token; `SecretString` keeps it out of `Debug` output.
    pub token: SecretString,
    /// Client-side rate limit over all calls of this client (and its clones).
    pub requests_per_second: u32,
    /// Calls in flight at once over all clones.
    pub max_concurrency: usize,
    /// Attempts after the first for a transient failure (429, 5xx, timeout, lost connection).
    pub max_retries: u32,
    /// First back-off delay; it doubles with jitter up to `max_retry_delay`.
    pub retry_base_delay: Duration,
    pub max_retry_delay: Duration,
    /// Total time a call may spend waiting between attempts, Retry-After included.
    pub retry_budget: Duration,
    /// A Retry-After longer than this is cut down to it (so that one answer cannot park a run).
    pub max_retry_after: Duration,
    /// Time limit of one attempt.
    pub timeout: Duration,
    pub user_agent: String,
    /// Extra trusted CA certificates (a PEM bundle), added to the system's roots: for endpoints
    /// behind a private CA, such as `scimsync emulate --tls`.
    pub ca_bundle: Option<Vec<u8>>,
    /// The SCIM dialect; AWS unless said otherwise.
    pub profile: ScimProfile,
}

impl ScimConfig {
    pub fn new(base_url: impl Into<String>, token: SecretString) -> Self {
        ScimConfig {
            base_url: base_url.into(),
            token,
            requests_per_second: 20,
            max_concurrency: 8,
            max_retries: 5,
            retry_base_delay: Duration::from_millis(500),
            max_retry_delay: Duration::from_secs(20),
            retry_budget: Duration::from_secs(120),
            max_retry_after: Duration::from_secs(60),
            timeout: Duration::from_secs(30),
            user_agent: concat!("scimsync/", env!("CARGO_PKG_VERSION")).to_string(),
            ca_bundle: None,
            profile: ScimProfile::Aws,
        }
    }

    /// The base URL, checked, without a trailing slash; the token, checked.
    pub(crate) fn validate(&self) -> Result<Url, ScimError> {
        let invalid = |what: String| Err(ScimError::InvalidConfig(what));
        let raw = self.base_url.trim();
        let url = match Url::parse(raw) {
            Ok(url) => url,
            Err(e) => {
                return invalid(format!(
                    "the SCIM endpoint `{raw}` is not a URL ({e}); copy it from the IAM Identity \
                     Center console, e.g. https://scim.us-east-1.amazonaws.com/<tenant>/scim/v2/"
                ));
            }
        };
        let loopback = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
        if url.scheme() != "https" && !(url.scheme() == "http" && loopback) {
            return invalid(format!(
                "the SCIM endpoint `{raw}` must use https (plain http is allowed for localhost only)"
            ));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return invalid("the SCIM endpoint must not hold credentials; give the token separately".into());
        }
        if url.query().is_some() || url.fragment().is_some() {
            return invalid(format!(
                "the SCIM endpoint `{}` must not have a query or fragment",
                url.origin().ascii_serialization()
            ));
        }
        if url.path().trim_matches('/').is_empty() {
            return invalid(format!(
                "the SCIM endpoint `{raw}` has no path; it must include the tenant, e.g. \
                 https://scim.us-east-1.amazonaws.com/<tenant>/scim/v2/"
            ));
        }
        let token = self.token.expose_secret();
        if token.trim().is_empty() {
            return invalid(
                "the SCIM access token is empty; generate one in the IAM Identity Center console".into(),
            );
        }
        if token.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return invalid(
                "the SCIM access token contains spaces or line breaks; paste it again as one line".into(),
            );
        }
        if self.requests_per_second == 0 || self.max_concurrency == 0 {
            return invalid("requests_per_second and max_concurrency must be at least 1".into());
        }
        let mut url = url;
        let trimmed = url.path().trim_end_matches('/').to_string();
        url.set_path(&trimmed);
        Ok(url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_url_checks() {
        let cases = [
            ("https://scim.us-east-1.amazonaws.com/t1/scim/v2/", Ok("/t1/scim/v2")),
            ("https://scim.us-east-1.amazonaws.com/t1/scim/v2", Ok("/t1/scim/v2")),
            ("http://127.0.0.1:8080/t1/scim/v2", Ok("/t1/scim/v2")),
            ("http://scim.example.com/t1/scim/v2", Err("https")),
            ("scim.us-east-1.amazonaws.com/t1", Err("not a URL")),
            ("https://scim.us-east-1.amazonaws.com/", Err("no path")),
            ("https://scim.us-east-1.amazonaws.com/t/scim/v2?x=1", Err("query")),
            ("https://u:p@scim.us-east-1.amazonaws.com/t/scim/v2", Err("credentials")),
        ];
        for (url, expected) in cases {
            let cfg = ScimConfig::new(url, SecretString::from("tok"));
            match (cfg.validate(), expected) {
                (Ok(u), Ok(path)) => assert_eq!(u.path(), path, "{url}"),
                (Err(ScimError::InvalidConfig(m)), Err(word)) => {
                    assert!(m.contains(word), "{url}: {m}")
                }
                (got, expected) => panic!("{url}: got {got:?}, expected {expected:?}"),
            }
        }
    }

    #[test]
    fn token_checks_never_echo_the_token() {
        for token in ["", "  ", "abc def", "abc\n"] {
            let cfg = ScimConfig::new("https://h/t/scim/v2", SecretString::from(token));
            let err = cfg.validate().expect_err(token).to_string();
            assert!(err.contains("token"), "{err}");
            if !token.trim().is_empty() {
                assert!(!err.contains(token.trim()), "{err}");
            }
        }
        let cfg = ScimConfig::new("https://h/t/scim/v2", SecretString::from("s3cr3t-token"));
        assert!(!format!("{cfg:?}").contains("s3cr3t"));
    }
}
