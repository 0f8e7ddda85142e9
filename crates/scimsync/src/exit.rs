//! Exit codes: what a script or a scheduler can tell from the status alone.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Success,
    /// Bad input, sign-in failed, a service could not be read, …
    Error,
    /// `plan --detailed-exitcode`: there are changes to apply.
    ChangesPending,
    /// Finished, but some objects failed, were rejected or conflict.
    Incomplete,
    /// The provisioning cycle failed, or the job is quarantined.
    JobFailed,
    /// Gave up waiting.
    TimedOut,
    /// The removal guard held back removals; everything else was applied.
    RemovalsHeld,
    /// Stopped by SIGINT or SIGTERM (128 + SIGINT, as shells report it).
    Interrupted,
}

impl Exit {
    pub fn code(self) -> u8 {
        match self {
            Exit::Success => 0,
            Exit::Error => 1,
            Exit::ChangesPending => 2,
            Exit::Incomplete => 3,
            Exit::JobFailed => 4,
            Exit::TimedOut => 5,
            Exit::RemovalsHeld => 6,
            Exit::Interrupted => 130,
        }
    }
}
