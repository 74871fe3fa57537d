-- Back-channel logout 1.0 (SQLite). Keep in step with postgres/0013_backchannel_logout.sql.
--
-- One row per (SSO session, client that got a code in it) for clients with a back-channel logout URI:
-- who must hear when the session ends. The row is also the notice's queue item: `next_attempt_at` is NULL
-- while the session lives and set when it ends; the worker claims due rows with a lease, counts
-- `attempts`, and marks them `done_at` (delivered, or nothing left to tell) or `dead_at` (given up).
CREATE TABLE oauth_session_clients (
    id BLOB PRIMARY KEY NOT NULL,
    session_id BLOB NOT NULL REFERENCES sessions(id),
    tenant_id BLOB NOT NULL REFERENCES tenants(id),
    client_id TEXT NOT NULL,
    identity_id BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    next_attempt_at INTEGER,
    attempts INTEGER NOT NULL DEFAULT 0,
    lease_owner TEXT,
    lease_until INTEGER,
    done_at INTEGER,
    dead_at INTEGER,
    last_error TEXT,
    UNIQUE (session_id, client_id)
);
CREATE INDEX oauth_session_clients_due ON oauth_session_clients(next_attempt_at);
