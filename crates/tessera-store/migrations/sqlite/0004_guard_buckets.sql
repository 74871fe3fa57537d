-- The guard's counters (SQLite). Keep in step with postgres/0004_guard_buckets.sql.
--
-- One row per bucket: an account (keyed hash of the normalised identifier), a client address block, or a
-- deployment-wide quota. The row carries its rule (`free` hits, `window_us`, `quota`), so one conditional
-- upsert can reserve an attempt in several buckets at once. Times are plain microseconds on both engines:
-- the reserving statement does arithmetic on them.
DROP TABLE throttles;

CREATE TABLE guard_buckets (
    key TEXT PRIMARY KEY NOT NULL,
    -- Hits before the bucket holds attempts back.
    free INTEGER NOT NULL,
    -- Progressive buckets forget this long after their last hit; quotas count per window of this length.
    window_us INTEGER NOT NULL,
    -- 1: a quota (refused until the window ends); 0: progressive delays (2^n seconds, capped).
    quota INTEGER NOT NULL,
    hits INTEGER NOT NULL,
    -- Start of the window: the last hit for progressive buckets, the first for quotas.
    started_us INTEGER NOT NULL,
    -- No attempt is let through before this time.
    next_us INTEGER NOT NULL
);
