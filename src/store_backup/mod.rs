//! Backups of the object stores (snapshots, recommendation records) and proof they restore:
//! `nflbet store backup|restore|verify`. Format and guide in `docs/operations.md`.
//!
//! A copy lists both stores, plans ([`plan`]) which objects are missing or different at the
//! target, and copies those: each object is read whole (at most [`MAX_OBJECT_BYTES`]), hashed
//! (SHA-256), written in one PUT (S3) or one staged file renamed into place (file://, the same
//! store opening the workloads use), read back and hashed again. A run that is interrupted
//! leaves only whole objects behind; the next run compares what it finds by checksum and copies
//! only the rest. The target's [`plan::Manifest`] (every object's size and SHA-256) is written
//! last and lets later runs skip unchanged objects without reading them.

pub mod plan;
pub mod verify;

use crate::feed::snapshot::{S3Options, SnapshotError, open_object_store, store_error};
use crate::feed::stored_object::{self, Limits, ObjectError};
use bytes::Bytes;
use futures::StreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use plan::{Action, Entry, Listed, MANIFEST_PREFIX, Manifest};
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Largest object copied or verified: the largest nflbet writes (a snapshot). A copy holds at
/// most two objects per concurrent step in memory.
pub const MAX_OBJECT_BYTES: u64 = crate::feed::snapshot::MAX_STORED_BYTES;

const READ_LIMITS: Limits = Limits { stored: MAX_OBJECT_BYTES, decompressed: MAX_OBJECT_BYTES };

/// Why a copy or a verification stopped. Object-level problems (a checksum that does not match,
/// an object too large) are not errors: they are counted as failed and the run goes on.
#[derive(Debug, thiserror::Error)]
pub enum StoreBackupError {
    #[error("cannot open {url}: {error}")]
    Open { url: String, error: String },
    #[error("{url}: {what}: {error}")]
    Store { url: String, what: String, error: String },
    #[error(
        "{url} did not answer within {}s while {what}; objects already copied are whole and kept: run the same command again to resume",
        after.as_secs_f64()
    )]
    TimedOut { url: String, what: String, after: Duration },
    #[error(
        "{url} holds no backup manifest ({MANIFEST_PREFIX}): it is not a finished `nflbet store backup`; copy it with `nflbet store backup` instead"
    )]
    NotABackup { url: String },
    #[error("the source and the target are the same store ({0})")]
    SameStore(String),
}

/// One store: an object store and the base path its URL names.
#[derive(Clone, Debug)]
pub struct StoreAt {
    pub url: String,
    store: Arc<dyn ObjectStore>,
    base: Path,
    timeout: Duration,
}

impl StoreAt {
    /// Open `file:///path` or `s3://bucket[/prefix]` the way the workloads do; every request
    /// later made to it must answer within `timeout`. A store read from (`existing`) must be there:
    /// a `file://` directory is not created for it, so a mistyped path is an error, not an empty
    /// store.
    pub fn open(
        url: &str,
        s3: &S3Options,
        timeout: Duration,
        existing: bool,
    ) -> Result<StoreAt, StoreBackupError> {
        let missing = url::Url::parse(url)
            .ok()
            .filter(|u| u.scheme() == "file")
            .and_then(|u| u.to_file_path().ok())
            .filter(|dir| existing && !dir.is_dir());
        if let Some(dir) = missing {
            let error = format!("{} is not a directory", dir.display());
            return Err(StoreBackupError::Open { url: url.into(), error });
        }
        let (store, base) = open_object_store(url, s3)
            .map_err(|e: SnapshotError| StoreBackupError::Open { url: url.into(), error: e.to_string() })?;
        Ok(StoreAt { url: url.into(), store, base, timeout })
    }

    /// Wrap an object store already open (tests, in-memory stores).
    pub fn from_store(url: &str, store: Arc<dyn ObjectStore>, base: &str, timeout: Duration) -> StoreAt {
        StoreAt { url: url.into(), store, base: Path::from(base.trim_matches('/')), timeout }
    }

