//! `nflbet store verify`: every object decodes as what its key says it is, and matches the
//! store's backup manifest where there is one.

use super::plan::{self, MANIFEST_PREFIX, Manifest};
use super::{StoreAt, StoreBackupError};
use crate::feed::snapshot::{self, Snapshot, SnapshotStore};
use crate::workloads::model::record::{self, RecommendationRecord};
use futures::StreamExt;
use std::time::{Duration, Instant};

/// What a key says an object is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Snapshot,
    Recommendations,
    Manifest,
    /// Not a key nflbet writes.
    Unknown,
}

/// The kind of object a key of the store's layout holds.
pub fn kind_of(key: &str) -> Kind {
    if plan::is_manifest(key) {
        Kind::Manifest
    } else if snapshot::parse_key(key).is_some() {
        Kind::Snapshot
    } else if record::parse_key(key).is_some() {
        Kind::Recommendations
    } else {
        Kind::Unknown
    }
}

/// Whether `bytes` are what `key` says: `Err` with the reason when not.
pub fn check(key: &str, bytes: &[u8]) -> Result<Kind, String> {
    match kind_of(key) {
        Kind::Snapshot => {
            let s = Snapshot::decode(bytes).map_err(|e| e.to_string())?;
            let belongs = SnapshotStore::key_for(&s.sportsbook, s.polled_at).map_err(|e| e.to_string())?;
            if belongs != key {
                return Err(format!(
                    "holds the snapshot of {} polled at {}, which belongs at {belongs}",
                    s.sportsbook, s.polled_at
                ));
            }
            Ok(Kind::Snapshot)
        }
        Kind::Recommendations => {
            let r = RecommendationRecord::decode(key, bytes).map_err(|e| e.to_string())?;
            let belongs = record::key_for(&r.model, &r.role, r.run_at).map_err(|e| e.to_string())?;
            if belongs != key {
                return Err(format!(
                    "holds the run of {}/{} at {}, which belongs at {belongs}",
                    r.model, r.role, r.run_at
                ));
            }
            Ok(Kind::Recommendations)
        }
        Kind::Manifest => Manifest::parse_shard(key, bytes).map(|_| Kind::Manifest),
        Kind::Unknown => {
            Err("not a key nflbet writes (neither a snapshot nor a recommendations record)".into())
        }
    }
}

/// What a verification found.
#[derive(Clone, Debug, Default)]
pub struct VerifyReport {
    pub snapshots: usize,
    pub recommendations: usize,
    /// Objects whose checksum the manifest confirmed.
    pub checksummed: usize,
    /// Every bad key with the reason, in key order.
    pub bad: Vec<(String, String)>,
    pub elapsed: Duration,
}

impl std::fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "verified {} snapshots and {} recommendation records ({} checked against the manifest), {} bad in {:.1} s",
            self.snapshots,
            self.recommendations,
            self.checksummed,
            self.bad.len(),
            self.elapsed.as_secs_f64()
        )
    }
}

/// Read and check every object of `store`, `concurrency` at a time.
pub async fn verify(
    store: &StoreAt,
    concurrency: usize,
    progress: &indicatif::ProgressBar,
) -> Result<VerifyReport, StoreBackupError> {
    let started = Instant::now();
    let mut report = VerifyReport::default();
    let manifest = match store.manifest().await? {
        Some(Ok(m)) => Some(m),
        Some(Err(why)) => {
            report.bad.push((MANIFEST_PREFIX.into(), why));
            None
        }
        None => None,
    };
    let listed = store.list().await?;
    progress.set_length(listed.len() as u64);
    if let Some(m) = &manifest {
        let present: std::collections::BTreeSet<&str> = listed.iter().map(|l| l.key.as_str()).collect();
        for key in m.objects.keys().filter(|k| !present.contains(k.as_str())) {
            report.bad.push((key.clone(), "listed in the backup manifest but missing from the store".into()));
        }
    }
    let mut checks = futures::stream::iter(listed)
        .map(|l| {
            let manifest = &manifest;
            async move {
                let bytes = match store.read(&l.key, Some(l.size)).await? {
                    Ok(b) => b,
                    Err(why) => return Ok((l.key, Err(why), false)),
                };
                let recorded = manifest.as_ref().and_then(|m| m.objects.get(&l.key));
                if let Some(e) = recorded {
                    let sha = plan::sha256(&bytes);
                    if sha != e.sha256 {
                        let why = format!("SHA-256 {sha}, the backup manifest says {}", e.sha256);
                        return Ok((l.key, Err(why), false));
                    }
                }
                let checked = check(&l.key, &bytes);
                Ok::<_, StoreBackupError>((l.key, checked, recorded.is_some()))
            }
        })
        .buffer_unordered(concurrency.max(1));
    while let Some(result) = checks.next().await {
        progress.inc(1);
        let (key, checked, checksummed) = result?;
        report.checksummed += usize::from(checksummed);
        match checked {
            Ok(Kind::Snapshot) => report.snapshots += 1,
            Ok(Kind::Recommendations) => report.recommendations += 1,
            Ok(_) => {}
            Err(why) => report.bad.push((key, why)),
        }
    }
    report.bad.sort();
    report.elapsed = started.elapsed();
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn snapshot_at(book: &str, secs: i64) -> (String, Vec<u8>) {
        let at = Utc.timestamp_opt(secs, 0).unwrap();
        let snap = Snapshot::new(book, "theOddsApi", at);
        (SnapshotStore::key_for(book, at).unwrap(), snap.encode().unwrap())
    }

    #[test]
    fn keys_name_their_kind() {
        let (key, _) = snapshot_at("sharp", 1_700_000_000);
        assert_eq!(kind_of(&key), Kind::Snapshot);
        let rec = record::key_for("elo", "stable", Utc.timestamp_opt(1_700_000_000, 0).unwrap()).unwrap();
        assert_eq!(kind_of(&rec), Kind::Recommendations);
        assert_eq!(kind_of(&plan::shard_of(&key)), Kind::Manifest);
        assert_eq!(kind_of("notes.txt"), Kind::Unknown);
        assert_eq!(kind_of(&format!("{key}.bak")), Kind::Unknown);
    }

    #[test]
    fn an_object_must_decode_as_what_its_key_says() {
        let (key, bytes) = snapshot_at("sharp", 1_700_000_000);
        assert_eq!(check(&key, &bytes), Ok(Kind::Snapshot));
        // Another book's snapshot under this key.
        let (_, other) = snapshot_at("retail", 1_700_000_000);
        assert!(
            check(&key, &other).unwrap_err().contains("belongs at v1/retail/"),
            "{:?}",
            check(&key, &other)
        );
        // Torn or foreign bytes.
        assert!(check(&key, &bytes[..bytes.len() / 2]).is_err());
        let rec = record::key_for("elo", "stable", Utc.timestamp_opt(1_700_000_000, 0).unwrap()).unwrap();
        assert!(check(&rec, &bytes).is_err(), "a snapshot is not a recommendations record");
        assert!(check("notes.txt", b"hello").unwrap_err().contains("not a key nflbet writes"));
    }
}
