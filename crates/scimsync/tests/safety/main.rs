//! Safety of the real binary: source outages never turn into removals, kill -9 during apply always
//! converges, and no secret ever reaches the output (docs/safety.md).

#[path = "../e2e/support.rs"]
#[allow(dead_code)]
mod support;

mod crash;
mod outages;
mod secrets;
