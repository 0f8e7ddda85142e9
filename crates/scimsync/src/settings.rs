//! Resolved settings: flags and environment (already merged by clap) over the TOML config file, then
//! validated into what the commands need. Secrets come from the environment, a file, or a prompt;
//! never from the config file itself.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, anyhow, bail};
use scimsync_core::{GuardOptions, Nesting, PlanOptions, RemovalMode, ScopeOptions};
use scimsync_entra::credential::{ClientSecretCredential, Cloud};
use scimsync_entra::graph::{GraphClient, GraphClientConfig};
use scimsync_scim::{ScimClient, ScimConfig, SecretString};
use serde::Deserialize;

use crate::cli::{AwsArgs, EntraArgs};

/// The config file. Every key is optional; unknown keys are errors so that typos do not pass silently.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// A PEM file of extra CA certificates to trust (beside the system's) for Entra, Graph and SCIM;
    /// `SCIMSYNC_CA_FILE` takes precedence, and `SSL_CERT_FILE` is added too.
    pub ca_file: Option<PathBuf>,
    #[serde(default)]
    pub entra: EntraSection,
    #[serde(default)]
    pub aws: AwsSection,
    #[serde(default)]
    pub sync: SyncSection,
    /// Which users and groups are synced; see docs/scoping.md.
    #[serde(default)]
    pub scope: ScopeSection,
    #[serde(default)]
    pub guard: GuardOptions,
    /// `scimsync watch`: interval and full_every.
    #[serde(default)]
    pub watch: crate::watch::WatchSection,
    /// Target attribute → source; see docs/mapping.md.
    #[serde(default)]
    pub mapping: scimsync_core::MappingConfig,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntraSection {
    pub tenant_id: Option<String>,
    pub client_id: Option<String>,
    /// A file holding the client secret (the secret itself never goes in this file).
    pub client_secret_file: Option<PathBuf>,
    pub authority_host: Option<String>,
    pub graph_url: Option<String>,
    pub app: Option<String>,
    pub job: Option<String>,
    pub requests_per_second: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsSection {
    pub scim_url: Option<String>,
    /// A file holding the SCIM access token.
    pub scim_token_file: Option<PathBuf>,
    pub requests_per_second: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncSection {
    /// "disable" (default) or "delete": what happens to managed users and groups that leave scope.
    pub removal: Option<RemovalMode>,
    /// Take over AWS objects that hold a wanted name under another or no externalId.
    pub adopt_by_name: Option<bool>,
    /// "flatten" (default), "flatten-and-create" or "ignore" (`[scope] nesting` takes precedence).
    pub nesting: Option<Nesting>,
    /// With removal = "delete": how long after leaving scope an object is deleted (e.g. "30d");
    /// until then it is disabled. Default "0s": at once.
    pub delete_after: Option<String>,
    /// How old the last full reconcile with AWS may be before `sync` does one again (drift repair).
    pub full_every: Option<String>,
    /// Writes in flight at once.
    pub concurrency: Option<usize>,
    pub state: Option<PathBuf>,
}

/// `[scope]`: where the scope starts, which groups, nesting, and user scoping filters.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScopeSection {
    /// "assigned" (default), "all" or "groups".
    pub mode: Option<scimsync_core::scope::ScopeMode>,
    /// With mode = "groups": display-name patterns (`*`, `?`, without case), e.g. "AWS-*".
    #[serde(default)]
    pub groups: Vec<String>,
    /// With mode = "groups": Entra object ids.
    #[serde(default)]
    pub group_ids: Vec<String>,
    /// With mode = "groups": a Graph `$filter` on /groups, e.g. "startswith(displayName,'AWS-')".
    pub group_filter: Option<String>,
    /// "flatten" (default), "flatten-and-create" or "ignore".
    pub nesting: Option<Nesting>,
    /// User scoping filters (`[[scope.user_filter]]`, each with `clauses`): OR-ed; clauses AND-ed.
    #[serde(default)]
    pub user_filter: Vec<scimsync_core::scope::UserFilter>,
}

impl ScopeSection {
    fn options(&self, sync_nesting: Option<Nesting>) -> Result<ScopeOptions> {
        let options = ScopeOptions {
            nesting: self.nesting.or(sync_nesting).unwrap_or_default(),
            mode: self.mode.unwrap_or_default(),
            groups: scimsync_core::scope::GroupSelection {
                names: self.groups.clone(),
                ids: self.group_ids.clone(),
                filter: self.group_filter.clone().filter(|f| !f.trim().is_empty()),
            },
            user_filters: self.user_filter.clone(),
        };
        let problems = options.problems();
        if !problems.is_empty() {
            bail!("the [scope] section of the config file is not valid: {}", problems.join("; "));
        }
        Ok(options)
    }
}

impl ConfigFile {
    pub fn load(path: Option<&Path>) -> Result<ConfigFile> {
        let Some(path) = path else { return Ok(ConfigFile::default()) };
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the config file {}", path.display()))?;
        toml::from_str(&text).map_err(|e| {
            anyhow!(
                "the config file {} is not valid: {e}\nSee docs/configuration.md for the keys.",
                path.display()
            )
        })
    }
}

/// What a command needs to reach Entra ID.
pub struct EntraSettings {
    pub tenant_id: String,
    pub client_id: String,
    pub secret: SecretString,
    pub authority_host: String,
    pub graph_url: String,
    pub app: String,
    pub requests_per_second: u32,
    /// Extra trusted CA certificates (PEM), see [`ca_bundle`].
    pub ca_bundle: Option<Vec<u8>>,
}

/// Whether a missing value may be asked for on the terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prompt {
    IfTerminal,
    Never,
}

