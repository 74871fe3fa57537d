//! Deployment configuration: built-in defaults < `tessera.toml` (or `--config FILE`) < `TESSERA_*`
//! environment variables. Every value remembers where it came from, so an error names the key, the bad
//! value and its source. Secrets may be given through a file (`*_FILE` / `*_file`) instead of inline.
use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

/// Where a configuration value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Default,
    File(PathBuf),
    Env(String),
    /// Read from the file named by a `*_FILE` setting.
    SecretFile(PathBuf),
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Default => f.write_str("the built-in default"),
            Source::File(p) => write!(f, "config file {}", p.display()),
            Source::Env(v) => write!(f, "environment variable {v}"),
            Source::SecretFile(p) => write!(f, "secret file {}", p.display()),
        }
    }
}

/// A configuration value that is missing, unreadable or invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("config key `{key}`: {problem} (value {value}, from {origin})")]
pub struct ConfigError {
    pub key: String,
    /// The offending value, quoted, or `<redacted>` for secrets.
    pub value: String,
    pub origin: Source,
    pub problem: String,
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// Validated configuration.
#[derive(Clone)]
pub struct Config {
    pub public_addr: SocketAddr,
    pub admin_addr: SocketAddr,
    pub data_dir: PathBuf,
    /// `sqlite://…` or `postgres://…`; defaults to a SQLite file in `data_dir`.
    pub database_url: String,
    /// The public URL customers see; links in mail are built from it, never from request headers.
    pub base_url: url::Url,
    pub log_format: LogFormat,
    pub log_level: String,
    pub max_body_bytes: usize,
    /// The key that wraps every other key, when configured (`master_key`, or the file named by
    /// `master_key_file` / `TESSERA_MASTER_KEY_FILE`).
    pub master_key: Option<String>,
    /// Where a generated master key is kept when none is configured: `<data_dir>/master.key`.
    pub master_key_file: PathBuf,
    /// An operator-chosen owner key for automated deployments; nothing is printed when it is set. Like
    /// the printed one, it is minted on the first start only and expires after `bootstrap_key_ttl_hours`.
    pub bootstrap_admin_key: Option<String>,
    pub bootstrap_key_ttl_hours: u32,
    pub db_max_connections: u32,
    pub db_acquire_timeout_ms: u64,
    pub sqlite_synchronous_full: bool,
    pub audit_seal_interval_secs: u64,
    /// How often expired flows, expired mail codes and idle guard buckets are swept away (and the
    /// signing-key job looks for keys to rotate or retire).
    pub sweep_interval_secs: u64,
    /// Days an active token-signing key signs before the periodic job rotates it; 0 turns scheduled
    /// rotation off (`tessera keys rotate` still works, and retiring keys still retire).
    pub signing_key_rotation_days: u64,
    /// The longest any signed token may live; a retiring key stays in the JWKS this long (plus the
    /// allowed clock skew) after it stopped signing.
    pub max_token_lifetime_secs: u64,
    /// The first wait before a failed mail is tried again; each further failure doubles it (with
    /// jitter, at most 15 minutes).
    pub mail_retry_base_ms: u64,
    /// Delivery attempts before a mail is given up as a dead letter (listed and replayable through the
    /// admin API).
    pub mail_max_attempts: u32,
    /// Back-channel logout receivers may resolve to loopback, private, link-local or metadata addresses
    /// (and be plain http there). Off by default: a registered URI must not make Tessera reach inside
    /// the network it runs in.
    pub backchannel_allow_private_networks: bool,
    /// The first wait before a failed back-channel logout notice is tried again, doubled per failure.
    pub backchannel_retry_base_ms: u64,
    /// Delivery attempts before a back-channel logout notice is given up (and an event recorded).
    pub backchannel_max_attempts: u32,
    pub shutdown_grace_secs: u64,
    /// Relaxes rules that need HTTPS (cookies) for plain-http local development, and (with a loopback
    /// base URL and no SMTP) keeps mail in the dev mailbox. Set by `dev_mode` or `serve --dev`.
    pub dev_mode: bool,
    /// `smtp://user:pass@host:port` (STARTTLS when offered) or `smtps://…`; see [`Config::mail_delivery`].
    pub smtp_url: Option<String>,
    /// The sender of every mail.
    pub smtp_from: String,
    /// Per-tenant overrides of templates, texts and colours.
    pub theme_dir: Option<PathBuf>,
    /// Base URL of a Have I Been Pwned compatible range API; none turns the online check off.
    pub breached_password_api: Option<url::Url>,
    /// argon2id parameters; hashes made with other parameters are upgraded at the next sign-in.
    pub argon2_memory_kib: u32,
    pub argon2_iterations: u32,
    pub argon2_parallelism: u32,
    /// Optional pepper (base64url, 32 bytes) for password hashes.
    pub password_pepper: Option<String>,
    /// Peers whose `X-Forwarded-For` is believed when finding the client's address (RL-04). Empty, the
    /// default, believes nobody: the TCP peer is the client.
    pub trusted_proxies: TrustedProxies,
    /// Quotas on flow starts and mail sends, per client address and for the deployment (RL-06).
    pub quotas: crate::guard::Quotas,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("public_addr", &self.public_addr)
            .field("admin_addr", &self.admin_addr)
            .field("data_dir", &self.data_dir)
            .field(
                "database_url",
                &tessera_store::redact_url(&self.database_url),
            )
            .field("base_url", &self.base_url.as_str())
            .field(
                "master_key",
                &self.master_key.as_ref().map(|_| "<redacted>"),
            )
            .field(
                "bootstrap_admin_key",
                &self.bootstrap_admin_key.as_ref().map(|_| "<redacted>"),
            )
            .field("trusted_proxies", &self.trusted_proxies)
            .finish_non_exhaustive()
    }
}

