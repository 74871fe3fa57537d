-- API flows are driven with a secret given once to the app that started them, never with their id alone
-- (the id is in events and request logs). Only its keyed hash is kept (SQLite). Keep in step with
-- postgres/0004_flow_secret.sql.
ALTER TABLE flows ADD COLUMN secret_hash BLOB;
