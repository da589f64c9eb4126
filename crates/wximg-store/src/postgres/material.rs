// PLACEHOLDER: replaced by the material branch at merge
use async_trait::async_trait;
use wximg_proto::AppId;

use super::PostgresMeta;
use crate::Result;
use crate::material::{MaterialRecord, MaterialStore};

#[async_trait]
impl MaterialStore for PostgresMeta {
    async fn material(&self, _appid: &AppId, _media_id: &str) -> Result<Option<MaterialRecord>> {
        Ok(None)
    }
}
