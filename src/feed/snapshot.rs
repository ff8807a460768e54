//! Snapshots: one compressed, versioned JSON object per successful poll, in an object store.
//!
//! Layout (relative to the store URL): `v1/{sportsbook}/{YYYY}/{MM}/{DD}/{HH}/{unix_millis}.json.gz`
//! with the UTC time of the poll. Listing a time range lists only the hour or day prefixes that
//! overlap it, so a reader never scans a book's whole history. The format is in
//! `docs/snapshots.md`.
//!
//! Atomicity: an object is either absent or complete. `file://` writes go to a staging file that is
//! renamed into place (object_store's `LocalFileSystem`, fsync on), and listing ignores staging
//! files; `s3://` writes are single PutObject requests, which S3 publishes whole or not at all.

use super::provider::{Quota, truncate};
use super::quote::{Event, Quote};
use super::retention::{self, PruneReport};
use super::stored_object::{self, Limits, ObjectError};
use bytes::Bytes;
use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Timelike, Utc};
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

/// `format` field of every snapshot.
pub const FORMAT: &str = "nflbet.snapshot";
/// Version written by this build; readers accept exactly the versions they know.
pub const VERSION: u32 = 1;
/// Largest decompressed snapshot (its JSON) a reader accepts, and a writer stores.
///
/// Derived from the workloads' default memory limit, 256 MiB: a reader holds one snapshot at a
/// time, as its compressed bytes (at most [`MAX_STORED_BYTES`]) plus the quotes decoded from at
/// most 64 MiB of JSON (the JSON itself is never buffered), well under half the limit next to
/// the process's own ~20 MiB. A real snapshot is far smaller: one book's NFL slate is ~100 KiB
/// of JSON (docs/snapshots.md, docs/benchmarks.md for measured peaks).
pub const MAX_DECOMPRESSED_BYTES: u64 = 64 * 1024 * 1024;
/// Largest stored (compressed) snapshot a reader reads; checked against the listed or reported
/// size before the body is read, and counted while it streams in.
pub const MAX_STORED_BYTES: u64 = 16 * 1024 * 1024;
/// The snapshot caps together.
pub const LIMITS: Limits = Limits { stored: MAX_STORED_BYTES, decompressed: MAX_DECOMPRESSED_BYTES };

/// One poll's worth of validated quotes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    /// Always [`FORMAT`].
    pub format: String,
    /// Format version, [`VERSION`] when written by this build.
    pub version: u32,
    /// Name of the Sportsbook resource that polled.
    pub sportsbook: String,
    /// Feed provider (`theOddsApi`, `genericJson`).
    pub provider: String,
    /// When the poll's response was received (UTC); the object key derives from it.
    pub polled_at: DateTime<Utc>,
    /// Quotes dropped by validation, by reason.
    #[serde(default)]
    pub rejected: BTreeMap<String, u64>,
    /// Provider quota after this poll, when reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota: Option<Quota>,
    pub events: Vec<Event>,
    pub quotes: Vec<Quote>,
}

impl Snapshot {
    pub fn new(sportsbook: &str, provider: &str, polled_at: DateTime<Utc>) -> Snapshot {
        Snapshot {
            format: FORMAT.into(),
            version: VERSION,
            sportsbook: sportsbook.into(),
            provider: provider.into(),
            polled_at,
            rejected: BTreeMap::new(),
            quota: None,
            events: Vec::new(),
            quotes: Vec::new(),
        }
    }

    /// Gzip-compressed JSON, as stored; refused when over [`MAX_DECOMPRESSED_BYTES`], which no
    /// reader would accept.
    pub fn encode(&self) -> Result<Vec<u8>, SnapshotError> {
        stored_object::encode(self, MAX_DECOMPRESSED_BYTES).map_err(|e| match e {
            ObjectError::DecompressedTooLarge { limit } => SnapshotError::EncodeTooLarge { limit },
            e => SnapshotError::Encode(e.to_string()),
        })
    }

    /// Decode a stored object, checking format and version; at most [`MAX_DECOMPRESSED_BYTES`]
    /// are decompressed, streamed into the decoder.
    pub fn decode(bytes: &[u8]) -> Result<Snapshot, SnapshotError> {
        Snapshot::decode_within(bytes, MAX_DECOMPRESSED_BYTES)
    }

