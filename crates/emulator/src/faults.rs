//! Faults on demand for both emulators: added latency, a share of 500/503 answers, 429 storms with
//! `Retry-After`, dropped connections, truncated or non-JSON bodies, and scripted rules ("the next N
//! calls to route X fail with Y"), each per service (`graph`, `signin`, `aws`).
//!
//! Set at start ([`crate::EmulatorConfig::faults`]), through the Rust API ([`Faults`], from
//! [`crate::RunningEmulator::faults`]) or over HTTP on the emulator's own listener:
//!
//! | route | what |
//! |---|---|
//! | `GET /_emulator/faults` | the configuration and the faults injected so far, by kind |
//! | `POST /_emulator/faults` | replace the configuration (JSON [`FaultConfig`]); the counters stay |
//! | `POST /_emulator/faults/rules` | add one [`Rule`] |
//! | `DELETE /_emulator/faults` | no faults any more (counters stay) |
//!
//! Random faults are drawn from one generator seeded with [`FaultConfig::seed`], in the order the
//! requests arrive: a client that calls one request at a time sees the same faults on every run.
//! Rules are checked before the random faults; a rule that matches a call is used up by it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// Which emulated service a call is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Service {
    /// Microsoft Graph: `/v1.0/...`, `/beta/...`.
    Graph,
    /// Entra sign-in: `/{tenant}/oauth2/...`, `/{tenant}/v2.0/.well-known/...`.
    Signin,
    /// AWS SCIM: `/{tenant}/scim/v2/...`.
    Aws,
}

impl Service {
    /// The service a path belongs to; `None` for the admin routes and unknown paths.
    pub fn of_path(path: &str) -> Option<Service> {
        if path.starts_with("/_emulator") {
            None
        } else if path.starts_with("/v1.0/") || path.starts_with("/beta/") {
            Some(Service::Graph)
        } else if path.contains("/scim/v2") {
            Some(Service::Aws)
        } else if path.contains("/oauth2/") || path.contains("/v2.0/.well-known") {
            Some(Service::Signin)
        } else {
            None
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Service::Graph => "graph",
            Service::Signin => "signin",
            Service::Aws => "aws",
        }
    }
}

/// Random faults of one service. Rates are shares of the calls, from 0.0 to 1.0.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Chaos {
    /// Added to every call, before it is served.
    pub latency_ms: u64,
    /// Up to this much more, drawn per call.
    pub latency_jitter_ms: u64,
    /// Share answered 500 or 503 (half each) with the service's error body.
    pub error_rate: f64,
    /// Share of calls that start a 429 storm: this call and the next `storm_length - 1` get 429.
    pub throttle_rate: f64,
    /// Calls in one storm (at least 1).
    pub storm_length: u32,
    /// `Retry-After` on 429 answers, in seconds.
    pub retry_after_secs: u64,
    /// Share of connections closed without an answer: half before the call is served, half after
    /// (the change is made, the answer lost).
    pub drop_rate: f64,
    /// Share served, then answered with the first half of the body only.
    pub truncate_rate: f64,
    /// Share answered 200 with an HTML page instead of JSON (a proxy's or a captive portal's).
    pub garbage_rate: f64,
}

impl Chaos {
    fn is_quiet(&self) -> bool {
        self == &Chaos::default()
    }
}

/// What a scripted rule answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum FaultKind {
    /// The service's error body with this status (and `Retry-After` when given).
    Status {
        status: u16,
        #[serde(default)]
        retry_after_secs: Option<u64>,
    },
    /// Close the connection before the call is served.
    Drop,
    /// Serve the call (its change is made), then close the connection without the answer.
    DropAfter,
    /// Serve the call, then send the first half of its body only (a valid HTTP answer, cut JSON).
    Truncate,
    /// 200 with an HTML page.
    Garbage,
    /// Any answer: e.g. `{"value": []}` for an empty page.
    Body {
        status: u16,
        #[serde(default = "json_type")]
        content_type: String,
        body: String,
    },
    /// Wait this long, then serve the call.
    Delay { ms: u64 },
}

fn json_type() -> String {
    "application/json".into()
}

