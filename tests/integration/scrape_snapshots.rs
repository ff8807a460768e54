//! The snapshot store: atomic writes, reads and time-range listing on `file://`, and the same on
//! `s3://` against a local S3-compatible server (moto, started by `hack/s3-server.sh` on
//! 127.0.0.1). When that server cannot be started the S3 test fails and says why.

use crate::support;
use chrono::{DateTime, Duration as ChronoDuration, TimeZone, Utc};
use nflbet::crd::sportsbook::Market;
use nflbet::feed::quote::{Event, Quote, Selection};
use nflbet::feed::snapshot::{S3Options, Snapshot, SnapshotError, SnapshotStore};

fn at(h: u32, m: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 9, 8, h, m, 0).unwrap()
}

fn snapshot(book: &str, polled_at: DateTime<Utc>, quotes: usize) -> Snapshot {
    let mut s = Snapshot::new(book, "theOddsApi", polled_at);
    s.events.push(Event::new("ev1", "Kansas City Chiefs", "Baltimore Ravens", Some(at(17, 0))));
    for i in 0..quotes {
        s.quotes.push(Quote {
            event_id: "ev1".into(),
            game_id: s.events[0].game_id.clone(),
            book: "fanduel".into(),
            market: Market::Spread,
            selection: Selection::Team("KC".into()),
            line: Some(-3.0 - i as f64),
            american: -110,
            decimal: 1.0 + 100.0 / 110.0,
            observed_at: polled_at,
        });
    }
    s.rejected.insert("stale".into(), 2);
    s
}

/// Write snapshots across hours and days, then list ranges and read them back.
async fn exercise(store: &SnapshotStore) {
    let times = [
        at(16, 59),
        at(17, 0),
        at(17, 30),
        at(18, 0),
        at(23, 59),
        at(23, 59) + ChronoDuration::minutes(2), // next day, 00:01
        at(17, 0) + ChronoDuration::days(3),
    ];
    let mut keys = Vec::new();
    for (i, t) in times.iter().enumerate() {
        keys.push(store.write(&snapshot("fanduel-main", *t, i + 1)).await.unwrap());
    }
    store.write(&snapshot("draftkings", at(17, 30), 1)).await.unwrap();
    assert_eq!(keys[1], format!("v1/fanduel-main/2024/09/08/17/{}.json.gz", at(17, 0).timestamp_millis()));

    let list = |from, to| async move {
        store
            .list("fanduel-main", from, to)
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.polled_at)
            .collect::<Vec<_>>()
    };
    // Half-open ranges within an hour, across hours, across days, and across a gap.
    assert_eq!(list(at(17, 0), at(18, 0)).await, vec![at(17, 0), at(17, 30)]);
    assert_eq!(list(at(16, 0), at(18, 1)).await, vec![at(16, 59), at(17, 0), at(17, 30), at(18, 0)]);
    assert_eq!(list(at(23, 0), at(23, 0) + ChronoDuration::hours(2)).await.len(), 2);
    assert_eq!(list(at(0, 0), at(0, 0) + ChronoDuration::days(10)).await.len(), 7, "day prefixes");
    assert_eq!(list(at(19, 0), at(20, 0)).await, Vec::<DateTime<Utc>>::new());
    assert!(list(at(18, 0), at(17, 0)).await.is_empty(), "empty range");
    let refs = store.list("draftkings", at(0, 0), at(23, 0)).await.unwrap();
    assert_eq!(refs.len(), 1, "books do not mix");
    assert!(refs[0].size > 20);

    for (i, key) in keys.iter().enumerate() {
        let s = store.read(key).await.unwrap();
        assert_eq!(s.version, 1);
        assert_eq!(s.format, "nflbet.snapshot");
        assert_eq!(s.quotes.len(), i + 1);
        assert_eq!(s.polled_at, times[i]);
        assert_eq!(s.events[0].game_id.as_deref(), Some("2024_01_BAL_KC"));
        assert_eq!(s.rejected.get("stale"), Some(&2));
    }
    let latest = store.latest("fanduel-main", at(23, 0), ChronoDuration::hours(12)).await.unwrap().unwrap();
    assert_eq!(latest.polled_at, at(18, 0));
    assert!(matches!(
        store.read("v1/fanduel-main/2024/09/08/17/nope.json.gz").await,
        Err(SnapshotError::InvalidKey(_))
    ));
    assert!(store.read(&keys[0].replace("16/", "15/")).await.is_err());
}