fn ask(name: &str, secret: bool, prompt: Prompt) -> Result<Option<String>> {
    if prompt == Prompt::Never || !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
        return Ok(None);
    }
    let value = if secret {
        rpassword::prompt_password(format!("{name}: ")).context("cannot read from the terminal")?
    } else {
        eprint!("{name}: ");
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).context("cannot read from the terminal")?;
        line
    };
    let value = value.trim().to_string();
    Ok((!value.is_empty()).then_some(value))
}

fn read_secret_file(path: &Path, what: &str) -> Result<SecretString> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the {what} file {}", path.display()))?;
    let text = text.trim();
    if text.is_empty() {
        bail!("the {what} file {} is empty", path.display());
    }
    Ok(SecretString::from(text.to_string()))
}

fn non_empty(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
}

impl EntraSettings {
    pub fn resolve(args: &EntraArgs, file: &ConfigFile, prompt: Prompt) -> Result<EntraSettings> {
        let f = &file.entra;
        let mut missing = Vec::new();
        let mut required = |value: Option<String>, name: &str, env: &str, secret: bool| -> Result<String> {
            if let Some(v) = non_empty(value) {
                return Ok(v);
            }
            if let Some(v) = ask(name, secret, prompt)? {
                return Ok(v);
            }
            missing.push(format!("{name} ({env})"));
            Ok(String::new())
        };
        let tenant_id =
            required(args.tenant_id.clone().or(f.tenant_id.clone()), "tenant id", "AZURE_TENANT_ID", false)?;
        let client_id =
            required(args.client_id.clone().or(f.client_id.clone()), "client id", "AZURE_CLIENT_ID", false)?;
        let secret_from_env = non_empty(std::env::var("AZURE_CLIENT_SECRET").ok());
        let secret = match (secret_from_env, &f.client_secret_file) {
            (Some(s), _) => SecretString::from(s),
            (None, Some(path)) => read_secret_file(path, "client secret")?,
            (None, None) => SecretString::from(required(None, "client secret", "AZURE_CLIENT_SECRET", true)?),
        };
        let app = required(args.app.clone().or(f.app.clone()), "enterprise app", "SCIMSYNC_APP", false)?;
        if !missing.is_empty() {
            bail!(
                "missing {}: set the environment variable, or the flag or the [entra] section of the config file \
                 (for the secret: client_secret_file)",
                missing.join(", ")
            );
        }
        Ok(EntraSettings {
            tenant_id,
            client_id,
            secret,
            authority_host: non_empty(args.authority_host.clone().or(f.authority_host.clone()))
                .unwrap_or_else(|| "https://login.microsoftonline.com".into()),
            graph_url: non_empty(args.graph_url.clone().or(f.graph_url.clone())).unwrap_or_default(),
            app,
            requests_per_second: f.requests_per_second.unwrap_or(50),
            ca_bundle: ca_bundle(file)?,
        })
    }

