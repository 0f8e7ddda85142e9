//! Graph's throttling of identity and access calls: resource units per app per tenant per 10 s,
//! and a separate write quota (3,000 requests per app per tenant per 150 s).
//!
//! Costs as Microsoft documents them: listing users 2, a group's members 3, transitiveMembers 5,
//! any other GET 1; `$select` takes 1 off (never below 1) and `$expand` adds 1. A write costs 1
//! unit and one request of the write quota. Every answer carries `x-ms-resource-unit`; once the app
//! has used more than 80 % of its units, `x-ms-throttle-limit-percentage`; a 429 adds
//! `Retry-After`, `x-ms-throttle-scope` and `x-ms-throttle-information`.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use axum::http::{HeaderValue, Method, StatusCode};
use axum::response::Response;
use serde::{Deserialize, Serialize};

use super::graph::GraphRequest;
use super::signin::Caller;
use super::{EntraEmulator, graph_error};

/// The limits, as settings (directory file key `throttling`, or
/// [`super::EntraEmulator::set_throttle_limits`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ThrottleLimits {
    /// Resource units per app per window. `None`: by the tenant's size, as Graph does:
    /// 3,500 under 50 users, 5,000 for 50–500, 8,000 above 500.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_units: Option<u32>,
    /// The resource-unit window, in seconds (Graph: 10).
    #[serde(default = "default_unit_window")]
    pub resource_unit_window_secs: u64,
    /// Write requests per app per write window (Graph: 3,000).
    #[serde(default = "default_writes")]
    pub writes: u32,
    /// The write window, in seconds (Graph: 150).
    #[serde(default = "default_write_window")]
    pub write_window_secs: u64,
    /// Off: nothing is throttled (the headers still come).
    #[serde(default = "default_enabled")]
    pub enabled: bool,
}

fn default_unit_window() -> u64 {
    10
}
fn default_writes() -> u32 {
    3_000
}
fn default_write_window() -> u64 {
    150
}
fn default_enabled() -> bool {
    true
}

impl Default for ThrottleLimits {
    fn default() -> Self {
        ThrottleLimits {
            resource_units: None,
            resource_unit_window_secs: default_unit_window(),
            writes: default_writes(),
            write_window_secs: default_write_window(),
            enabled: true,
        }
    }
}

impl ThrottleLimits {
    /// The resource-unit limit for a tenant with this many users.
    pub fn units_for(&self, user_count: usize) -> u32 {
        self.resource_units.unwrap_or(match user_count {
            0..50 => 3_500,
            50..=500 => 5_000,
            _ => 8_000,
        })
    }
}

/// What a request costs, from its method, path segments and query.
pub(crate) fn cost(is_get: bool, segments: &[&str], has_select: bool, has_expand: bool) -> u32 {
    if !is_get {
        return 1;
    }
    let base: u32 = match segments {
        ["users"] => 2,
        ["groups", _, "members"] => 3,
        ["groups", _, "transitiveMembers"] => 5,
        _ => 1,
    };
    let base = base + u32::from(has_expand);
    if has_select { base.saturating_sub(1).max(1) } else { base }
}

/// The verdict on one request.
pub(crate) enum Verdict {
    /// Served; `percentage` when above 0.8 of the unit limit.
    Allowed { percentage: Option<f64> },
    /// 429.
    Throttled { retry_after_secs: u64, write: bool, percentage: f64 },
}

#[derive(Default)]
pub(crate) struct Throttle {
    pub limits: ThrottleLimits,
    units: HashMap<String, VecDeque<(Instant, u32)>>,
    writes: HashMap<String, VecDeque<Instant>>,
    /// 429s answered so far.
    pub throttled: u64,
}

impl Throttle {
    pub fn new(limits: ThrottleLimits) -> Self {
        Throttle { limits, ..Throttle::default() }
    }

    /// Charge a request of `app` (its client id) or refuse it.
    pub fn charge(&mut self, app: &str, cost: u32, write: bool, user_count: usize) -> Verdict {
        let now = Instant::now();
        let unit_window = Duration::from_secs(self.limits.resource_unit_window_secs.max(1));
        let write_window = Duration::from_secs(self.limits.write_window_secs.max(1));
        let limit = self.limits.units_for(user_count).max(1);
        let key = app.to_ascii_lowercase();
        let units = self.units.entry(key.clone()).or_default();
        while units.front().is_some_and(|(at, _)| now.duration_since(*at) >= unit_window) {
            units.pop_front();
        }
        let used: u32 = units.iter().map(|(_, c)| c).sum();
        let writes = self.writes.entry(key).or_default();
        while writes.front().is_some_and(|at| now.duration_since(*at) >= write_window) {
            writes.pop_front();
        }
        if self.limits.enabled {
            if write && writes.len() >= self.limits.writes as usize {
                self.throttled += 1;
                let oldest = writes.front().copied().unwrap_or(now);
                return Verdict::Throttled {
                    retry_after_secs: secs_until(now, oldest + write_window),
                    write: true,
                    percentage: f64::from(used) / f64::from(limit),
                };
            }
            if used + cost > limit {
                self.throttled += 1;
                // Wait until enough units have left the window for this request to fit.
                let mut freed = 0u32;
                let mut until = now + unit_window;
                for (at, c) in units.iter() {
                    freed += c;
                    if used - freed + cost <= limit {
                        until = *at + unit_window;
                        break;
                    }
                }
                return Verdict::Throttled {
                    retry_after_secs: secs_until(now, until),
                    write: false,
                    percentage: f64::from(used) / f64::from(limit),
                };
            }
        }
        units.push_back((now, cost));
        if write {
            writes.push_back(now);
        }
        let share = f64::from(used + cost) / f64::from(limit);
        Verdict::Allowed { percentage: (share > 0.8).then_some(share) }
    }
}

