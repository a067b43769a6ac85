//! How lad (and the aggregator) reach MongoDB.
//!
//! [`MongoSettings`] is the connection half of the YAML config (`MG_HOST`, `MG_PORT`,
//! `MG_URI`, `MG_USER`, `MG_PASSWORD`, `MG_CA_CERT`, `MG_VERIFY_CERT`, timeouts) as a plain
//! struct, so every binary in the workspace connects the same way and nobody re-implements
//! TLS or credential handling. The password lives in a [`Secret`] whose `Debug` and `Display`
//! print `***`, and every URI that reaches a log line or an error goes through
//! [`redact_uri`], so a password can only leave this module towards the server.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use mongodb::bson::doc;
use mongodb::options::{ClientOptions, ServerAddress, Tls, TlsOptions};
use mongodb::Client;

/// Default `MG_HOST` when neither `MG_URI` nor `MG_HOST` is given.
pub const DEFAULT_HOST: &str = "localhost";
/// Default `MG_PORT`.
pub const DEFAULT_PORT: u16 = 27017;
/// Default connect timeout (`MG_CONNECT_TIMEOUT`): short enough that an outage is noticed
/// quickly, long enough for a TLS handshake on a slow link.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default `MG_MAX_POOL_SIZE`: the driver's own default. Every connection a process holds is
/// one the server must serve; change streams hold one each while they wait, which is why
/// lad opens one per collection, not one per host.
pub const DEFAULT_MAX_POOL_SIZE: u32 = 10;
/// Default server-selection timeout (`MG_SERVER_SELECTION_TIMEOUT`). The driver's own default
/// (30 s) makes every failed operation during an outage hang for half a minute; workers retry
/// with their own backoff, so fail faster.
pub const DEFAULT_SERVER_SELECTION_TIMEOUT: Duration = Duration::from_secs(10);

/// A string that never shows up in `Debug`/`Display` output.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    /// The secret itself; call only where it is handed to the driver.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Everything needed to open a [`mongodb::Client`].
///
/// `uri` wins over `host`/`port` when both are set; `user`/`password` (when set) override
/// credentials inside the URI, so a secret can come from the environment while the URI sits
/// in a checked-in YAML file.
#[derive(Clone, Debug, PartialEq)]
pub struct MongoSettings {
    /// Full connection string (`MG_URI`), e.g. `mongodb://db1,db2/?replicaSet=rs0`.
    pub uri: Option<String>,
    /// `MG_HOST`, used when `uri` is `None`.
    pub host: String,
    /// `MG_PORT`, used when `uri` is `None`.
    pub port: u16,
    /// `MG_USER` (SCRAM; the driver negotiates SCRAM-SHA-256 or -1 with the server).
    pub user: Option<String>,
    /// `MG_PASSWORD`.
    pub password: Option<Secret>,
    /// `MG_AUTH_SOURCE`: database holding the user; the driver defaults to `admin`.
    pub auth_source: Option<String>,
    /// `MG_TLS`: force TLS on or off; `None` = on iff `ca_cert` is set (or the URI says so).
    pub tls: Option<bool>,
    /// `MG_CA_CERT`: PEM file with the CA that signed the server certificate. Implies TLS.
    pub ca_cert: Option<PathBuf>,
    /// `MG_VERIFY_CERT`: `false` sets `tlsAllowInvalidCertificates` (testing only).
    pub verify_cert: bool,
    /// `MG_CONNECT_TIMEOUT`.
    pub connect_timeout: Duration,
    /// `MG_SERVER_SELECTION_TIMEOUT`.
    pub server_selection_timeout: Duration,
    /// `MG_MAX_POOL_SIZE`: most connections the client opens to each server; `None` keeps
    /// the URI's `maxPoolSize` or the driver's default ([`DEFAULT_MAX_POOL_SIZE`]).
    pub max_pool_size: Option<u32>,
    /// Shown in the server's logs and `currentOp`.
    pub app_name: Option<String>,
}

impl Default for MongoSettings {
    fn default() -> Self {
        Self {
            uri: None,
            host: DEFAULT_HOST.to_string(),
            port: DEFAULT_PORT,
            user: None,
            password: None,
            auth_source: None,
            tls: None,
            ca_cert: None,
            verify_cert: true,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            server_selection_timeout: DEFAULT_SERVER_SELECTION_TIMEOUT,
            max_pool_size: None,
            app_name: Some("lad".to_string()),
        }
    }
}

/// Why a connection could not be set up. Messages never contain a password.
#[derive(Debug, thiserror::Error)]
pub enum MongoError {
    /// `MG_URI` (or the URI built from host/port) was rejected by the driver.
    #[error("MG_URI: invalid connection string {uri}: {reason}")]
    InvalidUri {
        /// The redacted URI.
        uri: String,
        /// The driver's reason, with the password scrubbed.
        reason: String,
    },
    /// `MG_CA_CERT` points at a file we cannot read.
    #[error("MG_CA_CERT: cannot read CA file {path}: {source}")]
    CaFile {
        /// The configured path.
        path: PathBuf,
        /// Why it could not be read.
        source: std::io::Error,
    },
    /// The driver failed while talking to the server (unreachable, auth, TLS, …).
    #[error("MongoDB at {target}: {message}")]
    Driver {
        /// Redacted description of where we tried to connect.
        target: String,
        /// The driver's message, with the password scrubbed.
        message: String,
        /// The original error, for callers that want to classify it.
        #[source]
        source: Box<mongodb::error::Error>,
    },
}

