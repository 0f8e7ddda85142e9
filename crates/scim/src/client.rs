//! The one client through which every call to an AWS SCIM endpoint goes: rate limit, bounded
//! concurrency, retries with back-off, error decoding, request counting.

use std::collections::{BTreeSet, HashSet};
use std::fmt;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use backon::{ExponentialBuilder, Retryable};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::sync::Semaphore;
use url::Url;

use scimsync_core::{AttrChange, AttrValue, DesiredUser, TargetGroup, TargetUser, UserAttr};

use crate::config::{ScimConfig, ScimProfile};
use crate::error::{ApiFailure, ScimError};
use crate::stats::{CallStats, Counters};
use crate::wire::{self, GROUP_SCHEMA, PatchOperation, PatchRequest};

/// AWS's page size limit for list calls.
const PAGE_SIZE: usize = 100;
/// How much of an unexpected body goes into an error message.
const SNIPPET_CHARS: usize = 160;
/// Everything but RFC 3986 unreserved characters is escaped in query values.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// A SCIM client for one AWS IAM Identity Center directory. Cheap to clone; clones share the rate
/// limit, the concurrency bound and the counters.
#[derive(Clone)]
pub struct ScimClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    base: Url,
    /// `Bearer <token>`, marked sensitive so that no header dump shows it.
    authorization: HeaderValue,
    token: SecretString,
    limiter: DefaultDirectRateLimiter,
    in_flight: Semaphore,
    backoff: ExponentialBuilder,
    retry_budget: Duration,
    max_retry_after: Duration,
    counters: Counters,
    profile: ScimProfile,
}

impl fmt::Debug for ScimClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScimClient").field("base_url", &self.inner.base.as_str()).finish_non_exhaustive()
    }
}

/// A successful answer.
struct Answer {
    call: String,
    body: Vec<u8>,
}

/// Whether a 404 is an answer ("it is not there") or an error.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Absent {
    IsAnAnswer,
    IsAnError,
}

impl ScimClient {
    pub fn new(cfg: ScimConfig) -> Result<Self, ScimError> {
        let base = cfg.validate()?;
        let mut authorization =
            HeaderValue::from_str(&format!("Bearer {}", cfg.token.expose_secret().trim())).map_err(|_| {
                ScimError::InvalidConfig(
                    "the SCIM access token holds characters a header cannot carry; paste it again".into(),
                )
            })?;
        authorization.set_sensitive(true);
        let mut http = reqwest::Client::builder()
            .user_agent(cfg.user_agent.clone())
            .timeout(cfg.timeout)
            .connect_timeout(cfg.timeout.min(Duration::from_secs(10)));
        if let Some(pem) = &cfg.ca_bundle {
            let certs = reqwest::Certificate::from_pem_bundle(pem).map_err(|e| {
                ScimError::InvalidConfig(format!("the CA bundle is not PEM certificates: {e}"))
            })?;
            http = http.tls_certs_merge(certs);
        }
        let http = http
            .build()
            .map_err(|e| ScimError::InvalidConfig(format!("cannot build the HTTP client: {e}")))?;
        let rate = NonZeroU32::new(cfg.requests_per_second)
            .ok_or_else(|| ScimError::InvalidConfig("requests_per_second must be at least 1".into()))?;
        let backoff = ExponentialBuilder::default()
            .with_min_delay(cfg.retry_base_delay)
            .with_max_delay(cfg.max_retry_delay)
            .with_max_times(cfg.max_retries as usize)
            .with_total_delay(Some(cfg.retry_budget))
            .with_jitter();
        Ok(ScimClient {
            inner: Arc::new(Inner {
                http,
                base,
                authorization,
                token: cfg.token,
                limiter: RateLimiter::direct(Quota::per_second(rate)),
                in_flight: Semaphore::new(cfg.max_concurrency),
                backoff,
                retry_budget: cfg.retry_budget,
                max_retry_after: cfg.max_retry_after,
                counters: Counters::default(),
                profile: cfg.profile,
            }),
        })
    }

    /// The endpoint, without a trailing slash.
    pub fn base_url(&self) -> &str {
        self.inner.base.as_str()
    }

    pub fn stats(&self) -> CallStats {
        self.inner.counters.snapshot()
    }

    // ---- reads -------------------------------------------------------------------------------

