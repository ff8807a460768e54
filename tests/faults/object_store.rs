//! Storage failures, with the scraper run as its Deployment runs it (the binary): the S3 server
//! killed in the middle of a poll, an S3 server answering 500, a file store turned read-only.
//! Each time the failed write is counted as `error_type="storage"` and as a consecutive failed
//! poll, the scraper stays up, no partial object is ever visible, and snapshots are written again
//! once storage is back.

use crate::support;
use crate::support::feed::Feed;

use axum::Router;
use chrono::{Duration as ChronoDuration, Utc};
use nflbet::feed::snapshot::{S3Options, SnapshotStore};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

const BUCKET: &str = "nflbet-snapshots";
const BOOK: &str = "desk";

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
    fn start_s3(feed: &str, s3: &str, log: &std::path::Path) -> Scraper {
        let store = format!("s3://{BUCKET}/snapshots");
        Scraper::start(feed, &["--store", &store, "--s3-endpoint", s3, "--s3-region", "us-east-1"], log)
    }

    fn start(feed: &str, store: &[&str], log: &std::path::Path) -> Scraper {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let out = std::fs::File::create(log).unwrap();
        let child = support::scrape::command(BOOK, feed)
            .args(["--poll-interval", "1s", "--listen", &format!("127.0.0.1:{port}")])
            .args(store)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("run nflbet scrape");
        Scraper { child, metrics: format!("http://127.0.0.1:{port}/metrics") }
    }

    /// Sum of the samples of `family` whose labels contain `filter`.
    async fn metric(&self, family: &str, filter: &str) -> Result<f64, String> {
        let text = reqwest::get(&self.metrics)
            .await
            .map_err(|e| e.to_string())?
            .text()
            .await
            .map_err(|e| e.to_string())?;
        Ok(text
            .lines()
            .filter(|l| l.starts_with(&format!("{family}{{")) && l.contains(filter))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum())
    }

    /// `nflreadpy_ingestion_errors_total{error_type="storage"}` (0 before the first).
    async fn storage_errors(&self) -> Result<f64, String> {
        self.metric("nflreadpy_ingestion_errors_total", "error_type=\"storage\"").await
    }

    async fn consecutive_failures(&self) -> Result<f64, String> {
        self.metric("nflreadpy_ingestion_consecutive_failures", "").await
    }

    /// Wait until a poll failed on storage (counted, and the failed-poll streak has begun).
    async fn wait_storage_failure(&self, before: f64) {
        support::wait_for("the failed write counted as a storage error", Duration::from_secs(30), || async {
            let n = self.storage_errors().await?;
            let streak = self.consecutive_failures().await?;
            if n > before && streak >= 1.0 {
                Ok(())
            } else {
                Err(format!("{n} storage errors, streak {streak}"))
            }
        })
        .await;
    }

    /// Wait until a poll succeeded again (the streak is back to 0).
    async fn wait_recovered(&self) {
        support::wait_for("a successful poll after the failure", Duration::from_secs(30), || async {
            let streak = self.consecutive_failures().await?;
            if streak == 0.0 { Ok(()) } else { Err(format!("streak {streak}")) }
        })
        .await;
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
    let feed = Feed::start(BOOK, 1).await;
    let logs = tempfile::tempdir().unwrap();
    let mut scraper = Scraper::start_s3(&feed.url, &s3.endpoint, &logs.path().join("scrape.log"));
    let store = SnapshotStore::open(&format!("s3://{BUCKET}/snapshots"), &support::s3::options(&s3.endpoint))
        .unwrap();
    support::wait_for("a first snapshot in the store", Duration::from_secs(30), || async {
        let n = snapshots(&store).await?;
        if n > 0 { Ok(()) } else { Err("none yet".into()) }
    })
    .await;

    // Hold the next poll after its request reached the feed, kill the store, let the poll go on
    // to its write.
    feed.gate(false);
    let asked = feed.requests();
    support::wait_for("a poll in flight", Duration::from_secs(10), || async {
        if feed.requests() > asked { Ok(()) } else { Err("no request yet".into()) }
    })
    .await;
    let before = scraper.storage_errors().await.unwrap();
    s3.stop();
    feed.gate(true);
    scraper.wait_storage_failure(before).await;
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
    scraper.wait_recovered().await;
    assert!(scraper.alive(), "the scraper is still the same process");
    eprintln!("object store back → first snapshot written: {:?}", back.elapsed());
}