#[tokio::test]
async fn file_store_round_trip_and_ranges() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("file://{}/snapshots", dir.path().display());
    let store = SnapshotStore::open(&url, &S3Options::default()).unwrap();
    exercise(&store).await;

    // On disk: gzip objects at the documented paths, and no staging leftovers.
    let mut files = Vec::new();
    let mut stack = vec![dir.path().to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() { stack.push(p) } else { files.push(p) }
        }
    }
    assert_eq!(files.len(), 8);
    for f in &files {
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        assert!(name.ends_with(".json.gz") && !name.contains('#'), "{name}");
        assert_eq!(&std::fs::read(f).unwrap()[..2], &[0x1f, 0x8b]);
    }
}

#[tokio::test]
async fn staging_files_are_not_listed_and_torn_objects_do_not_decode() {
    // What a crash can leave: a `#n` staging file (between the staging write and the rename) is
    // never listed, and a torn object under a real key is refused as undecodable, not misread.
    // `snapshot_atomicity.rs` shows that real crashes and concurrent readers never see either.
    let dir = tempfile::tempdir().unwrap();
    let url = format!("file://{}", dir.path().display());
    let store = SnapshotStore::open(&url, &S3Options::default()).unwrap();
    let key = store.write(&snapshot("fd", at(17, 0), 3)).await.unwrap();
    let full = dir.path().join(&key);
    let bytes = std::fs::read(&full).unwrap();
    let staged = format!("{}#1", full.display());
    std::fs::write(&staged, &bytes[..bytes.len() / 2]).unwrap();
    let refs = store.list("fd", at(0, 0), at(23, 0)).await.unwrap();
    assert_eq!(refs.len(), 1, "staging files are not listed");
    assert_eq!(store.read(&key).await.unwrap().quotes.len(), 3);

    let torn = SnapshotStore::key_for("fd", at(17, 5)).unwrap();
    std::fs::write(dir.path().join(&torn), &bytes[..bytes.len() / 2]).unwrap();
    assert!(matches!(store.read(&torn).await, Err(SnapshotError::Decode(_))));
}

#[tokio::test]
async fn s3_store_against_a_local_server() {
    nflbet::cli::install_crypto_provider();
    let server = support::s3::S3Server::start();
    let bucket = "nflbet-snapshots";
    server.create_bucket(bucket).await;
    let opts = S3Options {
        endpoint: Some(server.endpoint.clone()),
        region: Some("us-east-1".into()),
        credentials: Some(("testing".into(), "testing".into())),
        // The local S3 server is on 127.0.0.1 over http: allowed explicitly.
        egress: crate::support::loopback_egress(),
    };
    let store = SnapshotStore::open(&format!("s3://{bucket}/prod/snapshots"), &opts).unwrap();
    exercise(&store).await;

    // The objects sit under the URL's prefix, at the documented keys.
    let listing = reqwest::get(format!(
        "{}/{bucket}?list-type=2&prefix=prod/snapshots/v1/fanduel-main/2024/09/08/17/",
        server.endpoint
    ))
    .await
    .unwrap()
    .text()
    .await
    .unwrap();
    let key =
        format!("prod/snapshots/v1/fanduel-main/2024/09/08/17/{}.json.gz", at(17, 0).timestamp_millis());
    assert!(listing.contains(&key), "{listing}");
}
