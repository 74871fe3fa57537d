-- Sign-in methods as plug-ins (PostgreSQL). Keep in step with sqlite/0008_methods.sql.
--
-- Credentials get an id of their own, so an identity can hold any number of one kind (passkeys). `handle`
-- tells credentials of one kind of one identity apart: empty for a kind held once (the password), the
-- authenticator's own credential id for a passkey; it is unique per identity and kind. `data` is the
-- kind's typed data as JSON (the password's PHC string), read by the method that owns the kind.
ALTER TABLE credentials DROP CONSTRAINT credentials_pkey;
ALTER TABLE credentials ADD COLUMN id UUID NOT NULL DEFAULT gen_random_uuid();
ALTER TABLE credentials ALTER COLUMN id DROP DEFAULT;
ALTER TABLE credentials ADD PRIMARY KEY (id);
ALTER TABLE credentials ADD COLUMN handle TEXT NOT NULL DEFAULT '';
ALTER TABLE credentials ALTER COLUMN handle DROP DEFAULT;
ALTER TABLE credentials ADD COLUMN data TEXT;
UPDATE credentials SET data = json_build_object('phc', secret)::text;
ALTER TABLE credentials ALTER COLUMN data SET NOT NULL;
ALTER TABLE credentials DROP COLUMN secret;
ALTER TABLE credentials ADD COLUMN last_used_at TIMESTAMPTZ;
CREATE UNIQUE INDEX credentials_by_identity ON credentials(identity_id, kind, handle);

-- When each method was last proven in a session (method id -> time, JSON), for step-up and `auth_time`.
ALTER TABLE sessions ADD COLUMN factors TEXT NOT NULL DEFAULT '{}';

-- The assurance level the flow must reach before it signs anyone in.
ALTER TABLE flows ADD COLUMN requested_aal BIGINT NOT NULL DEFAULT 1;

-- Bumped by everything that ends an identity's sessions or voids its codes (a password change, a revoke, an
-- email change, a freeze): a sign-in parked between two steps checks it did not move before it signs in.
ALTER TABLE identities ADD COLUMN security_stamp BIGINT NOT NULL DEFAULT 0;
