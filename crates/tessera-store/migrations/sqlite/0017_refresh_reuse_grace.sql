-- The refresh reuse grace (SQLite). Keep in step with postgres/0017_refresh_reuse_grace.sql.
--
-- For a client with a grace window (OA-11), a spent refresh token keeps, until `grace_until`, the answer
-- its refresh gave (`grace_answer`: the successor and the access token, sealed and bound to this token's
-- hash), so one racing request presenting it again gets the same successor. Taking the answer marks it
-- taken (`grace_taken_at`): at most one reuse. The sweep erases answers whose grace has passed.
ALTER TABLE oauth_refresh_tokens ADD COLUMN grace_until INTEGER;
ALTER TABLE oauth_refresh_tokens ADD COLUMN grace_answer BLOB;
ALTER TABLE oauth_refresh_tokens ADD COLUMN grace_taken_at INTEGER;
CREATE INDEX oauth_refresh_tokens_grace ON oauth_refresh_tokens(grace_until) WHERE grace_answer IS NOT NULL;
