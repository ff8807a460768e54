//! The scraper against a fault-injecting feed server on 127.0.0.1.
//!
//! Every test scripts the server's answers, one per request: slow answers, stalls past the
//! timeout, 500s, 429 with Retry-After (seconds and HTTP-date), malformed and truncated JSON, a
//! valid payload with a changed schema, oversized bodies (declared and streamed), a wrong
//! content type, and a dropped connection. The scraper must never crash, must count each fault
//! under its error type, back off, write no snapshot for a failed poll, and succeed on the next
//! good poll. Durations are milliseconds; every request loop is bounded by the script.

use chrono::{Duration as ChronoDuration, Utc};
use nflbet::domain::market::Market;
use nflbet::feed::ValidationPolicy;
use nflbet::feed::snapshot::{S3Options, SnapshotStore};
use nflbet::feed::the_odds_api::{TheOddsApi, TheOddsApiConfig};
use nflbet::workloads::scraper::{ErrorType, PollError, PollPolicy, ScrapeConfig, Scraper};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

const KEY: &str = "sekrit-test-key-0123456789";
const CAP: u64 = 64 * 1024;

/// One scripted answer.
#[derive(Clone, Debug)]
enum Reply {
    Good,
    /// A good answer after a delay.
    Slow(Duration),
    Status(u16),
    RateLimited(String),
    /// Truncated in the middle of a value, sent with a consistent Content-Length.
    Truncated,
    Malformed,
    /// Valid JSON, renamed fields (The Odds API "v5").
    SchemaChanged,
    /// Every quote has an impossible price.
    AllInvalid,
    /// Declared Content-Length over the cap.
    OversizedDeclared,
    /// No Content-Length; streams past the cap.
    OversizedStreamed,
    WrongContentType,
    /// Headers promise more body than is sent, then the connection closes.
    Dropped,
    /// A 200 whose endless body is sent 4 KiB at a time, with `declared` as its Content-Length
    /// (none: chunked), until the client hangs up; `sent` counts the bytes the socket accepted
    /// and `done` is notified when the server sees the hang-up.
    Trickle {
        declared: Option<u64>,
        sent: Arc<AtomicU64>,
        done: Arc<Notify>,
    },
}

struct FeedServer {
    addr: std::net::SocketAddr,
    script: Arc<Mutex<VecDeque<Reply>>>,
    hits: Arc<AtomicUsize>,
    /// When each connection was accepted.
    arrivals: Arc<Mutex<Vec<Instant>>>,
}

impl FeedServer {
    async fn start() -> FeedServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let script: Arc<Mutex<VecDeque<Reply>>> = Arc::default();
        let hits = Arc::new(AtomicUsize::new(0));
        let arrivals: Arc<Mutex<Vec<Instant>>> = Arc::default();
        let (s, h, a) = (script.clone(), hits.clone(), arrivals.clone());
        tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                a.lock().unwrap().push(Instant::now());
                h.fetch_add(1, Ordering::SeqCst);
                let reply = s.lock().unwrap().pop_front().unwrap_or(Reply::Good);
                tokio::spawn(answer(sock, reply));
            }
        });
        FeedServer { addr, script, hits, arrivals }
    }

    fn script(&self, replies: &[Reply]) {
        let mut s = self.script.lock().unwrap();
        s.clear();
        s.extend(replies.iter().cloned());
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

/// A The Odds API payload with fresh timestamps.
fn payload(price: i64) -> String {
    let now = Utc::now();
    let ts = (now - ChronoDuration::seconds(20)).format("%Y-%m-%dT%H:%M:%SZ");
    let kickoff = (now + ChronoDuration::days(2)).format("%Y-%m-%dT%H:%M:%SZ");
    format!(
        r#"[{{"id":"ev1","sport_key":"americanfootball_nfl","commence_time":"{kickoff}","home_team":"Kansas City Chiefs","away_team":"Baltimore Ravens",
"bookmakers":[{{"key":"fanduel","title":"FanDuel","last_update":"{ts}","markets":[
{{"key":"h2h","last_update":"{ts}","outcomes":[{{"name":"Baltimore Ravens","price":{price}}},{{"name":"Kansas City Chiefs","price":-148}}]}},
{{"key":"spreads","last_update":"{ts}","outcomes":[{{"name":"Baltimore Ravens","price":-110,"point":3.0}},{{"name":"Kansas City Chiefs","price":-110,"point":-3.0}}]}},
{{"key":"totals","last_update":"{ts}","outcomes":[{{"name":"Over","price":-110,"point":46.5}},{{"name":"Under","price":-110,"point":46.5}}]}}]}}]}}]"#
    )
}