impl FaultKind {
    fn label(&self) -> &'static str {
        match self {
            FaultKind::Status { status: 429, .. } => "throttled",
            FaultKind::Status { .. } => "error",
            FaultKind::Drop | FaultKind::DropAfter => "dropped",
            FaultKind::Truncate => "truncated",
            FaultKind::Garbage => "garbage",
            FaultKind::Body { .. } => "body",
            FaultKind::Delay { .. } => "delayed",
        }
    }
}

/// "The next `count` calls (after `skip`) whose path contains `path` fail with `fault`."
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Only calls to this service (any when absent).
    #[serde(default)]
    pub service: Option<Service>,
    /// Only this method (any when absent), e.g. `"GET"`.
    #[serde(default)]
    pub method: Option<String>,
    /// Calls whose path contains this text, e.g. `/v1.0/users/delta` or `/scim/v2/Users`; `""` is any.
    #[serde(default)]
    pub path: String,
    /// Let this many matching calls through first (e.g. 1: the second page fails).
    #[serde(default)]
    pub skip: u32,
    /// How many matching calls fail.
    #[serde(default = "one")]
    pub count: u32,
    pub fault: FaultKind,
}

fn one() -> u32 {
    1
}

impl Rule {
    /// The next `count` calls whose path contains `path` get `fault`.
    pub fn next(count: u32, path: impl Into<String>, fault: FaultKind) -> Rule {
        Rule { service: None, method: None, path: path.into(), skip: 0, count, fault }
    }

    fn matches(&self, service: Service, method: &Method, path: &str) -> bool {
        self.count > 0
            && self.service.is_none_or(|s| s == service)
            && self.method.as_deref().is_none_or(|m| m.eq_ignore_ascii_case(method.as_str()))
            && path.contains(&self.path)
    }
}

/// Everything the fault layer does.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultConfig {
    /// Seed of the random faults (and of the latency jitter).
    pub seed: u64,
    pub graph: Chaos,
    pub signin: Chaos,
    pub aws: Chaos,
    pub rules: Vec<Rule>,
}

impl FaultConfig {
    pub fn chaos(&self, service: Service) -> &Chaos {
        match service {
            Service::Graph => &self.graph,
            Service::Signin => &self.signin,
            Service::Aws => &self.aws,
        }
    }

    pub fn chaos_mut(&mut self, service: Service) -> &mut Chaos {
        match service {
            Service::Graph => &mut self.graph,
            Service::Signin => &mut self.signin,
            Service::Aws => &mut self.aws,
        }
    }

    /// No fault of any kind.
    pub fn is_quiet(&self) -> bool {
        self.rules.iter().all(|r| r.count == 0)
            && [&self.graph, &self.signin, &self.aws].iter().all(|c| c.is_quiet())
    }
}

/// Faults injected so far, by `service.kind` (e.g. `aws.throttled`, `graph.dropped`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FaultStats {
    pub by_kind: BTreeMap<String, u64>,
}

impl FaultStats {
    pub fn get(&self, key: &str) -> u64 {
        self.by_kind.get(key).copied().unwrap_or(0)
    }

    /// Faults of one kind over all services (`"throttled"`, `"error"`, `"dropped"`, …).
    pub fn kind(&self, kind: &str) -> u64 {
        self.by_kind
            .iter()
            .filter(|(k, _)| k.split_once('.').is_some_and(|(_, k)| k == kind))
            .map(|(_, n)| n)
            .sum()
    }

    /// Every fault but latency.
    pub fn failures(&self) -> u64 {
        self.by_kind
            .iter()
            .filter(|(k, _)| !k.ends_with(".latency") && !k.ends_with(".delayed"))
            .map(|(_, n)| n)
            .sum()
    }
}

struct Inner {
    config: FaultConfig,
    rng: StdRng,
    /// Calls left in the current 429 storm, per service.
    storms: BTreeMap<Service, u32>,
    stats: FaultStats,
}

/// The fault layer's state, shared by the router and the handle. Clones share it.
#[derive(Clone)]
pub struct Faults {
    inner: Arc<Mutex<Inner>>,
}

impl std::fmt::Debug for Faults {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Faults").finish_non_exhaustive()
    }
}

impl Default for Faults {
    fn default() -> Self {
        Faults::new(FaultConfig::default())
    }
}

