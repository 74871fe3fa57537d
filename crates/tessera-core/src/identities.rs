//! Customer identities: creation (including light prospect accounts), reads, updates guarded by
//! versions, listing, and the state changes of their life cycle.
use serde::Deserialize;
use serde_json::{Map, Value, json};
use tessera_model::api_key::Permission;
use tessera_model::attributes::ValidationMode;
use tessera_model::event::{NewEvent, identity_subject, types};
use tessera_model::identifier::{self, IdentifierKind};
use tessera_model::identity::{Identifier, Identity, IdentityState};
use tessera_model::tenant::Tenant;
use tessera_model::{IdentityId, OrganizationId};
use tessera_store::Tx;
use tessera_store::identities::IdentityFilter;

use crate::{Caller, CoreError, FieldProblem, Paged, Result, Tessera, check_version, conflict_as};

/// An identifier as given by a client, before normalisation.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IdentifierInput {
    pub kind: IdentifierKind,
    pub value: String,
    /// `true` marks it verified: the business vouches that the customer controls it (for example, data
    /// imported from a system that verified it). That is trusted for sign-in and recovery, so it needs the
    /// `identity:verify` permission (REG-01), as does `false` on an identifier that is verified today,
    /// or leaving a verified one out of a patch. Left out: a new identifier is unverified, and one the
    /// identity already holds keeps its state.
    #[serde(default)]
    pub verified: Option<bool>,
}

/// A request to create an identity. A prospect needs only an identifier.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewIdentity {
    pub identifiers: Vec<IdentifierInput>,
    /// `active` (default) or `prospect`.
    #[serde(default)]
    pub state: Option<IdentityState>,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub attributes: Map<String, Value>,
}

/// A change to an identity. `attributes` is a JSON merge patch (RFC 7396: `null` removes an attribute);
/// `identifiers`, when present, replaces the whole set; leaving out or downgrading an identifier that is
/// verified today needs `identity:verify` (REG-01).
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IdentityPatch {
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub attributes: Option<Map<String, Value>>,
    #[serde(default)]
    pub identifiers: Option<Vec<IdentifierInput>>,
}

/// What a list of identities is narrowed to, as the client wrote it.
#[derive(Debug, Clone, Default)]
pub struct IdentityQuery {
    pub state: Option<IdentityState>,
    /// `kind:value`, or a bare value whose kind is guessed (`@` → email, leading `+` → phone, else username).
    pub identifier: Option<String>,
    /// `name:value`, compared according to the attribute's type in the schema.
    pub attribute: Option<String>,
    pub organization: Option<OrganizationId>,
    pub cursor: Option<String>,
    pub limit: Option<u32>,
}

const MAX_IDENTIFIERS: usize = 10;

