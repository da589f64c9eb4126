-- Drafts, publish jobs and published articles (issue #13; see src/articles.rs).
--
-- Articles are JSON documents the server owns; `cleaning` says what the content
-- cleaning removed (for the debug page, never in an API answer).
CREATE TABLE drafts (
    media_id    TEXT PRIMARY KEY,
    appid       TEXT NOT NULL,
    articles    TEXT NOT NULL,
    cleaning    TEXT NOT NULL,
    version     INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
-- draft/batchget: an account's drafts, last updated first.
CREATE INDEX drafts_of_app ON drafts (appid, updated_at, media_id);

-- A freepublish/submit. `status` is 1 (publishing) until the job ends in `outcome`, at
-- or after `due_at_ms`; the finisher (any node) ends it with a compare-and-swap on it.
CREATE TABLE publish_jobs (
    publish_id    INTEGER PRIMARY KEY,
    appid         TEXT NOT NULL,
    media_id      TEXT NOT NULL,
    msg_data_id   INTEGER NOT NULL,
    articles      TEXT NOT NULL,
    cleaning      TEXT NOT NULL,
    submitted_at  INTEGER NOT NULL,
    due_at_ms     INTEGER NOT NULL,
    outcome       INTEGER NOT NULL,
    fail_idx      TEXT NOT NULL,
    article_id    TEXT NOT NULL,
    status        INTEGER NOT NULL,
    finished_at   INTEGER
);
CREATE INDEX publish_jobs_due ON publish_jobs (status, due_at_ms);

-- One row per article of a published message; `/s/<url_id>` is its page.
CREATE TABLE published_articles (
    article_id    TEXT NOT NULL,
    idx           INTEGER NOT NULL,
    appid         TEXT NOT NULL,
    publish_id    INTEGER NOT NULL,
    url_id        TEXT NOT NULL UNIQUE,
    article       TEXT NOT NULL,
    published_at  INTEGER NOT NULL,
    deleted_at    INTEGER,
    PRIMARY KEY (article_id, idx)
);
CREATE INDEX published_of_app ON published_articles (appid, published_at, article_id);
