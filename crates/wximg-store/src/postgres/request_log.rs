//! [`RequestLogStore`] on PostgreSQL.

use async_trait::async_trait;
use wximg_proto::AppId;

use super::PostgresMeta;
use crate::Result;
use crate::request_log::{RequestLogEntry, RequestLogStore};

#[async_trait]
impl RequestLogStore for PostgresMeta {
    async fn insert_requests(&self, entries: &[RequestLogEntry]) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        for e in entries {
            sqlx::query(
                "INSERT INTO request_log (rid, appid, endpoint, invoke_time, cost_in_ms, \
                 request_url, request_body, response_body, client_ip) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
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
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn request(&self, rid: &str) -> Result<Option<RequestLogEntry>> {
        let row = sqlx::query("SELECT * FROM request_log WHERE rid = $1 ORDER BY seq DESC LIMIT 1")
            .bind(rid)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(crate::rows::request_log_entry).transpose()
    }

    async fn prune_requests(&self, before: i64, keep: u64) -> Result<u64> {
        let mut tx = self.pool.begin().await?;
        let old = sqlx::query("DELETE FROM request_log WHERE invoke_time < $1")
            .bind(before)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        let over = sqlx::query(
            "DELETE FROM request_log WHERE seq <= \
             (SELECT seq FROM request_log ORDER BY seq DESC LIMIT 1 OFFSET $1)",
        )
        .bind(keep as i64)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(old + over)
    }
}
