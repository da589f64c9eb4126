-- Permanent material (`/cgi-bin/material/add_material`, issue #13): an account's picture
-- library. Each material names its picture by id; the picture itself is an ordinary
-- `images` row of the same account (written first), so blobs, fsck, takedowns and
-- backups cover it. `media_id` is random and opaque, unique per account.
CREATE TABLE materials (
    appid       TEXT NOT NULL,
    media_id    TEXT NOT NULL,
    kind        TEXT NOT NULL,
    image       BLOB NOT NULL,
    format      TEXT NOT NULL,
    name        TEXT NOT NULL,
    url         TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (appid, media_id)
);
-- batchget_material: an account's materials, newest first.
CREATE INDEX materials_by_time ON materials (appid, created_at, media_id);
-- Takedowns and fsck: the materials of a picture.
CREATE INDEX materials_by_image ON materials (image, appid);

-- How many materials each account holds: the library cap (45034) is a conditional
-- increment of this row in the insert's transaction, so it is race-free and costs one
-- row, not a count of 100,000.
CREATE TABLE material_counts (
    appid  TEXT PRIMARY KEY,
    count  INTEGER NOT NULL
);
