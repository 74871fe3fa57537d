-- A queued mail that carries a one-time code expires with the code: if it is still unsent by then, it is
-- never sent and its variables (the code and link) are scrubbed.
ALTER TABLE mail_outbox ADD COLUMN expires_at INTEGER;