async fn answer(mut sock: TcpStream, reply: Reply) {
    // Read the request head (bounded); the path is not checked.
    let mut buf = vec![0u8; 8192];
    let mut n = 0;
    while n < buf.len() {
        match sock.read(&mut buf[n..]).await {
            Ok(0) | Err(_) => return,
            Ok(k) => n += k,
        }
        if buf[..n].windows(4).any(|w| w == b"\r\n\r\n") {
            break;
        }
    }
    let json = "application/json; charset=utf-8";
    let quota = "x-requests-remaining: 497\r\nx-requests-used: 3\r\nx-requests-last: 3\r\n";
    let send = |status: &str, ctype: &str, extra: String, body: String| {
        format!(
            "HTTP/1.1 {status}\r\ncontent-type: {ctype}\r\ncontent-length: {}\r\nconnection: close\r\n{extra}\r\n{body}",
            body.len()
        )
    };
    let out = match reply {
        Reply::Good => send("200 OK", json, quota.into(), payload(124)),
        Reply::Slow(d) => {
            tokio::time::sleep(d).await;
            send("200 OK", json, quota.into(), payload(124))
        }
        Reply::Status(code) => {
            send(&format!("{code} Oops"), json, String::new(), r#"{"message":"oops"}"#.into())
        }
        Reply::RateLimited(after) => send(
            "429 Too Many Requests",
            json,
            format!("retry-after: {after}\r\n"),
            r#"{"message":"slow down"}"#.into(),
        ),
        Reply::Truncated => {
            let p = payload(124);
            send("200 OK", json, quota.into(), p[..p.len() / 2].to_string())
        }
        Reply::Malformed => send("200 OK", json, String::new(), "[{\"id\": \"ev1\",, }".into()),
        Reply::SchemaChanged => send(
            "200 OK",
            json,
            String::new(),
            payload(124).replace("\"home_team\"", "\"homeTeam\"").replace("\"away_team\"", "\"awayTeam\""),
        ),
        Reply::AllInvalid => {
            send("200 OK", json, String::new(), payload(-80).replace("-148", "0").replace("-110", "50"))
        }
        Reply::OversizedDeclared => {
            let big = format!("[{}]", vec!["0"; CAP as usize].join(","));
            send("200 OK", json, String::new(), big)
        }
        Reply::OversizedStreamed => {
            let head = format!("HTTP/1.1 200 OK\r\ncontent-type: {json}\r\nconnection: close\r\n\r\n[");
            if sock.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            let chunk = "0,".repeat(4096);
            // At most 4 × CAP bytes: the client must hang up long before.
            for _ in 0..(4 * CAP as usize / chunk.len()) {
                if sock.write_all(chunk.as_bytes()).await.is_err() {
                    return;
                }
            }
            let _ = sock.write_all(b"0]").await;
            return;
        }
        Reply::Trickle { declared, sent, done } => {
            let length = declared.map(|n| format!("content-length: {n}\r\n")).unwrap_or_default();
            let head =
                format!("HTTP/1.1 200 OK\r\ncontent-type: {json}\r\n{length}connection: close\r\n\r\n");
            let chunk = "0,".repeat(2048);
            let mut ok = sock.write_all(head.as_bytes()).await.is_ok();
            // Bounded by what a 2 GiB body would take; the client hangs up long before.
            let mut left = declared.unwrap_or(2 << 30);
            while ok && left > 0 {
                ok = sock.write_all(chunk.as_bytes()).await.is_ok();
                if ok {
                    sent.fetch_add(chunk.len() as u64, Ordering::SeqCst);
                    left = left.saturating_sub(chunk.len() as u64);
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            done.notify_one();
            return;
        }
        Reply::WrongContentType => {
            send("200 OK", "text/html; charset=utf-8", String::new(), "<html>maintenance</html>".into())
        }
        Reply::Dropped => {
            let head =
                format!("HTTP/1.1 200 OK\r\ncontent-type: {json}\r\ncontent-length: 4000\r\n\r\n[{{\"id\":");
            let _ = sock.write_all(head.as_bytes()).await;
            return;
        }
    };
    let _ = sock.write_all(out.as_bytes()).await;
    let _ = sock.shutdown().await;
}

struct Harness {
    server: FeedServer,
    scraper: Scraper,
    store: SnapshotStore,
    _dir: tempfile::TempDir,
}

async fn harness(max_retries: u32, timeout: Duration, backoff_max: Duration) -> Harness {
    harness_with(PollPolicy {
        interval: Duration::from_millis(50),
        jitter: Duration::from_millis(10),
        timeout,
        max_retries,
        backoff_base: Duration::from_millis(5),
        backoff_max,
        min_request_gap: None,
        max_response_bytes: CAP,
    })
    .await
}

async fn harness_with(poll: PollPolicy) -> Harness {
    nflbet::cli::install_crypto_provider();
    let server = FeedServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("file://{}", dir.path().display());
    let store = SnapshotStore::open(&url, &S3Options::default()).unwrap();
    let provider = TheOddsApi::new(TheOddsApiConfig {
        endpoint: Some(format!("http://{}", server.addr)),
        api_key: KEY.into(),
        sport: "americanfootball_nfl".into(),
        regions: vec!["us".into()],
        bookmaker: Some("fanduel".into()),
        markets: Market::ALL.to_vec(),
    })
    .unwrap();
    let config = ScrapeConfig {
        sportsbook: "fanduel-main".into(),
        namespace: "default".into(),
        provider: Arc::new(provider),
        markets: Market::ALL.to_vec(),
        poll,
        validation: ValidationPolicy::default(),
        store: store.clone(),
        retention: None,
        metrics_prefix: "nflreadpy".into(),
        listen: "127.0.0.1:0".parse().unwrap(),
        heartbeat: false,
        heartbeat_interval: Duration::from_secs(1),
        egress: crate::support::loopback_egress(),
    };
    let scraper = Scraper::new(config).unwrap();
    Harness { server, scraper, store, _dir: dir }
}

impl Harness {
    async fn snapshots(&self) -> usize {
        let now = Utc::now();
        self.store
            .list("fanduel-main", now - ChronoDuration::hours(2), now + ChronoDuration::hours(1))
            .await
            .unwrap()
            .len()
    }

    fn errors(&self, t: ErrorType) -> u64 {
        self.scraper.metrics().errors(t)
    }

    /// No secret in anything a person or a metric system can see.
    fn assert_no_secret(&self) {
        let status = serde_json::to_string(self.scraper.status()).unwrap();
        assert!(!status.contains(KEY), "key leaked into the status: {status}");
        assert!(!self.scraper.metrics().render().contains(KEY), "key leaked into the metrics");
    }
}

#[tokio::test]
async fn each_fault_fails_its_poll_under_its_error_type_and_writes_nothing() {
    let mut h = harness(0, Duration::from_millis(300), Duration::from_millis(50)).await;
    let cancel = CancellationToken::new();
    let cases = [
        (Reply::Status(500), ErrorType::HttpStatus),
        (Reply::Status(401), ErrorType::HttpStatus),
        (Reply::RateLimited("0".into()), ErrorType::RateLimited),
        (Reply::Slow(Duration::from_secs(3)), ErrorType::Timeout),
        (Reply::Malformed, ErrorType::Parse),
        (Reply::Truncated, ErrorType::Parse),
        (Reply::SchemaChanged, ErrorType::Schema),
        (Reply::AllInvalid, ErrorType::Validation),
        (Reply::OversizedDeclared, ErrorType::Parse),
        (Reply::OversizedStreamed, ErrorType::Parse),
        (Reply::WrongContentType, ErrorType::Parse),
        (Reply::Dropped, ErrorType::Connect),
    ];
    for (i, (reply, want)) in cases.iter().enumerate() {
        h.server.script(std::slice::from_ref(reply));
        let before = h.errors(*want);
        let started = Instant::now();
        let err = h.scraper.poll_once(&cancel).await.expect_err(&format!("{reply:?} must fail the poll"));
        assert_eq!(err.error_type(), Some(*want), "{reply:?}: {err}");
        assert_eq!(h.errors(*want), before + 1, "{reply:?} counted once under {}", want.as_str());
        assert!(started.elapsed() < Duration::from_secs(2), "{reply:?} took {:?}", started.elapsed());
        assert_eq!(h.snapshots().await, 0, "{reply:?} wrote a snapshot");
        assert_eq!(h.scraper.status().consecutive_failures, Some(i as i64 + 1));
        assert!(h.scraper.status().last_error.is_some());
        assert!(!err.to_string().contains(KEY), "{err}");
    }
    assert_eq!(h.scraper.metrics().polls(false), cases.len() as u64);
    assert_eq!(h.scraper.metrics().rejected_count("invalid_price"), 6, "the all-invalid payload's quotes");
    // Oversized (declared and streamed) and the HTML page are refused, not parsed.
    assert_eq!(h.errors(ErrorType::Parse), 5);
    h.assert_no_secret();

    // The next good poll succeeds and resets the failure count.
    h.server.script(&[Reply::Good]);
    let report = h.scraper.poll_once(&cancel).await.expect("a good poll after faults");
    assert_eq!(report.quotes, 6);
    assert_eq!(report.quota.and_then(|q| q.remaining), Some(497));
    assert_eq!(h.snapshots().await, 1);
    assert_eq!(h.scraper.status().consecutive_failures, Some(0));
    assert_eq!(h.scraper.status().quotes, Some(6));
    assert_eq!(h.scraper.status().quota_remaining, Some(497));
    assert!(h.scraper.metrics().last_success() > 0.0);
    let snap = h.store.read(&report.key).await.unwrap();
    assert_eq!(snap.quotes.len(), 6);
    assert_eq!(snap.sportsbook, "fanduel-main");
    h.assert_no_secret();
}

#[tokio::test]
async fn transient_faults_are_retried_with_backoff_within_one_poll() {
    let mut h = harness(3, Duration::from_millis(200), Duration::from_millis(40)).await;
    h.server.script(&[
        Reply::Status(500),
        Reply::Slow(Duration::from_secs(2)),
        Reply::Dropped,
        Reply::Slow(Duration::from_millis(50)),
    ]);
    let report = h.scraper.poll_once(&CancellationToken::new()).await.expect("the fourth try succeeds");
    assert_eq!(report.attempts, 4);
    assert_eq!(h.server.hits(), 4);
    assert_eq!(h.errors(ErrorType::HttpStatus), 1);
    assert_eq!(h.errors(ErrorType::Timeout), 1);
    assert_eq!(h.errors(ErrorType::Connect), 1);
    assert_eq!(h.snapshots().await, 1);
    assert_eq!(h.scraper.metrics().polls(true), 1);
    assert_eq!(h.scraper.metrics().polls(false), 0);
}

#[tokio::test]
async fn retries_are_bounded_and_non_transient_faults_are_not_retried() {
    let mut h = harness(2, Duration::from_millis(200), Duration::from_millis(20)).await;
    let cancel = CancellationToken::new();
    h.server.script(&[Reply::Status(503), Reply::Status(503), Reply::Status(503), Reply::Good]);
    let err = h.scraper.poll_once(&cancel).await.unwrap_err();
    assert!(matches!(err, PollError::Fetch(_)), "{err}");
    assert_eq!(h.server.hits(), 3, "1 try + 2 retries, then give up");
    assert_eq!(h.errors(ErrorType::HttpStatus), 3);

    for reply in [Reply::Status(404), Reply::WrongContentType, Reply::OversizedDeclared, Reply::Malformed] {
        let hits = h.server.hits();
        h.server.script(&[reply.clone(), Reply::Good]);
        assert!(h.scraper.poll_once(&cancel).await.is_err(), "{reply:?}");
        assert_eq!(h.server.hits(), hits + 1, "{reply:?} must not be retried");
    }
    assert_eq!(h.snapshots().await, 0);
    h.server.script(&[Reply::Good]);
    h.scraper.poll_once(&cancel).await.expect("recovers");
    assert_eq!(h.snapshots().await, 1);
}

/// `maxRequestsPerMinute` spaces every request, retries included and across polls: at 600 a
/// minute no two requests are closer than 100 ms, though the backoff alone would retry in 5 ms.
#[tokio::test]
async fn the_rate_limit_spaces_retries_and_polls() {
    let gap = Duration::from_millis(100);
    let mut h = harness_with(PollPolicy {
        interval: Duration::from_millis(10),
        jitter: Duration::ZERO,
        timeout: Duration::from_millis(500),
        max_retries: 3,
        backoff_base: Duration::from_millis(5),
        backoff_max: Duration::from_millis(5),
        min_request_gap: Some(gap),
        max_response_bytes: CAP,
    })
    .await;
    let cancel = CancellationToken::new();
    h.server.script(&[Reply::Status(500), Reply::Status(500), Reply::Good, Reply::Good]);
    let report = h.scraper.poll_once(&cancel).await.expect("the third try succeeds");
    assert_eq!(report.attempts, 3);
    h.scraper.poll_once(&cancel).await.expect("an immediate second poll waits its turn, then succeeds");
    let arrivals = h.server.arrivals.lock().unwrap().clone();
    assert_eq!(arrivals.len(), 4);
    for pair in arrivals.windows(2) {
        // Sent at least `gap` apart; a little slack for the connection set-up of each request.
        let apart = pair[1] - pair[0];
        assert!(apart >= gap - Duration::from_millis(20), "requests {apart:?} apart under a {gap:?} gap");
    }
}

#[tokio::test]
async fn retry_after_seconds_is_honoured() {
    let mut h = harness(2, Duration::from_millis(300), Duration::from_secs(2)).await;
    h.server.script(&[Reply::RateLimited("1".into()), Reply::Good]);
    let started = Instant::now();
    let report = h.scraper.poll_once(&CancellationToken::new()).await.expect("succeeds after waiting");
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(990), "waited only {waited:?} despite Retry-After: 1");
    assert!(waited < Duration::from_secs(3), "waited {waited:?}");
    assert_eq!(report.attempts, 2);
    assert_eq!(h.errors(ErrorType::RateLimited), 1);
}

#[tokio::test]
async fn a_long_retry_after_date_ends_the_poll_and_delays_the_next() {
    // Longer than backoff_max: the poll gives up at once and the next poll waits.
    let mut h = harness(3, Duration::from_millis(300), Duration::from_millis(100)).await;
    let at = httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(30));
    h.server.script(&[Reply::RateLimited(at), Reply::Good]);
    let started = Instant::now();
    let err = h.scraper.poll_once(&CancellationToken::new()).await.unwrap_err();
    assert_eq!(err.error_type(), Some(ErrorType::RateLimited));
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(h.server.hits(), 1, "no retry inside the Retry-After window");
    let nb = h.scraper.not_before().expect("next poll delayed");
    let delay = nb.saturating_duration_since(Instant::now());
    assert!(delay > Duration::from_secs(25) && delay <= Duration::from_secs(31), "{delay:?}");
}

#[tokio::test]
async fn the_loop_sends_nothing_until_a_long_retry_after_date() {
    // Polls every 50 ms, but the feed asked for quiet until a date seconds away: the loop must
    // wait for it (not only record it), then poll again.
    let h = harness(3, Duration::from_millis(300), Duration::from_millis(100)).await;
    let at = httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(3));
    h.server.script(&[Reply::RateLimited(at), Reply::Good]);
    let Harness { server, scraper, store: _store, _dir } = h;
    let cancel = CancellationToken::new();
    let run = tokio::spawn(scraper.run(cancel.clone()));
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.hits() < 2 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    cancel.cancel();
    tokio::time::timeout(Duration::from_secs(2), run).await.expect("the loop stops on cancel").unwrap();
    let arrivals = server.arrivals.lock().unwrap().clone();
    assert!(arrivals.len() >= 2, "polled again after the date: {} requests", arrivals.len());
    // HTTP dates are whole seconds, so the date is 2–3 s after the first answer; without the wait
    // the next poll would come 50 ms later.
    let gap = arrivals[1] - arrivals[0];
    assert!(gap >= Duration::from_millis(1900), "polled again after {gap:?}, inside the Retry-After window");
}