/// Every key Tessera reads, whether it is a secret (redacted in errors, may come from a file), and its
/// one-line description for the README's reference table.
pub const KEYS: &[(&str, bool, &str)] = &[
    (
        "public_addr",
        false,
        "address of the public listener (flows, pages, OIDC); default 127.0.0.1:8080",
    ),
    (
        "admin_addr",
        false,
        "address of the admin listener (admin API, metrics); default 127.0.0.1:8081",
    ),
    (
        "data_dir",
        false,
        "directory for the SQLite database and the generated master key; default ./tessera-data",
    ),
    (
        "database_url",
        true,
        "sqlite://PATH or postgres://USER:PASS@HOST/DB; default sqlite in data_dir",
    ),
    (
        "base_url",
        false,
        "public URL customers see; default http://<public_addr>",
    ),
    ("log_format", false, "text or json; default text"),
    (
        "log_level",
        false,
        "tracing filter, e.g. info or tessera=debug; default info",
    ),
    (
        "max_body_bytes",
        false,
        "largest accepted request body; default 1048576",
    ),
    (
        "master_key",
        true,
        "base64url 32-byte key wrapping all other keys; default: generated into <data_dir>/master.key",
    ),
    (
        "bootstrap_admin_key",
        true,
        "owner API key for automated deployments (then nothing is printed); one-time: minted on the first start only, it expires like the printed key",
    ),
    (
        "bootstrap_key_ttl_hours",
        false,
        "lifetime of the first-start bootstrap key (printed or configured); default 24",
    ),
    (
        "db_max_connections",
        false,
        "database pool size; default 16",
    ),
    (
        "db_acquire_timeout_ms",
        false,
        "how long a request waits for a connection before a 503; default 3000",
    ),
    (
        "sqlite_synchronous",
        false,
        "full (durable across power loss) or normal; default full",
    ),
    (
        "audit_seal_interval_secs",
        false,
        "how often audit checkpoints are sealed; default 10",
    ),
    (
        "sweep_interval_secs",
        false,
        "how often expired flows, expired mail codes and idle guard buckets are swept; default 60",
    ),
    (
        "signing_key_rotation_days",
        false,
        "days a token-signing key signs before it is rotated; 0 turns scheduled rotation off; default 90",
    ),
    (
        "max_token_lifetime_secs",
        false,
        "the longest a signed token may live; a rotated-out key stays published this long; default 86400",
    ),
    (
        "mail_retry_base_ms",
        false,
        "first wait before a failed mail is tried again, doubled per failure (jittered, at most 15 minutes); default 5000",
    ),
    (
        "mail_max_attempts",
        false,
        "delivery attempts before a mail becomes a dead letter; default 12",
    ),
    (
        "backchannel_allow_private_networks",
        false,
        "let back-channel logout receivers resolve to loopback, private, link-local or metadata addresses (plain http allowed there); default false",
    ),
    (
        "backchannel_retry_base_ms",
        false,
        "first wait before a failed back-channel logout notice is tried again, doubled per failure (at most 15 minutes); default 5000",
    ),
    (
        "backchannel_max_attempts",
        false,
        "delivery attempts before a back-channel logout notice is given up; default 6",
    ),
    (
        "shutdown_grace_secs",
        false,
        "how long in-flight requests may finish after SIGTERM; default 30",
    ),
    (
        "dev_mode",
        false,
        "true (or `serve --dev`) is for local development only: plain-http cookies, and with a loopback base_url and no smtp_url the dev mailbox; default false",
    ),
    (
        "smtp_url",
        true,
        "smtp://user:pass@host:port or smtps://...; unset: no mail is sent (in dev mode on a loopback base_url, mail is shown in the dev mailbox)",
    ),
    (
        "smtp_from",
        false,
        "sender address of every mail; default Tessera <no-reply@localhost>",
    ),
    (
        "theme_dir",
        false,
        "directory of per-tenant template, text and colour overrides",
    ),
    (
        "breached_password_api",
        false,
        "base URL of a k-anonymity range API, e.g. https://api.pwnedpasswords.com; unset: off",
    ),
    (
        "argon2_memory_kib",
        false,
        "argon2id memory per password hash in KiB; default 19456 (OWASP)",
    ),
    ("argon2_iterations", false, "argon2id passes; default 2"),
    ("argon2_parallelism", false, "argon2id lanes; default 1"),
    (
        "password_pepper",
        true,
        "optional base64url 32-byte key mixed into every password hash, kept outside the database",
    ),
    (
        "trusted_proxies",
        false,
        "addresses or CIDR blocks of reverse proxies whose X-Forwarded-For is believed, e.g. 10.0.0.0/8, ::1; default none",
    ),
    (
        "quota_flow_starts_per_client",
        false,
        "flows one client address (IPv6: /64) may start per 10 minutes before 429; default 300",
    ),
    (
        "quota_flow_starts_global",
        false,
        "flows the whole deployment may start per minute before 429; default 20000",
    ),
    (
        "quota_mails_per_client",
        false,
        "mails one client address (IPv6: /64) may cause per hour before 429; default 60",
    ),
    (
        "quota_password_hashes_per_client",
        false,
        "new passwords (sign-up, recovery) one client address (IPv6: /64) may have hashed per 10 minutes before 429; default 120",
    ),
    (
        "quota_device_authorizations_per_address",
        false,
        "device authorizations (RFC 8628) one client address (IPv6: /64) may start per 10 minutes before 429 temporarily_unavailable with Retry-After; default 60",
    ),
    (
        "quota_device_authorizations_per_app",
        false,
        "device authorizations one confidential OAuth client may start per 10 minutes, from all addresses, before 429 temporarily_unavailable with Retry-After (public clients are counted per address only: anyone can speak for them); default 6000",
    ),
    (
        "quota_mails_global",
        false,
        "mails the whole deployment may queue per minute before 429; default 2000",
    ),
];

