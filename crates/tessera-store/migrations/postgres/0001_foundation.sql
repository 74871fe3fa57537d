-- Foundation schema (PostgreSQL). Timestamps are TIMESTAMPTZ, ids UUID, event data TEXT (its exact bytes are
-- hashed, and JSONB would reorder keys), attributes JSONB. Keep in step with sqlite/0001_foundation.sql.

CREATE TABLE instance_meta (
    key TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);

CREATE TABLE tenants (
    id UUID PRIMARY KEY NOT NULL,
    slug TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    version BIGINT NOT NULL
);

CREATE TABLE identities (
    id UUID PRIMARY KEY NOT NULL,
    tenant_id UUID NOT NULL REFERENCES tenants(id),
    state TEXT NOT NULL,
    attributes JSONB NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    version BIGINT NOT NULL
);
CREATE INDEX identities_by_tenant ON identities(tenant_id, id);
CREATE INDEX identities_by_state ON identities(tenant_id, state, id);

CREATE TABLE identifiers (
    tenant_id UUID NOT NULL REFERENCES tenants(id),
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    identity_id UUID NOT NULL REFERENCES identities(id),
    verified BOOLEAN NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, kind, value)
);
CREATE INDEX identifiers_by_identity ON identifiers(identity_id);

CREATE TABLE identity_keys (
    identity_id UUID PRIMARY KEY NOT NULL,
    tenant_id UUID NOT NULL REFERENCES tenants(id),
    wrapped_key BYTEA,
    created_at TIMESTAMPTZ NOT NULL,
    destroyed_at TIMESTAMPTZ
);

CREATE TABLE attribute_schemas (
    tenant_id UUID PRIMARY KEY NOT NULL REFERENCES tenants(id),
    document TEXT NOT NULL,
    version BIGINT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE organizations (
    id UUID PRIMARY KEY NOT NULL,
    tenant_id UUID NOT NULL REFERENCES tenants(id),
    name TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    version BIGINT NOT NULL,
    UNIQUE (tenant_id, name)
);

CREATE TABLE organization_domains (
    tenant_id UUID NOT NULL REFERENCES tenants(id),
    domain TEXT NOT NULL,
    organization_id UUID NOT NULL REFERENCES organizations(id),
    PRIMARY KEY (tenant_id, domain)
);
CREATE INDEX organization_domains_by_org ON organization_domains(organization_id);

CREATE TABLE organization_members (
    organization_id UUID NOT NULL REFERENCES organizations(id),
    identity_id UUID NOT NULL REFERENCES identities(id),
    tenant_id UUID NOT NULL REFERENCES tenants(id),
    roles TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (organization_id, identity_id)
);
CREATE INDEX organization_members_by_identity ON organization_members(identity_id);

CREATE TABLE policies (
    tenant_id UUID NOT NULL REFERENCES tenants(id),
    scope TEXT NOT NULL,
    version BIGINT NOT NULL,
    document TEXT NOT NULL,
    author TEXT NOT NULL,
    reason TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, scope, version)
);

CREATE TABLE api_keys (
    id UUID PRIMARY KEY NOT NULL,
    tenant_id UUID REFERENCES tenants(id),
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    secret_hash BYTEA NOT NULL UNIQUE,
    display_prefix TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    created_by TEXT NOT NULL,
    expires_at TIMESTAMPTZ,
    revoked_at TIMESTAMPTZ
);
CREATE UNIQUE INDEX api_keys_live_name ON api_keys(name) WHERE revoked_at IS NULL;

CREATE TABLE events (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id UUID NOT NULL UNIQUE,
    tenant_id UUID NOT NULL REFERENCES tenants(id),
    type TEXT NOT NULL,
    subject TEXT NOT NULL,
    actor TEXT NOT NULL,
    request_id TEXT,
    occurred_at TIMESTAMPTZ NOT NULL,
    data TEXT NOT NULL,
    sealed BYTEA,
    sealed_for UUID,
    hash BYTEA NOT NULL
);
CREATE INDEX events_by_tenant ON events(tenant_id, seq);
CREATE INDEX events_by_subject ON events(tenant_id, subject, seq);
CREATE INDEX events_by_type ON events(tenant_id, type, seq);
CREATE INDEX events_by_time ON events(tenant_id, occurred_at);

CREATE TABLE audit_checkpoints (
    tenant_id UUID NOT NULL REFERENCES tenants(id),
    after_seq BIGINT NOT NULL,
    upto_seq BIGINT NOT NULL,
    event_count BIGINT NOT NULL,
    digest BYTEA NOT NULL,
    prev_digest BYTEA NOT NULL,
    mac BYTEA NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, after_seq)
);
