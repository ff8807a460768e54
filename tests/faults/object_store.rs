//! The object store dies in the middle of a poll and comes back: the scraper (the binary, as
//! its Deployment runs it) counts the failed write as a storage error, stays up, never leaves a
//! partial object, and writes snapshots again once the store is back.

use crate::support;

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use chrono::{Duration as ChronoDuration, Utc};
use nflbet::feed::snapshot::{S3Options, SnapshotStore};
use serde_json::json;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::watch;

const BUCKET: &str = "nflbet-snapshots";
const BOOK: &str = "desk";

/// A generic-format feed whose answers wait while the gate is closed, so the test can hold a
/// poll between its fetch and its write.
struct Feed {
    url: String,
    requests: Arc<AtomicUsize>,
    gate: watch::Sender<bool>,
}

#[derive(Clone)]
struct FeedState {
    requests: Arc<AtomicUsize>,
    gate: watch::Receiver<bool>,
}

async fn answer(State(mut s): State<FeedState>) -> axum::Json<serde_json::Value> {
    s.requests.fetch_add(1, Ordering::SeqCst);
    let _ = s.gate.wait_for(|open| *open).await;
    let now = k8s_openapi::jiff::Timestamp::now();
    let kickoff = now + k8s_openapi::jiff::SignedDuration::from_hours(30);
    axum::Json(json!({
        "version": 1, "book": BOOK, "generatedAt": now.to_string(),
        "events": [{
            "id": "desk-kc-buf", "home": "Kansas City Chiefs", "away": "BUF", "kickoff": kickoff.to_string(),
            "quotes": [
                {"market": "moneyline", "selection": "KC", "american": -130},
                {"market": "moneyline", "selection": "BUF", "american": 110}
            ]
        }]
    }))
}

impl Feed {
    async fn start() -> Feed {
        let (gate, rx) = watch::channel(true);
        let requests = Arc::new(AtomicUsize::new(0));
        let app = Router::new()
            .route("/feed", get(answer))
            .with_state(FeedState { requests: requests.clone(), gate: rx });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Feed { url: format!("http://{addr}/feed"), requests, gate }
    }
}

struct Scraper {
    child: Child,
    metrics: String,
}

impl Drop for Scraper {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Scraper {
    fn start(feed: &str, s3: &str, log: &std::path::Path) -> Scraper {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let out = std::fs::File::create(log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_nflbet"))
            .args(["scrape", "--sportsbook", BOOK, "--provider", "genericJson", "--endpoint", feed])
            .args([
                "--markets",
                "moneyline",
                "--poll-interval",
                "1s",
                "--timeout",
                "30s",
                "--max-retries",
                "0",
            ])
            .args([
                "--store",
                &format!("s3://{BUCKET}/snapshots"),
                "--s3-endpoint",
                s3,
                "--s3-region",
                "us-east-1",
            ])
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("run nflbet scrape");
        Scraper { child, metrics: format!("http://127.0.0.1:{port}/metrics") }
    }

    /// `nflreadpy_ingestion_errors_total{error_type="storage"}` (0 before the first).
    async fn storage_errors(&self) -> Result<f64, String> {
        let text = reqwest::get(&self.metrics)
            .await
            .map_err(|e| e.to_string())?
            .text()
            .await
            .map_err(|e| e.to_string())?;
        Ok(text
            .lines()
            .filter(|l| {
                l.starts_with("nflreadpy_ingestion_errors_total{") && l.contains("error_type=\"storage\"")
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum())
    }

    fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}

/// Every snapshot in the bucket, each read and decoded whole (a partial object fails here).
async fn snapshots(store: &SnapshotStore) -> Result<usize, String> {
    let now = Utc::now();
    let keys = store
        .list(BOOK, now - ChronoDuration::hours(1), now + ChronoDuration::hours(1))
        .await
        .map_err(|e| e.to_string())?;
    for r in &keys {
        let snap = store.read(&r.key).await.map_err(|e| format!("{} does not decode: {e}", r.key))?;
        assert_eq!(snap.quotes.len(), 2, "{}: every quote of the poll", r.key);
    }
    Ok(keys.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scraper_survives_the_object_store_dying_mid_poll() {
    let _serial = crate::serial().await;
    nflbet::cli::install_crypto_provider();
    let mut s3 = support::s3::S3Server::start();
    s3.create_bucket(BUCKET).await;
    let feed = Feed::start().await;
    let logs = tempfile::tempdir().unwrap();
    let mut scraper = Scraper::start(&feed.url, &s3.endpoint, &logs.path().join("scrape.log"));
    let opts = S3Options {
        endpoint: Some(s3.endpoint.clone()),
        region: Some("us-east-1".into()),
        credentials: Some(("testing".into(), "testing".into())),
    };
    let store = SnapshotStore::open(&format!("s3://{BUCKET}/snapshots"), &opts).unwrap();
    support::wait_for("a first snapshot in the store", Duration::from_secs(30), || async {
        let n = snapshots(&store).await?;
        if n > 0 { Ok(()) } else { Err("none yet".into()) }
    })
    .await;

    // Hold the next poll after its request reached the feed, kill the store, let the poll go on
    // to its write.
    feed.gate.send_replace(false);
    let asked = feed.requests.load(Ordering::SeqCst);
    support::wait_for("a poll in flight", Duration::from_secs(10), || async {
        if feed.requests.load(Ordering::SeqCst) > asked { Ok(()) } else { Err("no request yet".into()) }
    })
    .await;
    let before = scraper.storage_errors().await.unwrap();
    s3.stop();
    feed.gate.send_replace(true);
    support::wait_for("the failed write counted as a storage error", Duration::from_secs(30), || async {
        let n = scraper.storage_errors().await?;
        if n > before { Ok(()) } else { Err(format!("{n} storage errors")) }
    })
    .await;
    assert!(scraper.alive(), "the scraper exited when its store died; log in {:?}", logs.path());

    // The store comes back (moto keeps nothing across a restart: an empty bucket, as after a
    // restore into a fresh one).
    let s3 = support::s3::S3Server::start_on(s3.port);
    s3.create_bucket(BUCKET).await;
    let back = Instant::now();
    support::wait_for("snapshots written again", Duration::from_secs(30), || async {
        let n = snapshots(&store).await?;
        if n > 0 { Ok(()) } else { Err("none yet".into()) }
    })
    .await;
    assert!(scraper.alive(), "the scraper is still the same process");
    eprintln!("object store back → first snapshot written: {:?}", back.elapsed());
}
