//! Counters of the HTTP requests a client made, shared by all its clones.

use std::sync::atomic::{AtomicU64, Ordering};

use reqwest::Method;
use serde::Serialize;

/// A copy of the counters at one moment. Every attempt counts as a request; outcomes count calls.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CallStats {
    pub get: u64,
    pub post: u64,
    pub put: u64,
    pub patch: u64,
    pub delete: u64,
    /// Calls that succeeded (possibly after retries).
    pub ok: u64,
    /// Calls that found nothing (404) where that is an answer, e.g. get or delete of a gone object.
    pub not_found: u64,
    /// Attempts that failed transiently and were tried again.
    pub retried: u64,
    /// 429 answers received.
    pub throttled: u64,
    /// Calls that ended in an error.
    pub failed: u64,
}

impl CallStats {
    /// HTTP requests sent, all methods.
    pub fn requests(&self) -> u64 {
        self.get + self.post + self.put + self.patch + self.delete
    }

    /// Requests that may have changed something in AWS.
    pub fn writes(&self) -> u64 {
        self.post + self.put + self.patch + self.delete
    }
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    get: AtomicU64,
    post: AtomicU64,
    put: AtomicU64,
    patch: AtomicU64,
    delete: AtomicU64,
    pub ok: AtomicU64,
    pub not_found: AtomicU64,
    pub retried: AtomicU64,
    pub throttled: AtomicU64,
    pub failed: AtomicU64,
}

impl Counters {
    pub fn count_request(&self, method: &Method) {
        let counter = match *method {
            Method::POST => &self.post,
            Method::PUT => &self.put,
            Method::PATCH => &self.patch,
            Method::DELETE => &self.delete,
            _ => &self.get,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> CallStats {
        let read = |c: &AtomicU64| c.load(Ordering::Relaxed);
        CallStats {
            get: read(&self.get),
            post: read(&self.post),
            put: read(&self.put),
            patch: read(&self.patch),
            delete: read(&self.delete),
            ok: read(&self.ok),
            not_found: read(&self.not_found),
            retried: read(&self.retried),
            throttled: read(&self.throttled),
            failed: read(&self.failed),
        }
    }
}
