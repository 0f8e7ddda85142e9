//! The one Microsoft Graph client: sign-in, client-side rate limit, retries (honouring Retry-After),
//! error decoding, paging and call counting all live here.

use std::fmt;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use url::Url;

use crate::credential::{TokenProvider, snippet};
use crate::error::{EntraError, GraphError, is_retryable_status};

/// How the client retries and paces itself.
#[derive(Debug, Clone)]
pub struct GraphClientConfig {
    /// e.g. `https://graph.microsoft.com`; the API version is appended.
    pub graph_root: Url,
    /// `v1.0` or `beta`.
    pub api_version: String,
    /// Attempts after the first one.
    pub max_retries: usize,
    pub min_backoff: Duration,
    pub max_backoff: Duration,
    /// A Retry-After longer than this is cut down to it.
    pub max_retry_after: Duration,
    /// Client-side pace, requests per second.
    pub requests_per_second: NonZeroU32,
    pub request_timeout: Duration,
    /// Extra trusted CA certificates (a PEM bundle), added to the system's roots.
    pub ca_bundle: Option<Vec<u8>>,
}

impl GraphClientConfig {
    pub fn new(graph_root: Url) -> Self {
        GraphClientConfig {
            graph_root,
            api_version: "v1.0".into(),
            max_retries: 5,
            min_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(120),
            requests_per_second: NonZeroU32::new(50).expect("non-zero constant"),
            request_timeout: Duration::from_secs(60),
            ca_bundle: None,
        }
    }
}

struct Inner {
    http: reqwest::Client,
    config: GraphClientConfig,
    /// `{root}/{version}` without a trailing slash.
    base: String,
    credential: Arc<dyn TokenProvider>,
    limiter: DefaultDirectRateLimiter,
    calls: AtomicU64,
    retries: AtomicU64,
}

/// A Microsoft Graph client. Cheap to clone; clones share the token, the pace and the counters.
#[derive(Clone)]
pub struct GraphClient {
    inner: Arc<Inner>,
}

impl fmt::Debug for GraphClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GraphClient")
            .field("base", &self.inner.base)
            .field("credential", &self.inner.credential)
            .finish_non_exhaustive()
    }
}

/// One page of a Graph collection.
#[derive(Debug, Deserialize)]
pub struct Page<T> {
    pub value: Vec<T>,
    #[serde(rename = "@odata.nextLink")]
    pub next_link: Option<String>,
}

/// What a raw exchange returned.
#[derive(Debug)]
pub struct RawResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

/// Characters left as they are in query values: OData needs `$`, `,`, `'`, `(`, `)` readable,
/// and spaces must be `%20` (not `+`).
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'$')
    .remove(b',')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')')
    .remove(b':');

/// A single attempt's outcome, as the retry loop sees it.
enum Attempt {
    Retry { error: EntraError, retry_after: Option<Duration> },
    Fail(EntraError),
}

impl GraphClient {
    pub fn new(config: GraphClientConfig, credential: Arc<dyn TokenProvider>) -> Result<Self, EntraError> {
        let mut http = reqwest::Client::builder().timeout(config.request_timeout);
        if let Some(pem) = &config.ca_bundle {
            http = http.tls_certs_merge(crate::credential::ca_certificates(pem)?);
        }
        let http = http.build().map_err(|e| EntraError::Config(format!("HTTP client: {e}")))?;
        let base = format!("{}/{}", config.graph_root.as_str().trim_end_matches('/'), config.api_version);
        let limiter = RateLimiter::direct(Quota::per_second(config.requests_per_second));
        Ok(GraphClient {
            inner: Arc::new(Inner {
                http,
                config,
                base,
                credential,
                limiter,
                calls: AtomicU64::new(0),
                retries: AtomicU64::new(0),
            }),
        })
    }

    /// HTTP requests sent to Graph so far (retries included).
    pub fn calls(&self) -> u64 {
        self.inner.calls.load(Ordering::Relaxed)
    }