/// Where queued mail goes; decided once from the configuration (see [`Config::mail_delivery`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailDelivery {
    /// Sent over SMTP by the delivery worker.
    Smtp,
    /// Development only: kept in the outbox and shown at `/dev/mailbox` to loopback clients. It hands out
    /// every code and link, so it exists only on a dev-mode node whose base URL is a loopback address.
    DevMailbox,
    /// Nowhere: no SMTP server is configured and this is not a loopback development node. The node still
    /// serves, and says at start and in `/readyz` that no mail can be sent.
    Disabled,
}

impl MailDelivery {
    /// Stable name, as `/readyz` reports it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Smtp => "smtp",
            Self::DevMailbox => "dev_mailbox",
            Self::Disabled => "disabled",
        }
    }
}

impl Config {
    /// SMTP when configured. Otherwise the dev mailbox, but only on a dev-mode node whose base URL is a
    /// loopback address (a real deployment never has one, whatever else is set); otherwise no mail at all.
    pub fn mail_delivery(&self) -> MailDelivery {
        if self.smtp_url.is_some() {
            MailDelivery::Smtp
        } else if self.dev_mode && is_loopback_url(&self.base_url) {
            MailDelivery::DevMailbox
        } else {
            MailDelivery::Disabled
        }
    }
}

/// Whether a URL's host is `localhost` or a loopback address (IPv4-mapped loopback included).
pub fn is_loopback_url(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).to_canonical().is_loopback(),
        None => false,
    }
}

/// Keys whose value is a list: in the file they may be a TOML array of strings as well as one string.
const LIST_KEYS: &[&str] = &["trusted_proxies"];

type Raw = BTreeMap<String, (String, Source)>;

impl Config {
    /// Loads configuration from an optional file and an environment map. With `file = None`,
    /// `./tessera.toml` is read when it exists.
    pub fn load(file: Option<&Path>, env: &HashMap<String, String>) -> Result<Config, ConfigError> {
        let mut raw: Raw = BTreeMap::new();
        let path = match file {
            Some(p) => Some(p.to_path_buf()),
            None => Some(PathBuf::from("tessera.toml")).filter(|p| p.exists()),
        };
        if let Some(path) = path {
            read_file(&path, &mut raw)?;
        }
        for (key, secret, _) in KEYS {
            let var = format!("TESSERA_{}", key.to_ascii_uppercase());
            if let Some(v) = env.get(&var) {
                raw.insert((*key).to_owned(), (v.clone(), Source::Env(var.clone())));
            }
            if *secret {
                let file_var = format!("{var}_FILE");
                if let Some(p) = env.get(&file_var) {
                    let value = read_secret_file(key, Path::new(p), Source::Env(file_var.clone()))?;
                    raw.insert(
                        (*key).to_owned(),
                        (value, Source::SecretFile(PathBuf::from(p))),
                    );
                }
            }
        }
        Self::from_raw(&raw)
    }