    /// [`Snapshot::decode`] with another decompressed cap.
    pub fn decode_within(bytes: &[u8], limit: u64) -> Result<Snapshot, SnapshotError> {
        let refused = |e: ObjectError| match e {
            ObjectError::DecompressedTooLarge { limit } => SnapshotError::DecompressedTooLarge { limit },
            e => SnapshotError::Decode(e.to_string()),
        };
        #[derive(Deserialize)]
        struct Head {
            format: String,
            version: u32,
        }
        let unsupported =
            |h: Head| SnapshotError::UnsupportedVersion { format: h.format, version: h.version };
        match stored_object::decode::<Snapshot>(bytes, limit) {
            Ok(s) if s.format == FORMAT && s.version == VERSION => Ok(s),
            Ok(s) => Err(unsupported(Head { format: s.format, version: s.version })),
            Err(e) if e.is_too_large() => Err(refused(e)),
            // Another format or version may not decode as this one: say which it is.
            Err(e) => match stored_object::decode::<Head>(bytes, limit) {
                Ok(h) if h.format != FORMAT || h.version != VERSION => Err(unsupported(h)),
                _ => Err(refused(e)),
            },
        }
    }
}

/// Failures of the snapshot store; all are `error_type="storage"` in the scraper's metrics.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("invalid store URL {0:?}: expected file:///path or s3://bucket[/prefix]")]
    InvalidUrl(String),
    #[error("cannot open the snapshot store: {0}")]
    Open(String),
    #[error("sportsbook name {0:?} is not a valid path segment (lowercase DNS label expected)")]
    InvalidSportsbook(String),
    #[error("{0:?} is not a snapshot key of this layout")]
    InvalidKey(String),
    #[error("cannot encode the snapshot: {0}")]
    Encode(String),
    #[error("the snapshot's JSON is over {limit} bytes, more than readers accept; not stored")]
    EncodeTooLarge { limit: u64 },
    #[error("snapshot {key} is {size} bytes stored, over the {limit}-byte limit; skipped unread")]
    StoredTooLarge { key: String, size: u64, limit: u64 },
    #[error("the snapshot decompresses to more than {limit} bytes; refused")]
    DecompressedTooLarge { limit: u64 },
    #[error("cannot write snapshot {key}: {}", store_error(source))]
    Write { key: String, source: object_store::Error },
    #[error("cannot read {key}: {}", store_error(source))]
    Read { key: String, source: object_store::Error },
    #[error("cannot list snapshots: {}", store_error(.0))]
    List(object_store::Error),
    #[error("the snapshot store is not allowed: {0}")]
    Egress(#[from] crate::egress::EgressError),
    #[error("cannot decode the snapshot: {0}")]
    Decode(String),
    #[error("unsupported snapshot format {format:?} version {version}")]
    UnsupportedVersion { format: String, version: u32 },
}

impl SnapshotError {
    pub fn error_type(&self) -> &'static str {
        "storage"
    }

    /// Refused for its size (stored or decompressed), not for being unreadable.
    pub fn is_too_large(&self) -> bool {
        matches!(
            self,
            SnapshotError::StoredTooLarge { .. }
                | SnapshotError::DecompressedTooLarge { .. }
                | SnapshotError::EncodeTooLarge { .. }
        )
    }
}

/// An object store error without the body of the server's answer: an S3 error body is the
/// server's text (it may echo request details) and must not reach status, Events or logs. What
/// is kept: the operation, the path, the HTTP status, and transport errors (which are ours).
pub fn store_error(e: &object_store::Error) -> String {
    const BODY_AFTER: [&str; 2] = ["Server returned error response:", "Server returned non-2xx status code:"];
    let text = e.to_string();
    for marker in BODY_AFTER {
        if let Some(at) = text.find(marker) {
            let rest = &text[at + marker.len()..];
            // Keep the status code (`403 Forbidden`) that follows the second marker, nothing else.
            let status: String =
                rest.trim_start().chars().take_while(|c| c.is_ascii_digit()).take(3).collect();
            let head = &text[..at];
            return if status.is_empty() {
                format!("{head}server returned an error (body not shown)")
            } else {
                format!("{head}server answered HTTP {status} (body not shown)")
            };
        }
    }
    truncate(&text, 500)
}

