-- The PostgreSQL twin of migrations/sqlite/0003_takedowns.sql.

-- One `images` row per (picture, account); see the SQLite file.
ALTER TABLE images DROP CONSTRAINT images_pkey;
ALTER TABLE images ADD PRIMARY KEY (id, appid);
CREATE INDEX images_by_time ON images (created_at, id, appid);
CREATE INDEX images_of_app ON images (appid, created_at);

CREATE TABLE takedowns (
    seq         BIGSERIAL PRIMARY KEY,
    generation  BIGINT NOT NULL,
    id          BYTEA NOT NULL,
    appid       TEXT NOT NULL,
    format      TEXT NOT NULL,
    size        BIGINT NOT NULL,
    taken_at    BIGINT NOT NULL,
    reason      TEXT NOT NULL,
    taken_by    TEXT NOT NULL,
    blocked     BIGINT NOT NULL
);
CREATE INDEX takedowns_by_generation ON takedowns (generation);

CREATE TABLE blocked_images (
    id          BYTEA PRIMARY KEY,
    blocked_at  BIGINT NOT NULL,
    reason      TEXT NOT NULL,
    blocked_by  TEXT NOT NULL
);

CREATE TABLE blob_deletions (
    id     BYTEA PRIMARY KEY,
    since  BIGINT NOT NULL
);

CREATE TABLE takedown_generation (
    one         INTEGER PRIMARY KEY CHECK (one = 1),
    generation  BIGINT NOT NULL
);
INSERT INTO takedown_generation (one, generation) VALUES (1, 0);
