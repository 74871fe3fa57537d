-- The device authorization grant (RFC 8628) (SQLite). Keep in step with
-- postgres/0018_device_grant.sql.
--
-- `oauth_device_grants`: one device authorization request of a client. The device code and the user code
-- are stored only as keyed hashes (the user code normalised: upper case, letters only). `status` goes
-- pending -> approved or denied (by the signed-in customer on the hosted device page) -> redeemed (by the
-- one poll that got the tokens, one conditional UPDATE). `polls` versions the polling state
-- (`last_polled_at`, `interval_secs`, raised by 5 s on each `slow_down`) for a compare-and-swap.
CREATE TABLE oauth_device_grants (
    id BLOB PRIMARY KEY,
    tenant_id BLOB NOT NULL REFERENCES tenants(id),
    client_id TEXT NOT NULL,
    device_code_hash BLOB NOT NULL UNIQUE,
    user_code_hash BLOB NOT NULL,
    scopes TEXT NOT NULL,
    status TEXT NOT NULL,
    interval_secs INTEGER NOT NULL,
    polls INTEGER NOT NULL,
    last_polled_at INTEGER,
    identity_id BLOB,
    session_id BLOB,
    auth_time INTEGER,
    acr TEXT,
    amr TEXT,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    decided_at INTEGER
);
CREATE UNIQUE INDEX oauth_device_grants_user_code ON oauth_device_grants(tenant_id, user_code_hash);
CREATE INDEX oauth_device_grants_expiry ON oauth_device_grants(expires_at);
