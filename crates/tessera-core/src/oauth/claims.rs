//! The claims a client sees of an identity, by the scopes it was granted (OIDC Core §5.4), from the
//! identity's identifiers and the attributes the tenant's schema holds. Read by userinfo; the ID token
//! carries only the authentication claims (an access token is always issued, so profile claims come
//! from userinfo, as §5.4 says for that case).
//!
//! | scope     | claims | from |
//! |-----------|--------|------|
//! | `openid`  | `sub` | the identity id (added by the caller) |
//! | `profile` | `name`, `given_name`, `family_name`, `middle_name`, `nickname`, `preferred_username`, `profile`, `picture`, `website`, `gender`, `birthdate`, `zoneinfo`, `locale` | the string attribute of the same name, when the schema has it and the identity a value (`birthdate` is a `date` attribute, `YYYY-MM-DD`); `preferred_username` is the username identifier when there is one |
//! | `profile` | `updated_at` | when the identity last changed (seconds since the epoch) |
//! | `email`   | `email`, `email_verified` | the identity's first email identifier and whether it was proven |
//! | `phone`   | `phone_number`, `phone_number_verified` | the first phone identifier (E.164) and whether it was proven |
//! | `address` | `address` | the object attribute `address`, with its string members `formatted`, `street_address`, `locality`, `region`, `postal_code`, `country` |
//!
//! Tenant-defined scopes: a top-level attribute of the tenant's schema may name a `scope`
//! (`loyalty`, `orders:read`); a token granted that scope reads the attribute as a claim of the
//! attribute's own name, whatever its type (the schema refuses registered claim names and the
//! standard scopes, so such a claim never passes for a standard one). A client must list the scope
//! among its allowed scopes like any other.
use serde_json::{Map, Value, json};
use tessera_model::attributes::AttributeSchema;
use tessera_model::identifier::IdentifierKind;
use tessera_model::identity::Identity;

/// String attributes the `profile` scope releases under their own names.
pub const PROFILE_ATTRIBUTES: [&str; 13] = [
    "name",
    "given_name",
    "family_name",
    "middle_name",
    "nickname",
    "preferred_username",
    "profile",
    "picture",
    "website",
    "gender",
    "birthdate",
    "zoneinfo",
    "locale",
];

/// Members of the `address` claim (OIDC Core §5.1.1).
pub const ADDRESS_MEMBERS: [&str; 6] = [
    "formatted",
    "street_address",
    "locality",
    "region",
    "postal_code",
    "country",
];

/// Every claim Tessera may release, for discovery's `claims_supported`.
pub fn supported() -> Vec<&'static str> {
    let mut out = vec![
        "sub",
        "iss",
        "aud",
        "exp",
        "iat",
        "auth_time",
        "nonce",
        "acr",
        "amr",
        "sid",
        "at_hash",
    ];
    out.extend(PROFILE_ATTRIBUTES);
    out.extend([
        "updated_at",
        "email",
        "email_verified",
        "phone_number",
        "phone_number_verified",
        "address",
    ]);
    out
}

/// The scopes that release claims (plus `openid`), for discovery's `scopes_supported`.
pub const STANDARD_SCOPES: [&str; 5] = ["openid", "profile", "email", "phone", "address"];

fn first(
    identity: &Identity,
    kind: IdentifierKind,
) -> Option<&tessera_model::identity::Identifier> {
    identity.identifiers.iter().find(|i| i.kind == kind)
}

/// The claims `scopes` release of `identity` (without `sub`).
pub fn for_scopes(identity: &Identity, scopes: &[String]) -> Map<String, Value> {
    let has = |s: &str| scopes.iter().any(|x| x == s);
    let mut out = Map::new();
    if has("profile") {
        for name in PROFILE_ATTRIBUTES {
            if let Some(Value::String(v)) = identity.attributes.get(name) {
                out.insert(name.into(), json!(v));
            }
        }
        if let Some(u) = first(identity, IdentifierKind::Username) {
            out.insert("preferred_username".into(), json!(u.value));
        }
        out.insert(
            "updated_at".into(),
            json!(identity.updated_at.unix_timestamp()),
        );
    }
    if has("email")
        && let Some(e) = first(identity, IdentifierKind::Email)
    {
        out.insert("email".into(), json!(e.value));
        out.insert("email_verified".into(), json!(e.verified));
    }
    if has("phone")
        && let Some(p) = first(identity, IdentifierKind::Phone)
    {
        out.insert("phone_number".into(), json!(p.value));
        out.insert("phone_number_verified".into(), json!(p.verified));
    }
    if has("address")
        && let Some(Value::Object(a)) = identity.attributes.get("address")
    {
        let address: Map<String, Value> = ADDRESS_MEMBERS
            .iter()
            .filter_map(|m| match a.get(*m) {
                Some(Value::String(v)) => Some(((*m).to_owned(), json!(v))),
                _ => None,
            })
            .collect();
        if !address.is_empty() {
            out.insert("address".into(), Value::Object(address));
        }
    }
    out
}