    /// Every user, following cursors to the end.
    pub async fn list_users(&self) -> Result<Vec<TargetUser>, ScimError> {
        let users: Vec<wire::User> = self.list_all("Users", None, "SCIM user list").await?;
        Ok(users.into_iter().map(TargetUser::from).collect())
    }

    /// Every group, with `members: None` (AWS never lists members with groups).
    pub async fn list_groups(&self) -> Result<Vec<TargetGroup>, ScimError> {
        let groups: Vec<wire::Group> = self.list_all("Groups", None, "SCIM group list").await?;
        Ok(groups.into_iter().map(TargetGroup::from).collect())
    }

    /// The AWS ids of the users in a group (generic servers: the group's own `members`).
    pub async fn group_member_ids(&self, group_id: &str) -> Result<BTreeSet<String>, ScimError> {
        if self.inner.profile == ScimProfile::Generic {
            let answer = self.call(Method::GET, &["Groups", group_id], &[], None, Absent::IsAnError).await?;
            let answer = answer.ok_or_else(|| unreachable_absent("Groups"))?;
            let group: wire::Group = decode(&answer, "SCIM group")?;
            return Ok(group.members.into_iter().map(|m| m.value).collect());
        }
        let filter = eq_filter("groups.value", group_id);
        let users: Vec<wire::User> = self.list_all("Users", Some(&filter), "SCIM user list").await?;
        Ok(users.into_iter().map(|u| u.id).collect())
    }

    pub async fn find_user_by_user_name(&self, user_name: &str) -> Result<Option<TargetUser>, ScimError> {
        self.find_user(eq_filter("userName", user_name)).await
    }

    pub async fn find_user_by_external_id(&self, external_id: &str) -> Result<Option<TargetUser>, ScimError> {
        self.find_user(eq_filter("externalId", external_id)).await
    }

    pub async fn find_group_by_display_name(
        &self,
        display_name: &str,
    ) -> Result<Option<TargetGroup>, ScimError> {
        self.find_group(eq_filter("displayName", display_name)).await
    }

    pub async fn find_group_by_external_id(
        &self,
        external_id: &str,
    ) -> Result<Option<TargetGroup>, ScimError> {
        self.find_group(eq_filter("externalId", external_id)).await
    }

    pub async fn get_user(&self, id: &str) -> Result<Option<TargetUser>, ScimError> {
        let answer = self.call(Method::GET, &["Users", id], &[], None, Absent::IsAnAnswer).await?;
        answer.map(|a| decode::<wire::User>(&a, "SCIM user").map(TargetUser::from)).transpose()
    }

    pub async fn get_group(&self, id: &str) -> Result<Option<TargetGroup>, ScimError> {
        let answer = self.call(Method::GET, &["Groups", id], &[], None, Absent::IsAnAnswer).await?;
        answer.map(|a| decode::<wire::Group>(&a, "SCIM group").map(TargetGroup::from)).transpose()
    }

    // ---- writes ------------------------------------------------------------------------------

    /// POST /Users. A 409 means AWS already holds this userName, email or externalId. A POST that
    /// timed out and was retried may also answer 409 if the first attempt did create the user.
    pub async fn create_user(&self, user: &DesiredUser) -> Result<TargetUser, ScimError> {
        let body = wire::create_user_body(user)?;
        let answer = self.write(Method::POST, &["Users"], &body).await?;
        decode::<wire::User>(&answer, "SCIM user").map(TargetUser::from)
    }

    /// One PATCH with the changed attributes only; nothing is sent when there is no change.
    pub async fn update_user(&self, id: &str, changes: &[AttrChange]) -> Result<(), ScimError> {
        let operations = wire::user_patch_operations(changes)?;
        if operations.is_empty() {
            return Ok(());
        }
        self.write(Method::PATCH, &["Users", id], &PatchRequest::new(operations)).await.map(drop)
    }

    pub async fn set_user_active(&self, id: &str, active: bool) -> Result<(), ScimError> {
        let change = AttrChange { attr: UserAttr::Active, old: None, new: Some(AttrValue::Bool(active)) };
        self.update_user(id, &[change]).await
    }

    /// DELETE /Users/{id}; a user already gone counts as deleted.
    pub async fn delete_user(&self, id: &str) -> Result<(), ScimError> {
        self.call(Method::DELETE, &["Users", id], &[], None, Absent::IsAnAnswer).await.map(drop)
    }

