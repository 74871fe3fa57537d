-- Each tenant's token-signing keys (PostgreSQL). Keep in step with sqlite/0009_signing_keys.sql.
--
-- One row per key: `state` is next, active, retiring or retired (tessera_model::signing_key). The PKCS#8
-- private key is sealed with a key derived from the master key, bound to the tenant and kid, and wiped
-- (NULL) once the key is retired. `public_jwk` is what the JWKS publishes. The partial unique indexes hold
-- at most one active and one next key per tenant and algorithm, whatever two nodes rotating at once do.
CREATE TABLE signing_keys (
    tenant_id UUID NOT NULL REFERENCES tenants(id),
    kid TEXT NOT NULL,
    alg TEXT NOT NULL,
    state TEXT NOT NULL,
    private_key BYTEA,
    public_jwk TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    activated_at TIMESTAMPTZ,
    retiring_at TIMESTAMPTZ,
    retired_at TIMESTAMPTZ,
    PRIMARY KEY (tenant_id, kid)
);
CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys(tenant_id, alg) WHERE state = 'active';
CREATE UNIQUE INDEX signing_keys_one_next ON signing_keys(tenant_id, alg) WHERE state = 'next';
