//! A snapshot is either absent or whole, for a reader at any moment and after a writer dies at
//! any moment (issue 13: prove it, don't stage it):
//! - readers list and decode in a loop while large snapshots are written, on `file://` and
//!   `s3://`; every object they list decodes with every quote;
//! - the scraper process (the binary) is killed with SIGKILL in the middle of writing: on
//!   `file://` by strace at the exact system calls between writing and publishing (the fsync of
//!   the staging file, the rename), on `s3://` once a proxy has let the first 4 KiB of its
//!   PutObject through and holds the rest, leaving the server a torn request. Nothing partial is
//!   ever listed.

use crate::support;
use crate::support::feed::Feed;
use chrono::{Duration as ChronoDuration, Utc};
use nflbet::domain::market::Market;
use nflbet::feed::quote::{Event, Quote, Selection};
use nflbet::feed::snapshot::{S3Options, Snapshot, SnapshotStore};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BOOK: &str = "desk";
/// Games per feed answer: ~2 MB of JSON, so a write takes long enough to be interrupted.
const EVENTS: usize = 6000;

fn big_snapshot(i: i64, quotes: usize) -> Snapshot {
    let polled_at = Utc::now() - ChronoDuration::minutes(30) + ChronoDuration::milliseconds(i);
    let mut s = Snapshot::new(BOOK, "genericJson", polled_at);
    s.events.push(Event::new(
        "ev1",
        "Kansas City Chiefs",
        "Baltimore Ravens",
        Some(polled_at + ChronoDuration::hours(3)),
    ));
    for q in 0..quotes {
        s.quotes.push(Quote {
            event_id: "ev1".into(),
            game_id: s.events[0].game_id.clone(),
            book: BOOK.into(),
            market: Market::Spread,
            selection: Selection::Team("KC".into()),
            line: Some(-3.0 - q as f64 / 2.0),
            american: -110,
            decimal: 1.0 + 100.0 / 110.0,
            observed_at: polled_at,
        });
    }
    s
}

/// List and decode every object of the book; panics on anything partial.
async fn read_all(store: &SnapshotStore, quotes: usize) -> usize {
    let now = Utc::now();
    let refs =
        store.list(BOOK, now - ChronoDuration::hours(2), now + ChronoDuration::hours(1)).await.unwrap();
    for r in &refs {
        let snap = store.read(&r.key).await.unwrap_or_else(|e| panic!("{} listed but not whole: {e}", r.key));
        assert_eq!(snap.quotes.len(), quotes, "{}: every quote", r.key);
    }
    refs.len()
}

/// Write `n` large snapshots while a reader lists and decodes in a loop.
async fn readers_see_only_whole_objects(store: SnapshotStore) {
    const N: i64 = 12;
    const QUOTES: usize = 20_000;
    let writer = {
        let store = store.clone();
        tokio::spawn(async move {
            for i in 0..N {
                store.write(&big_snapshot(i, QUOTES)).await.unwrap();
            }
        })
    };
    let (mut rounds, mut decoded) = (0, 0);
    while !writer.is_finished() {
        decoded += read_all(&store, QUOTES).await;
        rounds += 1;
    }
    writer.await.unwrap();
    assert_eq!(read_all(&store, QUOTES).await, N as usize);
    assert!(rounds > 1 && decoded > 0, "the reader ran during the writes ({rounds} rounds, {decoded} reads)");
}

#[tokio::test]
async fn file_readers_never_see_a_partial_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("file://{}", dir.path().display());
    readers_see_only_whole_objects(SnapshotStore::open(&url, &S3Options::default()).unwrap()).await;
}

/// The feed and the S3 server are on 127.0.0.1 over plain http: allowed explicitly (egress).
#[tokio::test]
async fn s3_readers_never_see_a_partial_snapshot() {
    nflbet::cli::install_crypto_provider();
    let s3 = support::s3::S3Server::start();
    s3.create_bucket("atomic").await;
    let store = SnapshotStore::open("s3://atomic/snapshots", &support::s3::options(&s3.endpoint)).unwrap();
    readers_see_only_whole_objects(store).await;
}

/// `nflbet scrape` polling `feed` every second into `store_args`, killed on drop.
struct Scraper(Child);

impl Scraper {
    fn start(feed: &str, store_args: &[&str]) -> Scraper {
        let child = support::scrape::command(BOOK, feed)
            .args(["--poll-interval", "1s", "--listen", "127.0.0.1:0"])
            .args(store_args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("run nflbet scrape");
        Scraper(child)
    }

    fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Scraper {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Files under `dir` that are not snapshots: staging files a killed writer left.
fn staging_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(staging_files(&path));
        } else if !path.to_string_lossy().ends_with(".json.gz") {
            out.push(path);
        }
    }
    out
}

