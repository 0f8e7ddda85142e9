//! Command-line flags. Values come from flags, then the environment, then the config file.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "scimsync",
    version,
    about = "Keep AWS IAM Identity Center in step with Microsoft Entra ID",
    long_about = "Keep AWS IAM Identity Center in step with Microsoft Entra ID.\n\n\
        Two ways to act: `trigger` asks Entra's own provisioning job to run now and waits for it; \
        `plan` and `sync` read Entra ID through Microsoft Graph and write the exact difference to the \
        AWS SCIM endpoint (nested groups flattened, removals guarded). `emulate` runs local emulators \
        of both services and `demo` shows everything on them.",
    after_help = "Exit codes: 0 success; 1 error; 2 `plan --detailed-exitcode` found changes; \
        3 finished, but some objects failed, were rejected or conflict; 4 the provisioning cycle failed \
        or the job is quarantined; 5 timed out waiting; 6 removals held by the guard (see --allow-removals)."
)]
pub struct Cli {
    /// TOML config file (flags and environment variables take precedence over it).
    #[arg(long, global = true, env = "SCIMSYNC_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// How much to log on stderr [default: info for watch, warn for the other commands].
    #[arg(long, global = true, value_enum, env = "SCIMSYNC_LOG_LEVEL")]
    pub log_level: Option<LogLevel>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the local Entra ID / Graph and AWS SCIM emulators until stopped.
    #[command(
        long_about = "Run local emulators of Entra ID (sign-in, Microsoft Graph, the provisioning job and its \
            logs) and of the AWS IAM Identity Center SCIM endpoint, both on one listener, in the foreground \
            until SIGINT or SIGTERM (then it exits 0).\n\n\
            Once the listener accepts connections, it prints `export NAME=value` lines on stdout, in this \
            order: AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET, AZURE_AUTHORITY_HOST, \
            SCIMSYNC_GRAPH_URL, SCIMSYNC_APP, SCIMSYNC_SCIM_URL, SCIMSYNC_SCIM_TOKEN. Sourced, they point \
            scimsync (or another client) at the emulators. The secrets are the emulator's own. Messages \
            go to stderr. In a CI job (sh or bash):\n\n  \
            rm -f emu.env\n  \
            scimsync emulate --listen 127.0.0.1:0 > emu.env &\n  \
            EMU_PID=$!; trap 'kill $EMU_PID 2>/dev/null' EXIT\n  \
            until grep -qs '^export SCIMSYNC_SCIM_TOKEN=' emu.env; do\n  \
            \x20 kill -0 $EMU_PID 2>/dev/null || exit 1   # it did not start: the reason is on stderr\n  \
            \x20 sleep 0.1\n  \
            done\n  \
            . ./emu.env\n  \
            scimsync trigger\n  \
            scimsync plan && scimsync sync\n\n\
            Without --directory it serves a built-in sample company (nested groups, a guest, a disabled \
            user, a user without a surname, an AWS group made by Control Tower); on it `trigger` and \
            `sync` exit 3 on purpose, as AWS refuses the user without a surname. With --directory FILE \
            it serves your users, groups, assignments, job state, Graph clients and AWS objects from a \
            JSON file. A bad file or address is refused before anything starts, with what is wrong and \
            where, and exit code 1. State lives in memory: each start begins afresh from the file.\n\n\
            With --tls it also serves HTTPS on a second listener, with a CA made at start: the printed \
            URLs are then https, and SCIMSYNC_CA_FILE (the CA certificate) is printed before \
            SCIMSYNC_SCIM_TOKEN; scimsync trusts it through that variable, other clients take it as \
            their CA bundle (Python: verify=$SCIMSYNC_CA_FILE).\n\n\
            Every route, the permissions, how the emulated provisioning job behaves and the directory \
            file format with an example: docs/emulator.md in the scimsync repository."
    )]
    Emulate(EmulateArgs),
    /// Ask Entra's provisioning job to act now, wait for the cycle and report how it went.
    Trigger(TriggerArgs),
    /// Show the provisioning job: schedule, state, last cycles, counts, quarantine.
    Status(JobArgs),
    /// Show provisioning log entries as a table.
    Logs(LogsArgs),
    /// Show what `sync` would change in AWS, without changing anything.
    Plan(PlanArgs),
    /// Read Entra ID and AWS, and apply the difference to AWS.
    Sync(SyncArgs),
    /// Carry every change from Entra ID to AWS within seconds, until SIGINT or SIGTERM (see docs/continuous.md).
    Watch(WatchArgs),
    /// Run the whole story on built-in emulators: trigger, plan, sync.
    Demo,
}

