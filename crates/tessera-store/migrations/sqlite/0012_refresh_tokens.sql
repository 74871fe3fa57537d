-- OAuth refresh tokens in families (SQLite). Keep in step with postgres/0012_refresh_tokens.sql.
--
-- A family is one grant: the sign-in (or offline grant) a client got tokens from. Every use of a refresh
-- token spends it (`spent_at`) and adds its successor to the same family; a spent token presented again
-- revokes the family (`revoked_at`), so a stolen token and the real one cannot both go on (OA-10). A
-- family bound to an SSO session (`offline` false) dies with it; `expires_at` is its absolute lifetime.
-- Tokens are stored only as their keyed hash. `access_jti` is the access token minted with a token, so
-- revoking the family can revoke it too.
CREATE TABLE oauth_refresh_families (
    id BLOB PRIMARY KEY NOT NULL,
    tenant_id BLOB NOT NULL REFERENCES tenants(id),
    client_id TEXT NOT NULL,
    identity_id BLOB NOT NULL REFERENCES identities(id),
    session_id BLOB,
    offline INTEGER NOT NULL,
    auth_time INTEGER,
    acr TEXT,
    amr TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    revoked_at INTEGER,
    revoked_reason TEXT
);
CREATE INDEX oauth_refresh_families_by_identity ON oauth_refresh_families(identity_id);
CREATE INDEX oauth_refresh_families_by_session ON oauth_refresh_families(session_id);

CREATE TABLE oauth_refresh_tokens (
    token_hash BLOB PRIMARY KEY NOT NULL,
    family_id BLOB NOT NULL REFERENCES oauth_refresh_families(id),
    scopes TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    spent_at INTEGER,
    access_jti TEXT,
    access_expires_at INTEGER
);
CREATE INDEX oauth_refresh_tokens_by_family ON oauth_refresh_tokens(family_id);
