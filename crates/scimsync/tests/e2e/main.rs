//! End-to-end tests of the real `scimsync` binary against the Entra ID and AWS emulators, started
//! in-process on 127.0.0.1:0. Each test has its own emulators, HOME and state file; the binary runs
//! with a cleared environment holding only PATH, HOME, NO_COLOR and the emulators' variables.
//!
//! - `trigger`: Entra's provisioning job (start once, wait, exit codes, on demand), `status`, `logs`.
//! - `sync`: the direct way (`plan`, `sync`) and what it must and must not change in AWS.
//! - `errors`: what people see when the settings are wrong.
//! - `emulate`: the emulators as a process of their own.
//! - `rendering`: snapshots of what people read.

mod emulate;
mod errors;
mod https;
mod rendering;
mod support;
mod sync;
mod trigger;
