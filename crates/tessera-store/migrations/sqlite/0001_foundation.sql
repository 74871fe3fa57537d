-- Foundation schema (SQLite). Timestamps are INTEGER microseconds since the Unix epoch (UTC), ids are
-- 16-byte UUIDv7 BLOBs, JSON is TEXT. Keep every table and column in step with postgres/0001_foundation.sql.

CREATE TABLE instance_meta (
    key TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);

CREATE TABLE tenants (
    id BLOB PRIMARY KEY NOT NULL,
    slug TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    version INTEGER NOT NULL
);

CREATE TABLE identities (
    id BLOB PRIMARY KEY NOT NULL,
    tenant_id BLOB NOT NULL REFERENCES tenants(id),
    state TEXT NOT NULL,
    attributes TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    version INTEGER NOT NULL
);
CREATE INDEX identities_by_tenant ON identities(tenant_id, id);
CREATE INDEX identities_by_state ON identities(tenant_id, state, id);

CREATE TABLE identifiers (
    tenant_id BLOB NOT NULL REFERENCES tenants(id),
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    identity_id BLOB NOT NULL REFERENCES identities(id),
    verified INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, kind, value)
);
CREATE INDEX identifiers_by_identity ON identifiers(identity_id);

CREATE TABLE identity_keys (
    identity_id BLOB PRIMARY KEY NOT NULL,
    tenant_id BLOB NOT NULL REFERENCES tenants(id),
    wrapped_key BLOB,
    created_at INTEGER NOT NULL,
    destroyed_at INTEGER
);

CREATE TABLE attribute_schemas (
    tenant_id BLOB PRIMARY KEY NOT NULL REFERENCES tenants(id),
    document TEXT NOT NULL,
    version INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE organizations (
    id BLOB PRIMARY KEY NOT NULL,
    tenant_id BLOB NOT NULL REFERENCES tenants(id),
    name TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    version INTEGER NOT NULL,
    UNIQUE (tenant_id, name)
);

CREATE TABLE organization_domains (
    tenant_id BLOB NOT NULL REFERENCES tenants(id),
    domain TEXT NOT NULL,
    organization_id BLOB NOT NULL REFERENCES organizations(id),
    PRIMARY KEY (tenant_id, domain)
);
CREATE INDEX organization_domains_by_org ON organization_domains(organization_id);

CREATE TABLE organization_members (
    organization_id BLOB NOT NULL REFERENCES organizations(id),
    identity_id BLOB NOT NULL REFERENCES identities(id),
    tenant_id BLOB NOT NULL REFERENCES tenants(id),
    roles TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (organization_id, identity_id)
);
CREATE INDEX organization_members_by_identity ON organization_members(identity_id);

CREATE TABLE policies (
    tenant_id BLOB NOT NULL REFERENCES tenants(id),
    scope TEXT NOT NULL,
    version INTEGER NOT NULL,
    document TEXT NOT NULL,
    author TEXT NOT NULL,
    reason TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, scope, version)
);

CREATE TABLE api_keys (
    id BLOB PRIMARY KEY NOT NULL,
    tenant_id BLOB REFERENCES tenants(id),
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    secret_hash BLOB NOT NULL UNIQUE,
    display_prefix TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    created_by TEXT NOT NULL,
    expires_at INTEGER,
    revoked_at INTEGER
);
CREATE UNIQUE INDEX api_keys_live_name ON api_keys(name) WHERE revoked_at IS NULL;

CREATE TABLE events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id BLOB NOT NULL UNIQUE,
    tenant_id BLOB NOT NULL REFERENCES tenants(id),
    type TEXT NOT NULL,
    subject TEXT NOT NULL,
    actor TEXT NOT NULL,
    request_id TEXT,
    occurred_at INTEGER NOT NULL,
    data TEXT NOT NULL,
    sealed BLOB,
    sealed_for BLOB,
    hash BLOB NOT NULL
);
CREATE INDEX events_by_tenant ON events(tenant_id, seq);
CREATE INDEX events_by_subject ON events(tenant_id, subject, seq);
CREATE INDEX events_by_type ON events(tenant_id, type, seq);
CREATE INDEX events_by_time ON events(tenant_id, occurred_at);

CREATE TABLE audit_checkpoints (
    tenant_id BLOB NOT NULL REFERENCES tenants(id),
    after_seq INTEGER NOT NULL,
    upto_seq INTEGER NOT NULL,
    event_count INTEGER NOT NULL,
    digest BLOB NOT NULL,
    prev_digest BLOB NOT NULL,
    mac BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, after_seq)
);
