//! The catalogue of every event Tessera writes: its name, what it means, and the fields of its clear data
//! and of its sealed (personal) part. Webhooks, funnels and the support timeline subscribe by these names,
//! so a name never changes meaning once shipped. `docs/events.md` is this catalogue rendered
//! ([`render_markdown`]); a test keeps the two in step, and another checks that the events a full run
//! records carry only the fields listed here.

/// One kind of event.
#[derive(Debug, PartialEq, Eq)]
pub struct EventKind {
    /// `noun.past_tense_verb`.
    pub name: &'static str,
    /// What happened, in one sentence.
    pub meaning: &'static str,
    /// Fields of the clear data (readable by anyone with `event:read`).
    pub clear: &'static [&'static str],
    /// Fields of the personal part, sealed with the identity's key and shredded with it.
    pub sealed: &'static [&'static str],
}

macro_rules! kinds {
    ($($(#[$doc:meta])* $id:ident = $name:literal, $meaning:literal, [$($c:literal),*], [$($s:literal),*];)*) => {
        $(
            $(#[$doc])*
            pub const $id: &EventKind = &EventKind {
                name: $name,
                meaning: $meaning,
                clear: &[$($c),*],
                sealed: &[$($s),*],
            };
        )*
        /// Every kind, in the order `docs/events.md` lists them.
        pub const CATALOGUE: &[&EventKind] = &[$($id),*];
    };
}

kinds! {
    TENANT_CREATED = "tenant.created", "A tenant was created.", ["tenant_id", "slug", "name"], [];
    TENANT_UPDATED = "tenant.updated", "A tenant's settings changed.", ["tenant_id", "name", "version"], [];
    IDENTITY_CREATED = "identity.created",
        "An identity was created (admin API, import, or a finished sign-up).",
        ["identity_id", "state", "identifier_kinds", "attributes", "source", "flow_id"], ["identifiers", "attributes"];
    IDENTITY_UPDATED = "identity.updated",
        "An identity's attributes or identifiers changed (admin API or the customer's settings).",
        ["identity_id", "changed_attributes", "identifiers_changed", "by", "version"], ["attributes", "identifiers"];
    IDENTITY_SUSPENDED = "identity.suspended", "An identity was suspended (by an admin, or `by` the \"not me\" link); its sessions ended for good.",
        ["identity_id", "from", "to", "reason", "by", "version", "sessions_revoked"], [];
    IDENTITY_REACTIVATED = "identity.reactivated", "A suspended identity (or one pending deletion) became active again.",
        ["identity_id", "from", "to", "reason", "version", "sessions_revoked"], [];
    IDENTITY_DELETION_SCHEDULED = "identity.deletion_scheduled", "An identity was marked for erasure; it can be reactivated until then.",
        ["identity_id", "from", "to", "reason", "version", "sessions_revoked"], [];
    IDENTITY_DELETED = "identity.deleted", "An identity was erased: its key is destroyed, so its sealed event data is unreadable.",
        ["identity_id", "from", "to", "reason", "version", "sessions_revoked"], [];
    /// REG-01: the clear part names the kinds only.
    IDENTIFIERS_MARKED_VERIFIED = "identity.identifiers_marked_verified", "An admin marked identifiers verified (needs `identity:verify`).",
        ["identity_id", "identifier_kinds"], ["identifiers"];
    IDENTITY_CLAIMED = "identity.claimed", "A light (prospect) account was claimed by the person who proved its address.",
        ["identity_id", "from", "flow_id"], ["attributes"];
    CREDENTIALS_WIPED = "identity.credentials_wiped",
        "Someone proved an address of an identity that had never proven one: its credentials and sessions were removed, so an earlier unproven claimant keeps nothing.",
        ["identity_id", "credentials", "sessions", "reason"], [];
    PASSWORD_CHANGED = "identity.password_changed", "A password was set or changed (settings or recovery); pending codes were voided.",
        ["identity_id", "via", "sessions_revoked"], [];
    EMAIL_VERIFIED = "identity.email_verified", "An email address was proven with a mailed code or link.",
        ["identity_id", "via"], [];
    EMAIL_CHANGE_REQUESTED = "identity.email_change_requested", "The customer asked to move their email to a new address (pending until proven).",
        ["identity_id"], ["new_email"];
    EMAIL_CHANGED = "identity.email_changed", "A requested email change was proven and landed.",
        ["identity_id"], ["old", "new"];
    /// REC-04.
    IDENTITY_FROZEN_BY_NOTICE = "identity.frozen_by_notice",
        "The old address confirmed the \"not me\" link of an email-change notice: the identity was suspended, its codes voided and its sessions ended, the address left as it was; `change` says whether the change was pending or had landed.",
        ["identity_id", "change", "codes_voided", "sessions_revoked", "already_suspended"], ["notice_to"];
    /// No longer written: the "not me" link freezes the account now (`identity.frozen_by_notice`).
    EMAIL_CHANGE_UNDONE = "identity.email_change_undone", "Written by earlier versions only: the old address undid an email change.",
        ["identity_id", "credentials", "sessions"], ["restored", "removed"];
    TERMS_ACCEPTED = "identity.terms_accepted", "The customer accepted a version of the terms during sign-up.",
        ["identity_id", "document", "version"], [];
    ATTRIBUTES_COLLECTED = "identity.attributes_collected", "Progressive profiling asked for attributes at sign-in and the customer gave them.",
        ["identity_id", "attributes", "client_id", "purposes"], ["attributes"];
    ATTRIBUTE_SCHEMA_UPDATED = "attribute_schema.updated", "A tenant's attribute schema changed.", ["version", "attributes"], [];
    POLICY_UPDATED = "policy.updated", "A policy document got a new version.", ["scope", "version", "reason"], [];
    ORGANIZATION_CREATED = "organization.created", "An organization was created.", ["organization_id", "name", "domains"], [];
    ORGANIZATION_UPDATED = "organization.updated", "An organization changed.", ["organization_id", "name", "domains", "version"], [];
    ORGANIZATION_DELETED = "organization.deleted", "An organization was deleted.", ["organization_id"], [];
    ORGANIZATION_MEMBER_ADDED = "organization.member_added", "An identity joined an organization.", ["organization_id", "identity_id", "roles"], [];
    ORGANIZATION_MEMBER_UPDATED = "organization.member_updated", "A member's roles changed.", ["organization_id", "identity_id", "roles"], [];
    ORGANIZATION_MEMBER_REMOVED = "organization.member_removed", "An identity left an organization.", ["organization_id", "identity_id"], [];
    API_KEY_CREATED = "api_key.created", "An admin API key was minted.", ["api_key_id", "name", "role", "tenant_id", "expires_at"], [];
    API_KEY_REVOKED = "api_key.revoked", "An admin API key was revoked.", ["api_key_id", "name"], [];
    OAUTH_CLIENT_CREATED = "oauth_client.created", "An OAuth client (an app customers sign in to) was registered.", ["client_id", "kind", "first_party"], [];
    OAUTH_CLIENT_UPDATED = "oauth_client.updated", "An OAuth client's registration changed.", ["client_id", "version"], [];
    OAUTH_CLIENT_SECRET_ROTATED = "oauth_client.secret_rotated", "An OAuth client got a new secret; the old one works until `previous_valid_until` (absent: it stopped at once).", ["client_id", "previous_valid_until"], [];
    OAUTH_CLIENT_DELETED = "oauth_client.deleted", "An OAuth client was deleted; its secret stopped working.", ["client_id"], [];
    OAUTH_CODE_ISSUED = "oauth.code_issued", "A customer's session answered an app's authorization request with a code (at once, or after the sign-in it asked for).", ["client_id", "identity_id", "session_id", "scopes"], [];
    /// OIDC-07.
    BACKCHANNEL_LOGOUT_FAILED = "oauth.backchannel_logout_failed",
        "An app's back-channel logout receiver could not be told that a session ended: Tessera gave up after `attempts` attempts; `error` is the last failure.",
        ["client_id", "identity_id", "session_id", "attempts", "error"], [];
    /// CON-01.
    OAUTH_CONSENT_GIVEN = "oauth.consent_given", "A customer allowed a third-party app to have these scopes (all it was allowed so far, `scopes`; asked for now, `requested`).", ["client_id", "identity_id", "scopes", "requested"], [];
    /// CON-02.
    OAUTH_CONSENT_REVOKED = "oauth.consent_revoked", "A customer's consent to an app was withdrawn (`by` customer: in the settings; admin: the admin API); the app's refresh tokens for the customer were revoked.", ["client_id", "identity_id", "by", "refresh_families_revoked"], [];
    OAUTH_DEVICE_DECIDED = "oauth.device_decided", "A signed-in customer allowed or denied a device's authorization request on the device page (RFC 8628); `decision` is `allowed` or `denied`.", ["client_id", "identity_id", "session_id", "decision", "scopes"], [];
    OAUTH_CODE_REUSED = "oauth.code_reused", "An authorization code was presented again; what its first redemption issued was revoked (OA-04).", ["client_id", "identity_id", "session_id"], [];
    SIGNING_KEY_CREATED = "signing_key.created",
        "A token-signing key was made and published in the tenant's JWKS (`state` next; active only for a tenant's first key of an algorithm).",
        ["kid", "alg", "state"], [];
    SIGNING_KEY_ROTATED = "signing_key.rotated",
        "A tenant's signing keys of one algorithm rotated: the published next key signs now, the active one is retiring (still published), and a new next key is published.",
        ["alg", "activated", "retiring", "next"], [];
    SIGNING_KEY_RETIRED = "signing_key.retired",
        "A retiring signing key left the JWKS once every token it signed had expired; its private key was wiped.",
        ["kid", "alg"], [];
    /// OA-10, A-14.
    REFRESH_TOKEN_REUSED = "refresh_token.reused",
        "A refresh token that had already been rotated was presented again (a replay, or two uses racing): its whole family and the access tokens minted with it were revoked.",
        ["identity_id", "client_id", "family_id", "reason", "access_tokens_revoked"], [];
    REFRESH_TOKEN_REVOKED = "refresh_token.revoked",
        "A refresh-token family was revoked (`reason` client: its client revoked one of its tokens, RFC 7009), with the access tokens minted with it.",
        ["identity_id", "client_id", "family_id", "reason", "access_tokens_revoked"], [];
    ACCESS_TOKEN_REVOKED = "access_token.revoked", "A client revoked one of its access tokens before it expired (RFC 7009).",
        ["client_id", "jti"], [];
    MAIL_REPLAYED = "mail.replayed", "An admin put a dead-lettered mail back in the queue (subject `mail:<id>`).",
        ["mail_id", "template"], [];
    SESSION_CREATED = "session.created", "A customer signed in: a session began.",
        ["identity_id", "session_id", "aal", "amr"], ["ip", "user_agent"];
    SESSION_REVOKED = "session.revoked",
        "Sessions ended before their time: one by its customer (or by an app's logout request, `by` app, naming `client_id`), all of an identity by an admin, or all of them for a reason (a password change, a suspension).",
        ["identity_id", "session_id", "count", "by", "reason", "client_id"], [];
    FLOW_STARTED = "flow.started", "A journey began (sign-in, sign-up, recovery, verification or settings).",
        ["flow_id", "kind", "channel", "state", "journey", "identity_id", "client_id"], [];
    FLOW_ADVANCED = "flow.advanced", "A journey moved from one step to the next.",
        ["flow_id", "kind", "channel", "state", "journey", "identity_id", "from", "to", "guard"], [];
    FLOW_FAILED = "flow.failed", "A step was refused and the journey stayed where it was; `reason` says why, `guard` what the guard decided.",
        ["flow_id", "kind", "channel", "state", "journey", "identity_id", "reason", "guard"], [];
    FLOW_SAVED = "flow.saved", "A settings page saved a change and stays open (not a failure).",
        ["flow_id", "kind", "channel", "state", "journey", "identity_id", "guard"], [];
    FLOW_SUCCEEDED = "flow.succeeded", "A journey finished: signed in (with the ids of the `methods` that proved it), done without a session, or an app's profile step done within the browser's session, which it kept (`session: kept`, `session_id`).",
        ["flow_id", "kind", "channel", "state", "journey", "identity_id", "methods", "session", "session_id", "guard"], [];
    FLOW_EXPIRED = "flow.expired", "A journey was opened again after its time ran out and was restarted.",
        ["flow_id", "kind", "channel", "state", "journey", "identity_id"], [];
    FLOW_ABANDONED = "flow.abandoned", "A journey expired untouched and was swept.",
        ["flow_id", "kind", "channel", "state", "journey", "identity_id"], [];
}

/// The kind with this name.
pub fn by_name(name: &str) -> Option<&'static EventKind> {
    CATALOGUE.iter().copied().find(|k| k.name == name)
}

/// The catalogue as `docs/events.md` holds it.
pub fn render_markdown() -> String {
    let mut s = String::from(
        "# Events\n\n\
         Every change Tessera makes writes one event in the same transaction. Names are \
         `noun.past_tense_verb` and never change meaning once shipped. The clear fields are readable with \
         `event:read`; the sealed fields are personal data, sealed with the identity's own key and \
         unreadable once the identity is erased. Every flow event carries the journey (`kind`, and \
         `journey`: the variant a pilot assigns), the step (`state`) and, when refused, `reason`: enough \
         for a funnel.\n\n\
         Generated from `crates/tessera-model/src/event_kinds.rs`; a test fails when the two differ.\n\n\
         | Event | Meaning | Clear fields | Sealed fields |\n|---|---|---|---|\n",
    );
    let list = |f: &[&str]| {
        if f.is_empty() {
            "—".to_owned()
        } else {
            f.iter()
                .map(|x| format!("`{x}`"))
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    for k in CATALOGUE {
        s.push_str(&format!(
            "| `{}` | {} | {} | {} |\n",
            k.name,
            k.meaning,
            list(k.clear),
            list(k.sealed)
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_shaped_noun_dot_verb() {
        let mut seen = std::collections::HashSet::new();
        for k in CATALOGUE {
            assert!(seen.insert(k.name), "{} twice", k.name);
            let (noun, verb) = k.name.split_once('.').unwrap_or_default();
            assert!(
                !noun.is_empty()
                    && !verb.is_empty()
                    && k.name
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c == '_' || c == '.'),
                "{}",
                k.name
            );
        }
    }

    #[test]
    fn docs_events_md_is_the_catalogue() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/events.md");
        if std::env::var_os("TESSERA_BLESS").is_some() {
            std::fs::write(path, render_markdown()).unwrap();
        }
        let on_disk = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            on_disk == render_markdown(),
            "docs/events.md is out of step with the catalogue: run this test with TESSERA_BLESS=1"
        );
    }
}
