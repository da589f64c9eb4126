//! [`MaterialStore`] on PostgreSQL. The cap's counter row is the lock: `INSERT … ON
//! CONFLICT DO UPDATE … WHERE count < cap` takes the account's counter row, so a second
//! node adding at the same moment waits for the first to commit, then re-checks the
//! condition against the new count (READ COMMITTED re-evaluates it on the updated row).

use async_trait::async_trait;
use wximg_proto::{AppId, ImageId};

use super::PostgresMeta;
use crate::material::{MaterialInsert, MaterialRecord, MaterialStore, TemporaryRecord};
use crate::{Result, rows};

const INSERT: &str = "INSERT INTO materials (appid, media_id, kind, image, format, name, url, \
     created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (appid, media_id) DO NOTHING";

async fn insert_row(
    tx: &mut sqlx::PgConnection,
    m: &MaterialRecord,
) -> std::result::Result<bool, sqlx::Error> {
    let done = sqlx::query(INSERT)
        .bind(m.appid.as_str())
        .bind(&m.media_id)
        .bind(m.kind.as_str())
        .bind(&m.image.hash()[..])
        .bind(m.format.as_str())
        .bind(&m.name)
        .bind(&m.url)
        .bind(m.created_at)
        .execute(&mut *tx)
        .await?;
    Ok(done.rows_affected() == 1)
}

async fn bump(tx: &mut sqlx::PgConnection, appid: &AppId, by: i64) -> Result<()> {
    sqlx::query(
        "INSERT INTO material_counts (appid, count) VALUES ($1, $2) \
         ON CONFLICT (appid) DO UPDATE SET count = material_counts.count + $2",
    )
    .bind(appid.as_str())
    .bind(by)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// In a takedown's transaction: removes the materials of the picture rows it removes
/// (`id`, of `appid` or of every account) and uncounts them.
pub(super) async fn drop_materials_of(
    tx: &mut sqlx::PgConnection,
    id: &ImageId,
    appid: Option<&AppId>,
) -> Result<()> {
    let gone = sqlx::query_scalar::<_, String>(
        "DELETE FROM materials WHERE image = $1 AND ($2::TEXT IS NULL OR appid = $2) RETURNING appid",
    )
    .bind(&id.hash()[..])
    .bind(appid.map(|a| a.as_str().to_string()))
    .fetch_all(&mut *tx)
    .await?;
    for owner in gone {
        sqlx::query("UPDATE material_counts SET count = count - 1 WHERE appid = $1")
            .bind(owner)
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}

#[async_trait]
impl MaterialStore for PostgresMeta {
    async fn insert_material(&self, m: &MaterialRecord, cap: u64) -> Result<MaterialInsert> {
        let cap = i64::try_from(cap).unwrap_or(i64::MAX);
        if cap <= 0 {
            return Ok(MaterialInsert::LibraryFull);
        }
        let mut tx = self.pool.begin().await?;
        // A write first: the database's one write lock is held from here to the commit.
        let slot = sqlx::query_scalar::<_, i64>(
            "INSERT INTO material_counts (appid, count) VALUES ($1, 1) \
             ON CONFLICT (appid) DO UPDATE SET count = material_counts.count + 1 \
             WHERE material_counts.count < $2 RETURNING count",
        )
        .bind(m.appid.as_str())
        .bind(cap)
        .fetch_optional(&mut *tx)
        .await?;
        if slot.is_none() {
            tx.rollback().await?;
            return Ok(MaterialInsert::LibraryFull);
        }
        if !insert_row(&mut tx, m).await? {
            // A media_id collision (2^-384): nothing may be half done.
            tx.rollback().await?;
            return Err(crate::StorageError::Unavailable(
                "media_id already taken".into(),
            ));
        }
        tx.commit().await?;
        Ok(MaterialInsert::Added)
    }

    async fn material(&self, appid: &AppId, media_id: &str) -> Result<Option<MaterialRecord>> {
        let query = sqlx::query("SELECT * FROM materials WHERE appid = $1 AND media_id = $2")
            .bind(appid.as_str())
            .bind(media_id);
        rows::one(query.fetch_optional(&self.pool).await?, rows::material)
    }

    async fn material_count(&self, appid: &AppId) -> Result<u64> {
        let count: Option<i64> =
            sqlx::query_scalar("SELECT count FROM material_counts WHERE appid = $1")
                .bind(appid.as_str())
                .fetch_optional(&self.pool)
                .await?;
        u64::try_from(count.unwrap_or(0)).map_err(|_| rows::corrupt("material count"))
    }

    async fn list_materials(
        &self,
        appid: &AppId,
        offset: u64,
        limit: u32,
    ) -> Result<Vec<MaterialRecord>> {
        let query = sqlx::query(
            "SELECT * FROM materials WHERE appid = $1 \
             ORDER BY created_at DESC, media_id DESC LIMIT $2 OFFSET $3",
        )
        .bind(appid.as_str())
        .bind(i64::from(limit))
        .bind(i64::try_from(offset).unwrap_or(i64::MAX));
        rows::all(query.fetch_all(&self.pool).await?, rows::material)
    }

    async fn delete_material(&self, appid: &AppId, media_id: &str) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let deleted = sqlx::query("DELETE FROM materials WHERE appid = $1 AND media_id = $2")
            .bind(appid.as_str())
            .bind(media_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if deleted > 0 {
            bump(&mut tx, appid, -1).await?;
        }
        tx.commit().await?;
        Ok(deleted > 0)
    }

    async fn all_materials(&self) -> Result<Vec<MaterialRecord>> {
        let query = sqlx::query("SELECT * FROM materials ORDER BY created_at, appid, media_id");
        rows::all(query.fetch_all(&self.pool).await?, rows::material)
    }

    async fn import_material(&self, m: &MaterialRecord) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let added = insert_row(&mut tx, m).await?;
        if added {
            bump(&mut tx, &m.appid, 1).await?;
        }
        tx.commit().await?;
        Ok(added)
    }

    async fn insert_temporary(&self, t: &TemporaryRecord) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO temporary_media (appid, media_id, kind, image, format, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        )
        .bind(t.appid.as_str())
        .bind(&t.media_id)
        .bind(t.kind.as_str())
        .bind(&t.image.hash()[..])
        .bind(t.format.as_str())
        .bind(t.created_at)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn temporary(&self, appid: &AppId, media_id: &str) -> Result<Option<TemporaryRecord>> {
        let query = sqlx::query("SELECT * FROM temporary_media WHERE appid = $1 AND media_id = $2")
            .bind(appid.as_str())
            .bind(media_id);
        rows::one(query.fetch_optional(&self.pool).await?, rows::temporary)
    }
}