#[derive(Debug, Args)]
pub struct EmulateArgs {
    /// Address to listen on: IP:PORT, [IPv6]:PORT or localhost:PORT. Port 0 picks a free port (it is
    /// in the printed AZURE_AUTHORITY_HOST); 0.0.0.0 listens on every interface.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8700")]
    pub listen: String,
    /// Directory file (JSON) to serve instead of the built-in sample company (format: docs/emulator.md).
    #[arg(long, value_name = "FILE")]
    pub directory: Option<PathBuf>,
    /// Also serve HTTPS on a second listener, with a CA made at start: the printed URLs are then the
    /// https ones, and SCIMSYNC_CA_FILE (the CA certificate, PEM) is printed before SCIMSYNC_SCIM_TOKEN.
    /// scimsync trusts it through SCIMSYNC_CA_FILE; other clients take it as their CA bundle. Plain
    /// HTTP keeps serving on --listen.
    #[arg(long)]
    pub tls: bool,
    /// With --tls: the HTTPS listener's address. Default: the --listen IP on a free port.
    #[arg(long, value_name = "ADDR", requires = "tls")]
    pub tls_listen: Option<String>,
    /// With --tls: where to write the CA certificate (PEM). Default: a new file in the temp
    /// directory, removed when the emulator stops.
    #[arg(long, value_name = "FILE", requires = "tls")]
    pub ca_file: Option<PathBuf>,
}

/// How to reach Entra ID and find the enterprise application.
#[derive(Debug, Clone, Default, Args)]
pub struct EntraArgs {
    /// Directory (tenant) id or verified domain.
    #[arg(long, env = "AZURE_TENANT_ID")]
    pub tenant_id: Option<String>,
    /// Application (client) id of the app scimsync signs in as.
    #[arg(long, env = "AZURE_CLIENT_ID")]
    pub client_id: Option<String>,
    /// Sign-in root, e.g. https://login.microsoftonline.com.
    #[arg(long, env = "AZURE_AUTHORITY_HOST")]
    pub authority_host: Option<String>,
    /// Microsoft Graph root, e.g. https://graph.microsoft.com.
    #[arg(long, env = "SCIMSYNC_GRAPH_URL")]
    pub graph_url: Option<String>,
    /// The AWS enterprise application: display name, appId or object id.
    #[arg(long, env = "SCIMSYNC_APP")]
    pub app: Option<String>,
}

/// How to reach the AWS SCIM endpoint.
#[derive(Debug, Clone, Default, Args)]
pub struct AwsArgs {
    /// SCIM endpoint, e.g. https://scim.us-east-1.amazonaws.com/<tenant>/scim/v2/.
    #[arg(long, env = "SCIMSYNC_SCIM_URL")]
    pub scim_url: Option<String>,
    /// File holding the SCIM access token (else SCIMSYNC_SCIM_TOKEN).
    #[arg(long, env = "SCIMSYNC_SCIM_TOKEN_FILE", value_name = "FILE")]
    pub scim_token_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Default, Args)]
pub struct JobArgs {
    #[command(flatten)]
    pub entra: EntraArgs,
    /// Provisioning job id, when the app has several.
    #[arg(long, env = "SCIMSYNC_JOB")]
    pub job: Option<String>,
}