    fn from_raw(raw: &Raw) -> Result<Config, ConfigError> {
        let get = |key: &str| raw.get(key);
        let public_addr: SocketAddr = parse(
            raw,
            "public_addr",
            "127.0.0.1:8080",
            "not a socket address like 127.0.0.1:8080",
        )?;
        let admin_addr: SocketAddr = parse(
            raw,
            "admin_addr",
            "127.0.0.1:8081",
            "not a socket address like 127.0.0.1:8081",
        )?;
        let data_dir = PathBuf::from(
            get("data_dir")
                .map(|v| v.0.as_str())
                .unwrap_or("./tessera-data"),
        );
        let database_url = match get("database_url") {
            Some((v, src)) => {
                if !(v.starts_with("sqlite:")
                    || v.starts_with("postgres://")
                    || v.starts_with("postgresql://"))
                {
                    return Err(error(
                        "database_url",
                        "<redacted>",
                        src,
                        "must start with sqlite:, postgres:// or postgresql://",
                    ));
                }
                v.clone()
            }
            None => format!("sqlite://{}", data_dir.join("tessera.db").display()),
        };
        let base_default = format!("http://{public_addr}");
        let base_url = match get("base_url") {
            Some((v, src)) => {
                let u = url::Url::parse(v)
                    .map_err(|e| error("base_url", &quote(v), src, &format!("not a URL: {e}")))?;
                if !matches!(u.scheme(), "http" | "https")
                    || u.host().is_none()
                    || u.query().is_some()
                    || u.fragment().is_some()
                {
                    return Err(error(
                        "base_url",
                        &quote(v),
                        src,
                        "must be an http(s) URL with a host and no query or fragment",
                    ));
                }
                u
            }
            None => url::Url::parse(&base_default).map_err(|e| {
                error(
                    "base_url",
                    &quote(&base_default),
                    &Source::Default,
                    &e.to_string(),
                )
            })?,
        };
        let log_format = match get("log_format") {
            None => LogFormat::Text,
            Some((v, _)) if v == "text" => LogFormat::Text,
            Some((v, _)) if v == "json" => LogFormat::Json,
            Some((v, src)) => {
                return Err(error("log_format", &quote(v), src, "must be text or json"));
            }
        };
        let sqlite_synchronous_full = match get("sqlite_synchronous") {
            None => true,
            Some((v, _)) if v.eq_ignore_ascii_case("full") => true,
            Some((v, _)) if v.eq_ignore_ascii_case("normal") => false,
            Some((v, src)) => {
                return Err(error(
                    "sqlite_synchronous",
                    &quote(v),
                    src,
                    "must be full or normal",
                ));
            }
        };
        let max_body_bytes: usize = parse(
            raw,
            "max_body_bytes",
            "1048576",
            "not a whole number of bytes",
        )?;
        if max_body_bytes < 1024 {
            let (v, src) = get("max_body_bytes")
                .cloned()
                .unwrap_or(("1048576".into(), Source::Default));
            return Err(error(
                "max_body_bytes",
                &quote(&v),
                &src,
                "must be at least 1024",
            ));
        }
        let master_key_file = data_dir.join("master.key");
        let bootstrap_admin_key = match get("bootstrap_admin_key") {
            Some((v, src)) => {
                let v = v.trim();
                if v.len() < 32 {
                    return Err(error(
                        "bootstrap_admin_key",
                        "<redacted>",
                        src,
                        "must be at least 32 characters",
                    ));
                }
                Some(v.to_owned())
            }
            None => None,
        };
        let db_max_connections: u32 = parse(raw, "db_max_connections", "16", "not a whole number")?;
        if db_max_connections == 0 {
            return Err(error(
                "db_max_connections",
                "\"0\"",
                &source_of(raw, "db_max_connections"),
                "must be at least 1",
            ));
        }
        Ok(Config {
            public_addr,
            admin_addr,
            data_dir,
            database_url,
            base_url,
            log_format,
            log_level: get("log_level")
                .map(|v| v.0.clone())
                .unwrap_or_else(|| "info".into()),
            max_body_bytes,
            master_key: get("master_key").map(|v| v.0.trim().to_owned()),
            master_key_file,
            bootstrap_admin_key,
            bootstrap_key_ttl_hours: parse(
                raw,
                "bootstrap_key_ttl_hours",
                "24",
                "not a whole number of hours",
            )?,
            db_max_connections,
            db_acquire_timeout_ms: parse(
                raw,
                "db_acquire_timeout_ms",
                "3000",
                "not a whole number of milliseconds",
            )?,
            sqlite_synchronous_full,
            audit_seal_interval_secs: parse(
                raw,
                "audit_seal_interval_secs",
                "10",
                "not a whole number of seconds",
            )?,
            sweep_interval_secs: parse(
                raw,
                "sweep_interval_secs",
                "60",
                "not a whole number of seconds",
            )?,
            signing_key_rotation_days: parse(
                raw,
                "signing_key_rotation_days",
                "90",
                "not a whole number of days",
            )?,
            max_token_lifetime_secs: parse(
                raw,
                "max_token_lifetime_secs",
                "86400",
                "not a whole number of seconds",
            )?,
            mail_retry_base_ms: parse(
                raw,
                "mail_retry_base_ms",
                "5000",
                "not a whole number of milliseconds",
            )?,
            mail_max_attempts: parse(raw, "mail_max_attempts", "12", "not a whole number")?,
            backchannel_allow_private_networks: parse(
                raw,
                "backchannel_allow_private_networks",
                "false",
                "must be true or false",
            )?,
            backchannel_retry_base_ms: parse(
                raw,
                "backchannel_retry_base_ms",
                "5000",
                "not a whole number of milliseconds",
            )?,
            backchannel_max_attempts: parse(
                raw,
                "backchannel_max_attempts",
                "6",
                "not a whole number",
            )?,
            shutdown_grace_secs: parse(
                raw,
                "shutdown_grace_secs",
                "30",
                "not a whole number of seconds",
            )?,
            dev_mode: parse(raw, "dev_mode", "false", "must be true or false")?,
            smtp_url: match get("smtp_url") {
                Some((v, src)) => {
                    if !(v.starts_with("smtp://") || v.starts_with("smtps://")) {
                        return Err(error(
                            "smtp_url",
                            "<redacted>",
                            src,
                            "must start with smtp:// or smtps://",
                        ));
                    }
                    Some(v.clone())
                }
                None => None,
            },
            smtp_from: get("smtp_from")
                .map(|v| v.0.clone())
                .unwrap_or_else(|| "Tessera <no-reply@localhost>".into()),
            theme_dir: get("theme_dir").map(|v| PathBuf::from(&v.0)),
            argon2_memory_kib: parse(
                raw,
                "argon2_memory_kib",
                "19456",
                "not a whole number of KiB",
            )?,
            argon2_iterations: parse(raw, "argon2_iterations", "2", "not a whole number")?,
            argon2_parallelism: parse(raw, "argon2_parallelism", "1", "not a whole number")?,
            password_pepper: get("password_pepper").map(|v| v.0.trim().to_owned()),
            trusted_proxies: match get("trusted_proxies") {
                Some((v, src)) => TrustedProxies::parse(v)
                    .map_err(|problem| error("trusted_proxies", &quote(v), src, &problem))?,
                None => TrustedProxies::default(),
            },
            quotas: crate::guard::Quotas {
                flow_starts_per_client: parse(
                    raw,
                    "quota_flow_starts_per_client",
                    "300",
                    "not a whole number",
                )?,
                flow_starts_global: parse(
                    raw,
                    "quota_flow_starts_global",
                    "20000",
                    "not a whole number",
                )?,
                mails_per_client: parse(raw, "quota_mails_per_client", "60", "not a whole number")?,
                mails_global: parse(raw, "quota_mails_global", "2000", "not a whole number")?,
                password_hashes_per_client: parse(
                    raw,
                    "quota_password_hashes_per_client",
                    "120",
                    "not a whole number",
                )?,
                device_authorizations_per_address: parse(
                    raw,
                    "quota_device_authorizations_per_address",
                    "60",
                    "not a whole number",
                )?,
                device_authorizations_per_app: parse(
                    raw,
                    "quota_device_authorizations_per_app",
                    "6000",
                    "not a whole number",
                )?,
            },
            breached_password_api: match get("breached_password_api") {
                Some((v, src)) => Some(url::Url::parse(v).map_err(|e| {
                    error(
                        "breached_password_api",
                        &quote(v),
                        src,
                        &format!("not a URL: {e}"),
                    )
                })?),
                None => None,
            },
        })
    }

