//! Configuration as code: `tessera apply -f FILE` converges a deployment on a declared state.
//!
//! The file declares tenants (with their attribute schema, policy and organizations) and API keys. Each
//! item is compared with what is stored and only differences are written, through the same facade calls
//! the admin API uses, so the same validation and events apply. Applying a file twice changes nothing
//! the second time. `--dry-run` computes the same plan and writes nothing.
use std::path::Path;

use serde::Deserialize;
use tessera_crypto::BearerSecret;
use tessera_model::api_key::Role;
use tessera_model::attributes::AttributeSchema;

use crate::api_keys::NewApiKey;
use crate::oauth::NewClient;
use crate::organizations::{NewOrganization, OrganizationPatch};
use crate::policies::{PolicyChange, PolicyScope};
use crate::tenants::{NewTenant, TenantPatch};
use crate::{Caller, CoreError, Result, Tessera};

/// The declared state.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DesiredState {
    #[serde(default)]
    pub tenants: Vec<DesiredTenant>,
    #[serde(default)]
    pub api_keys: Vec<DesiredKey>,
}

/// A tenant and what it contains.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DesiredTenant {
    pub slug: String,
    pub name: String,
    pub attribute_schema: Option<AttributeSchema>,
    pub policy: Option<DesiredPolicy>,
    #[serde(default)]
    pub organizations: Vec<DesiredOrganization>,
    #[serde(default)]
    pub clients: Vec<DesiredClient>,
}

/// An OAuth client, found by its `client_id` (required here), with the same fields as the admin API's
/// registration. With `secret_file`, the client's secret is the file's content (at least 32 characters,
/// e.g. `openssl rand -base64 32`), so a deployment script knows it without reading a response;
/// otherwise a secret is generated and shown once.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "serde_json::Value")]
pub struct DesiredClient {
    pub registration: NewClient,
    pub secret_file: Option<String>,
}

impl TryFrom<serde_json::Value> for DesiredClient {
    type Error = String;

    fn try_from(mut v: serde_json::Value) -> std::result::Result<Self, String> {
        let secret_file = match v.as_object_mut().and_then(|o| o.remove("secret_file")) {
            None => None,
            Some(serde_json::Value::String(f)) => Some(f),
            Some(_) => return Err("secret_file must be a path".into()),
        };
        let registration: NewClient = serde_json::from_value(v).map_err(|e| e.to_string())?;
        if registration.client_id.is_none() {
            return Err("a client in a state file needs its client_id".into());
        }
        Ok(Self {
            registration,
            secret_file,
        })
    }
}

/// A policy document and the reason recorded when it changes.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DesiredPolicy {
    pub reason: String,
    pub document: serde_json::Value,
}

/// An organization, found by name.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DesiredOrganization {
    pub name: String,
    #[serde(default)]
    pub domains: Vec<String>,
    pub policy: Option<DesiredPolicy>,
}

/// An API key, found by name. With `secret_file`, the key's secret is the file's content; otherwise a
/// secret is generated and shown once.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DesiredKey {
    pub name: String,
    pub role: Role,
    pub tenant: Option<String>,
    pub secret_file: Option<String>,
}

/// One line of the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Create(String),
    Update(String),
    Unchanged(String),
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Change::Create(s) => write!(f, "+ create {s}"),
            Change::Update(s) => write!(f, "~ update {s}"),
            Change::Unchanged(s) => write!(f, "  unchanged {s}"),
        }
    }
}

/// What applying did (or, in a dry run, would do), and the secrets of keys it minted.
#[derive(Debug, Default)]
pub struct ApplyReport {
    pub changes: Vec<Change>,
    /// What each generated secret belongs to (`API key ci`, `secret of client shop of tenant acme`).
    pub minted: Vec<(String, BearerSecret)>,
}

impl ApplyReport {
    /// Whether anything was (or would be) written.
    pub fn changed_anything(&self) -> bool {
        self.changes
            .iter()
            .any(|c| !matches!(c, Change::Unchanged(_)))
    }
}

