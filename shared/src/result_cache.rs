//! The result cache's entries: what a completed design left behind (its files and what its
//! record says about them), stored in Redis under the digest of the canonical plan that made
//! it, so that an identical plan later completes from copies of those files.
//!
//! The worker decides what a plan is (`worker::jobs::result_cache`); this module only names
//! the digest, the entry's shape and its reads and writes. An entry points at the source
//! job's stored objects; each file carries the store's version tag (`e_tag`) of the object as
//! it was stored, so a source whose files were replaced since (a refine) or deleted (swept)
//! is noticed before anything is copied.

use crate::job_id::JobId;
use chrono::{DateTime, Utc};
use redis::aio::ConnectionLike;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::job::{Geometry, OutputFormat};
use crate::keys::Keys;

/// The hex SHA-256 of `plan`'s JSON: the name of its entry. serde_json writes a struct's
/// fields in declaration order and a `BTreeMap` in key order, so equal plans give equal text.
pub fn plan_digest(plan: &impl Serialize) -> String {
    let text = serde_json::to_vec(plan).expect("a plan is plain data and always serialises");
    hex::encode(Sha256::digest(text))
}

/// One stored file of the source job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CachedFile {
    pub format: OutputFormat,
    pub bytes: u64,
    pub sha256: String,
    /// The store's version tag of the object when it was cached (`None` if the store has
    /// none; then only the size is compared).
    pub e_tag: Option<String>,
}

/// A completed design, as the cache keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CachedResult {
    /// The job whose stored files are copied (never shown to another principal).
    pub source: JobId,
    /// Every file the source stored, the FCStd included even when it was not asked for
    /// (later conversions start from it).
    pub files: Vec<CachedFile>,
    pub plan_summary: Option<String>,
    pub generated_script: Option<String>,
    pub execution_result: Option<serde_json::Value>,
    pub validation_score: Option<f64>,
    pub geometry: Option<Geometry>,
    pub iterations: u32,
    pub cached_at: DateTime<Utc>,
}

/// The entry named `digest`, if there is one (an unreadable entry counts as none).
pub async fn lookup<C: ConnectionLike>(
    conn: &mut C,
    keys: &Keys,
    digest: &str,
) -> Result<Option<CachedResult>, redis::RedisError> {
    let raw: Option<String> = redis::cmd("GET")
        .arg(keys.result_cache(digest))
        .query_async(conn)
        .await?;
    Ok(raw.and_then(|text| serde_json::from_str(&text).ok()))
}

/// Stores (or replaces) the entry named `digest` for `ttl`.
pub async fn store<C: ConnectionLike>(
    conn: &mut C,
    keys: &Keys,
    digest: &str,
    entry: &CachedResult,
    ttl: std::time::Duration,
) -> Result<(), redis::RedisError> {
    let text = serde_json::to_string(entry).expect("an entry always serialises");
    redis::cmd("SET")
        .arg(keys.result_cache(digest))
        .arg(text)
        .arg("EX")
        .arg(ttl.as_secs().max(1))
        .query_async(conn)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[derive(Serialize)]
    struct Plan {
        entry: &'static str,
        parameters: BTreeMap<String, f64>,
    }

    #[test]
    fn equal_plans_have_one_digest_and_any_change_another() {
        let plan = |width: f64, order: bool| {
            let mut parameters = BTreeMap::new();
            if order {
                parameters.insert("width".to_owned(), width);
                parameters.insert("depth".to_owned(), 50.0);
            } else {
                parameters.insert("depth".to_owned(), 50.0);
                parameters.insert("width".to_owned(), width);
            }
            Plan {
                entry: "box",
                parameters,
            }
        };
        let digest = plan_digest(&plan(100.0, true));
        assert_eq!(digest.len(), 64);
        assert_eq!(digest, plan_digest(&plan(100.0, false)));
        assert_ne!(digest, plan_digest(&plan(100.5, true)));
    }
}