/// S3 connection settings beyond the URL; credentials come from the standard `AWS_*`
/// environment variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`).
#[derive(Clone, Debug, Default)]
pub struct S3Options {
    /// Endpoint of an S3-compatible store (`http://127.0.0.1:9000`); default AWS.
    pub endpoint: Option<String>,
    pub region: Option<String>,
    /// Static credentials; when None the `AWS_*` environment (or the platform's credential
    /// chain) is used.
    pub credentials: Option<(String, String)>,
    /// Where S3 credentials may be sent and which addresses are refused; the default allows
    /// only AWS itself over https.
    pub egress: crate::egress::Egress,
}

/// Open the object store behind a store URL: `file:///path` (created if missing; writes go to
/// fsync'd staging files renamed into place) or `s3://bucket[/prefix]` (one PutObject per
/// object). Returns the store and the base path inside it. Snapshots and the model workload's
/// records share this, so both are complete or absent, never partial.
pub fn open_object_store(url: &str, s3: &S3Options) -> Result<(Arc<dyn ObjectStore>, Path), SnapshotError> {
    let parsed = url::Url::parse(url).map_err(|_| SnapshotError::InvalidUrl(url.into()))?;
    match parsed.scheme() {
        "file" => {
            let dir = parsed.to_file_path().map_err(|_| SnapshotError::InvalidUrl(url.into()))?;
            std::fs::create_dir_all(&dir)
                .map_err(|e| SnapshotError::Open(format!("{}: {e}", dir.display())))?;
            let fs = object_store::local::LocalFileSystem::new_with_prefix(&dir)
                .map_err(|e| SnapshotError::Open(e.to_string()))?
                .with_fsync(true)
                .with_automatic_cleanup(true);
            Ok((Arc::new(fs), Path::default()))
        }
        "s3" => {
            let bucket = parsed
                .host_str()
                .filter(|b| !b.is_empty())
                .ok_or_else(|| SnapshotError::InvalidUrl(url.into()))?;
            use object_store::aws::AmazonS3ConfigKey;
            let mut b = object_store::aws::AmazonS3Builder::from_env().with_bucket_name(bucket);
            if let Some(ep) = s3.endpoint.as_deref().filter(|e| !e.is_empty()) {
                b = b.with_endpoint(ep);
            }
            // The endpoint the requests will go to, wherever it was set (flag or AWS_* variable):
            // S3 credentials go there only if the policy allows, and over http only if allowed.
            let endpoint = b
                .get_config_value(&AmazonS3ConfigKey::S3Endpoint)
                .or_else(|| b.get_config_value(&AmazonS3ConfigKey::Endpoint));
            let allow_http = s3.egress.check_s3_endpoint(endpoint.as_deref())?;
            b = b
                .with_allow_http(allow_http)
                .with_http_connector(crate::egress::GuardedConnector(s3.egress.resolver()));
            if let Some(r) = s3.region.as_deref().filter(|r| !r.is_empty()) {
                b = b.with_region(r);
            }
            if let Some((id, secret)) = &s3.credentials {
                b = b.with_access_key_id(id).with_secret_access_key(secret);
            }
            let store = b.build().map_err(|e| SnapshotError::Open(e.to_string()))?;
            Ok((Arc::new(store), Path::from(parsed.path().trim_matches('/'))))
        }
        _ => Err(SnapshotError::InvalidUrl(url.into())),
    }
}

/// A snapshot listed by [`SnapshotStore::list`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotRef {
    /// Key relative to the store URL; pass it to [`SnapshotStore::read`].
    pub key: String,
    pub polled_at: DateTime<Utc>,
    pub size: u64,
}

/// Where snapshots live: an object store and a base path in it.
#[derive(Clone, Debug)]
pub struct SnapshotStore {
    store: Arc<dyn ObjectStore>,
    base: Path,
    url: String,
}