    /// Of [`Self::calls`], how many were retries.
    pub fn retries(&self) -> u64 {
        self.inner.retries.load(Ordering::Relaxed)
    }

    /// `{root}/{version}{path}?{query}`; query values are percent-encoded the way Graph expects.
    pub fn url(&self, path: &str, query: &[(&str, &str)]) -> Result<Url, EntraError> {
        let mut text = format!("{}{}", self.inner.base, path);
        for (i, (key, value)) in query.iter().enumerate() {
            text.push(if i == 0 { '?' } else { '&' });
            text.push_str(key);
            text.push('=');
            text.extend(utf8_percent_encode(value, QUERY_VALUE));
        }
        Url::parse(&text).map_err(|e| EntraError::Config(format!("bad Graph URL for {path}: {e}")))
    }

    pub async fn get<T: DeserializeOwned>(&self, url: Url) -> Result<T, EntraError> {
        let raw = self.send(Method::GET, url.clone(), None, &HeaderMap::new()).await?;
        decode(&url, &raw)
    }

    /// All items of a collection: follows `@odata.nextLink` verbatim until it is absent, sending
    /// `headers` with every page (nextLink does not carry them).
    pub async fn get_all<T: DeserializeOwned>(
        &self,
        url: Url,
        headers: &HeaderMap,
    ) -> Result<Vec<T>, EntraError> {
        let mut items = Vec::new();
        let mut next = Some(url);
        while let Some(url) = next.take() {
            let raw = self.send(Method::GET, url.clone(), None, headers).await?;
            let page: Page<T> = decode(&url, &raw)?;
            items.extend(page.value);
            if let Some(link) = page.next_link {
                let link = Url::parse(&link)
                    .map_err(|e| EntraError::decode(what(&url), format!("@odata.nextLink {link:?}: {e}")))?;
                next = Some(link);
            }
        }
        Ok(items)
    }

    pub async fn post<T: DeserializeOwned>(
        &self,
        url: Url,
        body: &serde_json::Value,
    ) -> Result<T, EntraError> {
        let raw = self.send(Method::POST, url.clone(), Some(body), &HeaderMap::new()).await?;
        decode(&url, &raw)
    }

    /// A POST whose answer has no body worth reading (e.g. 204).
    pub async fn post_no_content(
        &self,
        url: Url,
        body: Option<&serde_json::Value>,
    ) -> Result<(), EntraError> {
        self.send(Method::POST, url, body, &HeaderMap::new()).await.map(drop)
    }

    /// Send one request with pacing and retries; a non-success status becomes [`EntraError::Graph`].
    pub async fn send(
        &self,
        method: Method,
        url: Url,
        body: Option<&serde_json::Value>,
        headers: &HeaderMap,
    ) -> Result<RawResponse, EntraError> {
        let config = &self.inner.config;
        let backoff = ExponentialBuilder::default()
            .with_min_delay(config.min_backoff)
            .with_max_delay(config.max_backoff)
            .with_max_times(config.max_retries)
            // Without this, every client would jitter with the same fixed seed.
            .with_jitter_seed(rand::random());
        let max_retry_after = config.max_retry_after;
        let mut first = true;
        let result = (|| {
            if !std::mem::take(&mut first) {
                self.inner.retries.fetch_add(1, Ordering::Relaxed);
            }
            self.attempt(method.clone(), url.clone(), body, headers)
        })
        .retry(backoff)
        .when(|a| matches!(a, Attempt::Retry { .. }))
        .adjust(move |a, planned| match (a, planned) {
            // `None` means the retries are used up; Retry-After must not extend them.
            (_, None) => None,
            (Attempt::Retry { retry_after: Some(wait), .. }, Some(_)) => Some((*wait).min(max_retry_after)),
            (_, planned) => planned,
        })
        .notify(|a, wait| {
            if let Attempt::Retry { error, .. } = a {
                tracing::debug!(%error, ?wait, "retrying Graph request");
            }
        })
        .await;
        match result {
            Ok(raw) => Ok(raw),
            Err(Attempt::Retry { error, .. } | Attempt::Fail(error)) => Err(error),
        }
    }