/// Whether any granted scope is a tenant's own (not a standard one), so the schema must be read.
pub fn has_tenant_scope(scopes: &[String]) -> bool {
    scopes
        .iter()
        .any(|s| !tessera_model::attributes::RESERVED_SCOPES.contains(&s.as_str()))
}

/// The claims the tenant's own `scopes` release of `identity`: each attribute the schema puts under a
/// granted scope, under its own name, when the identity holds a non-null value.
pub fn for_tenant_scopes(
    identity: &Identity,
    schema: &AttributeSchema,
    scopes: &[String],
) -> Map<String, Value> {
    schema
        .released_by(scopes)
        .filter_map(|def| match identity.attributes.get(&def.name) {
            None | Some(Value::Null) => None,
            Some(v) => Some((def.name.clone(), v.clone())),
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use tessera_model::identity::{Identifier, IdentityState};
    use tessera_model::{IdentityId, TenantId};
    use time::OffsetDateTime;

    use super::*;

    fn identity() -> Identity {
        let attributes = json!({
            "given_name": "Ada",
            "family_name": "Lovelace",
            "birthdate": "1815-12-10",
            "nickname": 7,
            "plan": "gold",
            "address": {"locality": "London", "country": "GB", "secret": "x"}
        });
        Identity {
            id: IdentityId(uuid::Uuid::nil()),
            tenant_id: TenantId(uuid::Uuid::nil()),
            state: IdentityState::Active,
            identifiers: vec![
                Identifier {
                    kind: IdentifierKind::Email,
                    value: "ada@example.com".into(),
                    verified: true,
                },
                Identifier {
                    kind: IdentifierKind::Phone,
                    value: "+441234567890".into(),
                    verified: false,
                },
            ],
            attributes: attributes.as_object().cloned().unwrap(),
            created_at: OffsetDateTime::UNIX_EPOCH,
            updated_at: OffsetDateTime::UNIX_EPOCH + time::Duration::seconds(42),
            version: 1,
        }
    }

    fn scopes(s: &[&str]) -> Vec<String> {
        s.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn oidc_04_a_tenant_scope_releases_only_its_own_attributes() {
        let i = identity();
        let schema: AttributeSchema = serde_json::from_value(json!({"attributes": [
            {"name": "plan", "type": "string", "scope": "billing"},
            {"name": "given_name", "type": "string"},
            {"name": "tier", "type": "string", "scope": "billing"}
        ]}))
        .unwrap();
        assert!(!has_tenant_scope(&scopes(&[
            "openid",
            "email",
            "offline_access"
        ])));
        assert!(has_tenant_scope(&scopes(&["openid", "billing"])));
        assert!(for_tenant_scopes(&i, &schema, &scopes(&["openid", "profile"])).is_empty());
        assert_eq!(
            Value::Object(for_tenant_scopes(&i, &schema, &scopes(&["billing"]))),
            json!({"plan": "gold"}),
            "the granted scope's attributes the customer has, and nothing else"
        );
    }

    #[test]
    fn oidc_04_claims_are_limited_to_the_granted_scopes() {
        let i = identity();
        assert!(for_scopes(&i, &scopes(&["openid"])).is_empty());
        let email = for_scopes(&i, &scopes(&["openid", "email"]));
        assert_eq!(
            Value::Object(email),
            json!({"email": "ada@example.com", "email_verified": true})
        );
        let profile = for_scopes(&i, &scopes(&["profile"]));
        assert_eq!(
            Value::Object(profile),
            json!({"given_name": "Ada", "family_name": "Lovelace", "birthdate": "1815-12-10", "updated_at": 42}),
            "standard names only, strings only: no `plan`, no numeric nickname"
        );
        let rest = for_scopes(&i, &scopes(&["phone", "address"]));
        assert_eq!(
            Value::Object(rest),
            json!({
                "phone_number": "+441234567890",
                "phone_number_verified": false,
                "address": {"locality": "London", "country": "GB"}
            })
        );
    }
}