impl SnapshotStore {
    /// Open `file:///path` (created if missing) or `s3://bucket[/prefix]`.
    pub fn open(url: &str, s3: &S3Options) -> Result<SnapshotStore, SnapshotError> {
        let (store, base) = open_object_store(url, s3)?;
        Ok(SnapshotStore { store, base, url: url.into() })
    }

    /// Wrap an existing object store (tests, in-memory stores).
    pub fn from_store(store: Arc<dyn ObjectStore>, base: &str, url: &str) -> SnapshotStore {
        SnapshotStore { store, base: Path::from(base.trim_matches('/')), url: url.into() }
    }

    /// The URL this store was opened with.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Key of a sportsbook's snapshot taken at `at`.
    pub fn key_for(sportsbook: &str, at: DateTime<Utc>) -> Result<String, SnapshotError> {
        check_sportsbook(sportsbook)?;
        Ok(format!("{}/{}.json.gz", hour_prefix(sportsbook, at), at.timestamp_millis()))
    }

    fn full(&self, key: &str) -> Path {
        if self.base.as_ref().is_empty() {
            Path::from(key)
        } else {
            Path::from(format!("{}/{key}", self.base))
        }
    }

    /// Write a snapshot atomically; returns its key.
    pub async fn write(&self, snap: &Snapshot) -> Result<String, SnapshotError> {
        let key = Self::key_for(&snap.sportsbook, snap.polled_at)?;
        let body = snap.encode()?;
        self.store
            .put(&self.full(&key), PutPayload::from(Bytes::from(body)))
            .await
            .map_err(|source| SnapshotError::Write { key: key.clone(), source })?;
        Ok(key)
    }

    /// Read and decode one snapshot by key. The size the store reports is checked before the
    /// body is read (see [`stored_object::read`]).
    pub async fn read(&self, key: &str) -> Result<Snapshot, SnapshotError> {
        self.read_checked(key, None).await
    }

    /// Read and decode a listed snapshot; its listed size is checked before any request.
    pub async fn read_listed(&self, r: &SnapshotRef) -> Result<Snapshot, SnapshotError> {
        self.read_checked(&r.key, Some(r.size)).await
    }

    async fn read_checked(&self, key: &str, listed_size: Option<u64>) -> Result<Snapshot, SnapshotError> {
        parse_key(key).ok_or_else(|| SnapshotError::InvalidKey(key.into()))?;
        let bytes = stored_object::read(self.store.as_ref(), &self.full(key), listed_size, LIMITS)
            .await
            .map_err(|e| match e {
                ObjectError::StoredTooLarge { size, limit } => {
                    SnapshotError::StoredTooLarge { key: key.into(), size, limit }
                }
                ObjectError::Store(source) => SnapshotError::Read { key: key.into(), source },
                e => SnapshotError::Decode(e.to_string()),
            })?;
        Snapshot::decode(&bytes)
    }