    /// The database options this configuration asks for.
    pub fn db_options(&self) -> tessera_store::DbOptions {
        tessera_store::DbOptions {
            url: self.database_url.clone(),
            max_connections: self.db_max_connections,
            acquire_timeout: std::time::Duration::from_millis(self.db_acquire_timeout_ms),
            sqlite_synchronous_full: self.sqlite_synchronous_full,
        }
    }
}

/// One block of addresses, written `ADDR/PREFIX` or as a single address (a /32 or /128), as used by
/// `trusted_proxies` (RL-04). Parsed here rather than with a crate: it is short, and it sits on a trust
/// boundary where every accepted spelling should be visible.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    /// The network address: no bits set after the prefix.
    addr: IpAddr,
    prefix: u8,
}

/// The mask of the first `prefix` bits of a 32-bit address.
fn mask_v4(prefix: u8) -> u32 {
    u32::MAX
        .checked_shl(32_u32.saturating_sub(u32::from(prefix)))
        .unwrap_or(0)
}

/// The mask of the first `prefix` bits of a 128-bit address.
fn mask_v6(prefix: u8) -> u128 {
    u128::MAX
        .checked_shl(128_u32.saturating_sub(u32::from(prefix)))
        .unwrap_or(0)
}

impl IpNet {
    /// The network address.
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length: 0–32 for IPv4, 0–128 for IPv6.
    pub fn prefix_len(&self) -> u8 {
        self.prefix
    }

    /// Whether `ip` lies in this block. An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`, what a dual-stack
    /// socket reports for an IPv4 peer) is compared as the IPv4 address it carries.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                u32::from(ip) & mask_v4(self.prefix) == u32::from(net)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                u128::from(ip) & mask_v6(self.prefix) == u128::from(net)
            }
            _ => false,
        }
    }
}

impl std::str::FromStr for IpNet {
    type Err = String;

    /// Accepts `192.0.2.7`, `10.0.0.0/8`, `::1`, `2001:db8::/32`. Refuses brackets, zone ids (`%eth0`),
    /// ports, IPv4 written with leading zeros or fewer than four parts, prefixes past the address width,
    /// bits set after the prefix (`10.0.0.1/8`, ambiguous: write `10.0.0.0/8`), and IPv4-mapped IPv6
    /// addresses (write the IPv4 form, which is what they are compared as).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (addr_text, prefix_text) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr_text
            .parse()
            .map_err(|_| format!("`{s}` is not an IP address or a CIDR block like 10.0.0.0/8"))?;
        if let IpAddr::V6(v6) = addr
            && v6.to_ipv4_mapped().is_some()
        {
            return Err(format!(
                "`{s}` is an IPv4-mapped IPv6 address; write it in IPv4 form"
            ));
        }
        let width: u8 = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix_text {
            None => width,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|n| p.bytes().all(|b| b.is_ascii_digit()) && *n <= width)
                .ok_or_else(|| format!("`{s}` has a prefix length that is not 0 to {width}"))?,
        };
        let fits = match addr {
            IpAddr::V4(a) => u32::from(a) & !mask_v4(prefix) == 0,
            IpAddr::V6(a) => u128::from(a) & !mask_v6(prefix) == 0,
        };
        if !fits {
            return Err(format!(
                "`{s}` has address bits set after the /{prefix} prefix; write the network address"
            ));
        }
        Ok(IpNet { addr, prefix })
    }
}

impl std::fmt::Display for IpNet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// The reverse proxies whose `X-Forwarded-For` Tessera believes when it finds a client's address for
/// throttling and the record (RL-04). Empty, the default, trusts nobody: the TCP peer is the client, and
/// forwarding headers cannot move anyone into a fresh throttling bucket.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    nets: Vec<IpNet>,
}