/// `nflbet scrape --once` into `url`, SIGKILLed by strace the moment it makes one of `syscalls`
/// (strace's fault injection): a kill at an exact point of the write, not a lucky one.
fn scrape_killed_at(feed: &str, url: &str, syscalls: &str) -> std::process::ExitStatus {
    let strace = which("strace");
    let mut child = Command::new(strace)
        .args(["-f", "-qq", "-o", "/dev/null", "-e", &format!("trace={syscalls}")])
        .args(["-e", &format!("inject={syscalls}:signal=SIGKILL")])
        .arg(env!("CARGO_BIN_EXE_nflbet"))
        .args(support::scrape::args(BOOK, feed))
        .args(["--once", "--listen", "127.0.0.1:0", "--store", url])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("run nflbet scrape under strace");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "the scraper neither wrote nor died within 60 s");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn which(tool: &str) -> std::path::PathBuf {
    let found = std::env::var_os("PATH")
        .and_then(|paths| std::env::split_paths(&paths).map(|d| d.join(tool)).find(|p| p.is_file()));
    found.unwrap_or_else(|| panic!("{tool} not found: `make deps` installs it (Debian package {tool})"))
}

#[test]
fn a_writer_killed_between_writing_and_publishing_leaves_no_partial_file_snapshot() {
    use std::os::unix::process::ExitStatusExt;
    let rt = tokio::runtime::Runtime::new().unwrap();
    let feed = rt.block_on(Feed::start(BOOK, EVENTS));
    let dir = tempfile::tempdir().unwrap();
    let url = format!("file://{}", dir.path().display());
    let store = SnapshotStore::open(&url, &S3Options::default()).unwrap();
    // One whole snapshot first; it also creates this hour's directories, so the next writer's
    // first fsync is its staging file's (a writer creating directories fsyncs them first).
    let out = support::scrape::command(BOOK, &feed.url)
        .args(["--once", "--listen", "127.0.0.1:0", "--store", &url])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(rt.block_on(read_all(&store, EVENTS * 2)), 1);

    // Killed at the fsync of the staging file (its bytes written, not yet durable), then at the
    // rename that would publish it: each leaves its staging file, and nothing more is listed.
    for syscalls in ["fsync,fdatasync", "rename,renameat,renameat2"] {
        let staged = staging_files(dir.path()).len();
        // Twice at most: a new hour between two runs makes its directories (and their fsyncs).
        let left = (0..2).any(|_| {
            let status = scrape_killed_at(&feed.url, &url, syscalls);
            let killed = status.signal() == Some(9) || status.code() == Some(128 + 9);
            assert!(killed, "killed at {syscalls}: the writer ended with {status:?}, not SIGKILL");
            staging_files(dir.path()).len() > staged
        });
        assert!(left, "the kill at {syscalls} left no staging file: it did not land mid-write");
        assert_eq!(
            rt.block_on(read_all(&store, EVENTS * 2)),
            1,
            "nothing published by a writer killed at {syscalls}"
        );
    }
}

#[tokio::test]
async fn a_scraper_killed_mid_put_leaves_no_partial_s3_snapshot() {
    nflbet::cli::install_crypto_provider();
    let s3 = support::s3::S3Server::start();
    s3.create_bucket("atomic-kill").await;
    let upstream: std::net::SocketAddr = format!("127.0.0.1:{}", s3.port).parse().unwrap();
    let proxy = support::proxy::Proxy::start(upstream).await;
    let feed = Feed::start(BOOK, EVENTS).await;
    let through = format!("http://{}", proxy.addr());
    let store_args =
        ["--store", "s3://atomic-kill/snapshots", "--s3-endpoint", &through, "--s3-region", "us-east-1"];
    let mut scraper = Scraper::start(&feed.url, &store_args);
    let store =
        SnapshotStore::open("s3://atomic-kill/snapshots", &support::s3::options(&s3.endpoint)).unwrap();
    support::wait_for("a first snapshot", Duration::from_secs(30), || async {
        let n = read_all(&store, EVENTS * 2).await;
        if n > 0 { Ok(n) } else { Err("none yet".into()) }
    })
    .await;

    // Hold the next poll at the feed (so no write is in flight), let only 4 KiB more through to
    // the store (the PutObject's headers and the start of its body), let the poll go on, and
    // once those bytes have passed, the request is torn mid-body: kill the writer, then drop the
    // proxy, which ends the connection with the server holding a partial request.
    feed.gate(false);
    let asked = feed.requests();
    support::wait_for("the next poll held at the feed", Duration::from_secs(20), || async {
        if feed.requests() > asked { Ok(()) } else { Err("not yet".into()) }
    })
    .await;
    let written = read_all(&store, EVENTS * 2).await;
    proxy.pass_only(4096);
    feed.gate(true);
    support::wait_for("the PutObject's first 4 KiB at the server", Duration::from_secs(20), || async {
        if proxy.passed_all() { Ok(()) } else { Err("not yet".into()) }
    })
    .await;
    scraper.kill();
    drop(proxy);
    // The server has the torn request; give it the time it takes to answer one more.
    support::wait_for("the bucket answers", Duration::from_secs(10), || async {
        reqwest::get(format!("{}/atomic-kill?list-type=2", s3.endpoint))
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    })
    .await;
    assert_eq!(read_all(&store, EVENTS * 2).await, written, "no object from the torn PutObject");
}