    fn full(&self, key: &str) -> Path {
        if self.base.as_ref().is_empty() {
            Path::from(key)
        } else {
            Path::from(format!("{}/{key}", self.base))
        }
    }

    fn relative(&self, location: &Path) -> Option<String> {
        let (s, base) = (location.as_ref(), self.base.as_ref());
        if base.is_empty() {
            return Some(s.to_owned());
        }
        s.strip_prefix(base).and_then(|r| r.strip_prefix('/')).map(str::to_owned)
    }

    /// `f` within the store's timeout.
    async fn timed<T>(
        &self,
        what: impl Fn() -> String,
        f: impl Future<Output = Result<T, StoreBackupError>>,
    ) -> Result<T, StoreBackupError> {
        match tokio::time::timeout(self.timeout, f).await {
            Ok(r) => r,
            Err(_) => {
                Err(StoreBackupError::TimedOut { url: self.url.clone(), what: what(), after: self.timeout })
            }
        }
    }

    fn store_err(&self, what: String, e: &object_store::Error) -> StoreBackupError {
        StoreBackupError::Store { url: self.url.clone(), what, error: store_error(e) }
    }

    /// Every object under the URL, in key order; each page must come within the timeout.
    pub async fn list(&self) -> Result<Vec<Listed>, StoreBackupError> {
        self.list_under("").await
    }

    /// Every object under `prefix` (a directory relative to the URL; "" for all), in key order.
    async fn list_under(&self, prefix: &str) -> Result<Vec<Listed>, StoreBackupError> {
        let prefix = self.full(prefix.trim_end_matches('/'));
        let mut stream = self.store.list((!prefix.as_ref().is_empty()).then_some(&prefix));
        let mut out = Vec::new();
        loop {
            let next = self.timed(|| "listing".into(), async { Ok(stream.next().await) }).await?;
            match next {
                None => break,
                Some(Err(e)) => return Err(self.store_err("listing".into(), &e)),
                Some(Ok(meta)) => {
                    let Some(key) = self.relative(&meta.location) else { continue };
                    let token = format!(
                        "{}@{}",
                        meta.e_tag.as_deref().unwrap_or(""),
                        meta.last_modified.timestamp_millis()
                    );
                    out.push(Listed { key, size: meta.size, token });
                }
            }
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    /// The object's bytes; `Ok(Err(reason))` when the object itself is the problem (gone, too
    /// large), `Err` when the store is.
    pub async fn read(
        &self,
        key: &str,
        size: Option<u64>,
    ) -> Result<Result<Vec<u8>, String>, StoreBackupError> {
        let what = || format!("reading {key}");
        self.timed(what, async {
            match stored_object::read(self.store.as_ref(), &self.full(key), size, READ_LIMITS).await {
                Ok(bytes) => Ok(Ok(bytes)),
                Err(ObjectError::Store(object_store::Error::NotFound { .. })) => {
                    Ok(Err("gone from the store since it was listed (pruned?)".into()))
                }
                Err(ObjectError::Store(e)) => Err(self.store_err(what(), &e)),
                Err(e) => Ok(Err(e.to_string())),
            }
        })
        .await
    }

    async fn write(&self, key: &str, bytes: Vec<u8>) -> Result<(), StoreBackupError> {
        let what = || format!("writing {key}");
        self.timed(what, async {
            let payload = PutPayload::from(Bytes::from(bytes));
            self.store.put(&self.full(key), payload).await.map(|_| ()).map_err(|e| self.store_err(what(), &e))
        })
        .await
    }

    /// The store's manifest, its shards merged: `Ok(None)` when there is none, `Ok(Some(Err))`
    /// naming the first shard that cannot be read or parsed.
    pub async fn manifest(&self) -> Result<Option<Result<Manifest, String>>, StoreBackupError> {
        let shards = self.list_under(MANIFEST_PREFIX).await?;
        if shards.is_empty() {
            return Ok(None);
        }
        let mut reads = futures::stream::iter(shards)
            .map(|l| async move {
                let read = self.read(&l.key, Some(l.size)).await;
                (l.key, read)
            })
            .buffer_unordered(8);
        let mut objects = BTreeMap::new();
        while let Some((key, read)) = reads.next().await {
            match read?.and_then(|bytes| Manifest::parse_shard(&key, &bytes)) {
                Ok(m) => objects.extend(m.objects),
                Err(why) => return Ok(Some(Err(format!("{key}: {why}")))),
            }
        }
        Ok(Some(Ok(Manifest::new(objects))))
    }
}

/// Which way a copy goes: a restore insists the source is a finished backup and checks every
/// object it reads against that backup's checksums.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    Backup,
    Restore,
}

/// What a copy did.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    pub copied: usize,
    pub copied_bytes: u64,
    pub skipped: usize,
    /// Objects that could not be copied, each with its reason.
    pub failed: Vec<(String, String)>,
    pub elapsed: Duration,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "copied {} objects ({:.1} MiB), skipped {} unchanged, {} failed in {:.1} s",
            self.copied,
            self.copied_bytes as f64 / (1024.0 * 1024.0),
            self.skipped,
            self.failed.len(),
            self.elapsed.as_secs_f64()
        )
    }
}