    /// A signed-in Graph client (sign-in happens on the first call).
    pub fn graph(&self) -> Result<GraphClient> {
        let graph_url = (!self.graph_url.is_empty()).then_some(self.graph_url.as_str());
        let cloud = Cloud::from_authority(&self.authority_host, graph_url).map_err(|e| anyhow!("{e}"))?;
        let mut credential =
            ClientSecretCredential::new(&cloud, &self.tenant_id, self.client_id.clone(), self.secret.clone())
                .map_err(|e| anyhow!("{e}"))?;
        if let Some(pem) = &self.ca_bundle {
            credential = credential.with_ca_bundle(pem).map_err(|e| anyhow!("{e}"))?;
        }
        let mut config = GraphClientConfig::new(cloud.graph_root.clone());
        config.ca_bundle = self.ca_bundle.clone();
        if let Some(rps) = std::num::NonZeroU32::new(self.requests_per_second) {
            config.requests_per_second = rps;
        }
        GraphClient::new(config, Arc::new(credential)).map_err(|e| anyhow!("{e}"))
    }
}

/// What a command needs to reach AWS.
pub struct AwsSettings {
    pub scim_url: String,
    pub token: SecretString,
    pub requests_per_second: u32,
    /// Extra trusted CA certificates (PEM), see [`ca_bundle`].
    pub ca_bundle: Option<Vec<u8>>,
}

impl AwsSettings {
    pub fn resolve(args: &AwsArgs, file: &ConfigFile) -> Result<AwsSettings> {
        let f = &file.aws;
        let scim_url = non_empty(args.scim_url.clone().or(f.scim_url.clone())).ok_or_else(|| {
            anyhow!(
                "missing the AWS SCIM endpoint: set SCIMSYNC_SCIM_URL, --scim-url or scim_url in the [aws] \
                 section of the config file (IAM Identity Center console > Settings > Identity source > \
                 Automatic provisioning)"
            )
        })?;
        let token_file = args.scim_token_file.clone().or(f.scim_token_file.clone());
        let token = match (non_empty(std::env::var("SCIMSYNC_SCIM_TOKEN").ok()), token_file) {
            (Some(t), _) => SecretString::from(t),
            (None, Some(path)) => read_secret_file(&path, "SCIM token")?,
            (None, None) => bail!(
                "missing the AWS SCIM access token: set SCIMSYNC_SCIM_TOKEN or point --scim-token-file \
                 (or scim_token_file in the [aws] section) at a file that holds it"
            ),
        };
        Ok(AwsSettings {
            scim_url,
            token,
            requests_per_second: f.requests_per_second.unwrap_or(20),
            ca_bundle: ca_bundle(file)?,
        })
    }

    pub fn client(&self) -> Result<ScimClient> {
        let mut config = ScimConfig::new(self.scim_url.clone(), self.token.clone());
        config.requests_per_second = self.requests_per_second.max(1);
        config.ca_bundle = self.ca_bundle.clone();
        ScimClient::new(config).map_err(|e| anyhow!("{e}"))
    }
}

/// Extra CA certificates to trust, beside the system's: the file named by `SCIMSYNC_CA_FILE` (or
/// else `ca_file` in the config file), and the one named by `SSL_CERT_FILE`, concatenated.
/// `None` when neither is set.
pub fn ca_bundle(file: &ConfigFile) -> Result<Option<Vec<u8>>> {
    let own = non_empty(std::env::var("SCIMSYNC_CA_FILE").ok()).map(PathBuf::from).or(file.ca_file.clone());
    let standard = non_empty(std::env::var("SSL_CERT_FILE").ok()).map(PathBuf::from);
    let mut pem = Vec::new();
    for (path, what) in [(own, "SCIMSYNC_CA_FILE / ca_file"), (standard, "SSL_CERT_FILE")] {
        let Some(path) = path else { continue };
        let bytes = std::fs::read(&path)
            .with_context(|| format!("cannot read the CA file {} ({what})", path.display()))?;
        if !String::from_utf8_lossy(&bytes).contains("-----BEGIN CERTIFICATE-----") {
            bail!("the CA file {} ({what}) holds no PEM certificate", path.display());
        }
        pem.extend_from_slice(&bytes);
        pem.push(b'\n');
    }
    Ok((!pem.is_empty()).then_some(pem))
}

