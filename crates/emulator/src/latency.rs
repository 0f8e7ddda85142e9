//! A per-call network latency for both emulators, for benchmarks: every request waits the one-way
//! latency before it is served and again before its answer leaves (so a call costs twice it).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

/// The one-way latency, shared by the emulator's router and its handle. Zero by default.
#[derive(Debug, Clone, Default)]
pub struct Latency(Arc<AtomicU64>);

impl Latency {
    pub fn set(&self, one_way: Duration) {
        self.0.store(one_way.as_micros().min(u128::from(u64::MAX)) as u64, Ordering::Relaxed);
    }

    pub fn get(&self) -> Duration {
        Duration::from_micros(self.0.load(Ordering::Relaxed))
    }
}

/// The middleware: `router.layer(axum::middleware::from_fn_with_state(latency, latency::delay))`.
pub async fn delay(State(latency): State<Latency>, request: Request, next: Next) -> Response {
    let wait = latency.get();
    if !wait.is_zero() {
        tokio::time::sleep(wait).await;
    }
    let response = next.run(request).await;
    if !wait.is_zero() {
        tokio::time::sleep(wait).await;
    }
    response
}