/// The result of one planned step.
enum Outcome {
    Copied(Entry),
    Same(Entry),
    Failed(String),
}

/// Copy every object of `from` that is missing or different at `to`, verified by checksum, then
/// write the target's manifest. `progress` is told of each finished object. On a store error or
/// timeout the run stops at once and the summary so far comes back with the error.
pub async fn copy(
    from: &StoreAt,
    to: &StoreAt,
    direction: Direction,
    concurrency: usize,
    progress: &indicatif::ProgressBar,
) -> Result<Summary, (Summary, StoreBackupError)> {
    let started = Instant::now();
    let mut summary = Summary::default();
    macro_rules! bail {
        ($e:expr) => {{
            summary.elapsed = started.elapsed();
            return Err((summary, $e));
        }};
    }
    if from.url.trim_end_matches('/') == to.url.trim_end_matches('/') {
        bail!(StoreBackupError::SameStore(from.url.clone()));
    }
    let source_manifest = match from.manifest().await {
        Ok(Some(Ok(m))) => Some(m),
        Ok(Some(Err(why))) => {
            tracing::warn!(store = %from.url, "the source's backup manifest is unusable ({why}); objects are copied without checking it");
            None
        }
        Ok(None) => None,
        Err(e) => bail!(e),
    };
    if direction == Direction::Restore && source_manifest.is_none() {
        bail!(StoreBackupError::NotABackup { url: from.url.clone() });
    }
    let (source, target) = match tokio::try_join!(from.list(), to.list()) {
        Ok(v) => v,
        Err(e) => bail!(e),
    };
    let mut target_sizes: BTreeMap<String, u64> = target.into_iter().map(|l| (l.key, l.size)).collect();
    let target_manifest = match to.manifest().await {
        Ok(Some(Ok(m))) => m,
        Ok(Some(Err(why))) => {
            tracing::warn!(store = %to.url, "the target's backup manifest is unusable ({why}); every object there is compared by checksum");
            Manifest::default()
        }
        Ok(None) => Manifest::default(),
        Err(e) => bail!(e),
    };
    let planned = plan::plan(&source, &target_sizes, &target_manifest);
    progress.set_length(planned.steps.len() as u64);
    let expected =
        |key: &str| source_manifest.as_ref().and_then(|m| m.objects.get(key)).map(|e| e.sha256.clone());

    let mut verified = BTreeMap::new();
    let mut steps = futures::stream::iter(planned.steps)
        .map(|(listed, action)| {
            let expected = expected(&listed.key);
            async move {
                let outcome = step(from, to, &listed, action, expected).await;
                (listed, outcome)
            }
        })
        .buffer_unordered(concurrency.max(1));
    while let Some((listed, outcome)) = steps.next().await {
        progress.inc(1);
        match outcome {
            Ok(Outcome::Copied(entry)) => {
                summary.copied += 1;
                summary.copied_bytes += entry.size;
                target_sizes.insert(listed.key.clone(), entry.size);
                verified.insert(listed.key, entry);
            }
            Ok(Outcome::Same(entry)) => {
                summary.skipped += 1;
                verified.insert(listed.key, entry);
            }
            Ok(Outcome::Failed(why)) => {
                tracing::warn!(key = %listed.key, "not copied: {why}");
                summary.failed.push((listed.key, why));
            }
            Err(e) => {
                drop(steps);
                bail!(e)
            }
        }
    }
    drop(steps);
    // Last: the shards of the manifest this run changed, each after the objects it records.
    let manifest = plan::next_manifest(&target_manifest, &target_sizes, verified);
    for (shard, part) in manifest.changed_shards(&target_manifest) {
        let body = match serde_json::to_vec(&part) {
            Ok(b) => b,
            Err(e) => {
                let what = format!("encoding {shard}");
                bail!(StoreBackupError::Store { url: to.url.clone(), what, error: e.to_string() })
            }
        };
        if let Err(e) = to.write(&shard, body).await {
            bail!(e);
        }
    }
    summary.failed.sort();
    summary.elapsed = started.elapsed();
    Ok(summary)
}

