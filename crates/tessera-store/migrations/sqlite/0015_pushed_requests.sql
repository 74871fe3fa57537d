-- Pushed authorization requests (SQLite). Keep in step with
-- postgres/0015_pushed_requests.sql.
--
-- `oauth_pushed_requests`: a request a client pushed (RFC 9126), validated like any authorization request
-- and stored as the core's typed request in JSON. Looked up by a keyed hash of the random part of its
-- `request_uri`, bound to the client that pushed it, short-lived, and used once (`used_at`, set by one
-- conditional UPDATE) (OA-21).
CREATE TABLE oauth_pushed_requests (
    handle_hash BLOB PRIMARY KEY,
    tenant_id BLOB NOT NULL REFERENCES tenants(id),
    client_id TEXT NOT NULL,
    request TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at INTEGER
);
CREATE INDEX oauth_pushed_requests_expiry ON oauth_pushed_requests(expires_at);
