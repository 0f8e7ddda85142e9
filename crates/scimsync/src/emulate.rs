//! `scimsync emulate`: both emulators in the foreground until SIGINT or SIGTERM.

use std::io::{ErrorKind, Write};
use std::net::SocketAddr;

use anyhow::{Context, Result, anyhow};
use scimsync_emulator::directory::DirectoryError;
use scimsync_emulator::{DirectoryFile, EmulatorConfig, StartError, TlsOptions, start};

use crate::cli::EmulateArgs;
use crate::exit::Exit;

/// Where people find the format and the routes.
const DOCS: &str = "docs/emulator.md in the scimsync repository";

pub async fn run(args: EmulateArgs) -> Result<Exit> {
    let listen = parse_listen(&args.listen)?;
    let directory = match &args.directory {
        Some(path) => DirectoryFile::load(path).map_err(directory_error)?,
        None => DirectoryFile::sample(),
    };
    if directory.clients.is_empty() {
        eprintln!(
            "warning: the directory file has no clients, so nothing can sign in to Entra ID or call Graph \
             (AZURE_CLIENT_ID and AZURE_CLIENT_SECRET are printed empty); the AWS SCIM endpoint works"
        );
    }
    // --tls: a second listener for HTTPS; the CA goes to --ca-file or a temp file removed at exit.
    let (tls, temp_ca) = match (args.tls, &args.ca_file) {
        (false, _) => (None, None),
        (true, given) => {
            let tls_listen = match &args.tls_listen {
                Some(text) => parse_listen(text)?,
                None => SocketAddr::new(listen.ip(), 0),
            };
            let temp = given.is_none().then(|| {
                std::env::temp_dir().join(format!("scimsync-emulator-{}-ca.pem", std::process::id()))
            });
            let ca_file = given.clone().or(temp.clone());
            (Some(TlsOptions { listen: tls_listen, ca_file }), temp)
        }
    };
    let config = EmulatorConfig { listen, tls, ..EmulatorConfig::new(directory) };
    let emulator = start(config).await.map_err(start_error)?;
    // The export lines are the interface: printed (with the emulator's own test secrets) only once
    // the listener accepts connections, in one write and flushed, so that a script waiting for the
    // last line (SCIMSYNC_SCIM_TOKEN) and then sourcing the file sees them all.
    let env = emulator.https_env().unwrap_or_else(|| emulator.env());
    let lines: String =
        env.iter().map(|(name, value)| format!("export {name}={}\n", shell_quote(value))).collect();
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(lines.as_bytes())?;
    stdout.flush()?;
    drop(stdout);
    eprintln!(
        "scimsync emulate: serving Entra ID, Graph and AWS SCIM on http://{}; stop with Ctrl-C",
        emulator.addr()
    );
    if let Some(https) = emulator.https_base_url() {
        eprintln!("scimsync emulate: and on {https} (trust the CA in SCIMSYNC_CA_FILE)");
    }
    shutdown_signal().await.context("cannot wait for a stop signal")?;
    eprintln!("scimsync emulate: stopping");
    emulator.shutdown().await;
    if let Some(path) = temp_ca {
        let _ = std::fs::remove_file(path);
    }
    Ok(Exit::Success)
}

const LISTEN_HINT: &str = "write --listen as IP:PORT, for example 127.0.0.1:8700 (this machine only), \
    0.0.0.0:8700 (every interface, e.g. for other containers), [::1]:8700, or 127.0.0.1:0 (a free port, \
    printed in AZURE_AUTHORITY_HOST)";