    pub async fn create_group(
        &self,
        external_id: &str,
        display_name: &str,
    ) -> Result<TargetGroup, ScimError> {
        if display_name.is_empty() {
            return Err(ScimError::InvalidInput("a group needs a displayName".into()));
        }
        let mut body = json!({ "schemas": [GROUP_SCHEMA], "displayName": display_name });
        if !external_id.is_empty() {
            body["externalId"] = Value::String(external_id.to_string());
        }
        let answer = self.write(Method::POST, &["Groups"], &body).await?;
        decode::<wire::Group>(&answer, "SCIM group").map(TargetGroup::from)
    }

    /// Renames a group and/or sets its externalId in one PATCH; nothing is sent for no change.
    pub async fn update_group(
        &self,
        id: &str,
        display_name: Option<&str>,
        external_id: Option<&str>,
    ) -> Result<(), ScimError> {
        let operations: Vec<PatchOperation> = [("displayName", display_name), ("externalId", external_id)]
            .into_iter()
            .filter_map(|(path, value)| {
                value.map(|v| PatchOperation {
                    op: "replace",
                    path: path.into(),
                    value: Some(Value::String(v.to_string())),
                })
            })
            .collect();
        if operations.is_empty() {
            return Ok(());
        }
        if display_name == Some("") {
            return Err(ScimError::InvalidInput("a group needs a displayName".into()));
        }
        self.write(Method::PATCH, &["Groups", id], &PatchRequest::new(operations)).await.map(drop)
    }

    /// Adds and removes members in PATCHes of at most 100 member changes each, adds first. Never
    /// replaces the member list and never removes all members at once (AWS refuses both). When a
    /// request fails, the earlier ones stay applied; read the members again before retrying.
    pub async fn patch_group_members(
        &self,
        id: &str,
        add: &[String],
        remove: &[String],
    ) -> Result<(), ScimError> {
        let add = dedup(add);
        let remove = dedup(remove);
        if let Some(both) = add.iter().find(|a| remove.contains(a)) {
            return Err(ScimError::InvalidInput(format!(
                "user {both} is both added to and removed from group {id}"
            )));
        }
        if let Some(empty) = add.iter().chain(&remove).find(|m| m.is_empty()) {
            return Err(ScimError::InvalidInput(format!("an empty member id{empty} for group {id}")));
        }
        let patches = match self.inner.profile {
            ScimProfile::Aws => wire::member_patches(&add, &remove),
            ScimProfile::Generic => wire::member_patches_rfc(&add, &remove),
        };
        for patch in patches {
            self.write(Method::PATCH, &["Groups", id], &patch).await?;
        }
        Ok(())
    }

    /// DELETE /Groups/{id}; a group already gone counts as deleted. Its users stay.
    pub async fn delete_group(&self, id: &str) -> Result<(), ScimError> {
        self.call(Method::DELETE, &["Groups", id], &[], None, Absent::IsAnAnswer).await.map(drop)
    }

    // ---- machinery ---------------------------------------------------------------------------

    async fn find_user(&self, filter: String) -> Result<Option<TargetUser>, ScimError> {
        let found: Vec<wire::User> = self.list_all("Users", Some(&filter), "SCIM user list").await?;
        Ok(first_of(found, &filter).map(TargetUser::from))
    }

    async fn find_group(&self, filter: String) -> Result<Option<TargetGroup>, ScimError> {
        let found: Vec<wire::Group> = self.list_all("Groups", Some(&filter), "SCIM group list").await?;
        Ok(first_of(found, &filter).map(TargetGroup::from))
    }