/// Reads a TOML (or, by extension, JSON) state file. Relative `secret_file` paths are resolved against
/// the file's directory.
pub fn read_state_file(path: &Path) -> Result<DesiredState> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        CoreError::bad_request(
            "unreadable_file",
            format!("cannot read {}: {e}", path.display()),
        )
    })?;
    let mut state: DesiredState = if path.extension().is_some_and(|e| e == "json") {
        serde_json::from_str(&text).map_err(|e| {
            CoreError::bad_request("invalid_file", format!("{}: {e}", path.display()))
        })?
    } else {
        toml::from_str(&text).map_err(|e| {
            CoreError::bad_request("invalid_file", format!("{}: {e}", path.display()))
        })?
    };
    let base = path.parent().unwrap_or(Path::new("."));
    let resolve = |f: &mut Option<String>| {
        if let Some(p) = f.as_deref().map(Path::new)
            && p.is_relative()
        {
            *f = Some(base.join(p).display().to_string());
        }
    };
    for k in &mut state.api_keys {
        resolve(&mut k.secret_file);
    }
    for t in &mut state.tenants {
        for c in &mut t.clients {
            resolve(&mut c.secret_file);
        }
    }
    Ok(state)
}

impl Tessera {
    /// Converges the deployment on `state`. With `dry_run`, only plans.
    pub async fn apply(
        &self,
        caller: &Caller,
        state: &DesiredState,
        dry_run: bool,
    ) -> Result<ApplyReport> {
        let mut report = ApplyReport::default();
        for t in &state.tenants {
            self.apply_tenant(caller, t, dry_run, &mut report).await?;
        }
        for k in &state.api_keys {
            self.apply_key(caller, k, dry_run, &mut report).await?;
        }
        Ok(report)
    }

    async fn apply_tenant(
        &self,
        caller: &Caller,
        t: &DesiredTenant,
        dry_run: bool,
        report: &mut ApplyReport,
    ) -> Result<()> {
        let label = format!("tenant {}", t.slug);
        let existing = match self.tenants().get(caller, &t.slug).await {
            Ok(x) => Some(x),
            Err(CoreError::NotFound { .. }) => None,
            Err(e) => return Err(e),
        };
        let exists = existing.is_some();
        match existing {
            None => {
                report.changes.push(Change::Create(label));
                if !dry_run {
                    self.tenants()
                        .create(
                            caller,
                            NewTenant {
                                slug: t.slug.clone(),
                                name: t.name.clone(),
                            },
                        )
                        .await?;
                }
            }
            Some(cur) if cur.name != t.name.trim() => {
                report
                    .changes
                    .push(Change::Update(format!("{label}: name")));
                if !dry_run {
                    self.tenants()
                        .update(
                            caller,
                            &t.slug,
                            TenantPatch {
                                name: Some(t.name.clone()),
                            },
                            None,
                        )
                        .await?;
                }
            }
            Some(_) => report.changes.push(Change::Unchanged(label)),
        }
        if let Some(schema) = &t.attribute_schema {
            let label = format!("attribute schema of tenant {}", t.slug);
            let current = if exists {
                Some(self.schemas().get(caller, &t.slug).await?)
            } else {
                None
            };
            if current.as_ref().is_some_and(|c| &c.schema == schema) {
                report.changes.push(Change::Unchanged(label));
            } else {
                report
                    .changes
                    .push(if current.as_ref().is_some_and(|c| c.version > 0) {
                        Change::Update(label.clone())
                    } else {
                        Change::Create(label.clone())
                    });
                if dry_run {
                    schema.check().map_err(|p| {
                        CoreError::bad_request("invalid_schema", format!("{label}: {p:?}"))
                    })?;
                } else {
                    self.schemas()
                        .put(caller, &t.slug, schema.clone(), None)
                        .await?;
                }
            }
        }
        if let Some(p) = &t.policy {
            self.apply_policy(
                caller,
                &t.slug,
                exists,
                PolicyScope::Tenant,
                p,
                format!("policy of tenant {}", t.slug),
                dry_run,
                report,
            )
            .await?;
        }
        for o in &t.organizations {
            let label = format!("organization {} in tenant {}", o.name, t.slug);
            let current = if exists {
                self.organizations()
                    .list(caller, &t.slug)
                    .await?
                    .into_iter()
                    .find(|x| x.name == o.name.trim())
            } else {
                None
            };
            let normalized = tessera_model::organization::check_fields(&o.name, &o.domains)
                .map_err(|e| {
                    CoreError::bad_request("invalid_organization", format!("{label}: {e}"))
                })?;
            let org_id = match current {
                None => {
                    report.changes.push(Change::Create(label.clone()));
                    if dry_run {
                        None
                    } else {
                        Some(
                            self.organizations()
                                .create(
                                    caller,
                                    &t.slug,
                                    NewOrganization {
                                        name: o.name.clone(),
                                        domains: o.domains.clone(),
                                    },
                                )
                                .await?
                                .id,
                        )
                    }
                }
                Some(cur) if cur.domains != normalized => {
                    report
                        .changes
                        .push(Change::Update(format!("{label}: domains")));
                    if !dry_run {
                        self.organizations()
                            .update(
                                caller,
                                &t.slug,
                                cur.id,
                                OrganizationPatch {
                                    name: None,
                                    domains: Some(o.domains.clone()),
                                },
                                None,
                            )
                            .await?;
                    }
                    Some(cur.id)
                }
                Some(cur) => {
                    report.changes.push(Change::Unchanged(label.clone()));
                    Some(cur.id)
                }
            };
            if let Some(p) = &o.policy {
                let plabel = format!("policy of {label}");
                match org_id {
                    Some(id) => {
                        self.apply_policy(
                            caller,
                            &t.slug,
                            true,
                            PolicyScope::Organization(id),
                            p,
                            plabel,
                            dry_run,
                            report,
                        )
                        .await?
                    }
                    None => report.changes.push(Change::Create(plabel)),
                }
            }
        }
        for c in &t.clients {
            self.apply_client(caller, &t.slug, c, dry_run, report)
                .await?;
        }
        Ok(())
    }

