-- The session that asked for a code (an email change): confirming needs it still alive (REC-02).
ALTER TABLE one_time_codes ADD COLUMN session_id BLOB;