    /// Cursor paging: an empty cursor first, then each `nextCursor` until there is none.
    /// `totalResults` is never trusted (AWS sets it to the size of the page).
    async fn list_all<T: DeserializeOwned>(
        &self,
        resource: &str,
        filter: Option<&str>,
        what: &'static str,
    ) -> Result<Vec<T>, ScimError> {
        if self.inner.profile == ScimProfile::Generic {
            return self.list_all_by_index(resource, filter, what).await;
        }
        let count = PAGE_SIZE.to_string();
        let mut cursor = String::new();
        let mut seen_cursors = HashSet::new();
        let mut items = Vec::new();
        loop {
            let mut query = vec![("count", count.as_str()), ("cursor", cursor.as_str())];
            if let Some(filter) = filter {
                query.push(("filter", filter));
            }
            let answer = self
                .call(Method::GET, &[resource], &query, None, Absent::IsAnError)
                .await?
                .ok_or_else(|| unreachable_absent(resource))?;
            let page: wire::ListResponse<T> = decode(&answer, what)?;
            let full_classic_page = page.total_results.is_some() && page.resources.len() >= PAGE_SIZE;
            items.extend(page.resources);
            match page.next_cursor.filter(|c| !c.is_empty()) {
                Some(next) => {
                    if !seen_cursors.insert(next.clone()) {
                        return Err(self.decode_error(&answer, what, "the endpoint repeated a cursor"));
                    }
                    cursor = next;
                }
                // A full classic page may hide more items: refuse rather than read part of AWS.
                None if full_classic_page => {
                    return Err(self.decode_error(
                        &answer,
                        what,
                        "a full page without cursor paging; the list may be incomplete",
                    ));
                }
                None => return Ok(items),
            }
        }
    }

    /// Classic RFC 7644 paging (generic servers): `startIndex` from 1 until `totalResults` items
    /// are read or a page comes back empty.
    async fn list_all_by_index<T: DeserializeOwned>(
        &self,
        resource: &str,
        filter: Option<&str>,
        what: &'static str,
    ) -> Result<Vec<T>, ScimError> {
        let count = PAGE_SIZE.to_string();
        let mut items = Vec::new();
        loop {
            let start = (items.len() + 1).to_string();
            let mut query = vec![("startIndex", start.as_str()), ("count", count.as_str())];
            if let Some(filter) = filter {
                query.push(("filter", filter));
            }
            let answer = self
                .call(Method::GET, &[resource], &query, None, Absent::IsAnError)
                .await?
                .ok_or_else(|| unreachable_absent(resource))?;
            let page: wire::ListResponse<T> = decode(&answer, what)?;
            let Some(total) = page.total_results else {
                return Err(self.decode_error(&answer, what, "a list without totalResults"));
            };
            let got = page.resources.len();
            items.extend(page.resources);
            if got == 0 || items.len() as u64 >= total {
                return Ok(items);
            }
        }
    }

    fn decode_error(&self, answer: &Answer, what: &'static str, problem: &str) -> ScimError {
        ScimError::Decode {
            call: answer.call.clone(),
            what,
            problem: problem.into(),
            snippet: self.snippet(&answer.body),
        }
    }

    /// A call whose success must carry a body or be empty; a 404 is an error.
    async fn write(
        &self,
        method: Method,
        segments: &[&str],
        body: &impl serde::Serialize,
    ) -> Result<Answer, ScimError> {
        let bytes = serde_json::to_vec(body)
            .map_err(|e| ScimError::InvalidInput(format!("cannot encode the request: {e}")))?;
        self.call(method, segments, &[], Some(bytes), Absent::IsAnError)
            .await?
            .ok_or_else(|| unreachable_absent(segments.first().copied().unwrap_or_default()))
    }

    /// Sends one call with retries. `Ok(None)` is a 404 where `absent` says that is an answer.
    async fn call(
        &self,
        method: Method,
        segments: &[&str],
        query: &[(&str, &str)],
        body: Option<Vec<u8>>,
        absent: Absent,
    ) -> Result<Option<Answer>, ScimError> {
        let call = format!("{method} /{}", segments.join("/"));
        let url = self.url(segments, query)?;
        let counters = &self.inner.counters;
        let retry_budget = self.inner.retry_budget;
        let max_retry_after = self.inner.max_retry_after;
        let mut waited = Duration::ZERO;
        let result = (|| self.attempt(&method, &url, body.as_deref(), &call))
            .retry(self.inner.backoff)
            .sleep(tokio::time::sleep)
            .when(ScimError::is_transient)
            // Retry-After wins over the back-off, within the budget of the call.
            .adjust(|err, backoff| {
                let delay = match (backoff, err.retry_after()) {
                    (None, _) => return None,
                    (Some(_), Some(asked)) => asked.min(max_retry_after),
                    (Some(backoff), None) => backoff,
                };
                waited += delay;
                (waited <= retry_budget).then_some(delay)
            })
            .notify(|err, delay| {
                Counters::bump(&counters.retried);
                // The error's own words speak of "all retries" (they are also the final error):
                // here only the answer, and the wait before the next attempt.
                let answer = match err.failure() {
                    Some(f) => format!("{} {}", f.status, f.detail),
                    None => match err {
                        ScimError::Transport { reason, .. } => format!("nothing ({reason})"),
                        other => other.to_string(),
                    },
                };
                tracing::warn!("{call} answered {answer}; retrying in {} ms", delay.as_millis());
            })
            .await;
        match result {
            Ok(answer) => {
                Counters::bump(&counters.ok);
                Ok(Some(answer))
            }
            Err(ScimError::NotFound(_)) if absent == Absent::IsAnAnswer => {
                Counters::bump(&counters.not_found);
                Ok(None)
            }
            Err(err) => {
                Counters::bump(&counters.failed);
                Err(err)
            }
        }
    }