/// What to do with one call.
struct Decision {
    delay: Duration,
    fault: Option<FaultKind>,
}

impl Faults {
    pub fn new(config: FaultConfig) -> Faults {
        let rng = StdRng::seed_from_u64(config.seed);
        Faults {
            inner: Arc::new(Mutex::new(Inner {
                config,
                rng,
                storms: BTreeMap::new(),
                stats: FaultStats::default(),
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Replaces the configuration and reseeds the generator; the counters stay.
    pub fn set(&self, config: FaultConfig) {
        let mut inner = self.lock();
        inner.rng = StdRng::seed_from_u64(config.seed);
        inner.storms.clear();
        inner.config = config;
    }

    /// Changes the configuration in place (the generator goes on).
    pub fn update(&self, change: impl FnOnce(&mut FaultConfig)) {
        change(&mut self.lock().config);
    }

    /// Adds one scripted rule.
    pub fn add_rule(&self, rule: Rule) {
        self.lock().config.rules.push(rule);
    }

    /// No faults any more; the counters stay.
    pub fn clear(&self) {
        let mut inner = self.lock();
        inner.config = FaultConfig { seed: inner.config.seed, ..FaultConfig::default() };
        inner.storms.clear();
    }

    pub fn config(&self) -> FaultConfig {
        self.lock().config.clone()
    }

    pub fn stats(&self) -> FaultStats {
        self.lock().stats.clone()
    }

    pub fn reset_stats(&self) {
        self.lock().stats = FaultStats::default();
    }

    fn decide(&self, service: Service, method: &Method, path: &str) -> Decision {
        let mut inner = self.lock();
        let inner = &mut *inner;
        let count = |stats: &mut FaultStats, kind: &str| {
            *stats.by_kind.entry(format!("{}.{kind}", service.name())).or_default() += 1;
        };
        // Scripted rules first, in the order they were added.
        if let Some(rule) = inner.config.rules.iter_mut().find(|r| r.matches(service, method, path)) {
            if rule.skip > 0 {
                rule.skip -= 1;
            } else {
                rule.count -= 1;
                let fault = rule.fault.clone();
                inner.config.rules.retain(|r| r.count > 0);
                count(&mut inner.stats, fault.label());
                let delay = match fault {
                    FaultKind::Delay { ms } => Duration::from_millis(ms),
                    _ => Duration::ZERO,
                };
                return Decision { delay, fault: Some(fault) };
            }
        }
        let chaos = inner.config.chaos(service).clone();
        if chaos.is_quiet() {
            return Decision { delay: Duration::ZERO, fault: None };
        }
        let rng = &mut inner.rng;
        let mut delay = Duration::from_millis(chaos.latency_ms);
        if chaos.latency_jitter_ms > 0 {
            delay += Duration::from_millis(rng.random_range(0..=chaos.latency_jitter_ms));
        }
        if !delay.is_zero() {
            count(&mut inner.stats, "latency");
        }
        // One draw per kind, always in the same order, so that a seed gives the same sequence.
        let draws: [f64; 6] = std::array::from_fn(|_| rng.random::<f64>());
        let coin: bool = rng.random();
        let storm = inner.storms.entry(service).or_default();
        let fault = if *storm > 0 {
            *storm -= 1;
            Some(FaultKind::Status { status: 429, retry_after_secs: Some(chaos.retry_after_secs) })
        } else if draws[0] < chaos.throttle_rate {
            *storm = chaos.storm_length.max(1) - 1;
            Some(FaultKind::Status { status: 429, retry_after_secs: Some(chaos.retry_after_secs) })
        } else if draws[1] < chaos.error_rate {
            Some(FaultKind::Status { status: if coin { 503 } else { 500 }, retry_after_secs: None })
        } else if draws[2] < chaos.drop_rate {
            Some(if coin { FaultKind::Drop } else { FaultKind::DropAfter })
        } else if draws[3] < chaos.truncate_rate {
            Some(FaultKind::Truncate)
        } else if draws[4] < chaos.garbage_rate {
            Some(FaultKind::Garbage)
        } else {
            None
        };
        if let Some(fault) = &fault {
            count(&mut inner.stats, fault.label());
        }
        Decision { delay, fault }
    }

    /// `GET|POST|DELETE /_emulator/faults`, `POST /_emulator/faults/rules`.
    pub fn admin_router(&self) -> Router {
        Router::new()
            .route("/_emulator/faults", get(admin_get).post(admin_set).delete(admin_clear))
            .route("/_emulator/faults/rules", post(admin_add_rule))
            .with_state(self.clone())
    }
}

async fn admin_get(State(faults): State<Faults>) -> Response {
    axum::Json(json!({ "config": faults.config(), "injected": faults.stats().by_kind })).into_response()
}

async fn admin_set(State(faults): State<Faults>, body: axum::body::Bytes) -> Response {
    match serde_json::from_slice::<FaultConfig>(&body) {
        Ok(config) => {
            faults.set(config);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => (StatusCode::BAD_REQUEST, axum::Json(json!({ "error": e.to_string() }))).into_response(),
    }
}

async fn admin_add_rule(State(faults): State<Faults>, body: axum::body::Bytes) -> Response {
    match serde_json::from_slice::<Rule>(&body) {
        Ok(rule) => {
            faults.add_rule(rule);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => (StatusCode::BAD_REQUEST, axum::Json(json!({ "error": e.to_string() }))).into_response(),
    }
}

async fn admin_clear(State(faults): State<Faults>) -> Response {
    faults.clear();
    StatusCode::NO_CONTENT.into_response()
}

/// The middleware: `router.layer(axum::middleware::from_fn_with_state(faults, faults::inject))`.
pub async fn inject(State(faults): State<Faults>, request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    let Some(service) = Service::of_path(&path) else {
        return next.run(request).await;
    };
    let decision = faults.decide(service, request.method(), &path);
    if !decision.delay.is_zero() {
        tokio::time::sleep(decision.delay).await;
    }
    match decision.fault {
        None | Some(FaultKind::Delay { .. }) => next.run(request).await,
        Some(FaultKind::Status { status, retry_after_secs }) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut response = error_answer(service, status);
            if let Some(secs) = retry_after_secs {
                response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
            }
            response
        }
        Some(FaultKind::Drop) => dropped(),
        Some(FaultKind::DropAfter) => {
            let response = next.run(request).await;
            // Let the handler's work finish (it has: `run` returned), then lose the answer.
            drop(response);
            dropped()
        }
        Some(FaultKind::Truncate) => {
            let response = next.run(request).await;
            let (mut parts, body) = response.into_parts();
            let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default();
            let cut = bytes.slice(..bytes.len() / 2);
            parts.headers.remove(header::CONTENT_LENGTH);
            Response::from_parts(parts, Body::from(cut))
        }
        Some(FaultKind::Garbage) => Response::builder()
            .status(StatusCode::OK)
            .header(header::CONTENT_TYPE, "text/html; charset=utf-8")
            .body(Body::from(
                "<!DOCTYPE html><html><head><title>Sign in to continue</title></head>\
                 <body><h1>Your session has expired</h1></body></html>",
            ))
            .unwrap_or_default(),
        Some(FaultKind::Body { status, content_type, body }) => Response::builder()
            .status(StatusCode::from_u16(status).unwrap_or(StatusCode::OK))
            .header(header::CONTENT_TYPE, content_type)
            .body(Body::from(body))
            .unwrap_or_default(),
    }
}

/// An answer whose body fails before its first byte: hyper closes the connection without sending
/// anything, so the client sees the connection closed before a message.
fn dropped() -> Response {
    let failing = futures::stream::once(async {
        Err::<axum::body::Bytes, std::io::Error>(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "connection dropped by the emulator's fault injection",
        ))
    });
    Response::new(Body::from_stream(failing))
}

/// The error body each service uses.
fn error_answer(service: Service, status: StatusCode) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    match service {
        Service::Graph => {
            let code = match status {
                StatusCode::TOO_MANY_REQUESTS => "TooManyRequests",
                StatusCode::SERVICE_UNAVAILABLE => "ServiceUnavailable",
                StatusCode::GATEWAY_TIMEOUT => "GatewayTimeout",
                StatusCode::UNAUTHORIZED => "InvalidAuthenticationToken",
                _ => "UnknownError",
            };
            crate::entra::graph_error(status, code, "Injected by the emulator's fault layer.")
        }
        Service::Signin => {
            let body = json!({
                "error": if status == StatusCode::TOO_MANY_REQUESTS { "temporarily_unavailable" } else { "server_error" },
                "error_description": format!("AADSTS90033: A transient error has occurred. Please try again. Trace ID: {request_id}"),
                "error_codes": [90033],
                "trace_id": request_id,
                "correlation_id": request_id,
            });
            (status, axum::Json(body)).into_response()
        }
        Service::Aws => {
            let schema = "urn:ietf:params:scim:api:messages:2.0:Error";
            let detail = match status {
                StatusCode::TOO_MANY_REQUESTS => "Rate exceeded",
                _ => "Injected by the emulator's fault layer.",
            };
            let body = json!({
                "schema": [schema],
                "schemas": [schema],
                "detail": detail,
                "status": status.as_u16().to_string(),
                "exceptionRequestId": request_id,
                "timeStamp": chrono::Utc::now().format("%Y-%m-%d %H:%M:%S%.3f").to_string(),
            });
            let mut response = (status, axum::Json(body)).into_response();
            if let Ok(v) = HeaderValue::from_str(&request_id) {
                response.headers_mut().insert("x-amzn-RequestId", v);
            }
            response
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draws(faults: &Faults, n: usize) -> Vec<Option<FaultKind>> {
        (0..n).map(|_| faults.decide(Service::Aws, &Method::GET, "/t/scim/v2/Users").fault).collect()
    }

    #[test]
    fn services_by_path() {
        let cases = [
            ("/v1.0/users", Some(Service::Graph)),
            ("/beta/groups/x/members", Some(Service::Graph)),
            ("/tenant/oauth2/v2.0/token", Some(Service::Signin)),
            ("/tenant/v2.0/.well-known/openid-configuration", Some(Service::Signin)),
            ("/aws-t/scim/v2/Users", Some(Service::Aws)),
            ("/_emulator/faults", None),
        ];
        for (path, service) in cases {
            assert_eq!(Service::of_path(path), service, "{path}");
        }
    }

    #[test]
    fn a_seed_gives_the_same_faults() {
        let config = FaultConfig {
            seed: 7,
            aws: Chaos {
                error_rate: 0.2,
                throttle_rate: 0.05,
                storm_length: 3,
                drop_rate: 0.1,
                ..Chaos::default()
            },
            ..FaultConfig::default()
        };
        let a = draws(&Faults::new(config.clone()), 200);
        let b = draws(&Faults::new(config), 200);
        assert_eq!(a, b);
        assert!(a.iter().any(Option::is_some) && a.iter().any(Option::is_none));
    }

    #[test]
    fn storms_last_their_length_and_rules_run_out() {
        let config = FaultConfig {
            aws: Chaos { throttle_rate: 1.0, storm_length: 3, retry_after_secs: 2, ..Chaos::default() },
            ..FaultConfig::default()
        };
        let faults = Faults::new(config);
        let all = draws(&faults, 6);
        assert!(
            all.iter()
                .all(|f| matches!(f, Some(FaultKind::Status { status: 429, retry_after_secs: Some(2) })))
        );
        assert_eq!(faults.stats().get("aws.throttled"), 6);

        let faults = Faults::default();
        faults.add_rule(Rule { skip: 1, ..Rule::next(2, "/scim/v2/Users", FaultKind::Drop) });
        let got = draws(&faults, 5);
        assert_eq!(got, vec![None, Some(FaultKind::Drop), Some(FaultKind::Drop), None, None]);
        assert!(faults.config().rules.is_empty());
    }

    #[test]
    fn rules_read_from_json() {
        let config: FaultConfig = serde_json::from_str(
            r#"{"seed": 1, "graph": {"error_rate": 0.1},
                "rules": [{"path": "/v1.0/users", "count": 2, "fault": {"kind": "status", "status": 503}},
                          {"service": "aws", "fault": {"kind": "body", "status": 200, "body": "{\"value\": []}"}}]}"#,
        )
        .expect("valid");
        assert_eq!(config.rules.len(), 2);
        assert_eq!(config.rules[1].count, 1);
        assert!(serde_json::from_str::<FaultConfig>(r#"{"graph": {"eror_rate": 1}}"#).is_err());
    }
}
