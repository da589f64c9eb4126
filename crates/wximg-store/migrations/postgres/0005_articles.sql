-- The PostgreSQL twin of migrations/sqlite/0005_articles.sql.
--
-- Articles are JSON documents the server owns; `cleaning` says what the content
-- cleaning removed (for the debug page, never in an API answer).
CREATE TABLE drafts (
    media_id    TEXT PRIMARY KEY,
    appid       TEXT NOT NULL,
    articles    TEXT NOT NULL,
    cleaning    TEXT NOT NULL,
    version     BIGINT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
-- draft/batchget: an account's drafts, last updated first.
CREATE INDEX drafts_of_app ON drafts (appid, updated_at, media_id);

-- A freepublish/submit. `status` is 1 (publishing) until the job ends in `outcome`, at
-- or after `due_at_ms`; the finisher (any node) ends it with a compare-and-swap on it.
CREATE TABLE publish_jobs (
    publish_id    BIGINT PRIMARY KEY,
    appid         TEXT NOT NULL,
    media_id      TEXT NOT NULL,
    msg_data_id   BIGINT NOT NULL,
    articles      TEXT NOT NULL,
    cleaning      TEXT NOT NULL,
    submitted_at  BIGINT NOT NULL,
    due_at_ms     BIGINT NOT NULL,
    outcome       BIGINT NOT NULL,
    fail_idx      TEXT NOT NULL,
    article_id    TEXT NOT NULL,
    status        BIGINT NOT NULL,
    finished_at   BIGINT
);
CREATE INDEX publish_jobs_due ON publish_jobs (status, due_at_ms);

-- One row per article of a published message; `/s/<url_id>` is its page.
CREATE TABLE published_articles (
    article_id    TEXT NOT NULL,
    idx           BIGINT NOT NULL,
    appid         TEXT NOT NULL,
    publish_id    BIGINT NOT NULL,
    url_id        TEXT NOT NULL UNIQUE,
    article       TEXT NOT NULL,
    published_at  BIGINT NOT NULL,
    deleted_at    BIGINT,
    PRIMARY KEY (article_id, idx)
);
CREATE INDEX published_of_app ON published_articles (appid, published_at, article_id);