impl MongoSettings {
    /// Applies `LAD_MG_URI`, `LAD_MG_USER` and `LAD_MG_PASSWORD` from the environment, so
    /// secrets need not sit in the YAML file. Non-empty variables win over the file.
    pub fn apply_env_overrides(&mut self) {
        self.apply_overrides(|k| std::env::var(k).ok());
    }

    /// [`apply_env_overrides`](Self::apply_env_overrides) with an injectable lookup (tests).
    pub fn apply_overrides(&mut self, lookup: impl Fn(&str) -> Option<String>) {
        let get = |k: &str| lookup(k).filter(|v| !v.is_empty());
        if let Some(uri) = get("LAD_MG_URI") {
            self.uri = Some(uri);
        }
        if let Some(user) = get("LAD_MG_USER") {
            self.user = Some(user);
        }
        if let Some(pw) = get("LAD_MG_PASSWORD") {
            self.password = Some(Secret::new(pw));
        }
    }

    /// Where we connect, safe to log: the redacted URI or `mongodb://host:port/`, plus the
    /// user name when one is set.
    pub fn display_target(&self) -> String {
        let base = match &self.uri {
            Some(uri) => redact_uri(uri),
            None => format!("mongodb://{}/", host_port(&self.host, self.port)),
        };
        match &self.user {
            Some(user) => format!("{base} (user {user})"),
            None => base,
        }
    }

    /// Checks what can be checked without a network: the CA file is readable.
    pub fn validate(&self) -> Result<(), MongoError> {
        if let Some(path) = &self.ca_cert {
            std::fs::File::open(path).map_err(|source| MongoError::CaFile {
                path: path.clone(),
                source,
            })?;
        }
        Ok(())
    }

    /// Driver options for these settings. Callers may add to them (e.g. a
    /// `command_event_handler`) before `Client::with_options`.
    pub async fn client_options(&self) -> Result<ClientOptions, MongoError> {
        self.validate()?;
        let mut opts = match &self.uri {
            Some(uri) => ClientOptions::parse(uri)
                .await
                .map_err(|e| MongoError::InvalidUri {
                    uri: redact_uri(uri),
                    reason: self.scrub(&e.to_string()),
                })?,
            None => {
                let mut o = ClientOptions::default();
                o.hosts = vec![ServerAddress::Tcp {
                    host: self.host.clone(),
                    port: Some(self.port),
                }];
                o
            }
        };
        if self.user.is_some() || self.password.is_some() {
            let mut cred = opts.credential.take().unwrap_or_default();
            if let Some(user) = &self.user {
                cred.username = Some(user.clone());
            }
            if let Some(pw) = &self.password {
                cred.password = Some(pw.expose().to_string());
            }
            opts.credential = Some(cred);
        }
        if let (Some(src), Some(cred)) = (&self.auth_source, opts.credential.as_mut()) {
            cred.source = Some(src.clone());
        }
        let uri_tls = matches!(opts.tls, Some(Tls::Enabled(_)));
        let want_tls = self.tls.unwrap_or(uri_tls || self.ca_cert.is_some());
        opts.tls = if want_tls {
            let mut tls = match opts.tls.take() {
                Some(Tls::Enabled(t)) => t,
                _ => TlsOptions::default(),
            };
            if let Some(ca) = &self.ca_cert {
                tls.ca_file_path = Some(ca.clone());
            }
            if !self.verify_cert {
                tls.allow_invalid_certificates = Some(true);
            }
            Some(Tls::Enabled(tls))
        } else {
            Some(Tls::Disabled)
        };
        opts.connect_timeout = Some(self.connect_timeout);
        opts.server_selection_timeout = Some(self.server_selection_timeout);
        if let Some(n) = self.max_pool_size {
            opts.max_pool_size = Some(n);
        }
        if opts.app_name.is_none() {
            opts.app_name = self.app_name.clone();
        }
        Ok(opts)
    }

    /// Builds a client without talking to the server (the driver connects lazily).
    pub async fn client(&self) -> Result<Client, MongoError> {
        let opts = self.client_options().await?;
        Client::with_options(opts).map_err(|e| self.driver_error(e))
    }

    /// Builds a client and pings the server, so a wrong address, password or certificate is
    /// reported now rather than at the first query.
    pub async fn connect(&self) -> Result<Client, MongoError> {
        let client = self.client().await?;
        ping(&client).await.map_err(|e| self.driver_error(e))?;
        Ok(client)
    }

    /// Wraps a driver error with the redacted target and a scrubbed message.
    pub fn driver_error(&self, e: mongodb::error::Error) -> MongoError {
        MongoError::Driver {
            target: self.display_target(),
            message: self.scrub(&e.to_string()),
            source: Box::new(e),
        }
    }