#[derive(Debug, Args)]
pub struct TriggerArgs {
    #[command(flatten)]
    pub job: JobArgs,
    /// Provision this user on demand (UPN or object id); repeatable.
    #[arg(long = "user", value_name = "UPN|ID")]
    pub users: Vec<String>,
    /// Provision this group on demand (name or object id); repeatable.
    #[arg(long = "group", value_name = "NAME|ID")]
    pub groups: Vec<String>,
    /// Start the job whatever its state (warns when a cycle is running).
    #[arg(long, conflicts_with_all = ["restart", "users", "groups"])]
    pub start: bool,
    /// Restart the job; optionally with reset scopes (Escrows, Watermark, QuarantineState, Full, ForceDeletes).
    #[arg(long, value_name = "SCOPE,...", num_args = 0..=1, require_equals = true, default_missing_value = "", value_delimiter = ',', conflicts_with_all = ["users", "groups"])]
    pub restart: Option<Vec<String>>,
    /// Return once the action is accepted instead of waiting for the cycle.
    #[arg(long)]
    pub no_wait: bool,
    /// Give up waiting after this long (e.g. 30m, 90s).
    #[arg(long, default_value = "60m", value_parser = parse_duration)]
    pub timeout: std::time::Duration,
    /// How often to poll the job while waiting.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub poll: std::time::Duration,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    #[command(flatten)]
    pub job: JobArgs,
    /// Only entries newer than this (e.g. 1h, 30m, 2d).
    #[arg(long, default_value = "24h", value_parser = parse_duration)]
    pub since: std::time::Duration,
    /// Only failed entries.
    #[arg(long)]
    pub failed: bool,
    /// At most this many entries.
    #[arg(long, default_value_t = 50)]
    pub top: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Output {
    #[default]
    Human,
    Json,
}

#[derive(Debug, Clone, Default, Args)]
pub struct SyncScopeArgs {
    #[command(flatten)]
    pub entra: EntraArgs,
    #[command(flatten)]
    pub aws: AwsArgs,
    /// State file (the objects scimsync manages); default in the user's state directory.
    #[arg(long, env = "SCIMSYNC_STATE", value_name = "PATH")]
    pub state: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Output::Human)]
    pub output: Output,
    /// Apply removals even above the guard's thresholds, for this run only.
    #[arg(long)]
    pub allow_removals: bool,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub common: SyncScopeArgs,
    /// Exit 0 when there is nothing to change, 2 when there are changes, 1 on error (as terraform).
    #[arg(long)]
    pub detailed_exitcode: bool,
}

#[derive(Debug, Args)]
pub struct SyncArgs {
    #[command(flatten)]
    pub common: SyncScopeArgs,
    /// Read Entra ID and AWS in full and repair drift, instead of an incremental run from the state.
    #[arg(long)]
    pub full: bool,
}

#[derive(Debug, Args)]
pub struct WatchArgs {
    #[command(flatten)]
    pub common: SyncScopeArgs,
    /// How often to read the changes from Entra ID (Graph delta); default 5s, or `[watch] interval`.
    #[arg(long, value_parser = parse_duration)]
    pub interval: Option<std::time::Duration>,
    /// How often to reconcile in full with AWS, repairing drift; default 1h, or `[watch] full_every`.
    #[arg(long, value_parser = parse_duration)]
    pub full_every: Option<std::time::Duration>,
}

/// Parses durations like `90s`, `5m`, `1h30m`, `2d`, `500ms`.
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let text = text.trim();
    let bad = || format!("{text:?} is not a duration; write it like 90s, 5m, 1h30m or 2d");
    if text.is_empty() {
        return Err(bad());
    }
    let mut total = std::time::Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        if digits == 0 {
            return Err(bad());
        }
        let number: u64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let seconds = match unit {
            "ms" => {
                total += std::time::Duration::from_millis(number);
                continue;
            }
            "s" | "" => number,
            "m" => number * 60,
            "h" => number * 3600,
            "d" => number * 86_400,
            _ => return Err(bad()),
        };
        total += std::time::Duration::from_secs(seconds);
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        let s = std::time::Duration::from_secs;
        for (text, want) in
            [("90s", s(90)), ("5m", s(300)), ("1h30m", s(5400)), ("2d", s(172_800)), ("45", s(45))]
        {
            assert_eq!(parse_duration(text), Ok(want), "{text}");
        }
        assert_eq!(parse_duration("500ms"), Ok(std::time::Duration::from_millis(500)));
        for bad in ["", "m", "5x", "-3s", "1.5h"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_cli_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