    /// Snapshots of a sportsbook polled in `[from, to)`, oldest first. Lists one prefix per
    /// overlapping hour for short ranges and one per day otherwise.
    pub async fn list(
        &self,
        sportsbook: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<SnapshotRef>, SnapshotError> {
        check_sportsbook(sportsbook)?;
        if to <= from {
            return Ok(Vec::new());
        }
        let last = to - Duration::milliseconds(1);
        let prefixes: Vec<String> = if last - from <= Duration::hours(6) {
            let mut t = truncate_hour(from);
            let mut v = Vec::new();
            while t <= last {
                v.push(hour_prefix(sportsbook, t));
                t += Duration::hours(1);
            }
            v
        } else {
            let mut d = from.date_naive();
            let mut v = Vec::new();
            while d <= last.date_naive() {
                v.push(day_prefix(sportsbook, d));
                d = d.succ_opt().unwrap_or(d);
                if v.len() > 366 * 50 {
                    break;
                }
            }
            v
        };
        let mut out = Vec::new();
        for p in prefixes {
            let prefix = self.full(&p);
            let metas: Vec<_> =
                self.store.list(Some(&prefix)).try_collect().await.map_err(SnapshotError::List)?;
            for m in metas {
                let Some(key) = self.relative(&m.location) else {
                    continue;
                };
                let Some(at) = parse_key(&key) else { continue };
                if at >= from && at < to {
                    out.push(SnapshotRef { key, polled_at: at, size: m.size });
                }
            }
        }
        out.sort_by(|a, b| a.polled_at.cmp(&b.polled_at).then_with(|| a.key.cmp(&b.key)));
        out.dedup_by(|a, b| a.key == b.key);
        Ok(out)
    }

    /// The poll time of a sportsbook's newest snapshot, however old, if it has any. Walks the
    /// dated prefixes down from the newest (year, month, day, hour: a few list requests), so it
    /// does not depend on how far back to look.
    pub async fn newest(&self, sportsbook: &str) -> Result<Option<DateTime<Utc>>, SnapshotError> {
        check_sportsbook(sportsbook)?;
        let root = self.full(&format!("v{VERSION}/{sportsbook}"));
        // Depth first, newest first; a period whose objects were all deleted is skipped.
        let mut stack: Vec<(Path, usize)> = vec![(root, 0)];
        while let Some((prefix, depth)) = stack.pop() {
            if depth == 4 {
                let metas: Vec<_> =
                    self.store.list(Some(&prefix)).try_collect().await.map_err(SnapshotError::List)?;
                let newest = metas
                    .iter()
                    .filter_map(|m| self.relative(&m.location))
                    .filter_map(|k| parse_key(&k))
                    .max();
                if newest.is_some() {
                    return Ok(newest);
                }
                continue;
            }
            let listed = match self.store.list_with_delimiter(Some(&prefix)).await {
                Ok(l) => l,
                Err(object_store::Error::NotFound { .. }) => continue,
                Err(e) => return Err(SnapshotError::List(e)),
            };
            let width = if depth == 0 { 4 } else { 2 };
            let mut periods: Vec<Path> = listed
                .common_prefixes
                .into_iter()
                .filter(|p| {
                    p.filename()
                        .is_some_and(|seg| seg.len() == width && seg.bytes().all(|b| b.is_ascii_digit()))
                })
                .collect();
            // Oldest first onto the stack, so the newest is popped next.
            periods.sort_by(|a, b| a.filename().cmp(&b.filename()));
            stack.extend(periods.into_iter().map(|p| (p, depth + 1)));
        }
        Ok(None)
    }

    /// The newest snapshot of a sportsbook within `lookback` of `now`, if any.
    pub async fn latest(
        &self,
        sportsbook: &str,
        now: DateTime<Utc>,
        lookback: Duration,
    ) -> Result<Option<SnapshotRef>, SnapshotError> {
        let to = now + Duration::milliseconds(1);
        Ok(self.list(sportsbook, now - lookback, to).await?.pop())
    }

    /// Delete this book's snapshots polled before `cutoff`, oldest first, at most `budget` of
    /// them ([`retention::prune`]). Only keys of this layout under `v1/{sportsbook}/` are
    /// touched; another book's objects, staging files and strangers never are.
    pub async fn prune(
        &self,
        sportsbook: &str,
        cutoff: DateTime<Utc>,
        budget: usize,
    ) -> Result<PruneReport, SnapshotError> {
        check_sportsbook(sportsbook)?;
        let own = format!("v{VERSION}/{sportsbook}/");
        let owned = |p: &Path| -> Option<DateTime<Utc>> {
            let key = self.relative(p)?;
            if !key.starts_with(&own) {
                return None;
            }
            parse_key(&key)
        };
        let root = self.full(own.trim_end_matches('/'));
        Ok(retention::prune(self.store.as_ref(), &root, cutoff, budget, &owned).await)
    }

    fn relative(&self, location: &Path) -> Option<String> {
        let s = location.as_ref();
        let base = self.base.as_ref();
        if base.is_empty() {
            return Some(s.to_owned());
        }
        s.strip_prefix(base).and_then(|r| r.strip_prefix('/')).map(str::to_owned)
    }
}

fn check_sportsbook(name: &str) -> Result<(), SnapshotError> {
    let ok = !name.is_empty()
        && name.len() <= 253
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && !name.starts_with(['-', '.'])
        && name != "..";
    if ok { Ok(()) } else { Err(SnapshotError::InvalidSportsbook(name.into())) }
}

fn truncate_hour(t: DateTime<Utc>) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(t.year(), t.month(), t.day(), t.hour(), 0, 0).single().unwrap_or(t)
}

