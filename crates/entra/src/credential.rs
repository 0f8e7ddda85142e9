//! Sign-in with the OAuth 2.0 client-credentials grant, and the token cache.

use std::fmt;
use std::time::Duration;

use futures::future::BoxFuture;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tokio::sync::Mutex;
use tokio::time::Instant;
use url::Url;

use crate::error::{EntraError, SignInError};

/// A national cloud: where to sign in, and where Graph lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cloud {
    /// e.g. `https://login.microsoftonline.com`
    pub authority: Url,
    /// e.g. `https://graph.microsoft.com`
    pub graph_root: Url,
}

impl Cloud {
    fn known(authority: &str, graph: &str) -> Self {
        // Both strings are constants below; parsing them cannot fail.
        Cloud {
            authority: Url::parse(authority).expect("constant URL"),
            graph_root: Url::parse(graph).expect("constant URL"),
        }
    }

    pub fn global() -> Self {
        Self::known("https://login.microsoftonline.com", "https://graph.microsoft.com")
    }

    pub fn us_government() -> Self {
        Self::known("https://login.microsoftonline.us", "https://graph.microsoft.us")
    }

    pub fn china() -> Self {
        Self::known("https://login.partner.microsoftonline.cn", "https://microsoftgraph.chinacloudapi.cn")
    }

    /// The cloud for an authority host (AZURE_AUTHORITY_HOST); an unknown host (e.g. the local
    /// emulator) needs the Graph root given explicitly.
    pub fn from_authority(authority: &str, graph_root: Option<&str>) -> Result<Self, EntraError> {
        let parse =
            |s: &str| Url::parse(s).map_err(|e| EntraError::Config(format!("{s:?} is not a URL: {e}")));
        let authority = parse(authority.trim_end_matches('/'))?;
        let graph_root = match graph_root {
            Some(g) => parse(g.trim_end_matches('/'))?,
            None => match authority.host_str().unwrap_or_default() {
                "login.microsoftonline.com" => Cloud::global().graph_root,
                "login.microsoftonline.us" => Cloud::us_government().graph_root,
                "login.partner.microsoftonline.cn" | "login.chinacloudapi.cn" => Cloud::china().graph_root,
                other => {
                    return Err(EntraError::Config(format!(
                        "unknown authority host {other:?}: give the Graph root URL too"
                    )));
                }
            },
        };
        Ok(Cloud { authority, graph_root })
    }

    /// `<graph root>/.default`
    pub fn graph_scope(&self) -> String {
        format!("{}/.default", self.graph_root.as_str().trim_end_matches('/'))
    }
}

/// Something that hands out Graph access tokens (client secret today; certificates and federated
/// tokens later).
pub trait TokenProvider: Send + Sync + fmt::Debug {
    fn token(&self) -> BoxFuture<'_, Result<SecretString, EntraError>>;
}

/// The certificates of a PEM bundle (extra trusted CAs).
pub fn ca_certificates(pem: &[u8]) -> Result<Vec<reqwest::Certificate>, EntraError> {
    let certs = reqwest::Certificate::from_pem_bundle(pem)
        .map_err(|e| EntraError::Config(format!("the CA bundle is not PEM certificates: {e}")))?;
    if certs.is_empty() {
        return Err(EntraError::Config("the CA bundle holds no certificate".into()));
    }
    Ok(certs)
}

/// Refresh this long before the token expires.
const REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);

struct CachedToken {
    token: SecretString,
    refresh_at: Instant,
}

/// Client credentials with a client secret on the v2 token endpoint.
pub struct ClientSecretCredential {
    http: reqwest::Client,
    token_url: Url,
    client_id: String,
    secret: SecretString,
    scope: String,
    // An async mutex so concurrent callers wait for one sign-in instead of each signing in.
    cache: Mutex<Option<CachedToken>>,
}

impl fmt::Debug for ClientSecretCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientSecretCredential")
            .field("token_url", &self.token_url.as_str())
            .field("client_id", &self.client_id)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    // The v1 endpoint sends numbers as strings.
    expires_in: NumberOrText,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum NumberOrText {
    Number(u64),
    Text(String),
}

#[derive(Deserialize)]
struct TokenErrorAnswer {
    error: String,
    #[serde(default)]
    error_description: String,
    #[serde(default)]
    error_codes: Vec<u64>,
    trace_id: Option<String>,
    correlation_id: Option<String>,
}

