//! Retention: deleting a writer's own objects once they are older than its retention.
//!
//! Snapshots (`v1/{book}/…`) and recommendation records (`recommendations/v1/{model}/{role}/…`)
//! share one layout below their owner's prefix: `{YYYY}/{MM}/{DD}/{HH}/{unix_millis}.json.gz`.
//! A pass walks that date tree oldest first, listing one level at a time and descending only
//! into periods that start before the cutoff, so a pass never lists the recent history it keeps.
//! Only the owner's prefix is ever listed (object store prefixes match whole path segments:
//! `v1/fan` never lists `v1/fanduel`), and each object is deleted only when the owner's own key
//! parser accepts it and its encoded time is before the cutoff; anything else is left alone.
//!
//! A pass is bounded: at most `budget` deletions are attempted, oldest first, and the report
//! says when more remain. Failures are counted and reported, never fatal: the writer carries on.

use chrono::{DateTime, Datelike, Duration, TimeZone, Utc};
use futures::{StreamExt, TryStreamExt};
use object_store::ObjectStore;
use object_store::path::Path;

/// Deletions attempted per pass at most (one S3 `DeleteObjects` request).
pub const MAX_DELETES_PER_PASS: usize = 1000;
/// Time between a writer's passes; the next pass comes at once while a pass leaves a backlog.
/// At one object a minute, 1000 deletions per pass clear a backlog ~100 times faster than it
/// grows.
pub const PASS_EVERY: std::time::Duration = std::time::Duration::from_secs(600);

/// What one pass did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PruneReport {
    /// Objects deleted (or already gone).
    pub deleted: u64,
    /// Objects that could not be deleted, plus listings that failed.
    pub failed: u64,
    /// The budget ran out: older objects may remain for the next pass.
    pub more: bool,
    /// The first failure, for the log (no credentials: object store errors name paths only).
    pub first_error: Option<String>,
}

impl PruneReport {
    fn fail(&mut self, n: u64, e: &object_store::Error) {
        self.failed += n;
        if self.first_error.is_none() {
            self.first_error = Some(crate::feed::provider::truncate(&e.to_string(), 300));
        }
    }
}

/// The start of the period a date prefix names (`[year]`, `[year, month]`, … up to the hour),
/// or None for a segment that is not a date of this layout.
fn period_start(parts: &[u32]) -> Option<DateTime<Utc>> {
    let (y, m, d, h) = (
        i32::try_from(*parts.first()?).ok()?,
        parts.get(1).copied().unwrap_or(1),
        parts.get(2).copied().unwrap_or(1),
        parts.get(3).copied().unwrap_or(0),
    );
    Utc.with_ymd_and_hms(y, m, d, h, 0, 0).single()
}

/// The end (exclusive) of that period.
fn period_end(parts: &[u32]) -> Option<DateTime<Utc>> {
    let start = period_start(parts)?;
    match parts.len() {
        1 => Utc.with_ymd_and_hms(start.year() + 1, 1, 1, 0, 0, 0).single(),
        2 if start.month() == 12 => Utc.with_ymd_and_hms(start.year() + 1, 1, 1, 0, 0, 0).single(),
        2 => Utc.with_ymd_and_hms(start.year(), start.month() + 1, 1, 0, 0, 0).single(),
        3 => Some(start + Duration::days(1)),
        _ => Some(start + Duration::hours(1)),
    }
}