fn day_prefix(book: &str, d: NaiveDate) -> String {
    format!("v{VERSION}/{book}/{:04}/{:02}/{:02}/", d.year(), d.month(), d.day())
}

fn hour_prefix(book: &str, t: DateTime<Utc>) -> String {
    format!("v{VERSION}/{book}/{:04}/{:02}/{:02}/{:02}", t.year(), t.month(), t.day(), t.hour())
}

/// The poll time encoded in a key, checking that the key is consistent with its own prefix.
pub fn parse_key(key: &str) -> Option<DateTime<Utc>> {
    let mut parts = key.split('/');
    let v = parts.next()?;
    let book = parts.next()?;
    let (y, m, d, h) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let file = parts.next()?;
    if parts.next().is_some() || v != format!("v{VERSION}") || check_sportsbook(book).is_err() {
        return None;
    }
    let millis: i64 = file.strip_suffix(".json.gz")?.parse().ok()?;
    let at = Utc.timestamp_millis_opt(millis).single()?;
    let expected = hour_prefix(book, at);
    (expected == format!("{v}/{book}/{y}/{m}/{d}/{h}")).then_some(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip() {
        let at = Utc.with_ymd_and_hms(2025, 9, 7, 17, 4, 5).unwrap() + Duration::milliseconds(123);
        let key = SnapshotStore::key_for("fanduel-main", at).unwrap();
        assert_eq!(key, format!("v1/fanduel-main/2025/09/07/17/{}.json.gz", at.timestamp_millis()));
        assert_eq!(parse_key(&key), Some(at));
        assert_eq!(parse_key("v1/fanduel-main/2025/09/07/18/1757264645123.json.gz"), None, "hour mismatch");
        assert_eq!(parse_key("v1/fanduel-main/2025/09/07/17/x.json.gz"), None);
        assert_eq!(parse_key("v1/fanduel-main/2025/09/07/17/1757264645123.json.gz#1"), None);
        assert!(SnapshotStore::key_for("../etc", at).is_err());
        assert!(SnapshotStore::key_for("Fan Duel", at).is_err());
    }

    #[tokio::test]
    async fn newest_finds_the_latest_snapshot_however_old_and_only_the_book_s() {
        let store =
            SnapshotStore::from_store(Arc::new(object_store::memory::InMemory::new()), "odds", "mem://");
        assert_eq!(store.newest("fd").await.unwrap(), None);
        let at = |y, m, d, h| Utc.with_ymd_and_hms(y, m, d, h, 7, 0).unwrap();
        for t in [at(2019, 12, 31, 23), at(2023, 9, 10, 17), at(2023, 9, 10, 9), at(2023, 1, 2, 3)] {
            store.write(&Snapshot::new("fd", "genericJson", t)).await.unwrap();
        }
        store.write(&Snapshot::new("other", "genericJson", at(2025, 1, 1, 0))).await.unwrap();
        assert_eq!(store.newest("fd").await.unwrap(), Some(at(2023, 9, 10, 17)));
        assert_eq!(store.newest("other").await.unwrap(), Some(at(2025, 1, 1, 0)));
    }

    #[test]
    fn encode_decode_and_version_check() {
        let s = Snapshot::new("fd", "theOddsApi", Utc::now());
        let bytes = s.encode().unwrap();
        assert_eq!(&bytes[..2], &[0x1f, 0x8b], "gzip magic");
        assert_eq!(Snapshot::decode(&bytes).unwrap(), s);
        let mut v2 = s.clone();
        v2.version = 2;
        assert!(matches!(
            Snapshot::decode(&v2.encode().unwrap()),
            Err(SnapshotError::UnsupportedVersion { .. })
        ));
        assert!(matches!(Snapshot::decode(b"not gzip"), Err(SnapshotError::Decode(_))));
    }
}
