-- A draft is published by one job at a time: a second freepublish/submit while one
-- publishes is refused, atomically, by this index (the insert finds it taken).
-- Jobs a double submit made before this index existed, all but the first of each draft
-- still publishing, end now as routine failures (status 3), so the index can be built.
UPDATE publish_jobs SET status = 3, finished_at = submitted_at
WHERE status = 1 AND publish_id NOT IN (
    SELECT MIN(publish_id) FROM publish_jobs WHERE status = 1 GROUP BY appid, media_id
);
CREATE UNIQUE INDEX publish_jobs_one_publishing ON publish_jobs (appid, media_id)
WHERE status = 1;
