-- Platform records (IP whitelists, quota limits, third-party platform state): small JSON
-- documents under namespaced keys, versioned for compare-and-swap. `expires_at` (Unix
-- seconds, NULL: never) makes a record read as absent once passed.
CREATE TABLE platform_records (
    key         TEXT PRIMARY KEY,
    value       TEXT NOT NULL,
    version     INTEGER NOT NULL,
    expires_at  INTEGER
);

-- API call counts per app and API, for the daily (45009) and per-minute (45011) quotas.
-- `day` is the Beijing day number, `minute` the Unix minute the count belongs to.
CREATE TABLE call_counts (
    appid         TEXT NOT NULL,
    api           TEXT NOT NULL,
    day           INTEGER NOT NULL,
    day_count     INTEGER NOT NULL,
    minute        INTEGER NOT NULL,
    minute_count  INTEGER NOT NULL,
    PRIMARY KEY (appid, api)
);