fn normalize_all(inputs: &[IdentifierInput]) -> Result<Vec<Identifier>> {
    if inputs.is_empty() {
        return Err(CoreError::invalid(
            "invalid_identifier",
            "an identity needs at least one identifier",
            vec![FieldProblem {
                field: "identifiers".into(),
                code: "required".into(),
                message: "give at least one identifier".into(),
            }],
        ));
    }
    if inputs.len() > MAX_IDENTIFIERS {
        return Err(CoreError::invalid(
            "invalid_identifier",
            format!("at most {MAX_IDENTIFIERS} identifiers"),
            vec![FieldProblem {
                field: "identifiers".into(),
                code: "too_many".into(),
                message: format!("at most {MAX_IDENTIFIERS}"),
            }],
        ));
    }
    let mut out: Vec<Identifier> = Vec::with_capacity(inputs.len());
    let mut problems = Vec::new();
    for (i, input) in inputs.iter().enumerate() {
        match identifier::normalize(input.kind, &input.value) {
            Ok(n) => {
                if out.iter().any(|o| o.kind == n.kind && o.value == n.value) {
                    problems.push(FieldProblem {
                        field: format!("identifiers[{i}].value"),
                        code: "duplicate".into(),
                        message: "the same identifier appears twice".into(),
                    });
                } else {
                    out.push(Identifier {
                        kind: n.kind,
                        value: n.value,
                        verified: input.verified.unwrap_or(false),
                    });
                }
            }
            Err(e) => problems.push(FieldProblem {
                field: format!("identifiers[{i}].value"),
                code: e.code().into(),
                message: e.to_string(),
            }),
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(CoreError::invalid(
            "invalid_identifier",
            "an identifier is not valid",
            problems,
        ))
    }
}

/// REG-01: marking an identifier verified through the admin API is a permission of its own, checked
/// before anything is read.
fn require_verify_permission(caller: &Caller, inputs: &[IdentifierInput]) -> Result<()> {
    if inputs.iter().any(|i| i.verified == Some(true)) {
        caller.require(Permission::IdentityVerify)?;
    }
    Ok(())
}

/// REG-01: taking a verified identifier off an identity, by removing, replacing or downgrading it,
/// hands recovery to whichever address comes next (an unverified one is a public verification away
/// from trusted), so it needs the same permission as marking one verified. So does attaching a new
/// email or phone to an identity whose owner has proven an address: whoever controls the new address
/// could prove it through the public verification flow and then recover the account through it.
/// Checked before anything is written; unverified identities stay `identity:write`.
fn require_verify_to_change_proven(
    caller: &Caller,
    old: &[Identifier],
    new: &[Identifier],
) -> Result<()> {
    let drops_verified = old
        .iter()
        .filter(|o| o.verified)
        .any(|o| !new.iter().any(|n| n.verified && same(o, n)));
    let attaches_channel = old.iter().any(|o| o.verified)
        && new
            .iter()
            .any(|n| n.kind != IdentifierKind::Username && !old.iter().any(|o| same(o, n)));
    if drops_verified || attaches_channel {
        caller.require(Permission::IdentityVerify)?;
    }
    Ok(())
}

/// Whether two identifiers name the same thing (kind and normalised value).
fn same(a: &Identifier, b: &Identifier) -> bool {
    a.kind == b.kind && a.value == b.value
}

fn attribute_error(problems: Vec<tessera_model::attributes::AttributeProblem>) -> CoreError {
    let names: Vec<String> = problems.iter().map(|p| p.attribute.clone()).collect();
    let problems = problems
        .into_iter()
        .map(|p| FieldProblem {
            field: format!("attributes.{}", p.attribute),
            code: p.code.into(),
            message: p.message,
        })
        .collect();
    CoreError::invalid(
        "invalid_attributes",
        format!("attributes break the schema: {}", names.join(", ")),
        problems,
    )
}

fn mode_for(state: IdentityState) -> ValidationMode {
    if state == IdentityState::Prospect {
        ValidationMode::Prospect
    } else {
        ValidationMode::Full
    }
}

/// RFC 7396 merge patch on an attribute map.
fn merge_patch(target: &mut Map<String, Value>, patch: &Map<String, Value>) {
    for (k, v) in patch {
        match v {
            Value::Null => {
                target.remove(k);
            }
            Value::Object(p) => match target.get_mut(k) {
                Some(Value::Object(t)) => merge_patch(t, p),
                _ => {
                    let mut fresh = Map::new();
                    merge_patch(&mut fresh, p);
                    target.insert(k.clone(), Value::Object(fresh));
                }
            },
            other => {
                target.insert(k.clone(), other.clone());
            }
        }
    }
}

/// Identities as the admin API manages them, borrowed from the facade: `t.identities().create(..)`.
#[derive(Clone, Copy, Debug)]
pub struct Identities<'a> {
    t: &'a Tessera,
}

impl Tessera {
    /// Identity administration.
    pub fn identities(&self) -> Identities<'_> {
        Identities { t: self }
    }
}

