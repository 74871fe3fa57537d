-- The mail outbox becomes a work queue of the worker framework (PostgreSQL). Keep in step with
-- sqlite/0007_mail_queue.sql.
--
-- A node claims due mails by writing its node id and a lease expiry on rows it locked with
-- `FOR UPDATE SKIP LOCKED`, so nodes never wait on each other's claims; an expired lease (the node died)
-- makes the mail claimable again. Each claim counts as an attempt. A failed attempt moves
-- `next_attempt_at` out by an exponential backoff with jitter; after the last attempt the mail is a dead
-- letter (`dead_at`) until an admin replays it. Mail to one recipient goes out in the order it was
-- queued: a mail is not claimed while an older one to the same address is still to be delivered.
ALTER TABLE mail_outbox ADD COLUMN next_attempt_at TIMESTAMPTZ;
ALTER TABLE mail_outbox ADD COLUMN lease_owner TEXT;
ALTER TABLE mail_outbox ADD COLUMN lease_until TIMESTAMPTZ;
ALTER TABLE mail_outbox ADD COLUMN dead_at TIMESTAMPTZ;
UPDATE mail_outbox SET next_attempt_at = created_at;
ALTER TABLE mail_outbox ALTER COLUMN next_attempt_at SET NOT NULL;
-- The old worker gave up after ten failures without saying so; those mails are dead letters now.
UPDATE mail_outbox SET dead_at = created_at WHERE sent_at IS NULL AND attempts >= 10;
DROP INDEX mail_outbox_unsent;
CREATE INDEX mail_outbox_due ON mail_outbox(next_attempt_at) WHERE sent_at IS NULL AND dead_at IS NULL;
CREATE INDEX mail_outbox_dead ON mail_outbox(tenant_id, id) WHERE dead_at IS NOT NULL AND sent_at IS NULL;
CREATE INDEX mail_outbox_recipient ON mail_outbox(tenant_id, to_address, id) WHERE sent_at IS NULL AND dead_at IS NULL;
