-- Flows, credentials, one-time codes, sessions, throttling, the mail outbox, acceptances of terms, and the
-- record of progressively collected attributes (PostgreSQL). Keep in step with sqlite/0002_flows_sessions.sql.

CREATE TABLE credentials (
    identity_id UUID NOT NULL REFERENCES identities(id),
    tenant_id UUID NOT NULL REFERENCES tenants(id),
    kind TEXT NOT NULL,
    secret TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (identity_id, kind)
);

CREATE TABLE flows (
    id UUID PRIMARY KEY NOT NULL,
    tenant_id UUID NOT NULL REFERENCES tenants(id),
    kind TEXT NOT NULL,
    channel TEXT NOT NULL,
    state TEXT NOT NULL,
    csrf_token TEXT NOT NULL,
    browser_binding BYTEA,
    return_to TEXT,
    client_id TEXT,
    journey TEXT NOT NULL,
    locale TEXT,
    identity_id UUID,
    ui TEXT NOT NULL,
    internal TEXT NOT NULL,
    issued_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    version BIGINT NOT NULL
);
CREATE INDEX flows_by_expiry ON flows(expires_at);

CREATE TABLE one_time_codes (
    id UUID PRIMARY KEY NOT NULL,
    tenant_id UUID NOT NULL REFERENCES tenants(id),
    identity_id UUID,
    flow_id UUID,
    purpose TEXT NOT NULL,
    target TEXT NOT NULL,
    code_hash BYTEA NOT NULL,
    link_hash BYTEA NOT NULL UNIQUE,
    attempts BIGINT NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    consumed_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX one_time_codes_by_flow ON one_time_codes(flow_id);
CREATE INDEX one_time_codes_by_identity ON one_time_codes(identity_id, purpose);

CREATE TABLE sessions (
    id UUID PRIMARY KEY NOT NULL,
    token_hash BYTEA NOT NULL UNIQUE,
    tenant_id UUID NOT NULL REFERENCES tenants(id),
    identity_id UUID NOT NULL REFERENCES identities(id),
    aal BIGINT NOT NULL,
    amr TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    authenticated_at TIMESTAMPTZ NOT NULL,
    last_seen_at TIMESTAMPTZ NOT NULL,
    idle_expires_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    revoked_at TIMESTAMPTZ,
    user_agent TEXT,
    ip TEXT
);
CREATE INDEX sessions_by_identity ON sessions(identity_id);

CREATE TABLE throttles (
    key TEXT PRIMARY KEY NOT NULL,
    failures BIGINT NOT NULL,
    last_failure_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE mail_outbox (
    id UUID PRIMARY KEY NOT NULL,
    tenant_id UUID NOT NULL REFERENCES tenants(id),
    to_address TEXT NOT NULL,
    template TEXT NOT NULL,
    locale TEXT NOT NULL,
    vars TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    sent_at TIMESTAMPTZ,
    attempts BIGINT NOT NULL,
    last_error TEXT
);
CREATE INDEX mail_outbox_unsent ON mail_outbox(sent_at, created_at);

CREATE TABLE acceptances (
    identity_id UUID NOT NULL REFERENCES identities(id),
    tenant_id UUID NOT NULL REFERENCES tenants(id),
    document TEXT NOT NULL,
    version TEXT NOT NULL,
    accepted_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (identity_id, document, version)
);

CREATE TABLE attribute_collections (
    identity_id UUID NOT NULL REFERENCES identities(id),
    tenant_id UUID NOT NULL REFERENCES tenants(id),
    attribute TEXT NOT NULL,
    client_id TEXT NOT NULL,
    purpose TEXT NOT NULL,
    collected_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (identity_id, attribute)
);

-- Identifiers of a set of identities are read together (lists, gets); without this index SQLite may scan a tenant.
CREATE INDEX identifiers_by_tenant_identity ON identifiers(tenant_id, identity_id);