impl TrustedProxies {
    /// Parses a list of addresses and CIDR blocks separated by commas and/or whitespace, e.g.
    /// `127.0.0.1/32, 10.0.0.0/8, ::1`. A blank list trusts nobody; any malformed entry refuses the whole
    /// list, naming the entry.
    pub fn parse(list: &str) -> Result<Self, String> {
        let nets = list
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|entry| !entry.is_empty())
            .map(str::parse)
            .collect::<Result<Vec<IpNet>, String>>()?;
        Ok(TrustedProxies { nets })
    }

    /// Whether `ip` is one of the trusted proxies (IPv4-mapped IPv6 compared as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.nets.iter().any(|n| n.contains(ip))
    }

    /// True when nobody is trusted.
    pub fn is_empty(&self) -> bool {
        self.nets.is_empty()
    }

    /// The configured blocks, in the order given.
    pub fn nets(&self) -> &[IpNet] {
        &self.nets
    }
}

fn quote(v: &str) -> String {
    format!("{v:?}")
}

fn source_of(raw: &Raw, key: &str) -> Source {
    raw.get(key).map(|v| v.1.clone()).unwrap_or(Source::Default)
}

fn error(key: &str, value: &str, source: &Source, problem: &str) -> ConfigError {
    ConfigError {
        key: key.to_owned(),
        value: value.to_owned(),
        origin: source.clone(),
        problem: problem.to_owned(),
    }
}

fn parse<T: std::str::FromStr>(
    raw: &Raw,
    key: &str,
    default: &str,
    problem: &str,
) -> Result<T, ConfigError> {
    let (v, src) = raw
        .get(key)
        .cloned()
        .unwrap_or_else(|| (default.to_owned(), Source::Default));
    v.trim()
        .parse()
        .map_err(|_| error(key, &quote(&v), &src, problem))
}

fn read_secret_file(key: &str, path: &Path, named_by: Source) -> Result<String, ConfigError> {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_owned())
        .map_err(|e| {
            error(
                key,
                &quote(&path.display().to_string()),
                &named_by,
                &format!("cannot read the secret file: {e}"),
            )
        })
}

