//! What Tessera does. [`Tessera`] is the one facade the edges (HTTP server, CLI) call: each request makes
//! one call on it. It owns the database handle, the keys and the clock; it never sees HTTP or HTML.
#![forbid(unsafe_code)]

use tessera_model::TenantId;
use tessera_model::api_key::{Permission, Role};
use tessera_model::event::Actor;
use tessera_store::StoreError;
use time::OffsetDateTime;

pub mod api_keys;
pub mod apply;
pub mod audit;
pub mod bootstrap;
pub mod config;
pub mod events;
mod facade;
pub mod flows;
pub mod guard;
pub mod identities;
pub mod jobs;
pub mod keys;
pub mod known_devices;
pub mod mail;
pub mod methods;
pub mod oauth;
pub mod organizations;
pub mod passwords;
pub mod policies;
pub mod schemas;
pub mod sessions;
pub mod signing_keys;
mod tenant_cache;
pub mod tenants;
mod ttl_cache;

pub use facade::Tessera;
pub use keys::Keys;

/// One problem with one input field, reported together with the others.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct FieldProblem {
    /// The field, as a dotted path (`attributes.address.city`, `identifiers[0].value`).
    pub field: String,
    /// A stable, machine-readable reason.
    pub code: String,
    pub message: String,
}

/// Everything a core operation can refuse or fail with. Each variant has a stable code; the server maps
/// them to HTTP in one place.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    #[error("{what} not found")]
    NotFound { what: &'static str },
    #[error("{detail}")]
    Conflict { code: &'static str, detail: String },
    #[error("the resource changed since it was read (expected version {expected}, found {found})")]
    VersionMismatch { expected: i64, found: i64 },
    #[error("{detail}")]
    Invalid {
        code: &'static str,
        detail: String,
        problems: Vec<FieldProblem>,
    },
    #[error("{detail}")]
    BadRequest { code: &'static str, detail: String },
    #[error("missing or invalid credentials")]
    Unauthenticated,
    #[error("this key's role lacks the permission {permission}")]
    Forbidden { permission: &'static str },
    #[error("the database is unavailable")]
    Unavailable,
    /// A sensitive change needs a recent sign-in (SES-08): sign in again at `sign_in` (the hosted
    /// sign-in, which comes back to the settings) and retry with the new session.
    #[error("this change needs a recent sign-in; sign in again first")]
    ReauthenticationRequired { sign_in: String },
    /// A quota is used up (RL-06); it frees up after `retry_after` seconds.
    #[error("too many requests; retry after {retry_after} seconds")]
    RateLimited { retry_after: i64 },
    /// A bug or corrupt data. The detail is logged, never shown.
    #[error("internal error")]
    Internal(String),
}

impl CoreError {
    /// The stable code of this error, as shown in problem documents.
    pub fn code(&self) -> &'static str {
        match self {
            CoreError::NotFound { .. } => "not_found",
            CoreError::Conflict { code, .. } => code,
            CoreError::VersionMismatch { .. } => "version_mismatch",
            CoreError::Invalid { code, .. } => code,
            CoreError::BadRequest { code, .. } => code,
            CoreError::Unauthenticated => "unauthenticated",
            CoreError::Forbidden { .. } => "forbidden",
            CoreError::Unavailable => "unavailable",
            CoreError::ReauthenticationRequired { .. } => "reauthentication_required",
            CoreError::RateLimited { .. } => "rate_limited",
            CoreError::Internal(_) => "internal",
        }
    }

    pub(crate) fn invalid(
        code: &'static str,
        detail: impl Into<String>,
        problems: Vec<FieldProblem>,
    ) -> Self {
        CoreError::Invalid {
            code,
            detail: detail.into(),
            problems,
        }
    }

    pub(crate) fn bad_request(code: &'static str, detail: impl Into<String>) -> Self {
        CoreError::BadRequest {
            code,
            detail: detail.into(),
        }
    }
}

impl From<StoreError> for CoreError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(m) => {
                tracing::warn!(error = %m, "database unavailable");
                CoreError::Unavailable
            }
            StoreError::Conflict { on } => CoreError::Conflict {
                code: "conflict",
                detail: format!("conflict on {on}"),
            },
            other => CoreError::Internal(other.to_string()),
        }
    }
}

impl From<tessera_crypto::CryptoError> for CoreError {
    fn from(e: tessera_crypto::CryptoError) -> Self {
        CoreError::Internal(e.to_string())
    }
}

/// Shorthand for core results.
pub type Result<T, E = CoreError> = std::result::Result<T, E>;

/// Who is calling, with what rights, for which request. Every admin operation takes one, checks its
/// permission first, and records the actor and request id in the events it writes.
#[derive(Debug, Clone)]
pub struct Caller {
    pub actor: Actor,
    pub role: Role,
    /// `Some(t)`: the caller may only see tenant `t`; other tenants look like they do not exist.
    pub tenant_scope: Option<TenantId>,
    pub request_id: Option<String>,
}

impl Caller {
    /// The operator at the command line, who holds the master key anyway.
    pub fn cli(command: &str) -> Self {
        Self {
            actor: Actor::cli(command),
            role: Role::Owner,
            tenant_scope: None,
            request_id: None,
        }
    }

    /// Tessera itself (first start, background jobs).
    pub fn system() -> Self {
        Self {
            actor: Actor::system(),
            role: Role::Owner,
            tenant_scope: None,
            request_id: None,
        }
    }

    /// Deny by default: fails unless the role has the permission.
    pub fn require(&self, p: Permission) -> Result<()> {
        if self.role.allows(p) {
            Ok(())
        } else {
            Err(CoreError::Forbidden {
                permission: p.as_str(),
            })
        }
    }

    /// Fails with `NotFound` when the tenant lies outside the caller's scope, so ids of other tenants
    /// reveal nothing.
    pub fn check_tenant(&self, tenant: TenantId) -> Result<()> {
        match self.tenant_scope {
            Some(t) if t != tenant => Err(CoreError::NotFound { what: "tenant" }),
            _ => Ok(()),
        }
    }
}

/// The source of "now". Tests substitute a fixed clock.
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> OffsetDateTime;
}

/// The system clock, truncated to microseconds (what both databases store).
#[derive(Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        let t = OffsetDateTime::now_utc();
        t.replace_nanosecond(t.nanosecond() / 1000 * 1000)
            .unwrap_or(t)
    }
}

/// Deployment settings the flows need.
#[derive(Debug, Clone)]
pub struct FlowSettings {
    /// The public URL customers see; every link Tessera sends is built from it.
    pub base_url: url::Url,
    /// Quotas on flow starts and mail sends (RL-06).
    pub quotas: guard::Quotas,
    /// How long tokens may live, which decides when a retiring signing key may leave the JWKS.
    pub key_ring: signing_keys::RingSettings,
}

/// A page of results and the opaque cursor for the next page.
#[derive(Debug, Clone)]
pub struct Paged<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// Maps a unique-constraint conflict to a specific code, leaving other errors alone.
pub(crate) fn conflict_as(
    e: StoreError,
    code: &'static str,
    detail: impl Into<String>,
) -> CoreError {
    match e {
        StoreError::Conflict { .. } => CoreError::Conflict {
            code,
            detail: detail.into(),
        },
        other => other.into(),
    }
}

/// Parses an `If-Match` version; `None` means the caller did not ask for a precondition.
pub(crate) fn check_version(expected: Option<i64>, found: i64) -> Result<()> {
    match expected {
        Some(e) if e != found => Err(CoreError::VersionMismatch { expected: e, found }),
        _ => Ok(()),
    }
}
