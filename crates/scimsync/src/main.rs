//! scimsync: keep AWS IAM Identity Center in step with Microsoft Entra ID.

mod cli;
mod demo;
mod direct;
mod emulate;
mod exit;
mod render;
mod settings;
mod trigger;
mod watch;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser as _;
use tracing_subscriber::EnvFilter;

use crate::cli::{Cli, Command, LogLevel};
use crate::exit::Exit;
use crate::settings::{AwsSettings, ConfigFile, EntraSettings, Prompt, SyncSettings};

fn init_logging(level: LogLevel) {
    let level = match level {
        LogLevel::Error => "error",
        LogLevel::Warn => "warn",
        LogLevel::Info => "info",
        LogLevel::Debug => "debug",
        LogLevel::Trace => "trace",
    };
    // The level applies to scimsync's own crates; the HTTP stack stays at warn unless RUST_LOG says more.
    let filter = match std::env::var("RUST_LOG") {
        Ok(directives) if !directives.trim().is_empty() => EnvFilter::new(directives),
        _ => EnvFilter::new(format!(
            "warn,scimsync={level},scimsync_core={level},scimsync_entra={level},scimsync_scim={level},\
             scimsync_sync={level},scimsync_emulator={level}"
        )),
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
}

async fn run(cli: Cli) -> anyhow::Result<Exit> {
    let file = ConfigFile::load(cli.config.as_deref())?;
    match cli.command {
        Command::Emulate(args) => emulate::run(args).await,
        Command::Demo => demo::run().await,
        Command::Trigger(args) => {
            let entra = EntraSettings::resolve(&args.job.entra, &file, Prompt::IfTerminal)?;
            let job = args.job.job.clone().or(file.entra.job.clone());
            trigger::trigger(&entra, job, &args).await
        }
        Command::Status(args) => {
            let entra = EntraSettings::resolve(&args.entra, &file, Prompt::Never)?;
            trigger::status(&entra, args.job.clone().or(file.entra.job.clone())).await
        }
        Command::Logs(args) => {
            let entra = EntraSettings::resolve(&args.job.entra, &file, Prompt::Never)?;
            trigger::logs(&entra, args.job.job.clone().or(file.entra.job.clone()), &args).await
        }
        Command::Plan(args) => {
            let entra = EntraSettings::resolve(&args.common.entra, &file, Prompt::Never)?;
            let aws = AwsSettings::resolve(&args.common.aws, &file)?;
            let sync = SyncSettings::resolve(args.common.state.clone(), args.common.allow_removals, &file)?;
            direct::plan(&entra, &aws, &sync, args.common.output, args.detailed_exitcode).await
        }
        Command::Sync(args) => {
            let entra = EntraSettings::resolve(&args.common.entra, &file, Prompt::Never)?;
            let aws = AwsSettings::resolve(&args.common.aws, &file)?;
            let sync = SyncSettings::resolve(args.common.state.clone(), args.common.allow_removals, &file)?;
            direct::sync(&entra, &aws, &sync, args.common.output, args.full).await
        }
        Command::Watch(args) => {
            let entra = EntraSettings::resolve(&args.common.entra, &file, Prompt::Never)?;
            let aws = AwsSettings::resolve(&args.common.aws, &file)?;
            let sync = SyncSettings::resolve(args.common.state.clone(), args.common.allow_removals, &file)?;
            watch::watch(&entra, &aws, &sync, &args, &file.watch).await
        }
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // Help and version are successes; a usage error is exit 1, never 2 ("changes pending").
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { Exit::Error.code() } else { Exit::Success.code() });
        }
    };
    // A long-running watch reports each change it carries at info; one-shot commands print their own
    // results and log only problems.
    let default_level =
        if matches!(cli.command, Command::Watch(_)) { LogLevel::Info } else { LogLevel::Warn };
    init_logging(cli.log_level.unwrap_or(default_level));
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(Exit::Error.code());
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(exit) => ExitCode::from(exit.code()),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(Exit::Error.code())
        }
    }
}
