-- Accounts. The secret is stored only as a keyed BLAKE3 hash.
CREATE TABLE apps (
    appid        TEXT PRIMARY KEY,
    app_type     TEXT NOT NULL,
    name         TEXT NOT NULL,
    secret_hash  BLOB NOT NULL,
    created_at   INTEGER NOT NULL
);

-- Access tokens, known only by their BLAKE3 hash. Rows outlive the token by a day so an
-- expired token answers 42001 rather than 40001.
CREATE TABLE tokens (
    hash        BLOB PRIMARY KEY,
    appid       TEXT NOT NULL,
    kind        TEXT NOT NULL,
    issued_at   INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    ended_at    INTEGER
);
CREATE INDEX tokens_by_app ON tokens (appid, kind);

-- Per-app stable token state; the token is derived from the secret and the nonce.
CREATE TABLE stable_tokens (
    appid          TEXT PRIMARY KEY,
    generation     INTEGER NOT NULL,
    nonce          BLOB NOT NULL,
    token_hash     BLOB NOT NULL,
    issued_at      INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL,
    last_force_at  INTEGER,
    force_day      INTEGER NOT NULL,
    force_count    INTEGER NOT NULL
);

-- Stored pictures; id is the BLAKE3 hash of the bytes.
CREATE TABLE images (
    id          BLOB PRIMARY KEY,
    format      TEXT NOT NULL,
    size        INTEGER NOT NULL,
    width       INTEGER NOT NULL,
    height      INTEGER NOT NULL,
    appid       TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);
