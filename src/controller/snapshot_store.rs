//! Where a workload's snapshot store is, as the other pods see it. Pure.
//!
//! A scraper writes `<store URL>/v1/<book>/…` and a model reads `<its store URL>/v1/<book>/…` for
//! each book it prices (docs/snapshots.md), so a model sees a book's snapshots only when both
//! name the same store:
//! - `s3://bucket/prefix`: the same bucket and prefix at the same endpoint (`storage.s3.endpoint`,
//!   none meaning AWS). Region and credentials do not matter: a book may write with other keys
//!   than the model reads with.
//! - `file://` under the data directory (`/var/lib/nflbet`): the same path on the same
//!   `persistentVolumeClaim`. Without a claim the data directory is the pod's own emptyDir, so
//!   nobody else sees it; a path outside the data directory is on the pod's own (read-only)
//!   filesystem.
//!
//! URLs are compared after normalisation (`s3://b/p/` is `s3://b/p`, `file:///a//b/` is
//! `file:///a/b`).

use super::workload_objects::{DATA_DIR, store_url};
use crate::crd::sportsbook::StorageSettings;
use std::fmt;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreLocation {
    /// Seen by this pod only: on its emptyDir, or outside the data directory.
    PodLocal { url: String },
    /// A directory on a PersistentVolumeClaim mounted at the data directory.
    Volume { claim: String, url: String },
    /// A bucket and prefix (`url`) at an S3 endpoint (`None`: AWS).
    S3 { endpoint: Option<String>, url: String },
}

impl StoreLocation {
    /// Where a workload with these storage settings keeps its snapshots.
    pub fn of(storage: Option<&StorageSettings>) -> StoreLocation {
        let raw = store_url(storage);
        let Ok(parsed) = url::Url::parse(&raw) else { return StoreLocation::PodLocal { url: raw } };
        let path = parsed.path().split('/').filter(|s| !s.is_empty()).collect::<Vec<_>>().join("/");
        match parsed.scheme() {
            "s3" => {
                let bucket = parsed.host_str().unwrap_or_default();
                let url =
                    if path.is_empty() { format!("s3://{bucket}") } else { format!("s3://{bucket}/{path}") };
                let endpoint = storage
                    .and_then(|s| s.s3.as_ref())
                    .and_then(|s3| s3.endpoint.as_deref())
                    .map(|e| e.trim_end_matches('/').to_string())
                    .filter(|e| !e.is_empty());
                StoreLocation::S3 { endpoint, url }
            }
            "file" => {
                let url = format!("file:///{path}");
                let claim = storage.and_then(|s| s.persistent_volume_claim.clone()).filter(|c| !c.is_empty());
                match claim {
                    Some(claim) if in_data_dir(&path) => StoreLocation::Volume { claim, url },
                    _ => StoreLocation::PodLocal { url },
                }
            }
            _ => StoreLocation::PodLocal { url: raw },
        }
    }

    /// True when a workload reading here sees what one writing at `writer` wrote.
    pub fn sees(&self, writer: &StoreLocation) -> bool {
        !matches!(self, StoreLocation::PodLocal { .. }) && self == writer
    }
}

/// `path` (without its leading slash) is the data directory or below it.
fn in_data_dir(path: &str) -> bool {
    let data = DATA_DIR.trim_start_matches('/');
    path == data || path.strip_prefix(data).is_some_and(|rest| rest.starts_with('/'))
}

/// An endpoint as it may be shown: without user information, which may hold credentials.
fn shown_endpoint(endpoint: &str) -> String {
    match url::Url::parse(endpoint) {
        Ok(mut u) if !u.username().is_empty() || u.password().is_some() => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.to_string().trim_end_matches('/').to_string()
        }
        Ok(_) => endpoint.to_string(),
        Err(_) => "an unparsable endpoint".to_string(),
    }
}

