-- The PostgreSQL twin of migrations/sqlite/0002_platform.sql.

-- Platform records (IP whitelists, quota limits, third-party platform state): small JSON
-- documents under namespaced keys, versioned for compare-and-swap. `expires_at` (Unix
-- seconds, NULL: never) makes a record read as absent once passed.
CREATE TABLE platform_records (
    key         TEXT PRIMARY KEY,
    value       TEXT NOT NULL,
    version     BIGINT NOT NULL,
    expires_at  BIGINT
);

-- API call counts per app and API, for the daily (45009) and per-minute (45011) quotas.
-- `day` is the Beijing day number, `minute` the Unix minute the count belongs to. One row
-- per (app, API), updated in place by an atomic upsert, so every node counts together.
CREATE TABLE call_counts (
    appid         TEXT NOT NULL,
    api           TEXT NOT NULL,
    day           BIGINT NOT NULL,
    day_count     BIGINT NOT NULL,
    minute        BIGINT NOT NULL,
    minute_count  BIGINT NOT NULL,
    PRIMARY KEY (appid, api)
);