    /// Removes the configured password (and URI userinfo) from free text.
    pub fn scrub(&self, text: &str) -> String {
        let mut out = text.to_string();
        if let Some(pw) = self.password.as_ref().map(Secret::expose) {
            if !pw.is_empty() {
                out = out.replace(pw, "***");
            }
        }
        if let Some(pw) = self.uri.as_deref().and_then(uri_password) {
            if !pw.is_empty() {
                out = out.replace(pw, "***");
            }
        }
        out
    }
}

/// Authentication failed or the user lacks a privilege: retrying soon will not help.
pub fn is_auth_error(e: &mongodb::error::Error) -> bool {
    match &*e.kind {
        mongodb::error::ErrorKind::Authentication { .. } => true,
        mongodb::error::ErrorKind::Command(c) => matches!(c.code, 13 | 18),
        _ => false,
    }
}

/// `{ping: 1}` against `admin`.
pub async fn ping(client: &Client) -> Result<(), mongodb::error::Error> {
    client
        .database("admin")
        .run_command(doc! { "ping": 1 })
        .await
        .map(|_| ())
}

fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}") // IPv6 literal
    } else {
        format!("{host}:{port}")
    }
}

/// Byte range of the password inside a `scheme://user:password@hosts/...` URI.
fn password_range(uri: &str) -> Option<std::ops::Range<usize>> {
    let start = uri.find("://")? + 3;
    let rest = &uri[start..];
    // Userinfo ends at the last '@' of the authority; the authority ends at the first '/'
    // or '?' after that '@' (a password may itself contain '/' or '?' if badly encoded).
    let at = rest.rfind('@')?;
    let userinfo = &rest[..at];
    let colon = userinfo.find(':')?;
    Some(start + colon + 1..start + at)
}

fn uri_password(uri: &str) -> Option<&str> {
    password_range(uri).map(|r| &uri[r])
}

/// Replaces the password in a MongoDB URI with `***`; other parts are kept so the log line
/// still says where we connect. A URI without a password is returned unchanged.
///
/// ```
/// assert_eq!(
///     lad::mongo::redact_uri("mongodb://bob:s3cr%40t@db:27017/?tls=true"),
///     "mongodb://bob:***@db:27017/?tls=true"
/// );
/// ```
pub fn redact_uri(uri: &str) -> String {
    match password_range(uri) {
        Some(r) => format!("{}***{}", &uri[..r.start], &uri[r.end..]),
        None => uri.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_password_only() {
        assert_eq!(redact_uri("mongodb://a:b@h/"), "mongodb://a:***@h/");
        assert_eq!(redact_uri("mongodb://a@h/"), "mongodb://a@h/");
        assert_eq!(redact_uri("mongodb://h:27017/db"), "mongodb://h:27017/db");
        assert_eq!(
            redact_uri("mongodb+srv://u:p@ss@x.example/db?w=1"),
            "mongodb+srv://u:***@x.example/db?w=1"
        );
        assert_eq!(redact_uri("not a uri"), "not a uri");
    }

    #[test]
    fn debug_hides_password() {
        let s = MongoSettings {
            password: Some(Secret::new("hunter2")),
            uri: Some("mongodb://u:hunter3@h/".into()),
            ..Default::default()
        };
        let dbg = format!("{s:?}");
        assert!(!dbg.contains("hunter2"), "{dbg}");
        assert!(!s.display_target().contains("hunter3"));
        assert_eq!(s.scrub("x hunter2 hunter3"), "x *** ***");
    }

    #[test]
    fn env_overrides_win() {
        let mut s = MongoSettings::default();
        s.apply_overrides(|k| match k {
            "LAD_MG_PASSWORD" => Some("pw".into()),
            "LAD_MG_USER" => Some("".into()),
            _ => None,
        });
        assert_eq!(s.password, Some(Secret::new("pw")));
        assert_eq!(s.user, None);
    }

    #[tokio::test]
    async fn tls_from_ca_and_verify_switch() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, "x").expect("write");
        let s = MongoSettings {
            ca_cert: Some(ca.clone()),
            verify_cert: false,
            user: Some("u".into()),
            password: Some(Secret::new("p")),
            ..Default::default()
        };
        let o = s.client_options().await.expect("options");
        match o.tls {
            Some(Tls::Enabled(t)) => {
                assert_eq!(t.ca_file_path, Some(ca));
                assert_eq!(t.allow_invalid_certificates, Some(true));
            }
            other => panic!("tls not enabled: {other:?}"),
        }
        let c = o.credential.expect("credential");
        assert_eq!(c.username.as_deref(), Some("u"));
        assert_eq!(c.password.as_deref(), Some("p"));
    }

    #[tokio::test]
    async fn unreadable_ca_names_key() {
        let s = MongoSettings {
            ca_cert: Some("/nonexistent/ca.pem".into()),
            ..Default::default()
        };
        let e = s.client_options().await.expect_err("must fail");
        assert!(e.to_string().starts_with("MG_CA_CERT:"), "{e}");
    }
}