/// An S3 front on loopback: forwards every request to `upstream` (moto), or answers 500 while
/// `failing` is set, as an S3 service in trouble does.
async fn s3_front(upstream: String, failing: Arc<std::sync::atomic::AtomicBool>) -> String {
    use axum::body::Body;
    use axum::http::{Request, Response, StatusCode};
    let http = reqwest::Client::new();
    let app = Router::new().fallback(move |req: Request<Body>| {
        let (http, upstream, failing) = (http.clone(), upstream.clone(), failing.clone());
        async move {
            if failing.load(Ordering::SeqCst) {
                let body = "<Error><Code>InternalError</Code><Message>We encountered an internal error.</Message></Error>";
                return Response::builder().status(StatusCode::INTERNAL_SERVER_ERROR).body(Body::from(body)).unwrap();
            }
            let (parts, body) = req.into_parts();
            let body = axum::body::to_bytes(body, 256 << 20).await.unwrap();
            let url = format!("{upstream}{}", parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/"));
            let mut forward = http.request(parts.method.clone(), url).body(body);
            for (k, v) in parts.headers.iter().filter(|(k, _)| *k != "host" && *k != "content-length") {
                forward = forward.header(k, v);
            }
            let answer = forward.send().await.unwrap();
            let mut out = Response::builder().status(answer.status().as_u16());
            for (k, v) in answer.headers().iter().filter(|(k, _)| *k != "content-length" && *k != "transfer-encoding") {
                out = out.header(k.as_str(), v.as_bytes());
            }
            out.body(Body::from(answer.bytes().await.unwrap())).unwrap()
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_s3_server_answering_500_is_a_storage_error_until_it_heals() {
    let _serial = crate::serial().await;
    nflbet::cli::install_crypto_provider();
    let s3 = support::s3::S3Server::start();
    s3.create_bucket(BUCKET).await;
    let failing = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let front = s3_front(s3.endpoint.clone(), failing.clone()).await;
    let feed = Feed::start(BOOK, 1).await;
    let logs = tempfile::tempdir().unwrap();
    let mut scraper = Scraper::start_s3(&feed.url, &front, &logs.path().join("scrape.log"));
    let store = SnapshotStore::open(&format!("s3://{BUCKET}/snapshots"), &support::s3::options(&s3.endpoint))
        .unwrap();
    support::wait_for("a first snapshot through the front", Duration::from_secs(30), || async {
        let n = snapshots(&store).await?;
        if n > 0 { Ok(()) } else { Err("none yet".into()) }
    })
    .await;

    let before = scraper.storage_errors().await.unwrap();
    failing.store(true, Ordering::SeqCst);
    let written = snapshots(&store).await.unwrap();
    scraper.wait_storage_failure(before).await;
    assert!(scraper.alive(), "the scraper exited on a 500; log in {:?}", logs.path());
    let log = std::fs::read_to_string(logs.path().join("scrape.log")).unwrap();
    assert!(!log.contains("testing\""), "no credential in the log");

    failing.store(false, Ordering::SeqCst);
    scraper.wait_recovered().await;
    let after = snapshots(&store).await.unwrap();
    assert!(after > written, "snapshots written again: {written} → {after}");
}

/// `dir` bind-mounted read-only onto itself, undone on drop. Needs root, as `make test` has
/// (root ignores file modes, so chmod cannot make a store read-only for it).
struct ReadOnly(std::path::PathBuf);

impl ReadOnly {
    fn mount(dir: &std::path::Path) -> ReadOnly {
        let run = |args: &[&str]| {
            let out = Command::new("mount").args(args).output().expect("run mount");
            assert!(
                out.status.success(),
                "mount {args:?}: {} (the read-only store test needs root, as `make test` has)",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let d = dir.to_str().unwrap();
        run(&["--bind", d, d]);
        run(&["-o", "remount,bind,ro", d]);
        ReadOnly(dir.to_path_buf())
    }
}

impl Drop for ReadOnly {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_file_store_is_a_storage_error_until_it_is_writable() {
    let _serial = crate::serial().await;
    nflbet::cli::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("file://{}", dir.path().display());
    let feed = Feed::start(BOOK, 1).await;
    let logs = tempfile::tempdir().unwrap();
    let mut scraper = Scraper::start(&feed.url, &["--store", &url], &logs.path().join("scrape.log"));
    let store = SnapshotStore::open(&url, &S3Options::default()).unwrap();
    support::wait_for("a first snapshot", Duration::from_secs(30), || async {
        let n = snapshots(&store).await?;
        if n > 0 { Ok(()) } else { Err("none yet".into()) }
    })
    .await;

    let before = scraper.storage_errors().await.unwrap();
    let read_only = ReadOnly::mount(dir.path());
    let written = snapshots(&store).await.unwrap();
    scraper.wait_storage_failure(before).await;
    assert!(scraper.alive(), "the scraper exited on a read-only store; log in {:?}", logs.path());
    assert_eq!(snapshots(&store).await.unwrap(), written, "nothing written while read-only");

    drop(read_only);
    scraper.wait_recovered().await;
    assert!(snapshots(&store).await.unwrap() > written, "snapshots written again");
    // No staging file left visible as a snapshot, and none left behind at all once healthy.
    let leftovers: Vec<_> = walk(dir.path()).into_iter().filter(|p| !p.ends_with(".json.gz")).collect();
    assert!(leftovers.is_empty(), "files other than snapshots in the store: {leftovers:?}");
}

fn walk(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path.display().to_string());
        }
    }
    out
}