#[tokio::test]
async fn connection_refused_is_a_connect_error() {
    nflbet::cli::install_crypto_provider();
    let mut h = harness(1, Duration::from_millis(300), Duration::from_millis(10)).await;
    // Point a second scraper at a port nothing listens on.
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = closed.local_addr().unwrap();
    drop(closed);
    let mut config = h.scraper.config().clone();
    config.provider = Arc::new(
        TheOddsApi::new(TheOddsApiConfig {
            endpoint: Some(format!("http://{addr}")),
            api_key: KEY.into(),
            sport: "americanfootball_nfl".into(),
            regions: vec!["us".into()],
            bookmaker: None,
            markets: Market::ALL.to_vec(),
        })
        .unwrap(),
    );
    h.scraper = Scraper::new(config).unwrap();
    let err = h.scraper.poll_once(&CancellationToken::new()).await.unwrap_err();
    assert_eq!(err.error_type(), Some(ErrorType::Connect), "{err}");
    assert_eq!(h.errors(ErrorType::Connect), 2, "one try and one retry");
    assert!(!err.to_string().contains(KEY) && !err.to_string().contains("apiKey"), "{err}");
    h.assert_no_secret();
}

#[tokio::test]
async fn shutdown_abandons_a_poll_in_flight_cleanly() {
    let mut h = harness(3, Duration::from_secs(5), Duration::from_millis(50)).await;
    h.server.script(&[Reply::Slow(Duration::from_secs(3))]);
    let cancel = CancellationToken::new();
    let c = cancel.clone();
    let hits = h.server.hits.clone();
    // Cancel once the request reached the feed: the poll is in flight, waiting for the answer.
    tokio::spawn(async move {
        while hits.load(Ordering::SeqCst) == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        c.cancel();
    });
    let started = Instant::now();
    let err = h.scraper.poll_once(&cancel).await.unwrap_err();
    assert!(matches!(err, PollError::Cancelled), "{err}");
    assert!(started.elapsed() < Duration::from_secs(1), "abandoned promptly");
    assert_eq!(h.snapshots().await, 0);
    for t in ErrorType::ALL {
        assert_eq!(h.errors(t), 0, "an abandoned poll is not a feed error ({})", t.as_str());
    }
    assert_eq!(h.scraper.status().consecutive_failures, None);
}