    async fn attempt(
        &self,
        method: &Method,
        url: &Url,
        body: Option<&[u8]>,
        call: &str,
    ) -> Result<Answer, ScimError> {
        let inner = &self.inner;
        // The semaphore is never closed, so acquiring only waits.
        let _permit = inner.in_flight.acquire().await.ok();
        inner.limiter.until_ready().await;
        inner.counters.count_request(method);
        let mut request = inner
            .http
            .request(method.clone(), url.clone())
            .header(AUTHORIZATION, inner.authorization.clone())
            .header(ACCEPT, "application/scim+json, application/json");
        if let Some(body) = body {
            request = request.header(CONTENT_TYPE, "application/scim+json").body(body.to_vec());
        }
        let started = Instant::now();
        let transport = |source: reqwest::Error| {
            let reason = if source.is_timeout() {
                "timed out"
            } else if source.is_connect() {
                "cannot connect"
            } else {
                "connection failed"
            };
            tracing::debug!(method = %method, path = %url.path(), error = reason, "SCIM request failed");
            ScimError::Transport {
                call: call.to_string(),
                reason: reason.to_string(),
                source: source.without_url(),
            }
        };
        let response = request.send().await.map_err(transport)?;
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.map_err(transport)?.to_vec();
        tracing::debug!(
            method = %method,
            path = %url.path(),
            status = status.as_u16(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "SCIM request"
        );
        if status.is_success() {
            return Ok(Answer { call: call.to_string(), body: bytes });
        }
        if status == StatusCode::TOO_MANY_REQUESTS {
            Counters::bump(&inner.counters.throttled);
        }
        Err(ScimError::from_failure(self.failure(call, status, &headers, &bytes)))
    }

    fn failure(&self, call: &str, status: StatusCode, headers: &HeaderMap, body: &[u8]) -> ApiFailure {
        let header_id = headers.get("x-amzn-requestid").and_then(|v| v.to_str().ok()).map(str::to_string);
        let retry_after = headers
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let parsed = serde_json::from_slice::<wire::ErrorBody>(body).ok();
        let detail = match &parsed {
            Some(err) => err.detail.clone().unwrap_or_default(),
            None if body.is_empty() => String::new(),
            None => format!("not a SCIM error body: {}", self.snippet(body)),
        };
        let body_id = parsed.and_then(|e| e.exception_request_id);
        ApiFailure {
            call: call.to_string(),
            status: status.as_u16(),
            detail,
            request_id: header_id.or(body_id),
            retry_after,
        }
    }

    /// The start of a body, on one line, with the token blanked if a proxy echoed it.
    fn snippet(&self, body: &[u8]) -> String {
        let text = String::from_utf8_lossy(body);
        let mut snippet: String =
            text.chars().take(SNIPPET_CHARS).map(|c| if c.is_control() { ' ' } else { c }).collect();
        if text.chars().count() > SNIPPET_CHARS {
            snippet.push('…');
        }
        let token = self.inner.token.expose_secret().trim();
        if !token.is_empty() && snippet.contains(token) {
            snippet = snippet.replace(token, "[redacted]");
        }
        if snippet.trim().is_empty() { "(empty)".into() } else { snippet }
    }

    fn url(&self, segments: &[&str], query: &[(&str, &str)]) -> Result<Url, ScimError> {
        let mut url = self.inner.base.clone();
        url.path_segments_mut()
            .map_err(|()| ScimError::InvalidConfig("the SCIM endpoint cannot take a path".into()))?
            .extend(segments);
        if !query.is_empty() {
            let query: Vec<String> =
                query.iter().map(|(k, v)| format!("{k}={}", utf8_percent_encode(v, QUERY_VALUE))).collect();
            url.set_query(Some(&query.join("&")));
        }
        Ok(url)
    }
}

fn decode<T: DeserializeOwned>(answer: &Answer, what: &'static str) -> Result<T, ScimError> {
    serde_json::from_slice(&answer.body).map_err(|e| {
        let problem = if e.is_syntax() || e.is_eof() { "not JSON".to_string() } else { e.to_string() };
        let text = String::from_utf8_lossy(&answer.body);
        let snippet: String =
            text.chars().take(SNIPPET_CHARS).map(|c| if c.is_control() { ' ' } else { c }).collect();
        ScimError::Decode { call: answer.call.clone(), what, problem, snippet }
    })
}

/// `attr eq "value"`, the value as a JSON string so quotes and backslashes are escaped.
pub(crate) fn eq_filter(attr: &str, value: &str) -> String {
    let quoted = serde_json::to_string(value).unwrap_or_else(|_| format!("\"{value}\""));
    format!("{attr} eq {quoted}")
}

fn first_of<T>(found: Vec<T>, filter: &str) -> Option<T> {
    if found.len() > 1 {
        tracing::warn!(
            filter,
            matches = found.len(),
            "a unique filter matched several objects; using the first"
        );
    }
    found.into_iter().next()
}

fn dedup(ids: &[String]) -> Vec<String> {
    let mut seen = HashSet::new();
    ids.iter().filter(|id| seen.insert(id.as_str())).cloned().collect()
}

fn unreachable_absent(resource: &str) -> ScimError {
    ScimError::InvalidInput(format!("internal: a 404 on {resource} was taken as an answer"))
}

/// Runs every decoder of SCIM answers on `bytes` (lists of users and groups, a user, a group, an AWS
/// error body) and turns what decodes into core types. For fuzzing: it must never panic.
#[doc(hidden)]
pub fn decode_for_fuzz(bytes: &[u8]) -> usize {
    let answer = Answer { call: "GET /fuzz".into(), body: bytes.to_vec() };
    let mut decoded = 0;
    if let Ok(page) = decode::<wire::ListResponse<wire::User>>(&answer, "fuzz") {
        decoded += page.resources.into_iter().map(TargetUser::from).count();
    }
    if let Ok(page) = decode::<wire::ListResponse<wire::Group>>(&answer, "fuzz") {
        decoded += page.resources.into_iter().map(TargetGroup::from).count();
    }
    decoded += decode::<wire::User>(&answer, "fuzz").map(TargetUser::from).into_iter().count();
    decoded += decode::<wire::Group>(&answer, "fuzz").map(TargetGroup::from).into_iter().count();
    decoded += serde_json::from_slice::<wire::ErrorBody>(bytes).into_iter().count();
    decoded
}

/// The SCIM `eq` filter builder, for fuzzing and property tests.
#[doc(hidden)]
pub fn eq_filter_for_fuzz(attr: &str, value: &str) -> String {
    eq_filter(attr, value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_quote_and_escape() {
        let cases = [
            ("userName", "ada@example.com", r#"userName eq "ada@example.com""#),
            ("displayName", r#"Ops "EU" \ team"#, r#"displayName eq "Ops \"EU\" \\ team""#),
            ("externalId", "", r#"externalId eq """#),
        ];
        for (attr, value, expected) in cases {
            assert_eq!(eq_filter(attr, value), expected);
        }
    }

    #[test]
    fn urls_escape_segments_and_query_values() {
        let cfg =
            ScimConfig::new("https://scim.us-east-1.amazonaws.com/t-1/scim/v2/", SecretString::from("tok"));
        let client = ScimClient::new(cfg).expect("valid config");
        type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);
        let cases: [Case; 3] = [
            (&["Users"], &[("cursor", "")], "/t-1/scim/v2/Users?cursor="),
            (&["Users", "a/b"], &[], "/t-1/scim/v2/Users/a%2Fb"),
            (
                &["Groups"],
                &[("filter", r#"displayName eq "A&B+C""#)],
                "/t-1/scim/v2/Groups?filter=displayName%20eq%20%22A%26B%2BC%22",
            ),
        ];
        for (segments, query, expected) in cases {
            let url = client.url(segments, query).expect("url");
            let got = match url.query() {
                Some(q) => format!("{}?{q}", url.path()),
                None => url.path().to_string(),
            };
            assert_eq!(got, expected);
        }
        assert!(!format!("{client:?}").contains("tok\""));
    }
}