/// One object: read and hash the source (checked against the backup's checksum when there is
/// one), compare with the target when the plan says so, write, read back and hash again.
async fn step(
    from: &StoreAt,
    to: &StoreAt,
    listed: &Listed,
    action: Action,
    expected: Option<String>,
) -> Result<Outcome, StoreBackupError> {
    let entry = |sha256: String| Entry { size: listed.size, sha256, source_token: listed.token.clone() };
    if let Action::Skip(e) = action {
        return Ok(Outcome::Same(Entry { source_token: listed.token.clone(), ..e }));
    }
    let bytes = match from.read(&listed.key, Some(listed.size)).await? {
        Ok(b) => b,
        Err(why) => return Ok(Outcome::Failed(format!("cannot read it at the source: {why}"))),
    };
    let sha = plan::sha256(&bytes);
    if let Some(want) = expected.filter(|want| *want != sha) {
        return Ok(Outcome::Failed(format!(
            "the source's bytes have SHA-256 {sha}, its backup manifest says {want}: the copy there is damaged"
        )));
    }
    if action == Action::Compare
        && let Ok(there) = to.read(&listed.key, Some(listed.size)).await?
        && plan::sha256(&there) == sha
    {
        return Ok(Outcome::Same(entry(sha)));
    }
    let size = bytes.len() as u64;
    to.write(&listed.key, bytes).await?;
    let written = match to.read(&listed.key, Some(size)).await? {
        Ok(b) => plan::sha256(&b),
        Err(why) => return Ok(Outcome::Failed(format!("cannot read it back after writing: {why}"))),
    };
    if written != sha {
        return Ok(Outcome::Failed(format!(
            "read back with SHA-256 {written} after writing {sha}: the target did not store what was sent"
        )));
    }
    Ok(Outcome::Copied(Entry { size, ..entry(sha) }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::memory::InMemory;

    fn store(url: &str, base: &str) -> (Arc<InMemory>, StoreAt) {
        let mem = Arc::new(InMemory::new());
        let at = StoreAt::from_store(url, mem.clone(), base, Duration::from_secs(5));
        (mem, at)
    }

    async fn put(mem: &InMemory, key: &str, body: &[u8]) {
        mem.put(&Path::from(key), PutPayload::from(body.to_vec())).await.unwrap();
    }

    /// A store holding `objects` (key, body).
    async fn filled(url: &str, base: &str, objects: &[(&str, &[u8])]) -> (Arc<InMemory>, StoreAt) {
        let (mem, at) = store(url, base);
        for (key, body) in objects {
            put(&mem, key, body).await;
        }
        (mem, at)
    }

    async fn get(mem: &InMemory, key: &str) -> Vec<u8> {
        mem.get(&Path::from(key)).await.unwrap().bytes().await.unwrap().to_vec()
    }

    async fn run(from: &StoreAt, to: &StoreAt, direction: Direction) -> Summary {
        copy(from, to, direction, 4, &indicatif::ProgressBar::hidden()).await.map_err(|(_, e)| e).unwrap()
    }

    #[tokio::test]
    async fn same_size_other_bytes_are_recopied_equal_bytes_adopted_and_the_manifest_written_last() {
        let (src, from) =
            filled("mem://primary", "", &[("a", b"aaaa"), ("b", b"bbbb"), ("c", b"cccc")]).await;
        // Left by an interrupted run: b whole, c of the same size but other bytes.
        let (dst, to) = filled("mem://backup", "nfl", &[("nfl/b", b"bbbb"), ("nfl/c", b"xxxx")]).await;
        let s = run(&from, &to, Direction::Backup).await;
        assert_eq!((s.copied, s.skipped, s.failed.len()), (2, 1, 0), "{s}");
        assert_eq!(get(&dst, "nfl/c").await, b"cccc");
        let manifest = to.manifest().await.unwrap().unwrap().unwrap();
        assert!(dst.get(&Path::from(format!("nfl/{}", plan::shard_of("a")))).await.is_ok());
        assert_eq!(manifest.objects.keys().collect::<Vec<_>>(), ["a", "b", "c"]);
        assert_eq!(manifest.objects["c"].sha256, plan::sha256(b"cccc"));

        // Unchanged: skipped from the manifest. Rewritten at the source: compared and copied.
        let s = run(&from, &to, Direction::Backup).await;
        assert_eq!((s.copied, s.skipped), (0, 3));
        put(&src, "a", b"AAAA").await;
        let s = run(&from, &to, Direction::Backup).await;
        assert_eq!((s.copied, s.skipped), (1, 2));
        assert_eq!(get(&dst, "nfl/a").await, b"AAAA");
    }

    #[tokio::test]
    async fn a_restore_checks_the_backups_checksums_and_needs_its_manifest() {
        let (_, from) = filled("mem://primary", "", &[("a", b"aaaa"), ("b", b"bbbb")]).await;
        let (dst, backup) = store("mem://backup", "");
        let (_, empty) = store("mem://empty", "");
        let err = copy(&empty, &backup, Direction::Restore, 1, &indicatif::ProgressBar::hidden())
            .await
            .unwrap_err()
            .1;
        assert!(matches!(err, StoreBackupError::NotABackup { .. }), "{err}");
        run(&from, &backup, Direction::Backup).await;
        put(&dst, "b", b"BBBB").await;
        let (restored, to) = store("mem://restored", "");
        let s = run(&backup, &to, Direction::Restore).await;
        assert_eq!((s.copied, s.failed.len()), (1, 1));
        assert_eq!(s.failed[0].0, "b");
        assert!(s.failed[0].1.contains("damaged"), "{}", s.failed[0].1);
        assert!(restored.get(&Path::from("b")).await.is_err(), "a damaged object is not restored");
        let err = copy(&backup, &backup, Direction::Backup, 1, &indicatif::ProgressBar::hidden())
            .await
            .unwrap_err()
            .1;
        assert!(matches!(err, StoreBackupError::SameStore(_)), "{err}");
    }

    #[test]
    fn the_summary_line_reads_as_documented() {
        let s = Summary {
            copied: 3,
            copied_bytes: 3 * 1024 * 1024 / 2,
            skipped: 7,
            failed: vec![("k".into(), "why".into())],
            elapsed: Duration::from_millis(2500),
        };
        assert_eq!(s.to_string(), "copied 3 objects (1.5 MiB), skipped 7 unchanged, 1 failed in 2.5 s");
    }
}
