-- The request log behind openapi/rid/get (see src/request_log.rs): one row per API
-- request, masked, pruned to 7 days and a bounded number of rows.
CREATE TABLE request_log (
    seq            BIGSERIAL PRIMARY KEY,
    rid            TEXT NOT NULL,
    appid          TEXT,
    endpoint       TEXT NOT NULL,
    invoke_time    BIGINT NOT NULL,
    cost_in_ms     BIGINT NOT NULL,
    request_url    TEXT NOT NULL,
    request_body   TEXT NOT NULL,
    response_body  TEXT NOT NULL,
    client_ip      TEXT NOT NULL
);
CREATE INDEX request_log_by_rid ON request_log (rid);
CREATE INDEX request_log_by_time ON request_log (invoke_time);
