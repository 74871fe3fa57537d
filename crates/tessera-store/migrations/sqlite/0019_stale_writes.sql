-- Where a write queued behind a transaction is refused when it changed another number of rows than it
-- had to (an update guarded by a version that someone else moved on): the check offers this table a
-- row, the constraint refuses it, and the transaction commits nothing. The table stays empty.
CREATE TABLE stale_writes (
    tbl TEXT,
    CONSTRAINT stale_write CHECK (tbl IS NULL)
);