/// The headers a metered answer carries.
pub(crate) struct Meter {
    units: u32,
    percentage: Option<f64>,
}

impl Meter {
    pub fn stamp(&self, response: &mut Response) {
        let headers = response.headers_mut();
        headers.insert("x-ms-resource-unit", HeaderValue::from(self.units));
        if let Some(p) = self.percentage
            && let Ok(v) = HeaderValue::from_str(&format!("{:.1}", p.min(1.8)))
        {
            headers.insert("x-ms-throttle-limit-percentage", v);
        }
    }
}

/// Whether Graph meters a route as an identity and access call (the provisioning job and the
/// audit logs have their own limits, which the emulator does not apply).
fn metered(segments: &[&str]) -> bool {
    match segments {
        [_, _, "synchronization", ..] => false,
        [first, ..] => {
            ["users", "groups", "servicePrincipals", "directoryObjects"].contains(first)
                || first.starts_with("servicePrincipals(")
        }
        [] => false,
    }
}

/// Charge a Graph request to the caller's app: `Ok(None)` for routes that are not metered,
/// `Ok(Some(meter))` to serve it, `Err(429)` when over a limit.
pub(crate) fn gate(
    emulator: &EntraEmulator,
    caller: &Caller,
    request: &GraphRequest,
    segments: &[&str],
) -> Result<Option<Meter>, Box<Response>> {
    if !metered(segments) {
        return Ok(None);
    }
    let is_get = request.method == Method::GET;
    let units = cost(is_get, segments, request.q("$select").is_some(), request.q("$expand").is_some());
    let mut state = emulator.lock();
    let user_count = state.users.len();
    let tenant = state.tenant_id.clone();
    match state.throttle.charge(&caller.client_id, units, !is_get, user_count) {
        Verdict::Allowed { percentage } => Ok(Some(Meter { units, percentage })),
        Verdict::Throttled { retry_after_secs, write, percentage } => {
            drop(state);
            let mut response = graph_error(
                StatusCode::TOO_MANY_REQUESTS,
                "TooManyRequests",
                "Too many requests. Please try again later.",
            );
            Meter { units, percentage: Some(percentage.max(1.0)) }.stamp(&mut response);
            let limit = if write { "Write" } else { "ReadWrite" };
            let headers = response.headers_mut();
            headers.insert("retry-after", HeaderValue::from(retry_after_secs));
            if let Ok(v) =
                HeaderValue::from_str(&format!("Tenant_Application/{limit}/{}/{tenant}", caller.client_id))
            {
                headers.insert("x-ms-throttle-scope", v);
            }
            let reason = if write { "WriteLimitExceeded" } else { "ResourceUnitLimitExceeded" };
            headers.insert("x-ms-throttle-information", HeaderValue::from_static(reason));
            Err(Box::new(response))
        }
    }
}

fn secs_until(now: Instant, then: Instant) -> u64 {
    then.saturating_duration_since(now).as_secs_f64().ceil().max(1.0) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_costs() {
        let cases: [(bool, &[&str], bool, bool, u32); 9] = [
            (true, &["users"], false, false, 2),
            (true, &["users"], true, false, 1),
            (true, &["groups", "g", "members"], false, false, 3),
            (true, &["groups", "g", "members"], true, false, 2),
            (true, &["groups", "g", "transitiveMembers"], false, false, 5),
            (true, &["users", "u"], false, false, 1),
            (true, &["users", "u"], true, false, 1),
            (true, &["users"], false, true, 3),
            (false, &["users"], false, false, 1),
        ];
        for (get, segments, select, expand, expected) in cases {
            assert_eq!(cost(get, segments, select, expand), expected, "{segments:?} {select} {expand}");
        }
    }

    #[test]
    fn tiers_follow_the_tenant_size() {
        let limits = ThrottleLimits::default();
        assert_eq!([0, 49, 50, 500, 501].map(|n| limits.units_for(n)), [3_500, 3_500, 5_000, 5_000, 8_000]);
        let set = ThrottleLimits { resource_units: Some(7), ..ThrottleLimits::default() };
        assert_eq!(set.units_for(10_000), 7);
    }

    #[test]
    fn units_and_writes_are_counted_per_app() {
        let mut t =
            Throttle::new(ThrottleLimits { resource_units: Some(5), writes: 2, ..ThrottleLimits::default() });
        assert!(matches!(t.charge("a", 3, false, 1), Verdict::Allowed { percentage: None }));
        assert!(matches!(t.charge("a", 2, false, 1), Verdict::Allowed { percentage: Some(_) }));
        assert!(matches!(t.charge("a", 1, false, 1), Verdict::Throttled { write: false, .. }));
        assert!(matches!(t.charge("b", 1, true, 1), Verdict::Allowed { .. }), "another app");
        assert!(matches!(t.charge("b", 1, true, 1), Verdict::Allowed { .. }));
        assert!(matches!(t.charge("b", 1, true, 1), Verdict::Throttled { write: true, .. }));
        assert_eq!(t.throttled, 2);
    }
}
