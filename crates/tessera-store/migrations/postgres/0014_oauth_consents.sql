-- Consents customers gave to third-party apps (PostgreSQL). Keep in step with sqlite/0014_oauth_consents.sql.
--
-- One row per (identity, client): the scopes the customer allowed that app to have, space-separated, the
-- union of every consent given. A request for scopes all in here skips the consent page; a new scope asks
-- again. Deleting the row (the customer's settings, the admin API) withdraws the consent, and the core
-- revokes the client's refresh-token families for the identity in the same transaction (CON-02). Deleting a
-- client deletes its rows, so an app registered later under the same id inherits no consent.
CREATE TABLE oauth_consents (
    tenant_id UUID NOT NULL REFERENCES tenants(id),
    identity_id UUID NOT NULL REFERENCES identities(id),
    client_id TEXT NOT NULL,
    scopes TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, identity_id, client_id)
);
