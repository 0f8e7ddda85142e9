//! `scimsync emulate`: both emulators in the foreground until SIGINT or SIGTERM.

use std::io::Write;

use anyhow::{Context, Result, anyhow};
use scimsync_emulator::{DirectoryFile, EmulatorConfig, start};

use crate::cli::EmulateArgs;
use crate::exit::Exit;

pub async fn run(args: EmulateArgs) -> Result<Exit> {
    let directory = match &args.directory {
        Some(path) => DirectoryFile::load(path).map_err(|e| anyhow!("{e}"))?,
        None => DirectoryFile::sample(),
    };
    let config = EmulatorConfig { listen: args.listen, ..EmulatorConfig::new(directory) };
    let emulator = start(config).await.map_err(|e| anyhow!("{e}"))?;
    // The export lines are the interface: printed (with the emulator's own test secrets) only once
    // the listener accepts connections, then flushed so `. ./emulator.env` sees them at once.
    let mut stdout = std::io::stdout().lock();
    for (name, value) in emulator.env() {
        writeln!(stdout, "export {name}={}", shell_quote(&value))?;
    }
    stdout.flush()?;
    drop(stdout);
    eprintln!(
        "scimsync emulate: serving Entra ID, Graph and AWS SCIM on http://{}; stop with Ctrl-C",
        emulator.addr()
    );
    shutdown_signal().await.context("cannot wait for a stop signal")?;
    eprintln!("scimsync emulate: stopping");
    emulator.shutdown().await;
    Ok(Exit::Success)
}

fn shell_quote(value: &str) -> String {
    if value.chars().all(|c| c.is_ascii_alphanumeric() || "-_./:@%+=,".contains(c)) && !value.is_empty() {
        value.to_string()
    } else {
        format!("'{}'", value.replace('\'', r"'\''"))
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() -> std::io::Result<()> {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r,
            _ = term.recv() => Ok(()),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await
    }
}

#[cfg(test)]
mod tests {
    use super::shell_quote;

    #[test]
    fn values_are_quoted_for_the_shell() {
        assert_eq!(shell_quote("http://127.0.0.1:8700"), "http://127.0.0.1:8700");
        assert_eq!(shell_quote("AWS IAM Identity Center"), "'AWS IAM Identity Center'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }
}