    async fn attempt(
        &self,
        method: Method,
        url: Url,
        body: Option<&serde_json::Value>,
        headers: &HeaderMap,
    ) -> Result<RawResponse, Attempt> {
        self.inner.limiter.until_ready().await;
        let token = self.inner.credential.token().await.map_err(Attempt::Fail)?;
        let mut request = self
            .inner
            .http
            .request(method.clone(), url.clone())
            .headers(headers.clone())
            .bearer_auth(token.expose_secret());
        if let Some(body) = body {
            request = request.json(body);
        } else if method == Method::POST {
            request = request.header(reqwest::header::CONTENT_LENGTH, HeaderValue::from_static("0"));
        }
        self.inner.calls.fetch_add(1, Ordering::Relaxed);
        let started = std::time::Instant::now();
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) => {
                // A GET is safe to send again whatever happened to it (a reset or dropped connection
                // included); another method only when it never reached the service.
                let transient = e.is_timeout() || e.is_connect() || method == Method::GET;
                let error = EntraError::Transport { what: what(&url), detail: e.without_url().to_string() };
                return Err(if transient {
                    Attempt::Retry { error, retry_after: None }
                } else {
                    Attempt::Fail(error)
                });
            }
        };
        let status = response.status();
        // The path only: queries can hold delta and skip tokens.
        tracing::debug!(
            "Graph {method} {} → {} in {} ms",
            url.path(),
            status.as_u16(),
            started.elapsed().as_millis()
        );
        let headers = response.headers().clone();
        let body = match response.bytes().await {
            Ok(b) => b.to_vec(),
            Err(e) => {
                let error = EntraError::Transport { what: what(&url), detail: e.to_string() };
                return Err(Attempt::Retry { error, retry_after: None });
            }
        };
        if status.is_success() {
            return Ok(RawResponse { status, headers, body });
        }
        let error = EntraError::Graph(Box::new(graph_error(&method, &url, status, &headers, &body)));
        if is_retryable_status(status) {
            Err(Attempt::Retry { error, retry_after: retry_after(&headers) })
        } else {
            Err(Attempt::Fail(error))
        }
    }
}

fn what(url: &Url) -> String {
    format!("Graph {}", url.path())
}

/// Retry-After in seconds (Graph does not send HTTP dates).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let text = headers.get(RETRY_AFTER)?.to_str().ok()?;
    text.trim().parse::<u64>().ok().map(Duration::from_secs)
}

