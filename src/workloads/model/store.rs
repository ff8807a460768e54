//! Where recommendation records live: the same object store (and URL) as the snapshots, under
//! their own `recommendations/` prefix.
//!
//! Opening is `feed::snapshot::open_object_store`, the snapshots' own (file:// with fsync'd
//! staging files renamed into place, or one S3 PutObject), so a record is complete or absent,
//! just like a snapshot.

use super::error::RecordError;
use super::record::{self, RecommendationRecord};
use crate::feed::retention::{self, PruneReport};
use crate::feed::snapshot::{S3Options, SnapshotError, open_object_store};
use crate::feed::stored_object::{self, ObjectError};
use bytes::Bytes;
use chrono::{DateTime, Datelike, Utc};
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use std::sync::Arc;

/// The recommendations area of one store.
#[derive(Clone, Debug)]
pub struct RecordStore {
    store: Arc<dyn ObjectStore>,
    base: Path,
}

impl RecordStore {
    /// Open `file:///path` (created if missing) or `s3://bucket[/prefix]`.
    pub fn open(url: &str, s3: &S3Options) -> Result<RecordStore, SnapshotError> {
        let (store, base) = open_object_store(url, s3)?;
        Ok(RecordStore { store, base })
    }

    /// Wrap an existing object store (tests, in-memory stores).
    pub fn from_store(store: Arc<dyn ObjectStore>, base: &str) -> RecordStore {
        RecordStore { store, base: Path::from(base.trim_matches('/')) }
    }

    fn full(&self, key: &str) -> Path {
        if self.base.as_ref().is_empty() {
            Path::from(key)
        } else {
            Path::from(format!("{}/{key}", self.base))
        }
    }

    fn relative(&self, location: &Path) -> Option<String> {
        let s = location.as_ref();
        let base = self.base.as_ref();
        if base.is_empty() {
            return Some(s.to_owned());
        }
        s.strip_prefix(base).and_then(|r| r.strip_prefix('/')).map(str::to_owned)
    }

    /// Write one run's record atomically; returns its key.
    pub async fn write(&self, rec: &RecommendationRecord) -> Result<String, RecordError> {
        let key = record::key_for(&rec.model, &rec.role, rec.run_at)?;
        let body = rec.encode()?;
        self.store
            .put(&self.full(&key), PutPayload::from(Bytes::from(body)))
            .await
            .map_err(|source| RecordError::Write { key: key.clone(), source })?;
        Ok(key)
    }

    /// Read one record; the size the store reports is checked before the body is read, and the
    /// body is counted while it streams in (`feed::stored_object`).
    pub async fn read(&self, key: &str) -> Result<RecommendationRecord, RecordError> {
        let bytes = stored_object::read(self.store.as_ref(), &self.full(key), None, record::LIMITS)
            .await
            .map_err(|e| match e {
                ObjectError::Store(source) => RecordError::Read { key: key.into(), source },
                e => RecordError::Decode { key: key.into(), reason: e.to_string() },
            })?;
        RecommendationRecord::decode(key, &bytes)
    }

    /// Delete the records of `model`/`role` runs before `cutoff`, oldest first, at most
    /// `budget` of them; nothing outside `recommendations/v1/{model}/{role}/` is touched.
    pub async fn prune(
        &self,
        model: &str,
        role: &str,
        cutoff: DateTime<Utc>,
        budget: usize,
    ) -> Result<PruneReport, RecordError> {
        record::check_segment(model)?;
        record::check_segment(role)?;
        let own = record::role_prefix(model, role);
        let owned = |p: &Path| -> Option<DateTime<Utc>> {
            let key = self.relative(p)?;
            if !key.starts_with(&own) {
                return None;
            }
            record::parse_key(&key)
        };
        let root = self.full(own.trim_end_matches('/'));
        Ok(retention::prune(self.store.as_ref(), &root, cutoff, budget, &owned).await)
    }

    /// Keys and run times of `model`/`role` runs in `[from, to)`, oldest first. Lists one prefix
    /// per overlapping month.
    pub async fn list(
        &self,
        model: &str,
        role: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<(String, DateTime<Utc>)>, RecordError> {
        record::check_segment(model)?;
        record::check_segment(role)?;
        let mut out = Vec::new();
        if to <= from {
            return Ok(out);
        }
        let (mut y, mut m) = (from.year(), from.month());
        while (y, m) <= (to.year(), to.month()) {
            let prefix = self.full(&record::month_prefix(model, role, y, m));
            let metas: Vec<_> =
                self.store.list(Some(&prefix)).try_collect().await.map_err(RecordError::List)?;
            for meta in metas {
                let Some(key) = self.relative(&meta.location) else {
                    continue;
                };
                let Some(at) = record::parse_key(&key) else {
                    continue;
                };
                if at >= from && at < to {
                    out.push((key, at));
                }
            }
            (y, m) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
        }
        out.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
        Ok(out)
    }
}
