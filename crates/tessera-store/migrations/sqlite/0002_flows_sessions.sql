-- Flows, credentials, one-time codes, sessions, throttling, the mail outbox, acceptances of terms, and the
-- record of progressively collected attributes (SQLite). Keep in step with postgres/0002_flows_sessions.sql.

CREATE TABLE credentials (
    identity_id BLOB NOT NULL REFERENCES identities(id),
    tenant_id BLOB NOT NULL REFERENCES tenants(id),
    kind TEXT NOT NULL,
    secret TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (identity_id, kind)
);

CREATE TABLE flows (
    id BLOB PRIMARY KEY NOT NULL,
    tenant_id BLOB NOT NULL REFERENCES tenants(id),
    kind TEXT NOT NULL,
    channel TEXT NOT NULL,
    state TEXT NOT NULL,
    csrf_token TEXT NOT NULL,
    browser_binding BLOB,
    return_to TEXT,
    client_id TEXT,
    journey TEXT NOT NULL,
    locale TEXT,
    identity_id BLOB,
    ui TEXT NOT NULL,
    internal TEXT NOT NULL,
    issued_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    version INTEGER NOT NULL
);
CREATE INDEX flows_by_expiry ON flows(expires_at);

CREATE TABLE one_time_codes (
    id BLOB PRIMARY KEY NOT NULL,
    tenant_id BLOB NOT NULL REFERENCES tenants(id),
    identity_id BLOB,
    flow_id BLOB,
    purpose TEXT NOT NULL,
    target TEXT NOT NULL,
    code_hash BLOB NOT NULL,
    link_hash BLOB NOT NULL UNIQUE,
    attempts INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    consumed_at INTEGER,
    created_at INTEGER NOT NULL
);
CREATE INDEX one_time_codes_by_flow ON one_time_codes(flow_id);
CREATE INDEX one_time_codes_by_identity ON one_time_codes(identity_id, purpose);

CREATE TABLE sessions (
    id BLOB PRIMARY KEY NOT NULL,
    token_hash BLOB NOT NULL UNIQUE,
    tenant_id BLOB NOT NULL REFERENCES tenants(id),
    identity_id BLOB NOT NULL REFERENCES identities(id),
    aal INTEGER NOT NULL,
    amr TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    authenticated_at INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    idle_expires_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    revoked_at INTEGER,
    user_agent TEXT,
    ip TEXT
);
CREATE INDEX sessions_by_identity ON sessions(identity_id);

CREATE TABLE throttles (
    key TEXT PRIMARY KEY NOT NULL,
    failures INTEGER NOT NULL,
    last_failure_at INTEGER NOT NULL
);

CREATE TABLE mail_outbox (
    id BLOB PRIMARY KEY NOT NULL,
    tenant_id BLOB NOT NULL REFERENCES tenants(id),
    to_address TEXT NOT NULL,
    template TEXT NOT NULL,
    locale TEXT NOT NULL,
    vars TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    sent_at INTEGER,
    attempts INTEGER NOT NULL,
    last_error TEXT
);
CREATE INDEX mail_outbox_unsent ON mail_outbox(sent_at, created_at);

CREATE TABLE acceptances (
    identity_id BLOB NOT NULL REFERENCES identities(id),
    tenant_id BLOB NOT NULL REFERENCES tenants(id),
    document TEXT NOT NULL,
    version TEXT NOT NULL,
    accepted_at INTEGER NOT NULL,
    PRIMARY KEY (identity_id, document, version)
);

CREATE TABLE attribute_collections (
    identity_id BLOB NOT NULL REFERENCES identities(id),
    tenant_id BLOB NOT NULL REFERENCES tenants(id),
    attribute TEXT NOT NULL,
    client_id TEXT NOT NULL,
    purpose TEXT NOT NULL,
    collected_at INTEGER NOT NULL,
    PRIMARY KEY (identity_id, attribute)
);

-- Identifiers of a set of identities are read together (lists, gets); without this index SQLite may scan a tenant.
CREATE INDEX identifiers_by_tenant_identity ON identifiers(tenant_id, identity_id);
