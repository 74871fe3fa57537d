-- OAuth refresh tokens in families (PostgreSQL). Keep in step with sqlite/0012_refresh_tokens.sql.
--
-- A family is one grant: the sign-in (or offline grant) a client got tokens from. Every use of a refresh
-- token spends it (`spent_at`) and adds its successor to the same family; a spent token presented again
-- revokes the family (`revoked_at`), so a stolen token and the real one cannot both go on (OA-10). A
-- family bound to an SSO session (`offline` false) dies with it; `expires_at` is its absolute lifetime.
-- Tokens are stored only as their keyed hash. `access_jti` is the access token minted with a token, so
-- revoking the family can revoke it too.
CREATE TABLE oauth_refresh_families (
    id UUID PRIMARY KEY NOT NULL,
    tenant_id UUID NOT NULL REFERENCES tenants(id),
    client_id TEXT NOT NULL,
    identity_id UUID NOT NULL REFERENCES identities(id),
    session_id UUID,
    offline BOOLEAN NOT NULL,
    auth_time TIMESTAMPTZ,
    acr TEXT,
    amr TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    revoked_at TIMESTAMPTZ,
    revoked_reason TEXT
);
CREATE INDEX oauth_refresh_families_by_identity ON oauth_refresh_families(identity_id);
CREATE INDEX oauth_refresh_families_by_session ON oauth_refresh_families(session_id);

CREATE TABLE oauth_refresh_tokens (
    token_hash BYTEA PRIMARY KEY NOT NULL,
    family_id UUID NOT NULL REFERENCES oauth_refresh_families(id),
    scopes TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    spent_at TIMESTAMPTZ,
    access_jti TEXT,
    access_expires_at TIMESTAMPTZ
);
CREATE INDEX oauth_refresh_tokens_by_family ON oauth_refresh_tokens(family_id);