    /// Converges one client: registered if missing, replaced if its registration differs, given the
    /// file's secret if it has another one (the old secret stops at once).
    async fn apply_client(
        &self,
        caller: &Caller,
        slug: &str,
        c: &DesiredClient,
        dry_run: bool,
        report: &mut ApplyReport,
    ) -> Result<()> {
        let id = c.registration.client_id.clone().unwrap_or_default();
        let label = format!("client {id} of tenant {slug}");
        let secret = match &c.secret_file {
            Some(f) => {
                let s = std::fs::read_to_string(f).map_err(|e| {
                    CoreError::bad_request(
                        "unreadable_file",
                        format!("{label}: cannot read {f}: {e}"),
                    )
                })?;
                Some(BearerSecret::from_string(s.trim().to_owned()))
            }
            None => None,
        };
        let oauth = self.oauth();
        let existing = match oauth.get(caller, slug, &id).await {
            Ok(found) => Some(found),
            Err(CoreError::NotFound { .. }) => None,
            Err(e) => return Err(e),
        };
        let Some(current) = existing else {
            report.changes.push(Change::Create(label.clone()));
            if !dry_run {
                let made = oauth
                    .create_with(caller, slug, c.registration.clone(), secret)
                    .await?;
                if let (None, Some(s)) = (&c.secret_file, made.secret) {
                    report.minted.push((format!("secret of {label}"), s));
                }
            }
            return Ok(());
        };
        let same_registration = oauth.registers_as(&current, &c.registration);
        let same_secret = match &secret {
            Some(s) => oauth.secret_is(slug, &id, s).await?,
            None => true,
        };
        if same_registration && same_secret {
            report.changes.push(Change::Unchanged(label));
            return Ok(());
        }
        report.changes.push(Change::Update(label));
        if dry_run {
            return Ok(());
        }
        if !same_registration {
            oauth
                .replace(caller, slug, &id, c.registration.clone(), None)
                .await?;
        }
        if !same_secret {
            oauth
                .rotate_secret(caller, slug, &id, time::Duration::ZERO, secret)
                .await?;
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    async fn apply_policy(
        &self,
        caller: &Caller,
        slug: &str,
        tenant_exists: bool,
        scope: PolicyScope,
        p: &DesiredPolicy,
        label: String,
        dry_run: bool,
        report: &mut ApplyReport,
    ) -> Result<()> {
        let current = if tenant_exists {
            Some(self.policies().get(caller, slug, scope).await?)
        } else {
            None
        };
        if current
            .as_ref()
            .is_some_and(|c| c.version > 0 && c.document == p.document)
        {
            report.changes.push(Change::Unchanged(label));
            return Ok(());
        }
        report
            .changes
            .push(if current.as_ref().is_some_and(|c| c.version > 0) {
                Change::Update(label)
            } else {
                Change::Create(label)
            });
        if !dry_run {
            self.policies()
                .put(
                    caller,
                    slug,
                    scope,
                    PolicyChange {
                        document: p.document.clone(),
                        reason: p.reason.clone(),
                    },
                    None,
                )
                .await?;
        }
        Ok(())
    }

    async fn apply_key(
        &self,
        caller: &Caller,
        k: &DesiredKey,
        dry_run: bool,
        report: &mut ApplyReport,
    ) -> Result<()> {
        let label = format!("api key {} ({})", k.name, k.role.as_str());
        let secret = match &k.secret_file {
            Some(f) => {
                let s = std::fs::read_to_string(f).map_err(|e| {
                    CoreError::bad_request(
                        "unreadable_file",
                        format!("{label}: cannot read {f}: {e}"),
                    )
                })?;
                let s = s.trim().to_owned();
                if !s.starts_with(crate::api_keys::KEY_PREFIX) || s.len() < 36 {
                    return Err(CoreError::bad_request(
                        "invalid_secret",
                        format!(
                            "{label}: the secret must start with {} and be at least 36 characters",
                            crate::api_keys::KEY_PREFIX
                        ),
                    ));
                }
                Some(BearerSecret::from_string(s))
            }
            None => None,
        };
        let tenant_id = match &k.tenant {
            Some(slug) => match self.tenants().get(caller, slug).await {
                Ok(t) => Some(t.id),
                Err(CoreError::NotFound { .. }) if dry_run => None,
                Err(e) => return Err(e),
            },
            None => None,
        };
        let mut conn = self.db().conn().await?;
        let existing = tessera_store::api_keys::live_by_name(&mut conn, &k.name).await?;
        let secret_ok = match (&existing, &secret) {
            (Some(e), Some(s)) => {
                tessera_store::api_keys::secret_matches(
                    &mut conn,
                    e.id,
                    &self.keys().secret_hasher.hash(s.expose()),
                )
                .await?
            }
            _ => true,
        };
        drop(conn);
        let same = existing.as_ref().is_some_and(|e| {
            e.role == k.role
                && (k.tenant.is_none() || e.tenant_id == tenant_id)
                && e.tenant_id.is_some() == k.tenant.is_some()
                && secret_ok
        });
        if same {
            report.changes.push(Change::Unchanged(label));
            return Ok(());
        }
        report.changes.push(if existing.is_some() {
            Change::Update(label)
        } else {
            Change::Create(label)
        });
        if dry_run {
            return Ok(());
        }
        if let Some(e) = &existing {
            self.api_keys().revoke(caller, e.id).await?;
        }
        match secret {
            Some(s) => {
                let key = tessera_model::api_key::ApiKey {
                    id: tessera_model::ApiKeyId::new(),
                    tenant_id,
                    name: k.name.clone(),
                    role: k.role,
                    prefix: s.display_prefix(),
                    created_at: self.now(),
                    created_by: caller.actor.0.clone(),
                    expires_at: None,
                    revoked_at: None,
                };
                let mut tx = self.db().begin().await?;
                self.api_keys().insert(&mut tx, caller, &key, &s).await?;
                tx.commit().await?;
            }
            None => {
                let minted = self
                    .api_keys()
                    .create(
                        caller,
                        NewApiKey {
                            name: k.name.clone(),
                            role: k.role,
                            tenant: k.tenant.clone(),
                            expires_at: None,
                        },
                    )
                    .await?;
                report
                    .minted
                    .push((format!("API key {}", k.name), minted.secret));
            }
        }
        Ok(())
    }
}
