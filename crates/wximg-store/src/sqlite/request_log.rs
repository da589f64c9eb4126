//! [`RequestLogStore`] on SQLite.

use async_trait::async_trait;
use wximg_proto::AppId;

use super::SqliteMeta;
use crate::Result;
use crate::request_log::{RequestLogEntry, RequestLogStore};

#[async_trait]
impl RequestLogStore for SqliteMeta {
    async fn insert_requests(&self, entries: &[RequestLogEntry]) -> Result<()> {
        // The write lock first (BEGIN IMMEDIATE, waited for under the busy timeout), never a
        // read snapshot upgraded later; and a connection whose batch failed (a full disk
        // rolls the transaction back under sqlx's feet) is closed, not handed back to the
        // pool, where the next user — a readiness probe, an upload — would inherit its
        // state (faults_storage::disk_full… saw "database is locked" after recovery).
        let mut conn = self.pool.acquire().await?;
        let outcome = async {
            sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await?;
            for e in entries {
                sqlx::query(
                    "INSERT INTO request_log (rid, appid, endpoint, invoke_time, cost_in_ms, \
                     request_url, request_body, response_body, client_ip) \
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                )
                .bind(&e.rid)
                .bind(e.appid.as_ref().map(AppId::as_str))
                .bind(&e.endpoint)
                .bind(e.invoke_time)
                .bind(e.cost_in_ms)
                .bind(&e.request_url)
                .bind(&e.request_body)
                .bind(&e.response_body)
                .bind(&e.client_ip)
                .execute(&mut *conn)
                .await?;
            }
            sqlx::query("COMMIT").execute(&mut *conn).await?;
            Ok::<(), sqlx::Error>(())
        }
        .await;
        if let Err(e) = outcome {
            conn.close_on_drop();
            return Err(e.into());
        }
        Ok(())
    }

    async fn request(&self, rid: &str) -> Result<Option<RequestLogEntry>> {
        let row = sqlx::query("SELECT * FROM request_log WHERE rid = ? ORDER BY seq DESC LIMIT 1")
            .bind(rid)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(crate::rows::request_log_entry).transpose()
    }

    async fn prune_requests(&self, before: i64, keep: u64) -> Result<u64> {
        // As `insert_requests`: the write lock first, a failed connection closed.
        let mut conn = self.pool.acquire().await?;
        let outcome = async {
            sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await?;
            let old = sqlx::query("DELETE FROM request_log WHERE invoke_time < ?")
                .bind(before)
                .execute(&mut *conn)
                .await?
                .rows_affected();
            let over = sqlx::query(
                "DELETE FROM request_log WHERE seq <= \
                 (SELECT seq FROM request_log ORDER BY seq DESC LIMIT 1 OFFSET ?)",
            )
            .bind(keep as i64)
            .execute(&mut *conn)
            .await?
            .rows_affected();
            sqlx::query("COMMIT").execute(&mut *conn).await?;
            Ok::<u64, sqlx::Error>(old + over)
        }
        .await;
        match outcome {
            Ok(n) => Ok(n),
            Err(e) => {
                conn.close_on_drop();
                Err(e.into())
            }
        }
    }
}