impl fmt::Display for StoreLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreLocation::PodLocal { url } => {
                let on_data_dir = url.strip_prefix("file:///").is_some_and(in_data_dir);
                if on_data_dir {
                    write!(f, "{url} on the pod's own emptyDir (no persistentVolumeClaim)")
                } else {
                    write!(f, "{url} on the pod's own filesystem (outside {DATA_DIR})")
                }
            }
            StoreLocation::Volume { claim, url } => write!(f, "{url} on PersistentVolumeClaim {claim}"),
            StoreLocation::S3 { endpoint: None, url } => write!(f, "{url}"),
            StoreLocation::S3 { endpoint: Some(e), url } => write!(f, "{url} at {}", shown_endpoint(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(storage: serde_json::Value) -> StoreLocation {
        StoreLocation::of(Some(&serde_json::from_value(storage).unwrap()))
    }

    #[test]
    fn no_storage_is_the_pods_own_empty_dir_and_shares_with_nobody() {
        let default = StoreLocation::of(None);
        assert_eq!(default, StoreLocation::PodLocal { url: "file:///var/lib/nflbet/snapshots".into() });
        assert!(!default.sees(&default), "two pods' emptyDirs are two stores");
        assert_eq!(
            default.to_string(),
            "file:///var/lib/nflbet/snapshots on the pod's own emptyDir (no persistentVolumeClaim)"
        );
        let no_claim = at(serde_json::json!({"url": "file:///var/lib/nflbet/snapshots"}));
        assert_eq!(no_claim, default);
    }

    #[test]
    fn a_directory_is_shared_through_the_same_claim_only() {
        let model = at(
            serde_json::json!({"url": "file:///var/lib/nflbet/snapshots", "persistentVolumeClaim": "snaps"}),
        );
        let same = at(
            serde_json::json!({"url": "file:///var/lib/nflbet//snapshots/", "persistentVolumeClaim": "snaps"}),
        );
        let other_claim = at(
            serde_json::json!({"url": "file:///var/lib/nflbet/snapshots", "persistentVolumeClaim": "other"}),
        );
        let other_dir =
            at(serde_json::json!({"url": "file:///var/lib/nflbet/books", "persistentVolumeClaim": "snaps"}));
        let claim_only = at(serde_json::json!({"persistentVolumeClaim": "snaps"}));
        assert!(model.sees(&same));
        assert!(model.sees(&claim_only), "the default URL on the same claim");
        assert!(!model.sees(&other_claim));
        assert!(!model.sees(&other_dir));
        assert_eq!(model.to_string(), "file:///var/lib/nflbet/snapshots on PersistentVolumeClaim snaps");
    }

    #[test]
    fn a_path_outside_the_data_directory_is_never_shared() {
        let outside =
            at(serde_json::json!({"url": "file:///var/lib/nflbetx/s", "persistentVolumeClaim": "snaps"}));
        assert!(matches!(outside, StoreLocation::PodLocal { .. }));
        assert!(!outside.sees(&outside));
        assert!(outside.to_string().contains("own filesystem (outside /var/lib/nflbet)"), "{outside}");
        let root = at(serde_json::json!({"url": "file:///var/lib/nflbet", "persistentVolumeClaim": "snaps"}));
        assert!(root.sees(&root), "the data directory itself is on the claim");
    }

    #[test]
    fn s3_is_shared_by_bucket_prefix_and_endpoint() {
        let model = at(serde_json::json!({"url": "s3://snaps/nfl", "s3": {"region": "eu-west-1"}}));
        let same = at(serde_json::json!({"url": "s3://snaps/nfl/", "s3": {"region": "us-east-1"}}));
        let other_prefix = at(serde_json::json!({"url": "s3://snaps/nfl/draftkings"}));
        let other_endpoint =
            at(serde_json::json!({"url": "s3://snaps/nfl", "s3": {"endpoint": "http://minio:9000"}}));
        assert!(model.sees(&same), "region and credentials do not matter");
        assert!(!model.sees(&other_prefix), "the model reads <url>/v1/<book>, not <url>/<book>/v1");
        assert!(!model.sees(&other_endpoint));
        assert_eq!(model.to_string(), "s3://snaps/nfl");
    }

    #[test]
    fn credentials_in_an_endpoint_are_never_shown() {
        let s3 =
            at(serde_json::json!({"url": "s3://snaps", "s3": {"endpoint": "http://key:secret@minio:9000/"}}));
        assert_eq!(s3.to_string(), "s3://snaps at http://minio:9000");
    }
}
