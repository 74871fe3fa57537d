-- The authorization code flow's state (SQLite). Keep in step with postgres/0011_oauth_authorization.sql.
--
-- `oauth_authorization_requests`: a validated authorization request, kept while the customer signs in,
-- bound to the browser that made it (`binding_hash`, a keyed hash of its flow-binding cookie) so a
-- continue URL copied elsewhere does nothing. `request` is the typed request as JSON. It is consumed
-- (`consumed_at`) by the one code it leads to.
CREATE TABLE oauth_authorization_requests (
    id BLOB PRIMARY KEY,
    tenant_id BLOB NOT NULL REFERENCES tenants(id),
    client_id TEXT NOT NULL,
    binding_hash BLOB NOT NULL,
    request TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    consumed_at INTEGER
);
CREATE INDEX oauth_authorization_requests_expiry ON oauth_authorization_requests(expires_at);

-- `oauth_codes`: authorization codes, stored only as keyed hashes, single use (`used_at`, set by one
-- conditional UPDATE), bound to client, redirect URI, PKCE challenge, nonce, identity and session. What
-- the redemption issued (`access_token_jti`, its expiry, `refresh_family`) is recorded so a second
-- presentation (`reused_at`) can revoke it (OA-04).
CREATE TABLE oauth_codes (
    code_hash BLOB PRIMARY KEY,
    tenant_id BLOB NOT NULL REFERENCES tenants(id),
    client_id TEXT NOT NULL,
    identity_id BLOB NOT NULL,
    session_id BLOB NOT NULL,
    redirect_uri TEXT NOT NULL,
    code_challenge TEXT,
    nonce TEXT,
    scopes TEXT NOT NULL,
    auth_time INTEGER NOT NULL,
    amr TEXT NOT NULL,
    acr TEXT,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at INTEGER,
    reused_at INTEGER,
    access_token_jti TEXT,
    access_token_expires_at INTEGER,
    refresh_family TEXT
);
CREATE INDEX oauth_codes_expiry ON oauth_codes(expires_at);
