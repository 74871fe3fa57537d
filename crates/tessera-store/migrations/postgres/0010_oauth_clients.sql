-- OAuth 2.0 / OpenID Connect clients (PostgreSQL). Keep in step with sqlite/0010_oauth_clients.sql.
--
-- A client's registration is one JSON document (`tessera_model::oauth_client::OAuthClient` without its
-- tenant, id, times and version), read and checked as a whole by the core. The secret Tessera generated is
-- kept only as a keyed hash (`secret_hash`); during a rotation the previous one stays valid until
-- `previous_secret_expires_at`, so a deployment can roll the new secret out without downtime.
CREATE TABLE oauth_clients (
    tenant_id UUID NOT NULL REFERENCES tenants(id),
    client_id TEXT NOT NULL,
    data JSONB NOT NULL,
    secret_hash BYTEA,
    previous_secret_hash BYTEA,
    previous_secret_expires_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    version BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, client_id)
);

-- Each `jti` of a client's assertion (private_key_jwt) is accepted once until it expires (RFC 7523 §3).
CREATE TABLE oauth_client_jtis (
    tenant_id UUID NOT NULL,
    client_id TEXT NOT NULL,
    jti TEXT NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, client_id, jti)
);
CREATE INDEX oauth_client_jtis_expiry ON oauth_client_jtis(expires_at);

-- Access tokens revoked before they expire (RFC 7009), by `jti`, kept until their expiry.
CREATE TABLE oauth_revoked_tokens (
    tenant_id UUID NOT NULL,
    jti TEXT NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, jti)
);
CREATE INDEX oauth_revoked_tokens_expiry ON oauth_revoked_tokens(expires_at);