impl ClientSecretCredential {
    pub fn new(
        cloud: &Cloud,
        tenant: &str,
        client_id: impl Into<String>,
        secret: SecretString,
    ) -> Result<Self, EntraError> {
        if tenant.is_empty() || tenant.contains(['/', '?', '#']) {
            return Err(EntraError::Config(format!("{tenant:?} is not a tenant id or domain")));
        }
        let base = cloud.authority.as_str().trim_end_matches('/');
        let token_url = Url::parse(&format!("{base}/{tenant}/oauth2/v2.0/token"))
            .map_err(|e| EntraError::Config(format!("bad token URL: {e}")))?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| EntraError::Config(format!("HTTP client: {e}")))?;
        Ok(ClientSecretCredential {
            http,
            token_url,
            client_id: client_id.into(),
            secret,
            scope: cloud.graph_scope(),
            cache: Mutex::new(None),
        })
    }

    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// Also trust these CA certificates (a PEM bundle) for the token endpoint, beside the system's.
    pub fn with_ca_bundle(mut self, pem: &[u8]) -> Result<Self, EntraError> {
        self.http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .tls_certs_merge(ca_certificates(pem)?)
            .build()
            .map_err(|e| EntraError::Config(format!("HTTP client: {e}")))?;
        Ok(self)
    }

    /// Drop the cached token (e.g. after Graph rejected it).
    pub async fn forget(&self) {
        *self.cache.lock().await = None;
    }

    async fn sign_in(&self) -> Result<CachedToken, EntraError> {
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", self.client_id.as_str()),
            ("client_secret", self.secret.expose_secret()),
            ("scope", self.scope.as_str()),
        ];
        let what = || format!("the token endpoint {}", self.token_url);
        // A few quick attempts for transport failures and 5xx; AADSTS answers are final.
        let mut attempt = 0;
        let response = loop {
            attempt += 1;
            match self.http.post(self.token_url.clone()).form(&form).send().await {
                Ok(r) if r.status().is_server_error() && attempt < 3 => {}
                Ok(r) => break r,
                Err(e) if attempt < 3 && (e.is_connect() || e.is_timeout()) => {}
                // reqwest errors name the URL, never the form body.
                Err(e) => {
                    return Err(EntraError::Transport { what: what(), detail: e.without_url().to_string() });
                }
            }
            tokio::time::sleep(Duration::from_millis(200 * attempt)).await;
        };
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|e| EntraError::Transport { what: what(), detail: e.to_string() })?;
        if status.is_success() {
            let answer: TokenAnswer = serde_json::from_slice(&body)
                .map_err(|e| EntraError::decode(what(), format!("token answer: {e}")))?;
            let lifetime = match answer.expires_in {
                NumberOrText::Number(n) => n,
                NumberOrText::Text(t) => t
                    .parse()
                    .map_err(|_| EntraError::decode(what(), format!("expires_in {t:?} is not a number")))?,
            };
            let lifetime = Duration::from_secs(lifetime);
            // Short-lived tokens (tests) are kept for half their life.
            let keep = if lifetime > REFRESH_MARGIN * 2 { lifetime - REFRESH_MARGIN } else { lifetime / 2 };
            tracing::debug!(
                "signed in as {} at {}; token valid {} s, renewed in {} s",
                self.client_id,
                self.token_url.path(),
                lifetime.as_secs(),
                keep.as_secs()
            );
            return Ok(CachedToken {
                token: SecretString::from(answer.access_token),
                refresh_at: Instant::now() + keep,
            });
        }
        match serde_json::from_slice::<TokenErrorAnswer>(&body) {
            Ok(e) => Err(EntraError::SignIn(Box::new(SignInError {
                status: status.as_u16(),
                error: e.error,
                description: e.error_description,
                codes: e.error_codes,
                trace_id: e.trace_id,
                correlation_id: e.correlation_id,
            }))),
            Err(_) => Err(EntraError::decode(
                what(),
                format!("HTTP {status} with a body that is not an OAuth error: {}", snippet(&body)),
            )),
        }
    }
}

impl TokenProvider for ClientSecretCredential {
    fn token(&self) -> BoxFuture<'_, Result<SecretString, EntraError>> {
        Box::pin(async move {
            let mut cache = self.cache.lock().await;
            if let Some(cached) = cache.as_ref()
                && Instant::now() < cached.refresh_at
            {
                return Ok(cached.token.clone());
            }
            let fresh = self.sign_in().await?;
            let token = fresh.token.clone();
            *cache = Some(fresh);
            Ok(token)
        })
    }
}

/// The first characters of a body, for error messages.
pub(crate) fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return "(empty)".into();
    }
    let mut out: String = trimmed.chars().take(160).collect();
    if trimmed.chars().count() > 160 {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clouds_from_authority() {
        let cases = [
            ("https://login.microsoftonline.com", "https://graph.microsoft.com/.default"),
            ("https://login.microsoftonline.us/", "https://graph.microsoft.us/.default"),
            ("https://login.chinacloudapi.cn", "https://microsoftgraph.chinacloudapi.cn/.default"),
        ];
        for (authority, scope) in cases {
            assert_eq!(Cloud::from_authority(authority, None).unwrap().graph_scope(), scope, "{authority}");
        }
        assert!(Cloud::from_authority("http://127.0.0.1:9", None).is_err());
        assert_eq!(
            Cloud::from_authority("http://127.0.0.1:9", Some("http://127.0.0.1:9")).unwrap().graph_scope(),
            "http://127.0.0.1:9/.default"
        );
    }

    #[test]
    fn debug_hides_secret() {
        let cred = ClientSecretCredential::new(
            &Cloud::global(),
            "contoso.onmicrosoft.com",
            "client",
            SecretString::from("s3cr3t-value"),
        )
        .unwrap();
        let shown = format!("{cred:?}");
        assert!(!shown.contains("s3cr3t"), "{shown}");
        assert!(shown.contains("client"));
    }
}