/// `--listen`: `IP:PORT`, `[IPv6]:PORT`, or `localhost:PORT` (127.0.0.1). Other host names are not
/// resolved: a lookup could wait on a network a CI job does not have.
fn parse_listen(text: &str) -> Result<SocketAddr> {
    if let Ok(addr) = text.trim().parse::<SocketAddr>() {
        return Ok(addr);
    }
    let bad =
        |why: String| anyhow!("--listen {text:?} is not an address to listen on: {why}\nhint: {LISTEN_HINT}");
    let text = text.trim();
    if text.is_empty() {
        return Err(bad("it is empty".into()));
    }
    if text.parse::<u16>().is_ok() {
        return Err(bad(format!("it is a port without an address (did you mean 127.0.0.1:{text}?)")));
    }
    let Some((host, port)) = text.rsplit_once(':') else {
        return Err(bad("it has no port; add one after a colon".into()));
    };
    if host.is_empty() {
        return Err(bad("it has no address before the colon".into()));
    }
    let Ok(port) = port.parse::<u16>() else {
        return Err(bad(format!("{port:?} is not a port number (0 to 65535)")));
    };
    if host.eq_ignore_ascii_case("localhost") {
        return Ok(SocketAddr::from(([127, 0, 0, 1], port)));
    }
    Err(bad(format!("{host:?} is not an IP address (of host names, only localhost is taken)")))
}

/// A refused directory file: the error says what and where; add what to do.
fn directory_error(e: DirectoryError) -> anyhow::Error {
    let hint = match e {
        DirectoryError::Read { .. } => {
            "check the path given to --directory, or leave --directory out to serve the built-in sample company"
                .to_owned()
        }
        _ => format!("fix the file at that place; the format, with a complete example, is in {DOCS}"),
    };
    anyhow!("{e}\nhint: {hint}")
}

fn start_error(e: StartError) -> anyhow::Error {
    let hint = match &e {
        StartError::Bind { source, .. } => match source.kind() {
            ErrorKind::AddrInUse => {
                "another program listens on that port (an emulator still running?): stop it, \
                choose another port, or use port 0 to get a free one (the chosen address is printed in \
                AZURE_AUTHORITY_HOST)"
                    .to_owned()
            }
            ErrorKind::AddrNotAvailable => {
                "that IP address is not one of this machine's; use 127.0.0.1 (this \
                machine only) or 0.0.0.0 (every interface)"
                    .to_owned()
            }
            ErrorKind::PermissionDenied => {
                "ports below 1024 need privileges; use a port above 1023, or 0 for a free one".to_owned()
            }
            _ => LISTEN_HINT.to_owned(),
        },
        StartError::Tls(_) => "this is a bug in scimsync emulate; run it without --tls meanwhile".to_owned(),
        StartError::CaFile { .. } => "give --ca-file a path in a directory you may write to".to_owned(),
        StartError::Directory(_) | StartError::Seed(_) => {
            format!("fix the directory file; the format is in {DOCS}")
        }
    };
    anyhow!("{e}\nhint: {hint}")
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
    use super::{parse_listen, shell_quote};

    #[test]
    fn listen_addresses() {
        let cases = [
            ("127.0.0.1:0", "127.0.0.1:0"),
            (" 0.0.0.0:8700 ", "0.0.0.0:8700"),
            ("[::1]:8700", "[::1]:8700"),
            ("localhost:8700", "127.0.0.1:8700"),
        ];
        for (text, want) in cases {
            assert_eq!(parse_listen(text).unwrap().to_string(), want, "{text}");
        }
        // (what was given, words the error must hold)
        let cases = [
            ("", "empty"),
            ("8700", "did you mean 127.0.0.1:8700"),
            ("127.0.0.1", "no port"),
            (":8700", "no address"),
            ("127.0.0.1:99999", "not a port"),
            ("999.1.1.1:80", "not an IP address"),
            ("example.com:80", "only localhost"),
        ];
        for (text, words) in cases {
            let e = format!("{:#}", parse_listen(text).unwrap_err());
            assert!(e.contains(words) && e.contains("hint: write --listen as IP:PORT"), "{text}: {e}");
        }
    }

    #[test]
    fn values_are_quoted_for_the_shell() {
        assert_eq!(shell_quote("http://127.0.0.1:8700"), "http://127.0.0.1:8700");
        assert_eq!(shell_quote("AWS IAM Identity Center"), "'AWS IAM Identity Center'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }
}