#[tokio::test]
async fn the_loop_polls_serves_metrics_and_stops_on_cancel() {
    let h = harness(1, Duration::from_millis(300), Duration::from_millis(10)).await;
    h.server.script(&[Reply::Good, Reply::Status(500), Reply::Status(500), Reply::Good]);
    let Harness { server: _feed, scraper, store, _dir } = h;
    let h = (scraper, store);
    let metrics = h.0.metrics();
    let ready = h.0.ready_flag();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let cancel = CancellationToken::new();
    let server = tokio::spawn(nflbet::http::serve(
        listener,
        nflbet::http::router(metrics.clone(), ready.clone(), "waiting for the first poll\n"),
        cancel.clone(),
    ));
    let client = reqwest::Client::new();
    let get = |path: &str| client.get(format!("http://{addr}{path}")).send();
    assert_eq!(get("/healthz").await.unwrap().status(), 200);
    assert_eq!(get("/readyz").await.unwrap().status(), 503, "not ready before the first poll");

    let mut rx = h.0.subscribe();
    let run = tokio::spawn(h.0.run(cancel.clone()));
    // Wait (bounded) for three finished polls: good, failed (500 twice), good.
    let deadline = Instant::now() + Duration::from_secs(5);
    while metrics.polls(true) < 2 && Instant::now() < deadline {
        let _ = tokio::time::timeout(Duration::from_millis(200), rx.changed()).await;
    }
    cancel.cancel();
    tokio::time::timeout(Duration::from_secs(2), run).await.expect("the loop stops on cancel").unwrap();
    assert!(metrics.polls(true) >= 2, "polls ok {}", metrics.polls(true));
    assert_eq!(metrics.polls(false), 1);
    assert_eq!(metrics.errors(ErrorType::HttpStatus), 2);
    assert!(ready.load(Ordering::Relaxed));

    let _ = server.await;
    // A fresh server on the same registry, to read the exposition after shutdown.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let cancel = CancellationToken::new();
    tokio::spawn(nflbet::http::serve(
        listener,
        nflbet::http::router(metrics.clone(), ready.clone(), "waiting for the first poll\n"),
        cancel.clone(),
    ));
    let body = reqwest::get(format!("http://{addr}/metrics")).await.unwrap().text().await.unwrap();
    for needle in [
        "nflreadpy_ingestion_latency_seconds_bucket{market=\"moneyline\",sportsbook=\"fanduel-main\"",
        "nflreadpy_ingestion_errors_total{error_type=\"http_status\",sportsbook=\"fanduel-main\"} 2",
        "nflreadpy_ingestion_errors_total{error_type=\"storage\",sportsbook=\"fanduel-main\"} 0",
        "nflreadpy_ingestion_last_success_timestamp_seconds{sportsbook=\"fanduel-main\"}",
        "nflreadpy_ingestion_quotes{market=\"spread\",sportsbook=\"fanduel-main\"} 2",
        "nflreadpy_ingestion_quotes_per_poll_count{sportsbook=\"fanduel-main\"}",
        "nflreadpy_ingestion_rejected_quotes_total{reason=\"stale\",sportsbook=\"fanduel-main\"} 0",
        "nflreadpy_ingestion_quota_remaining{sportsbook=\"fanduel-main\"} 497",
    ] {
        assert!(body.contains(needle), "missing {needle} in\n{body}");
    }
    assert_eq!(reqwest::get(format!("http://{addr}/readyz")).await.unwrap().status(), 200);
    cancel.cancel();
    let now = Utc::now();
    let listed =
        h.1.list("fanduel-main", now - ChronoDuration::hours(1), now + ChronoDuration::hours(1))
            .await
            .unwrap();
    assert_eq!(listed.len() as u64, metrics.polls(true), "one snapshot per successful poll");
}