/// Delete the objects below `root` whose time, as `owned` reads it from their full path, is
/// before `cutoff`; oldest first, at most `budget` attempts. `owned` returns None for anything
/// that is not an object of the owner's layout (staging files, other writers' objects).
pub async fn prune(
    store: &dyn ObjectStore,
    root: &Path,
    cutoff: DateTime<Utc>,
    budget: usize,
    owned: &(dyn Fn(&Path) -> Option<DateTime<Utc>> + Sync),
) -> PruneReport {
    let mut report = PruneReport::default();
    let mut left = budget;
    // Depth first; children pushed newest first so the oldest is popped next.
    let mut stack: Vec<(Path, Vec<u32>)> = vec![(root.clone(), Vec::new())];
    while let Some((prefix, parts)) = stack.pop() {
        if left == 0 {
            report.more = true;
            break;
        }
        let expired = !parts.is_empty() && period_end(&parts).is_some_and(|end| end <= cutoff);
        if expired || parts.len() == 4 {
            delete_expired(store, &prefix, cutoff, &mut left, owned, &mut report).await;
            continue;
        }
        let listed = match store.list_with_delimiter(Some(&prefix)).await {
            Ok(l) => l,
            Err(object_store::Error::NotFound { .. }) => continue,
            Err(e) => {
                report.fail(1, &e);
                continue;
            }
        };
        let width = if parts.is_empty() { 4 } else { 2 };
        let mut children: Vec<(Path, Vec<u32>)> = listed
            .common_prefixes
            .into_iter()
            .filter_map(|p| {
                let seg = p.filename()?;
                if seg.len() != width || !seg.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                let mut next = parts.clone();
                next.push(seg.parse().ok()?);
                (period_start(&next)? < cutoff).then_some((p, next))
            })
            .collect();
        children.sort_by(|a, b| b.1.cmp(&a.1));
        stack.extend(children);
    }
    report
}

async fn delete_expired(
    store: &dyn ObjectStore,
    prefix: &Path,
    cutoff: DateTime<Utc>,
    left: &mut usize,
    owned: &(dyn Fn(&Path) -> Option<DateTime<Utc>> + Sync),
    report: &mut PruneReport,
) {
    let want = *left;
    let listed: Result<Vec<Path>, object_store::Error> = store
        .list(Some(prefix))
        .try_filter_map(|m| {
            let old = owned(&m.location).is_some_and(|at| at < cutoff);
            futures::future::ready(Ok(old.then_some(m.location)))
        })
        .take(want)
        .try_collect()
        .await;
    let mut paths = match listed {
        Ok(p) => p,
        Err(object_store::Error::NotFound { .. }) => return,
        Err(e) => return report.fail(1, &e),
    };
    if paths.is_empty() {
        return;
    }
    paths.sort();
    let attempted = paths.len();
    *left -= attempted;
    if *left == 0 {
        report.more = true;
    }
    let locations = futures::stream::iter(paths.into_iter().map(Ok)).boxed();
    let results: Vec<_> = store.delete_stream(locations).collect().await;
    let mut gone = 0u64;
    let mut first: Option<object_store::Error> = None;
    for r in results {
        match r {
            Ok(_) | Err(object_store::Error::NotFound { .. }) => gone += 1,
            Err(e) => {
                first.get_or_insert(e);
            }
        }
    }
    // A failed batch reports one error for all its paths: count objects, not errors.
    let gone = gone.min(attempted as u64);
    report.deleted += gone;
    if let Some(e) = first {
        report.fail(attempted as u64 - gone, &e);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_cover_their_prefix_exactly() {
        let t = |y, m, d, h| Utc.with_ymd_and_hms(y, m, d, h, 0, 0).unwrap();
        assert_eq!(period_start(&[2024]), Some(t(2024, 1, 1, 0)));
        assert_eq!(period_end(&[2024]), Some(t(2025, 1, 1, 0)));
        assert_eq!(period_end(&[2024, 12]), Some(t(2025, 1, 1, 0)));
        assert_eq!(period_end(&[2024, 2]), Some(t(2024, 3, 1, 0)));
        assert_eq!(period_end(&[2024, 2, 29]), Some(t(2024, 3, 1, 0)), "leap day");
        assert_eq!(period_end(&[2024, 9, 8, 23]), Some(t(2024, 9, 9, 0)));
        assert_eq!(period_start(&[2023, 2, 29]), None, "not a date: never descended into");
        assert_eq!(period_start(&[2024, 13]), None);
    }
}
