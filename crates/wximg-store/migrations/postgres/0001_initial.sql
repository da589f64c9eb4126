-- The PostgreSQL twin of migrations/sqlite/0001_initial.sql: same tables, same columns,
-- same meaning. Times are Unix seconds (BIGINT), hashes are 32 raw bytes (BYTEA).

-- Accounts. The secret is stored only as a keyed BLAKE3 hash.
CREATE TABLE apps (
    appid        TEXT PRIMARY KEY,
    app_type     TEXT NOT NULL,
    name         TEXT NOT NULL,
    secret_hash  BYTEA NOT NULL,
    created_at   BIGINT NOT NULL
);

-- Access tokens, known only by their BLAKE3 hash. Rows outlive the token by a day so an
-- expired token answers 42001 rather than 40001.
CREATE TABLE tokens (
    hash        BYTEA PRIMARY KEY,
    appid       TEXT NOT NULL,
    kind        TEXT NOT NULL,
    issued_at   BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    ended_at    BIGINT
);
CREATE INDEX tokens_by_app ON tokens (appid, kind);

-- Per-app stable token state; the token is derived from the secret and the nonce.
-- Rotations are compare-and-swap on `generation`, so racing nodes agree on one token.
CREATE TABLE stable_tokens (
    appid          TEXT PRIMARY KEY,
    generation     BIGINT NOT NULL,
    nonce          BYTEA NOT NULL,
    token_hash     BYTEA NOT NULL,
    issued_at      BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL,
    last_force_at  BIGINT,
    force_day      BIGINT NOT NULL,
    force_count    BIGINT NOT NULL
);

-- Stored pictures; id is the BLAKE3 hash of the bytes.
CREATE TABLE images (
    id          BYTEA PRIMARY KEY,
    format      TEXT NOT NULL,
    size        BIGINT NOT NULL,
    width       BIGINT NOT NULL,
    height      BIGINT NOT NULL,
    appid       TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