fn read_file(path: &Path, raw: &mut Raw) -> Result<(), ConfigError> {
    let src = Source::File(path.to_path_buf());
    let text = std::fs::read_to_string(path).map_err(|e| {
        error(
            "--config",
            &quote(&path.display().to_string()),
            &src,
            &format!("cannot read the file: {e}"),
        )
    })?;
    let table: toml::Table = toml::from_str(&text).map_err(|e| {
        error(
            "--config",
            &quote(&path.display().to_string()),
            &src,
            &format!("not valid TOML: {e}"),
        )
    })?;
    for (k, v) in table {
        let (key, from_file) = match k.strip_suffix("_file") {
            Some(base) if KEYS.iter().any(|(n, secret, _)| *n == base && *secret) => {
                (base.to_owned(), true)
            }
            _ => (k.clone(), false),
        };
        if !KEYS.iter().any(|(n, _, _)| *n == key) {
            return Err(error(&k, &quote(&v.to_string()), &src, "unknown key"));
        }
        let text = match v {
            toml::Value::String(s) => s,
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            toml::Value::Array(items) if LIST_KEYS.contains(&key.as_str()) => {
                let mut parts = Vec::with_capacity(items.len());
                for item in items {
                    match item {
                        toml::Value::String(s) => parts.push(s),
                        other => {
                            return Err(error(
                                &k,
                                &quote(&other.to_string()),
                                &src,
                                "every element of the list must be a string",
                            ));
                        }
                    }
                }
                parts.join(", ")
            }
            other => {
                return Err(error(
                    &k,
                    &quote(&other.to_string()),
                    &src,
                    "must be a string, number or boolean",
                ));
            }
        };
        if from_file {
            let value = read_secret_file(&key, Path::new(&text), src.clone())?;
            raw.insert(key, (value, Source::SecretFile(PathBuf::from(text))));
        } else {
            raw.insert(key, (text, src.clone()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn defaults_need_no_file_and_no_environment() {
        let dir = tempfile::tempdir().unwrap();
        let c = Config::load(Some(&write(dir.path(), "")), &env(&[])).unwrap();
        assert_eq!(c.public_addr.to_string(), "127.0.0.1:8080");
        assert_eq!(c.admin_addr.to_string(), "127.0.0.1:8081");
        assert_eq!(c.database_url, "sqlite://./tessera-data/tessera.db");
        assert_eq!(c.base_url.as_str(), "http://127.0.0.1:8080/");
        assert_eq!(c.max_body_bytes, 1 << 20);
    }

    fn write(dir: &Path, text: &str) -> PathBuf {
        let p = dir.join("tessera.toml");
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn environment_overrides_the_file_which_overrides_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = write(
            dir.path(),
            "public_addr = \"127.0.0.1:9000\"\nadmin_addr = \"127.0.0.1:9001\"\n",
        );
        let c = Config::load(
            Some(&file),
            &env(&[("TESSERA_ADMIN_ADDR", "127.0.0.1:9999")]),
        )
        .unwrap();
        assert_eq!(c.public_addr.to_string(), "127.0.0.1:9000");
        assert_eq!(c.admin_addr.to_string(), "127.0.0.1:9999");
    }

    #[test]
    fn an_error_names_the_key_the_value_and_where_it_came_from() {
        let dir = tempfile::tempdir().unwrap();
        let file = write(dir.path(), "public_addr = \"nowhere\"\n");
        let e = Config::load(Some(&file), &env(&[])).unwrap_err();
        assert_eq!(e.key, "public_addr");
        assert_eq!(e.value, "\"nowhere\"");
        assert_eq!(e.origin, Source::File(file.clone()));
        let e = Config::load(Some(&file), &env(&[("TESSERA_PUBLIC_ADDR", "x:y")])).unwrap_err();
        assert_eq!(e.origin, Source::Env("TESSERA_PUBLIC_ADDR".into()));
        assert!(e.to_string().contains("TESSERA_PUBLIC_ADDR") && e.to_string().contains("\"x:y\""));
    }

    #[test]
    fn unknown_keys_in_the_file_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let e = Config::load(
            Some(&write(dir.path(), "pubic_addr = \"127.0.0.1:1\"\n")),
            &env(&[]),
        )
        .unwrap_err();
        assert_eq!(
            (e.key.as_str(), e.problem.as_str()),
            ("pubic_addr", "unknown key")
        );
    }

    #[test]
    fn secrets_come_from_files_and_are_never_echoed() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("key");
        std::fs::write(&secret, "short\n").unwrap();
        let file = write(dir.path(), "");
        let e = Config::load(
            Some(&file),
            &env(&[("TESSERA_BOOTSTRAP_ADMIN_KEY_FILE", secret.to_str().unwrap())]),
        )
        .unwrap_err();
        assert_eq!(e.value, "<redacted>");
        assert!(!e.to_string().contains("short"));
        std::fs::write(&secret, format!("{}\n", "k".repeat(40))).unwrap();
        let c = Config::load(
            Some(&file),
            &env(&[("TESSERA_BOOTSTRAP_ADMIN_KEY_FILE", secret.to_str().unwrap())]),
        )
        .unwrap();
        assert_eq!(
            c.bootstrap_admin_key.as_deref(),
            Some("k".repeat(40).as_str())
        );
        let url_file = dir.path().join("url");
        std::fs::write(&url_file, "postgres://u:p@127.0.0.1/db").unwrap();
        let file = write(
            dir.path(),
            &format!("database_url_file = {:?}\n", url_file.to_str().unwrap()),
        );
        let c = Config::load(Some(&file), &env(&[])).unwrap();
        assert_eq!(c.database_url, "postgres://u:p@127.0.0.1/db");
        assert!(!format!("{c:?}").contains(":p@"));
    }

    #[test]
    fn bad_database_urls_and_base_urls_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = write(dir.path(), "");
        assert_eq!(
            Config::load(Some(&file), &env(&[("TESSERA_DATABASE_URL", "mysql://x")]))
                .unwrap_err()
                .key,
            "database_url"
        );
        assert_eq!(
            Config::load(Some(&file), &env(&[("TESSERA_BASE_URL", "ftp://x")]))
                .unwrap_err()
                .key,
            "base_url"
        );
        assert_eq!(
            Config::load(Some(&file), &env(&[("TESSERA_MAX_BODY_BYTES", "12")]))
                .unwrap_err()
                .key,
            "max_body_bytes"
        );
    }

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn cidr_blocks_contain_what_their_prefix_covers() {
        let ten = net("10.0.0.0/8");
        assert!(ten.contains(ip("10.0.0.0")));
        assert!(ten.contains(ip("10.255.255.255")));
        assert!(!ten.contains(ip("11.0.0.0")));
        assert!(!ten.contains(ip("9.255.255.255")));
        let one = net("192.0.2.7");
        assert_eq!(one.prefix_len(), 32);
        assert!(one.contains(ip("192.0.2.7")));
        assert!(!one.contains(ip("192.0.2.8")));
        let odd = net("172.16.0.0/12");
        assert!(odd.contains(ip("172.31.255.255")));
        assert!(!odd.contains(ip("172.32.0.0")));
        let all = net("0.0.0.0/0");
        assert!(all.contains(ip("203.0.113.1")) && !all.contains(ip("::1")));
        let v6 = net("2001:db8::/32");
        assert!(v6.contains(ip("2001:db8:ffff::1")));
        assert!(!v6.contains(ip("2001:db9::1")));
        assert!(
            !v6.contains(ip("10.0.0.1")),
            "families never match each other"
        );
        let loop6 = net("::1");
        assert_eq!(loop6.prefix_len(), 128);
        assert!(loop6.contains(ip("::1")) && !loop6.contains(ip("::2")));
        assert!(net("::/0").contains(ip("fe80::1")));
        assert!(net("fe80::/10").contains(ip("febf::1")));
        assert!(!net("fe80::/10").contains(ip("fec0::1")));
        assert_eq!(net("10.0.0.0/8").to_string(), "10.0.0.0/8");
    }

    #[test]
    fn ipv4_mapped_peers_are_compared_as_ipv4() {
        assert!(net("127.0.0.1").contains(ip("::ffff:127.0.0.1")));
        assert!(net("10.0.0.0/8").contains(ip("::ffff:10.1.2.3")));
        assert!(!net("127.0.0.1").contains(ip("::ffff:127.0.0.2")));
        assert!(
            !net("::/0").contains(ip("::ffff:10.1.2.3")),
            "a mapped address is IPv4, not IPv6"
        );
    }

    #[test]
    fn malformed_cidr_blocks_are_refused() {
        for bad in [
            "",
            "a",
            "unknown",
            "10.0.0.0/",
            "10.0.0.0/33",
            "10.0.0.0/+8",
            "10.0.0.0/-1",
            "10.0.0.0/8/8",
            "10.0.0.1/8",
            "10.0.0",
            "010.0.0.1",
            "10.0.0.256",
            "::1/129",
            "2001:db8::1/32",
            "[::1]",
            "fe80::1%eth0",
            "127.0.0.1:80",
            "::ffff:127.0.0.1",
            "10.0.0.0 /8",
        ] {
            assert!(bad.parse::<IpNet>().is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn trusted_proxies_is_a_list_from_the_environment_or_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = write(dir.path(), "");
        let c = Config::load(Some(&file), &env(&[])).unwrap();
        assert!(c.trusted_proxies.is_empty(), "nobody is trusted by default");
        assert!(!c.trusted_proxies.contains(ip("127.0.0.1")));
        let c = Config::load(
            Some(&file),
            &env(&[("TESSERA_TRUSTED_PROXIES", "127.0.0.1/32, 10.0.0.0/8, ::1")]),
        )
        .unwrap();
        assert_eq!(c.trusted_proxies.nets().len(), 3);
        assert!(c.trusted_proxies.contains(ip("10.9.8.7")));
        assert!(c.trusted_proxies.contains(ip("::1")));
        assert!(!c.trusted_proxies.contains(ip("192.168.0.1")));
        let c = Config::load(
            Some(&write(
                dir.path(),
                "trusted_proxies = [\"192.168.0.0/16\", \"fd00::/8\"]\n",
            )),
            &env(&[]),
        )
        .unwrap();
        assert!(c.trusted_proxies.contains(ip("192.168.4.4")));
        assert!(c.trusted_proxies.contains(ip("fd12::1")));
        let c = Config::load(
            Some(&write(
                dir.path(),
                "trusted_proxies = \"10.0.0.1 10.0.0.2\"\n",
            )),
            &env(&[]),
        )
        .unwrap();
        assert_eq!(c.trusted_proxies.nets().len(), 2);
        let c = Config::load(Some(&file), &env(&[("TESSERA_TRUSTED_PROXIES", " ")])).unwrap();
        assert!(c.trusted_proxies.is_empty());
    }

    #[test]
    fn a_malformed_trusted_proxy_names_the_key_the_value_and_the_source() {
        let dir = tempfile::tempdir().unwrap();
        let file = write(dir.path(), "");
        let e = Config::load(
            Some(&file),
            &env(&[("TESSERA_TRUSTED_PROXIES", "10.0.0.0/8, unknown")]),
        )
        .unwrap_err();
        assert_eq!(e.key, "trusted_proxies");
        assert_eq!(e.value, "\"10.0.0.0/8, unknown\"");
        assert_eq!(e.origin, Source::Env("TESSERA_TRUSTED_PROXIES".into()));
        assert!(e.problem.contains("`unknown`"), "{e}");
        let file = write(dir.path(), "trusted_proxies = [\"10.0.0.1/8\"]\n");
        let e = Config::load(Some(&file), &env(&[])).unwrap_err();
        assert_eq!(
            (e.key.as_str(), e.origin.clone()),
            ("trusted_proxies", Source::File(file.clone()))
        );
        assert!(e.problem.contains("10.0.0.1/8"), "{e}");
        let file = write(dir.path(), "trusted_proxies = [\"10.0.0.0/8\", 7]\n");
        let e = Config::load(Some(&file), &env(&[])).unwrap_err();
        assert_eq!(e.key, "trusted_proxies");
        let file = write(dir.path(), "public_addr = [\"127.0.0.1:1\"]\n");
        let e = Config::load(Some(&file), &env(&[])).unwrap_err();
        assert_eq!(e.key, "public_addr", "only list keys take arrays");
    }

    #[test]
    fn the_dev_mailbox_needs_dev_mode_a_loopback_base_url_and_no_smtp() {
        let dir = tempfile::tempdir().unwrap();
        let file = write(dir.path(), "");
        let load = |pairs: &[(&str, &str)]| Config::load(Some(&file), &env(pairs)).unwrap();
        assert_eq!(load(&[]).mail_delivery(), MailDelivery::Disabled);
        assert_eq!(
            load(&[("TESSERA_DEV_MODE", "true")]).mail_delivery(),
            MailDelivery::DevMailbox
        );
        for base in [
            "http://localhost:8080",
            "http://LOCALHOST",
            "http://127.0.0.2",
            "http://[::1]:80",
            "http://[::ffff:127.0.0.1]",
        ] {
            let c = load(&[("TESSERA_DEV_MODE", "true"), ("TESSERA_BASE_URL", base)]);
            assert_eq!(c.mail_delivery(), MailDelivery::DevMailbox, "{base}");
        }
        for base in [
            "https://id.example.com",
            "http://192.0.2.1:8080",
            "http://[fd00::1]",
            "http://localhost.example.com",
            "http://127.0.0.1.nip.io",
            "http://0.0.0.0",
        ] {
            let c = load(&[("TESSERA_DEV_MODE", "true"), ("TESSERA_BASE_URL", base)]);
            assert_eq!(c.mail_delivery(), MailDelivery::Disabled, "{base}");
        }
        let c = load(&[
            ("TESSERA_DEV_MODE", "true"),
            ("TESSERA_SMTP_URL", "smtp://127.0.0.1:25"),
        ]);
        assert_eq!(c.mail_delivery(), MailDelivery::Smtp);
    }

    #[test]
    fn a_missing_explicit_config_file_is_an_error() {
        let e = Config::load(Some(Path::new("/nonexistent/tessera.toml")), &env(&[])).unwrap_err();
        assert!(e.problem.contains("cannot read"));
    }
}