#[tokio::test]
async fn a_trickled_body_is_cut_just_past_the_cap_whatever_it_declares() {
    // Declared 2 GiB (refused from the headers) and undeclared (cut by the running count): the
    // scraper reads a bounded number of bytes, counts one `parse` error, and writes nothing.
    for declared in [Some(2u64 << 30), None] {
        let mut h = harness(0, Duration::from_secs(30), Duration::from_millis(50)).await;
        let (sent, done) = (Arc::new(AtomicU64::new(0)), Arc::new(Notify::new()));
        h.server.script(&[Reply::Trickle { declared, sent: sent.clone(), done: done.clone() }]);
        let err = h.scraper.poll_once(&CancellationToken::new()).await.expect_err("over the cap");
        assert!(
            matches!(err, PollError::Fetch(nflbet::workloads::scraper::FetchError::TooLarge { limit: CAP })),
            "{declared:?}: {err}"
        );
        assert_eq!(h.errors(ErrorType::Parse), 1, "{declared:?}");
        assert_eq!(h.errors(ErrorType::Timeout), 0, "{declared:?}: cut by size, not by the timeout");
        tokio::time::timeout(Duration::from_secs(20), done.notified())
            .await
            .expect("the server sees the client hang up");
        let n = sent.load(Ordering::SeqCst);
        // The socket accepts a little more than the client read (kernel buffers); never the body.
        let bound = if declared.is_some() { CAP } else { CAP + 512 * 1024 };
        assert!(n <= bound, "{declared:?}: the server got {n} bytes out (bound {bound})");
        assert_eq!(h.snapshots().await, 0);
    }
}
