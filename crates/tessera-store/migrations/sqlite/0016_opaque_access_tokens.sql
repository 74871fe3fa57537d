-- Opaque access tokens (SQLite). Keep in step with postgres/0016_opaque_access_tokens.sql.
--
-- A client set to `access_token_format = "opaque"` gets a random access token instead of a JWT; what
-- the JWT would have said (`claims`, JSON) is kept here under the token's keyed hash, so the token
-- itself means nothing outside Tessera and is checked by lookup (userinfo, introspection). Revocation
-- goes through `oauth_revoked_tokens` by `jti` like a JWT's; a row is forgotten once it has expired.
CREATE TABLE oauth_access_tokens (
    token_hash BLOB PRIMARY KEY NOT NULL,
    tenant_id BLOB NOT NULL REFERENCES tenants(id),
    claims TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX oauth_access_tokens_expiry ON oauth_access_tokens(expires_at);