fn decode<T: DeserializeOwned>(url: &Url, raw: &RawResponse) -> Result<T, EntraError> {
    let content_type =
        raw.headers.get(reqwest::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    serde_json::from_slice(&raw.body).map_err(|e| {
        let detail = if e.is_syntax() || e.is_eof() {
            format!("not JSON (content-type {content_type:?}): {}", snippet(&raw.body))
        } else {
            // serde says which field is missing or has the wrong type, and where.
            format!("unexpected JSON: {e}")
        };
        EntraError::decode(what(url), detail)
    })
}

#[derive(Deserialize)]
struct ErrorEnvelope {
    error: ErrorBody,
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
    #[serde(rename = "innerError", alias = "innererror")]
    inner: Option<InnerError>,
}

#[derive(Deserialize)]
struct InnerError {
    #[serde(rename = "request-id")]
    request_id: Option<String>,
}

static REQUEST_ID: HeaderName = HeaderName::from_static("request-id");

fn graph_error(
    method: &Method,
    url: &Url,
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
) -> GraphError {
    let header_id = headers.get(&REQUEST_ID).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let (code, message, inner_id) = match serde_json::from_slice::<ErrorEnvelope>(body) {
        Ok(e) => (e.error.code, e.error.message, e.error.inner.and_then(|i| i.request_id)),
        Err(_) => (String::new(), snippet(body), None),
    };
    let path = url.path().to_owned();
    let hint = hint_for(status, &path, &code);
    GraphError {
        status: status.as_u16(),
        method: method.to_string(),
        path,
        code,
        message,
        request_id: header_id.or(inner_id),
        hint,
    }
}

/// Well-known causes of an error status on a route.
fn hint_for(status: StatusCode, path: &str, code: &str) -> Option<String> {
    let denied = status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN;
    if denied && path.contains("/synchronization") {
        return Some(
            "the app may not use provisioning jobs: grant the application permission \
             Synchronization.ReadWrite.All (with admin consent), or Application.ReadWrite.OwnedBy AND \
             make the app an owner of the enterprise application's service principal"
                .into(),
        );
    }
    if denied && path.contains("/auditLogs/") {
        return Some("reading provisioning logs needs the application permission AuditLog.Read.All".into());
    }
    if denied || code == "Authorization_RequestDenied" {
        return Some(
            "the app lacks an application permission for this call (e.g. User.Read.All, \
             GroupMember.Read.All, Application.Read.All), or admin consent was not granted"
                .into(),
        );
    }
    if status == StatusCode::TOO_MANY_REQUESTS {
        return Some("Graph throttled the app and retries were used up; try again later".into());
    }
    None
}

/// Quote a value for an OData string literal: `'` becomes `''`.
pub fn odata_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// Runs the Graph error decoder and the page decoder on `bytes`. For fuzzing: it must never panic.
#[doc(hidden)]
pub fn decode_for_fuzz(bytes: &[u8]) -> usize {
    let url = Url::parse("https://graph.microsoft.com/v1.0/users").expect("constant URL");
    let raw = RawResponse { status: StatusCode::OK, headers: HeaderMap::new(), body: bytes.to_vec() };
    let error = graph_error(&Method::GET, &url, StatusCode::BAD_REQUEST, &HeaderMap::new(), bytes);
    let page = decode::<Page<serde_json::Value>>(&url, &raw).map(|p| p.value.len()).unwrap_or(0);
    error.to_string().len() + page
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_odata_strings() {
        let cases = [
            ("AWS IAM Identity Center", "'AWS IAM Identity Center'"),
            ("O'Brien's app", "'O''Brien''s app'"),
        ];
        for (input, quoted) in cases {
            assert_eq!(odata_quote(input), quoted);
        }
    }

    #[test]
    fn decodes_graph_error_with_request_id() {
        let body = br#"{"error":{"code":"Request_ResourceNotFound","message":"Resource 'x' does not exist.","innerError":{"request-id":"abc","date":"2024-01-01T00:00:00"}}}"#;
        let url = Url::parse("https://graph.microsoft.com/v1.0/users/x").unwrap();
        let e = graph_error(&Method::GET, &url, StatusCode::NOT_FOUND, &HeaderMap::new(), body);
        assert_eq!(e.code, "Request_ResourceNotFound");
        assert_eq!(e.request_id.as_deref(), Some("abc"));
        assert!(e.to_string().contains("HTTP 404 Request_ResourceNotFound"), "{e}");
    }

    #[test]
    fn sync_route_denial_is_explained() {
        let cases = [
            (401, "/v1.0/servicePrincipals/x/synchronization/jobs", Some("Synchronization.ReadWrite.All")),
            (403, "/v1.0/auditLogs/provisioning", Some("AuditLog.Read.All")),
            (403, "/v1.0/users", Some("User.Read.All")),
            (404, "/v1.0/users/x", None),
        ];
        for (status, path, needle) in cases {
            let hint = hint_for(StatusCode::from_u16(status).unwrap(), path, "");
            match needle {
                Some(n) => assert!(hint.as_deref().unwrap_or("").contains(n), "{path}: {hint:?}"),
                None => assert_eq!(hint, None, "{path}"),
            }
        }
    }

    #[test]
    fn retry_after_is_read_in_seconds() {
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(7)));
    }
}