impl Identities<'_> {
    /// Refuses identifiers another identity holds, naming the first taken one.
    async fn ensure_identifiers_free(
        &self,
        tx: &mut Tx,
        tenant: &Tenant,
        idents: &[Identifier],
        owner: Option<IdentityId>,
    ) -> Result<()> {
        for (i, ident) in idents.iter().enumerate() {
            let holder =
                tessera_store::identities::by_identifier(tx, tenant.id, ident.kind, &ident.value)
                    .await?;
            if holder.is_some_and(|h| Some(h) != owner) {
                return Err(CoreError::Conflict {
                    code: "identifier_taken",
                    detail: format!(
                        "identifiers[{i}]: this {} already belongs to another identity",
                        ident.kind.as_str()
                    ),
                });
            }
        }
        Ok(())
    }

    /// Creates an identity. Identifiers are normalised and must be free in the tenant; attributes must
    /// fit the schema (a prospect may leave required ones out).
    pub async fn create(
        &self,
        caller: &Caller,
        tenant_slug: &str,
        req: NewIdentity,
    ) -> Result<Identity> {
        caller.require(Permission::IdentityWrite)?;
        let state = req.state.unwrap_or(IdentityState::Active);
        if !matches!(state, IdentityState::Active | IdentityState::Prospect) {
            return Err(CoreError::invalid(
                "invalid_state",
                "a new identity is active or a prospect",
                vec![FieldProblem {
                    field: "state".into(),
                    code: "invalid".into(),
                    message: "use active or prospect".into(),
                }],
            ));
        }
        require_verify_permission(caller, &req.identifiers)?;
        let identifiers = normalize_all(&req.identifiers)?;
        let mut tx = self.t.db().begin().await?;
        let tenant = self.t.tenant_in_scope(&mut tx, caller, tenant_slug).await?;
        let schema = self.t.schema_of(&mut tx, tenant.id).await?;
        schema
            .schema
            .validate(&req.attributes, mode_for(state))
            .map_err(attribute_error)?;
        self.ensure_identifiers_free(&mut tx, &tenant, &identifiers, None)
            .await?;
        let now = self.t.now();
        let identity = Identity {
            id: IdentityId::new(),
            tenant_id: tenant.id,
            state,
            identifiers,
            attributes: req.attributes,
            created_at: now,
            updated_at: now,
            version: 1,
        };
        tessera_store::identities::insert(&mut tx, &identity)
            .await
            .map_err(|e| {
                conflict_as(
                    e,
                    "identifier_taken",
                    "an identifier already belongs to another identity",
                )
            })?;
        let key = self
            .t
            .create_identity_key(&mut tx, tenant.id, identity.id)
            .await?;
        let kinds: Vec<&str> = identity
            .identifiers
            .iter()
            .map(|i| i.kind.as_str())
            .collect();
        let attr_names: Vec<&String> = identity.attributes.keys().collect();
        let ev = NewEvent::new(
            tenant.id,
            types::IDENTITY_CREATED,
            identity_subject(identity.id),
            json!({"identity_id": identity.id, "state": state, "identifier_kinds": kinds, "attributes": attr_names}),
        )
        .with_personal(identity.id, json!({"identifiers": identity.identifiers, "attributes": identity.attributes}));
        self.t.record(&mut tx, caller, ev, Some(&key)).await?;
        let verified: Vec<&Identifier> =
            identity.identifiers.iter().filter(|i| i.verified).collect();
        self.record_marked_verified(&mut tx, caller, &identity, &verified)
            .await?;
        tx.commit().await?;
        Ok(identity)
    }

    /// The event of an admin marking identifiers verified (REG-01), when it did.
    async fn record_marked_verified(
        &self,
        tx: &mut Tx,
        caller: &Caller,
        identity: &Identity,
        marked: &[&Identifier],
    ) -> Result<()> {
        if marked.is_empty() {
            return Ok(());
        }
        let kinds: Vec<&str> = marked.iter().map(|i| i.kind.as_str()).collect();
        let values: Vec<&str> = marked.iter().map(|i| i.value.as_str()).collect();
        let ev = NewEvent::new(
            identity.tenant_id,
            types::IDENTIFIERS_MARKED_VERIFIED,
            identity_subject(identity.id),
            json!({"identity_id": identity.id, "identifier_kinds": kinds}),
        )
        .with_personal(identity.id, json!({"identifiers": values}));
        self.t.record(tx, caller, ev, None).await
    }

    /// One identity (erased ones remain as tombstones with state `deleted`).
    pub async fn get(
        &self,
        caller: &Caller,
        tenant_slug: &str,
        id: IdentityId,
    ) -> Result<Identity> {
        caller.require(Permission::IdentityRead)?;
        let mut conn = self.t.db().conn().await?;
        let tenant = self
            .t
            .tenant_in_scope(&mut conn, caller, tenant_slug)
            .await?;
        tessera_store::identities::get(&mut conn, tenant.id, id)
            .await?
            .ok_or(CoreError::NotFound { what: "identity" })
    }

    /// Applies a patch if the identity is still at version `if_match` (when given).
    pub async fn update(
        &self,
        caller: &Caller,
        tenant_slug: &str,
        id: IdentityId,
        patch: IdentityPatch,
        if_match: Option<i64>,
    ) -> Result<Identity> {
        caller.require(Permission::IdentityWrite)?;
        if let Some(inputs) = &patch.identifiers {
            require_verify_permission(caller, inputs)?;
        }
        let mut new_identifiers = patch
            .identifiers
            .as_deref()
            .map(normalize_all)
            .transpose()?;
        let mut tx = self.t.db().begin().await?;
        let tenant = self.t.tenant_in_scope(&mut tx, caller, tenant_slug).await?;
        let mut identity = tessera_store::identities::get(&mut tx, tenant.id, id)
            .await?
            .ok_or(CoreError::NotFound { what: "identity" })?;
        check_version(if_match, identity.version)?;
        if identity.state == IdentityState::Deleted {
            return Err(CoreError::Conflict {
                code: "identity_deleted",
                detail: "an erased identity cannot be changed".into(),
            });
        }
        // An identifier whose `verified` was left out keeps the state it has on the identity.
        if let (Some(n), Some(inputs)) = (&mut new_identifiers, &patch.identifiers) {
            for (ident, input) in n.iter_mut().zip(inputs) {
                if input.verified.is_none() {
                    ident.verified = identity
                        .identifiers
                        .iter()
                        .any(|o| o.verified && same(o, ident));
                }
            }
        }
        if let Some(n) = &new_identifiers {
            require_verify_to_change_proven(caller, &identity.identifiers, n)?;
        }
        let old_identifiers = identity.identifiers.clone();
        let before = identity.attributes.clone();
        if let Some(p) = &patch.attributes {
            merge_patch(&mut identity.attributes, p);
        }
        let schema = self.t.schema_of(&mut tx, tenant.id).await?;
        schema
            .schema
            .validate(&identity.attributes, mode_for(identity.state))
            .map_err(attribute_error)?;
        let changed: Vec<String> = before
            .keys()
            .chain(identity.attributes.keys())
            .filter(|k| before.get(*k) != identity.attributes.get(*k))
            .cloned()
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let identifiers_changed = match &new_identifiers {
            Some(n) => {
                let mut a = n.clone();
                let mut b = identity.identifiers.clone();
                a.sort_by(|x, y| (x.kind.as_str(), &x.value).cmp(&(y.kind.as_str(), &y.value)));
                b.sort_by(|x, y| (x.kind.as_str(), &x.value).cmp(&(y.kind.as_str(), &y.value)));
                a != b
            }
            None => false,
        };
        if changed.is_empty() && !identifiers_changed {
            return Ok(identity);
        }
        if let (true, Some(n)) = (identifiers_changed, &new_identifiers) {
            self.ensure_identifiers_free(&mut tx, &tenant, n, Some(id))
                .await?;
            tessera_store::identities::delete_identifiers(&mut tx, tenant.id, id).await?;
            let now = self.t.now();
            for ident in n {
                tessera_store::identities::insert_identifier(&mut tx, tenant.id, id, ident, now)
                    .await
                    .map_err(|e| {
                        conflict_as(
                            e,
                            "identifier_taken",
                            "an identifier already belongs to another identity",
                        )
                    })?;
            }
            identity.identifiers = n.clone();
        }
        let expected = identity.version;
        identity.version += 1;
        identity.updated_at = self.t.now();
        if !tessera_store::identities::update(&mut tx, &identity, expected).await? {
            return Err(CoreError::VersionMismatch {
                expected,
                found: expected + 1,
            });
        }
        let personal_changes: Map<String, Value> = changed
            .iter()
            .map(|k| {
                (
                    k.clone(),
                    identity.attributes.get(k).cloned().unwrap_or(Value::Null),
                )
            })
            .collect();
        let mut personal = Map::new();
        personal.insert("attributes".into(), Value::Object(personal_changes));
        if identifiers_changed {
            personal.insert("identifiers".into(), json!(identity.identifiers));
        }
        let personal = Value::Object(personal);
        let ev = NewEvent::new(
            tenant.id,
            types::IDENTITY_UPDATED,
            identity_subject(id),
            json!({"identity_id": id, "changed_attributes": changed, "identifiers_changed": identifiers_changed, "version": identity.version}),
        )
        .with_personal(id, personal);
        self.t.record(&mut tx, caller, ev, None).await?;
        if identifiers_changed {
            let marked: Vec<&Identifier> = identity
                .identifiers
                .iter()
                .filter(|n| n.verified && !old_identifiers.iter().any(|o| o.verified && same(o, n)))
                .collect();
            self.record_marked_verified(&mut tx, caller, &identity, &marked)
                .await?;
            self.notify_removed_emails(&mut tx, &tenant, &old_identifiers, &identity.identifiers)
                .await?;
        }
        tx.commit().await?;
        Ok(identity)
    }

    /// Tells every verified address an admin change took off an identity that it happened (REG-01,
    /// REC-04), so a customer whose address was replaced learns of it at the address they control. The
    /// change itself revokes nothing: the customer keeps their sessions and can act on the notice.
    async fn notify_removed_emails(
        &self,
        tx: &mut Tx,
        tenant: &Tenant,
        old: &[Identifier],
        new: &[Identifier],
    ) -> Result<()> {
        let new_email = new
            .iter()
            .find(|n| n.kind == IdentifierKind::Email && !old.iter().any(|o| same(o, n)))
            .map(|n| n.value.as_str());
        for o in old.iter().filter(|o| {
            o.kind == IdentifierKind::Email && o.verified && !new.iter().any(|n| same(o, n))
        }) {
            let vars = crate::flows::codes::mail_vars(
                &tenant.name,
                &o.value,
                json!({"new_email": new_email, "pending": false, "link": self.t.flows().public_url(&tenant.slug, "/recovery")}),
            );
            self.t
                .queue_mail(tx, tenant.id, &o.value, "email_changed_notice", None, vars)
                .await?;
        }
        Ok(())
    }

    /// Lists identities with cursor pagination and filters.
    pub async fn list(
        &self,
        caller: &Caller,
        tenant_slug: &str,
        q: IdentityQuery,
    ) -> Result<Paged<Identity>> {
        caller.require(Permission::IdentityRead)?;
        let mut conn = self.t.db().conn().await?;
        let tenant = self
            .t
            .tenant_in_scope(&mut conn, caller, tenant_slug)
            .await?;
        let after = match &q.cursor {
            None => None,
            Some(c) => Some(c.parse::<IdentityId>().map_err(|_| {
                CoreError::bad_request("bad_cursor", "the cursor is not one this API returned")
            })?),
        };
        let identifier = match &q.identifier {
            None => None,
            Some(raw) => {
                let (kind, value) = match raw
                    .split_once(':')
                    .and_then(|(k, v)| IdentifierKind::parse(k).map(|k| (k, v)))
                {
                    Some(kv) => kv,
                    None if raw.contains('@') => (IdentifierKind::Email, raw.as_str()),
                    None if raw.starts_with('+') => (IdentifierKind::Phone, raw.as_str()),
                    None => (IdentifierKind::Username, raw.as_str()),
                };
                let n = identifier::normalize(kind, value).map_err(|e| {
                    CoreError::bad_request("bad_filter", format!("identifier filter: {e}"))
                })?;
                Some((n.kind, n.value))
            }
        };
        let attribute = match &q.attribute {
            None => None,
            Some(raw) => {
                let (name, value) = raw.split_once(':').ok_or_else(|| {
                    CoreError::bad_request("bad_filter", "attribute filter is name:value")
                })?;
                let schema = self.t.schema_of(&mut conn, tenant.id).await?;
                let def = schema.schema.get(name).ok_or_else(|| {
                    CoreError::bad_request(
                        "bad_filter",
                        format!("no attribute {name:?} in the schema"),
                    )
                })?;
                let json_value = match def.ty.type_name() {
                    "number" => match value.parse::<i64>() {
                        Ok(i) => json!(i),
                        Err(_) => json!(value.parse::<f64>().map_err(|_| {
                            CoreError::bad_request("bad_filter", "not a number")
                        })?),
                    },
                    "boolean" => {
                        json!(value.parse::<bool>().map_err(|_| CoreError::bad_request(
                            "bad_filter",
                            "not true or false"
                        ))?)
                    }
                    "string" | "enum" | "date" => json!(value),
                    _ => {
                        return Err(CoreError::bad_request(
                            "bad_filter",
                            "only scalar attributes can be filtered on",
                        ));
                    }
                };
                Some((name.to_owned(), json_value.to_string()))
            }
        };
        let filter = IdentityFilter {
            state: q.state,
            identifier,
            attribute,
            organization: q.organization,
            include_deleted: false,
        };
        let limit = q.limit.unwrap_or(50).clamp(1, 500);
        let page =
            tessera_store::identities::list(&mut conn, tenant.id, &filter, after, limit).await?;
        Ok(Paged {
            items: page.items,
            next_cursor: page.next_after.map(|u| u.to_string()),
        })
    }

    /// Moves an identity to another state when the life cycle allows it, and records why.
    async fn transition(
        &self,
        caller: &Caller,
        tenant_slug: &str,
        id: IdentityId,
        (next, event): (IdentityState, &'static types::EventKind),
        reason: Option<String>,
        if_match: Option<i64>,
    ) -> Result<Identity> {
        let mut tx = self.t.db().begin().await?;
        let tenant = self.t.tenant_in_scope(&mut tx, caller, tenant_slug).await?;
        let mut identity = tessera_store::identities::get(&mut tx, tenant.id, id)
            .await?
            .ok_or(CoreError::NotFound { what: "identity" })?;
        check_version(if_match, identity.version)?;
        if !identity.state.can_become(next) {
            return Err(CoreError::Conflict {
                code: "invalid_state_transition",
                detail: format!(
                    "an identity in state {} cannot become {}",
                    identity.state.as_str(),
                    next.as_str()
                ),
            });
        }
        let from = identity.state;
        let expected = identity.version;
        identity.state = next;
        identity.version += 1;
        identity.updated_at = self.t.now();
        if next == IdentityState::Deleted {
            identity.attributes.clear();
            identity.identifiers.clear();
            tessera_store::identities::delete_identifiers(&mut tx, tenant.id, id).await?;
            tessera_store::organizations::remove_identity_everywhere(&mut tx, id).await?;
            tessera_store::identities::destroy_key(&mut tx, id, identity.updated_at).await?;
        }
        if !tessera_store::identities::update(&mut tx, &identity, expected).await? {
            return Err(CoreError::VersionMismatch {
                expected,
                found: expected + 1,
            });
        }
        // SES-06: leaving the active state ends every session for good; a later reactivation starts
        // from none (the revocation is its own `session.revoked` event).
        let sessions_revoked = if matches!(
            next,
            IdentityState::Suspended | IdentityState::PendingDeletion | IdentityState::Deleted
        ) {
            self.t
                .revoke_sessions_of(&mut tx, tenant.id, id, None, event.name)
                .await?
        } else {
            0
        };
        let ev = NewEvent::new(
            tenant.id,
            event,
            identity_subject(id),
            json!({"identity_id": id, "from": from, "to": next, "reason": reason, "version": identity.version, "sessions_revoked": sessions_revoked}),
        );
        self.t.record(&mut tx, caller, ev, None).await?;
        tx.commit().await?;
        Ok(identity)
    }

    /// Suspends an identity: it can no longer sign in and its sessions are revoked; nothing is removed.
    pub async fn suspend(
        &self,
        caller: &Caller,
        t: &str,
        id: IdentityId,
        reason: Option<String>,
        if_match: Option<i64>,
    ) -> Result<Identity> {
        caller.require(Permission::IdentityWrite)?;
        self.transition(
            caller,
            t,
            id,
            (IdentityState::Suspended, types::IDENTITY_SUSPENDED),
            reason,
            if_match,
        )
        .await
    }

    /// Lifts a suspension or a scheduled deletion, or activates a prospect.
    pub async fn reactivate(
        &self,
        caller: &Caller,
        t: &str,
        id: IdentityId,
        reason: Option<String>,
        if_match: Option<i64>,
    ) -> Result<Identity> {
        caller.require(Permission::IdentityWrite)?;
        self.transition(
            caller,
            t,
            id,
            (IdentityState::Active, types::IDENTITY_REACTIVATED),
            reason,
            if_match,
        )
        .await
    }

    /// Marks an identity for erasure and revokes its sessions; it can be reactivated until the erasure runs.
    pub async fn schedule_deletion(
        &self,
        caller: &Caller,
        t: &str,
        id: IdentityId,
        reason: Option<String>,
        if_match: Option<i64>,
    ) -> Result<Identity> {
        caller.require(Permission::IdentityDelete)?;
        self.transition(
            caller,
            t,
            id,
            (
                IdentityState::PendingDeletion,
                types::IDENTITY_DELETION_SCHEDULED,
            ),
            reason,
            if_match,
        )
        .await
    }

    /// Erases an identity now: sessions revoked, identifiers released, attributes cleared, memberships
    /// removed, and its sealing key destroyed so the personal data in its past events can no longer be read.
    pub async fn delete(
        &self,
        caller: &Caller,
        t: &str,
        id: IdentityId,
        reason: Option<String>,
        if_match: Option<i64>,
    ) -> Result<Identity> {
        caller.require(Permission::IdentityDelete)?;
        self.transition(
            caller,
            t,
            id,
            (IdentityState::Deleted, types::IDENTITY_DELETED),
            reason,
            if_match,
        )
        .await
    }

    /// Counts a tenant's identities (for tests and the CLI).
    pub async fn count(&self, tenant_slug: &str) -> Result<i64> {
        let mut conn = self.t.db().conn().await?;
        let t = tessera_store::tenants::by_slug(&mut conn, tenant_slug)
            .await?
            .ok_or(CoreError::NotFound { what: "tenant" })?;
        Ok(tessera_store::identities::count(&mut conn, t.id).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_patch_follows_rfc_7396() {
        let mut t = json!({"a": 1, "b": {"c": 2, "d": 3}})
            .as_object()
            .cloned()
            .unwrap();
        let p = json!({"a": null, "b": {"c": null, "e": 4}, "f": [1]})
            .as_object()
            .cloned()
            .unwrap();
        merge_patch(&mut t, &p);
        assert_eq!(Value::Object(t), json!({"b": {"d": 3, "e": 4}, "f": [1]}));
    }
}
