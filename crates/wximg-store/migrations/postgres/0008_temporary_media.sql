-- Temporary material (media/upload): a picture row's bytes under a media_id that
-- media/get serves for three days. Not a library entry: no cap, not listed.
CREATE TABLE temporary_media (
    appid       TEXT NOT NULL,
    media_id    TEXT NOT NULL,
    kind        TEXT NOT NULL,
    image       BYTEA NOT NULL,
    format      TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (appid, media_id)
);
