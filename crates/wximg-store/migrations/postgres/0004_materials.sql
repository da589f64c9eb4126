-- The PostgreSQL twin of migrations/sqlite/0004_materials.sql.
CREATE TABLE materials (
    appid       TEXT NOT NULL,
    media_id    TEXT NOT NULL,
    kind        TEXT NOT NULL,
    image       BYTEA NOT NULL,
    format      TEXT NOT NULL,
    name        TEXT NOT NULL,
    url         TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (appid, media_id)
);
CREATE INDEX materials_by_time ON materials (appid, created_at, media_id);
CREATE INDEX materials_by_image ON materials (image, appid);

-- The library cap's counter: `INSERT … ON CONFLICT DO UPDATE … WHERE count < cap` locks
-- the account's row, so two nodes adding at once are serialized and never pass the cap.
CREATE TABLE material_counts (
    appid  TEXT PRIMARY KEY,
    count  BIGINT NOT NULL
);