/// How a direct sync behaves.
pub struct SyncSettings {
    pub scope: ScopeOptions,
    pub plan: PlanOptions,
    pub concurrency: usize,
    pub state: Option<PathBuf>,
    pub guard: GuardOptions,
    /// Lift the removal guard for this run.
    pub allow_removals: bool,
    pub mapping: scimsync_core::Mapping,
    /// `sync` reconciles in full with AWS when the last full reconcile is older than this.
    pub full_every: std::time::Duration,
}

impl SyncSettings {
    pub fn resolve(state: Option<PathBuf>, allow_removals: bool, file: &ConfigFile) -> Result<SyncSettings> {
        let s = &file.sync;
        let concurrency = s.concurrency.unwrap_or(4);
        if concurrency == 0 || concurrency > 64 {
            bail!("sync.concurrency must be between 1 and 64 (it is {concurrency})");
        }
        Ok(SyncSettings {
            scope: file.scope.options(s.nesting)?,
            plan: PlanOptions {
                removal: s.removal.unwrap_or_default(),
                adopt_by_name: s.adopt_by_name.unwrap_or(false),
                delete_after_secs: match &s.delete_after {
                    Some(text) => crate::cli::parse_duration(text)
                        .map_err(|e| anyhow!("sync.delete_after: {e}"))?
                        .as_secs(),
                    None => 0,
                },
                now: scimsync_sync::unix_now(),
            },
            concurrency,
            state: state.or(s.state.clone()),
            guard: file.guard,
            allow_removals,
            mapping: scimsync_core::Mapping::compile(&file.mapping)
                .map_err(|e| anyhow!("the [mapping] section of the config file is not valid: {e}"))?,
            full_every: match &s.full_every {
                Some(text) => {
                    crate::cli::parse_duration(text).map_err(|e| anyhow!("sync.full_every: {e}"))?
                }
                None => std::time::Duration::from_secs(3600),
            },
        })
    }
}

