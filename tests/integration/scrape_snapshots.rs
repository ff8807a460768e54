//! The snapshot store: atomic writes, reads and time-range listing on `file://`, and the same on
//! `s3://` against a local S3-compatible server (moto, started by `hack/s3-server.sh` on
//! 127.0.0.1). When that server cannot be started the S3 test fails and says why. Retention on
//! both, with real poll times; on S3 behind a loopback proxy that can refuse deletions.

use crate::support;
use chrono::{DateTime, Duration as ChronoDuration, TimeZone, Utc};
use nflbet::domain::market::Market;
use nflbet::feed::quote::{Event, Quote, Selection};
use nflbet::feed::snapshot::{S3Options, Snapshot, SnapshotError, SnapshotStore};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

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

/// The S3 server, with `bucket` created; the test fails saying why when it cannot start.
async fn s3_with_bucket(bucket: &str) -> support::s3::S3Server {
    nflbet::cli::install_crypto_provider();
    let server = support::s3::S3Server::start();
    server.create_bucket(bucket).await;
    server
}

#[tokio::test]
async fn s3_store_against_a_local_server() {
    let bucket = "nflbet-snapshots";
    let server = s3_with_bucket(bucket).await;
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

/// Books whose names share a prefix: retention of `fan` must never touch `fanduel`.
const BOOKS: [&str; 2] = ["fan", "fanduel"];

/// Now, at the millisecond precision of keys.
fn now_ms() -> DateTime<Utc> {
    Utc.timestamp_millis_opt(Utc::now().timestamp_millis()).unwrap()
}

/// Poll times relative to a real `now`, oldest first: across a year, months, days and hours.
fn retention_times(now: DateTime<Utc>) -> Vec<DateTime<Utc>> {
    [400 * 24, 40 * 24, 3 * 24, 25, 23, 1, 0].into_iter().map(|h| now - ChronoDuration::hours(h)).collect()
}

/// Write every book's snapshots at [`retention_times`]; returns `fan`'s keys, oldest first.
async fn write_history(store: &SnapshotStore, now: DateTime<Utc>) -> Vec<String> {
    let mut keys = Vec::new();
    for book in BOOKS {
        for t in retention_times(now) {
            let key = store.write(&snapshot(book, t, 1)).await.unwrap();
            if book == "fan" {
                keys.push(key);
            }
        }
    }
    keys
}

async fn polled(store: &SnapshotStore, book: &str, now: DateTime<Utc>) -> Vec<DateTime<Utc>> {
    let refs =
        store.list(book, now - ChronoDuration::days(500), now + ChronoDuration::hours(1)).await.unwrap();
    refs.into_iter().map(|r| r.polled_at).collect()
}

/// Retention of 24 h on `fan`: first a pass cut short by its budget (the two oldest go), then a
/// full one; what is younger than the cutoff, and every `fanduel` snapshot, stays.
async fn exercise_retention(store: &SnapshotStore) {
    let now = now_ms();
    let keys = write_history(store, now).await;
    let cutoff = now - ChronoDuration::hours(24);
    let times = retention_times(now);
    let (old, young): (Vec<_>, Vec<_>) = times.iter().partition(|t| **t < cutoff);
    assert_eq!((old.len(), young.len()), (4, 3));

    let first = store.prune("fan", cutoff, 2).await.unwrap();
    assert_eq!((first.deleted, first.failed, first.more), (2, 0, true), "{first:?}");
    assert_eq!(polled(store, "fan", now).await, times[2..].to_vec(), "the two oldest went first");

    let second = store.prune("fan", cutoff, 1000).await.unwrap();
    assert_eq!((second.deleted, second.failed, second.more), (2, 0, false), "{second:?}");
    assert_eq!(polled(store, "fan", now).await, young.into_iter().copied().collect::<Vec<_>>());
    assert_eq!(polled(store, "fanduel", now).await, times, "another book's snapshots are untouched");
    for key in &keys[4..] {
        assert_eq!(store.read(key).await.unwrap().sportsbook, "fan");
    }
    let third = store.prune("fan", cutoff, 1000).await.unwrap();
    assert_eq!((third.deleted, third.failed), (0, 0), "nothing left to delete");
    assert!(store.prune("../fanduel", cutoff, 1000).await.is_err(), "not a book name");
}

#[tokio::test]
async fn file_store_retention_deletes_only_the_books_own_expired_snapshots() {
    let dir = tempfile::tempdir().unwrap();
    let store =
        SnapshotStore::open(&format!("file://{}", dir.path().display()), &S3Options::default()).unwrap();
    // Strangers in the book's own tree: a file of no known layout and a staging file.
    let now = now_ms();
    let old = now - ChronoDuration::days(400);
    let year_dir = dir.path().join(format!("v1/fan/{}", old.format("%Y")));
    std::fs::create_dir_all(&year_dir).unwrap();
    std::fs::write(year_dir.join("notes.txt"), "kept").unwrap();
    let staged = dir.path().join(format!("{}#1", SnapshotStore::key_for("fan", old).unwrap()));
    std::fs::create_dir_all(staged.parent().unwrap()).unwrap();
    std::fs::write(&staged, "partial").unwrap();

    exercise_retention(&store).await;

    assert!(year_dir.join("notes.txt").exists(), "unknown files are never deleted");
    assert!(staged.exists(), "staging files are not snapshots");
    // Emptied date directories go with their last snapshot.
    let month_40d = (now - ChronoDuration::days(40)).format("%Y/%m/%d").to_string();
    assert!(!dir.path().join(format!("v1/fan/{month_40d}")).exists(), "empty day directory removed");
    assert!(dir.path().join(format!("v1/fanduel/{month_40d}")).exists());
}

/// A loopback HTTP proxy in front of the S3 server that can refuse deletions (403, as a bucket
/// policy would) while passing everything else through.
struct S3Proxy {
    endpoint: String,
    refuse_deletes: Arc<AtomicBool>,
    refused: Arc<AtomicUsize>,
}

async fn s3_proxy(upstream: String) -> S3Proxy {
    use axum::body::{Body, to_bytes};
    use axum::extract::{Request, State};
    use axum::response::Response;
    #[derive(Clone)]
    struct Proxy {
        upstream: String,
        client: reqwest::Client,
        refuse_deletes: Arc<AtomicBool>,
        refused: Arc<AtomicUsize>,
    }
    async fn forward(State(p): State<Proxy>, req: Request) -> Response {
        let is_delete = req.method() == axum::http::Method::DELETE
            || (req.method() == axum::http::Method::POST
                && req
                    .uri()
                    .query()
                    .is_some_and(|q| q.split('&').any(|kv| kv == "delete" || kv == "delete=")));
        if is_delete && p.refuse_deletes.load(Ordering::SeqCst) {
            p.refused.fetch_add(1, Ordering::SeqCst);
            let body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>";
            return Response::builder()
                .status(403)
                .header("content-type", "application/xml")
                .body(Body::from(body))
                .unwrap();
        }
        let url = format!("{}{}", p.upstream, req.uri().path_and_query().map(|x| x.as_str()).unwrap_or("/"));
        let method = reqwest::Method::from_bytes(req.method().as_str().as_bytes()).unwrap();
        let mut out = p.client.request(method, url);
        for (k, v) in req.headers() {
            if k != "host" {
                out = out.header(k.as_str(), v.as_bytes());
            }
        }
        let body = to_bytes(req.into_body(), 64 * 1024 * 1024).await.unwrap();
        let resp = out.body(body).send().await.unwrap();
        let mut b = Response::builder().status(resp.status().as_u16());
        for (k, v) in resp.headers() {
            if k != "transfer-encoding" && k != "content-length" {
                b = b.header(k.as_str(), v.as_bytes());
            }
        }
        b.body(Body::from(resp.bytes().await.unwrap())).unwrap()
    }
    let refuse_deletes = Arc::new(AtomicBool::new(false));
    let refused = Arc::new(AtomicUsize::new(0));
    let state = Proxy {
        upstream,
        client: reqwest::Client::new(),
        refuse_deletes: refuse_deletes.clone(),
        refused: refused.clone(),
    };
    let app = axum::Router::new().fallback(forward).with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    S3Proxy { endpoint, refuse_deletes, refused }
}

#[tokio::test]
async fn s3_store_retention_deletes_only_the_books_own_expired_snapshots_and_survives_refusals() {
    let bucket = "nflbet-retention";
    let server = s3_with_bucket(bucket).await;
    let proxy = s3_proxy(server.endpoint.clone()).await;
    let opts = S3Options {
        endpoint: Some(proxy.endpoint.clone()),
        region: Some("us-east-1".into()),
        credentials: Some(("testing".into(), "testing".into())),
        egress: crate::support::loopback_egress(),
    };
    let url = format!("s3://{bucket}/prod");
    let store = SnapshotStore::open(&url, &opts).unwrap();
    // An object of no known layout in the book's own prefix, years old.
    let stranger = format!("{}/{bucket}/prod/v1/fan/2001/notes.txt", server.endpoint);
    assert!(reqwest::Client::new().put(&stranger).body("kept").send().await.unwrap().status().is_success());

    exercise_retention(&store).await;
    let listing = format!("{}/{bucket}?list-type=2&prefix=prod/v1/fan/2001/", server.endpoint);
    let listing = reqwest::get(listing).await.unwrap().text().await.unwrap();
    assert!(
        listing.contains("<Key>prod/v1/fan/2001/notes.txt</Key>"),
        "unknown objects are never deleted: {listing}"
    );

    // The scraper's own pass, through its metrics: a refused deletion is counted, not fatal, and
    // the next pass deletes what the refused one could not.
    let now = now_ms();
    let mut scraper = scraper_with(store.clone(), Some(Duration::from_secs(24 * 3600)));
    let kept = polled(&store, "fan", now).await.len();
    for t in retention_times(now) {
        store.write(&snapshot("fan", t, 1)).await.unwrap();
    }
    proxy.refuse_deletes.store(true, Ordering::SeqCst);
    let refused = scraper.prune_at(now).await.expect("a retention is set");
    assert_eq!((refused.deleted, refused.failed), (0, 4), "{refused:?}");
    assert!(refused.first_error.as_deref().is_some_and(|e| !e.contains("testing")), "{refused:?}");
    assert!(proxy.refused.load(Ordering::SeqCst) >= 1);
    assert_eq!(scraper.metrics().retention_counts(), (0, 4));
    assert_eq!(polled(&store, "fan", now).await.len(), kept + 7, "nothing was deleted");
    proxy.refuse_deletes.store(false, Ordering::SeqCst);
    let healed = scraper.prune_at(now).await.unwrap();
    assert_eq!((healed.deleted, healed.failed), (4, 0), "{healed:?}");
    assert_eq!(scraper.metrics().retention_counts(), (4, 4));
    assert!(
        scraper
            .metrics()
            .render()
            .contains("nflreadpy_ingestion_retention_deleted_total{sportsbook=\"fan\"} 4")
    );
    assert_eq!(polled(&store, "fan", now).await.len(), kept + 3);
    assert_eq!(polled(&store, "fanduel", now).await.len(), 7);
}

/// A scraper of book `fan` on `store` whose feed is never polled here.
fn scraper_with(store: SnapshotStore, retention: Option<Duration>) -> nflbet::workloads::scraper::Scraper {
    let markets = Market::ALL.to_vec();
    let provider =
        nflbet::feed::generic::GenericJson::new("http://127.0.0.1:9/feed", None, markets.clone()).unwrap();
    nflbet::workloads::scraper::Scraper::new(nflbet::workloads::scraper::ScrapeConfig {
        sportsbook: "fan".into(),
        namespace: "default".into(),
        provider: Arc::new(provider),
        markets,
        poll: nflbet::workloads::scraper::PollPolicy::default(),
        validation: nflbet::feed::ValidationPolicy::default(),
        store,
        retention,
        metrics_prefix: "nflreadpy".into(),
        listen: "127.0.0.1:0".parse().unwrap(),
        heartbeat: false,
        heartbeat_interval: Duration::from_secs(30),
        egress: crate::support::loopback_egress(),
    })
    .unwrap()
}
