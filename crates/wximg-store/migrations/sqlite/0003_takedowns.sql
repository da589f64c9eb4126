-- Pictures per account, and takedowns (issue #16).
--
-- One `images` row per (picture, account): the same bytes uploaded by two accounts are
-- one blob (content addressing) and two rows, so each account lists its own pictures and
-- a takedown of one account's row never removes bytes another account's row still needs.
-- Rows of older data directories (one per picture, its first uploader's) carry over.
CREATE TABLE images_by_app (
    id          BLOB NOT NULL,
    format      TEXT NOT NULL,
    size        INTEGER NOT NULL,
    width       INTEGER NOT NULL,
    height      INTEGER NOT NULL,
    appid       TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (id, appid)
);
INSERT INTO images_by_app (id, format, size, width, height, appid, created_at)
    SELECT id, format, size, width, height, appid, created_at FROM images;
DROP TABLE images;
ALTER TABLE images_by_app RENAME TO images;
-- `wximg image list` (newest first, per account) and `image usage` (per account).
CREATE INDEX images_by_time ON images (created_at, id, appid);
CREATE INDEX images_of_app ON images (appid, created_at);

-- The audit log of takedowns: one row per picture row removed. `generation` is the value
-- `takedown_generation` took in the takedown's transaction: nodes poll that counter and
-- drop the ids of the rows with a newer generation from their picture caches.
CREATE TABLE takedowns (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    generation  INTEGER NOT NULL,
    id          BLOB NOT NULL,
    appid       TEXT NOT NULL,
    format      TEXT NOT NULL,
    size        INTEGER NOT NULL,
    taken_at    INTEGER NOT NULL,
    reason      TEXT NOT NULL,
    taken_by    TEXT NOT NULL,
    blocked     INTEGER NOT NULL
);
CREATE INDEX takedowns_by_generation ON takedowns (generation);

-- Bytes refused on upload (87014) after `wximg image delete --block`.
CREATE TABLE blocked_images (
    id          BLOB PRIMARY KEY,
    blocked_at  INTEGER NOT NULL,
    reason      TEXT NOT NULL,
    blocked_by  TEXT NOT NULL
);

-- A blob being deleted: written in the takedown's transaction when its last row goes,
-- removed once the blob is gone. While it is here an upload of those bytes is refused
-- (and retried), so no new row can point at a blob about to disappear; one left by a
-- crash is finished by `wximg fsck --repair`.
CREATE TABLE blob_deletions (
    id     BLOB PRIMARY KEY,
    since  INTEGER NOT NULL
);

-- One row: bumped by every takedown, in its transaction (so generations follow commit
-- order); what every node polls.
CREATE TABLE takedown_generation (
    one         INTEGER PRIMARY KEY CHECK (one = 1),
    generation  INTEGER NOT NULL
);
INSERT INTO takedown_generation (one, generation) VALUES (1, 0);
