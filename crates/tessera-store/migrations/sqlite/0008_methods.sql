-- Sign-in methods as plug-ins (SQLite). Keep in step with postgres/0008_methods.sql.
--
-- Credentials get an id of their own, so an identity can hold any number of one kind (passkeys). `handle`
-- tells credentials of one kind of one identity apart: empty for a kind held once (the password), the
-- authenticator's own credential id for a passkey; it is unique per identity and kind. `data` is the
-- kind's typed data as JSON (the password's PHC string), read by the method that owns the kind.
CREATE TABLE credentials_v8 (
    id BLOB PRIMARY KEY,
    identity_id BLOB NOT NULL REFERENCES identities(id),
    tenant_id BLOB NOT NULL REFERENCES tenants(id),
    kind TEXT NOT NULL,
    handle TEXT NOT NULL,
    data TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    last_used_at INTEGER
);
INSERT INTO credentials_v8 (id, identity_id, tenant_id, kind, handle, data, created_at, updated_at, last_used_at)
    SELECT randomblob(16), identity_id, tenant_id, kind, '', json_object('phc', secret), created_at, updated_at, NULL
    FROM credentials;
DROP TABLE credentials;
ALTER TABLE credentials_v8 RENAME TO credentials;
CREATE UNIQUE INDEX credentials_by_identity ON credentials(identity_id, kind, handle);

-- When each method was last proven in a session (method id -> time, JSON), for step-up and `auth_time`.
ALTER TABLE sessions ADD COLUMN factors TEXT NOT NULL DEFAULT '{}';

-- The assurance level the flow must reach before it signs anyone in.
ALTER TABLE flows ADD COLUMN requested_aal INTEGER NOT NULL DEFAULT 1;

-- Bumped by everything that ends an identity's sessions or voids its codes (a password change, a revoke, an
-- email change, a freeze): a sign-in parked between two steps checks it did not move before it signs in.
ALTER TABLE identities ADD COLUMN security_stamp INTEGER NOT NULL DEFAULT 0;