/// The default state file for a SCIM endpoint: one per endpoint in the user's state directory.
pub fn default_state_path(scim_url: &str) -> Result<PathBuf> {
    let dir = dirs::state_dir()
        .or_else(dirs::data_local_dir)
        .ok_or_else(|| anyhow!("cannot find a state directory for this user; pass --state PATH"))?;
    let name: String = scim_url
        .trim_end_matches('/')
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '.' { c } else { '_' })
        .collect();
    Ok(dir.join("scimsync").join(format!("{name}.db")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_file_rejects_unknown_keys_and_says_where() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "[sync]\nremoval = \"disable\"\nadopt_by_nme = true\n").expect("write");
        let err = ConfigFile::load(Some(&path)).expect_err("typo").to_string();
        assert!(err.contains("adopt_by_nme"), "{err}");
        std::fs::write(&path, "[sync]\nremoval = \"purge\"\n").expect("write");
        let err = ConfigFile::load(Some(&path)).expect_err("bad value").to_string();
        assert!(err.contains("purge") || err.contains("removal"), "{err}");
    }

    #[test]
    fn a_full_config_file_parses() {
        let text = r#"
            [entra]
            tenant_id = "contoso.onmicrosoft.com"
            client_id = "00000000-0000-0000-0000-000000000000"
            client_secret_file = "/run/secrets/entra"
            app = "AWS IAM Identity Center"
            [aws]
            scim_url = "https://scim.us-east-1.amazonaws.com/abc/scim/v2/"
            scim_token_file = "/run/secrets/scim"
            requests_per_second = 10
            [sync]
            removal = "delete"
            adopt_by_name = true
            nesting = "ignore"
            concurrency = 8
        "#;
        let file: ConfigFile = toml::from_str(text).expect("parses");
        let sync = SyncSettings::resolve(None, false, &file).expect("valid");
        assert_eq!(sync.plan.removal, RemovalMode::Delete);
        assert!(sync.plan.adopt_by_name);
        assert_eq!(sync.scope.nesting, Nesting::Ignore);
        assert_eq!(file.aws.requests_per_second, Some(10));
    }

    #[test]
    fn the_mapping_section_parses_and_compiles() {
        let text = r#"
            [mapping]
            displayName = 'Join(" ", [givenName], [surname])'
            title = "jobTitle"
            organization = { constant = "Contoso" }
            nickName = { attribute = "mailNickname" }
            phone = ""
            guest_user_name = "decoded"
            given_name_fallback = "first-word"
            family_name_fallback = { constant = "-" }
        "#;
        let file: ConfigFile = toml::from_str(text).expect("parses");
        let sync = SyncSettings::resolve(None, false, &file).expect("valid");
        assert_eq!(sync.mapping.guest_user_name, scimsync_core::mapping::GuestUserName::Decoded);

        let bad = "[mapping]\ndisplayName = '''Join(\" \",\n  [givenName] [surname])'''\n";
        let file: ConfigFile = toml::from_str(bad).expect("parses as TOML");
        let err = SyncSettings::resolve(None, false, &file).err().expect("bad expression").to_string();
        assert!(err.contains("mapping.displayName: line 2, column 15: expected `,` or `)`"), "{err}");

        let file: ConfigFile = toml::from_str("[mapping]\ntitel = \"jobTitle\"\n").expect("parses");
        let err = SyncSettings::resolve(None, false, &file).err().expect("unknown key").to_string();
        assert!(err.contains("mapping.titel: unknown target attribute"), "{err}");
    }

    #[test]
    fn the_scope_section_parses_and_is_checked() {
        let text = r#"
            [sync]
            removal = "delete"
            delete_after = "30d"
            [scope]
            mode = "groups"
            groups = ["AWS-*"]
            group_ids = ["00000000-0000-0000-0000-000000000001"]
            group_filter = "startswith(displayName,'Cloud-')"
            nesting = "flatten-and-create"
            [[scope.user_filter]]
            clauses = [
              { attribute = "department", operator = "EQUALS", value = "Engineering" },
              { attribute = "accountEnabled", operator = "IS TRUE" },
            ]
            [[scope.user_filter]]
            clauses = [{ attribute = "userType", operator = "NOT EQUALS", value = "Guest" }]
        "#;
        let file: ConfigFile = toml::from_str(text).expect("parses");
        let sync = SyncSettings::resolve(None, false, &file).expect("valid");
        assert_eq!(sync.scope.mode, scimsync_core::scope::ScopeMode::Groups);
        assert_eq!(sync.scope.nesting, Nesting::FlattenAndCreate);
        assert_eq!(sync.scope.user_filters.len(), 2);
        assert_eq!(sync.plan.delete_after_secs, 30 * 86_400);

        let bad = "[scope]\n[[scope.user_filter]]\nclauses = [{ attribute = \"mail\", operator = \"REGEX MATCH\", value = \"(\" }]\n";
        let file: ConfigFile = toml::from_str(bad).expect("parses as TOML");
        let err = SyncSettings::resolve(None, false, &file).err().expect("bad regex").to_string();
        assert!(err.contains("regular expression"), "{err}");
        let err =
            toml::from_str::<ConfigFile>("[scope]\nmode = \"some\"\n").expect_err("bad mode").to_string();
        assert!(err.contains("some"), "{err}");
        let err = toml::from_str::<ConfigFile>("[scope]\ngroup = [\"x\"]\n").expect_err("typo").to_string();
        assert!(err.contains("group"), "{err}");
        let file: ConfigFile = toml::from_str("[scope]\ngroups = [\"AWS-*\"]\n").expect("parses");
        assert!(SyncSettings::resolve(None, false, &file).is_err(), "groups need mode = groups");
    }

    #[test]
    fn state_paths_are_one_per_endpoint() {
        let a = default_state_path("https://scim.us-east-1.amazonaws.com/abc/scim/v2/").expect("path");
        let b = default_state_path("https://scim.us-east-1.amazonaws.com/abc/scim/v2").expect("path");
        let c = default_state_path("https://scim.eu-west-1.amazonaws.com/xyz/scim/v2").expect("path");
        assert_eq!(a, b);
        assert_ne!(a, c);
    }
}
