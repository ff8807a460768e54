//! Normalisation throughput and the scraper's peak memory.
//!
//! 1. Throughput: parse + normalise + validate a realistic The Odds API payload (every game of an
//!    NFL week, 16 events × 40 bookmakers × h2h/spreads/totals, two outcomes each), reported in
//!    MB/s of JSON and quotes/s.
//! 2. Peak RSS: a scraper polling a local feed on 127.0.0.1 every second (that payload, file://
//!    snapshots in a temporary directory) for `NFLBET_BENCH_SECONDS` (default 60) seconds;
//!    reported as VmHWM from /proc/self/status, which also includes phase 1's allocations.
//!
//! Run: `cargo bench --bench normalise` (`NFLBET_BENCH_SECONDS=10` for a short run).

use chrono::{Duration as ChronoDuration, Utc};
use nflbet::domain::market::Market;
use nflbet::feed::snapshot::{S3Options, SnapshotStore};
use nflbet::feed::teams;
use nflbet::feed::the_odds_api::{TheOddsApi, TheOddsApiConfig};
use nflbet::feed::{FeedProvider, ValidationPolicy, normalise};
use nflbet::workloads::scraper::{PollPolicy, ScrapeConfig, Scraper};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Sixteen games: the current teams paired in nflverse order, by their full names as feeds spell them.
fn matchups() -> impl Iterator<Item = (&'static str, &'static str)> {
    teams::ABBREVIATIONS.chunks(2).map(|p| (teams::full_name(p[0]).unwrap(), teams::full_name(p[1]).unwrap()))
}

/// A week's payload with `books` bookmakers, updated 30 s ago.
fn week_payload(books: usize) -> String {
    let now = Utc::now();
    let ts = (now - ChronoDuration::seconds(30)).format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let mut events = Vec::new();
    for (i, (away, home)) in matchups().enumerate() {
        let kickoff = (now + ChronoDuration::hours(24 + i as i64)).format("%Y-%m-%dT%H:%M:%SZ");
        let mut bms = Vec::new();
        for b in 0..books {
            let shade = (b % 7) as i64;
            let spread = 0.5 * ((i % 15) as f64) - 3.5;
            let total = 38.5 + (i % 12) as f64;
            bms.push(format!(
                r#"{{"key":"book_{b}","title":"Book {b}","last_update":"{ts}","markets":[{{"key":"h2h","last_update":"{ts}","outcomes":[{{"name":"{away}","price":{}}},{{"name":"{home}","price":{}}}]}},{{"key":"spreads","last_update":"{ts}","outcomes":[{{"name":"{away}","price":-110,"point":{}}},{{"name":"{home}","price":{},"point":{}}}]}},{{"key":"totals","last_update":"{ts}","outcomes":[{{"name":"Over","price":-110,"point":{total}}},{{"name":"Under","price":{},"point":{total}}}]}}]}}"#,
                130 + shade * 5,
                -150 - shade * 5,
                -spread,
                -105 - shade,
                spread,
                -110 - shade,
            ));
        }
        events.push(format!(
            r#"{{"id":"event{i:04}","sport_key":"americanfootball_nfl","sport_title":"NFL","commence_time":"{kickoff}","home_team":"{home}","away_team":"{away}","bookmakers":[{}]}}"#,
            bms.join(",")
        ));
    }
    format!("[{}]", events.join(","))
}

fn provider(endpoint: &str) -> TheOddsApi {
    TheOddsApi::new(TheOddsApiConfig {
        endpoint: Some(endpoint.into()),
        api_key: "bench".into(),
        sport: "americanfootball_nfl".into(),
        regions: vec!["us".into()],
        bookmaker: None,
        markets: Market::ALL.to_vec(),
    })
    .expect("provider")
}

fn vm_hwm_kib() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn throughput() {
    let body = week_payload(40);
    let p = provider("http://127.0.0.1:1");
    let policy = ValidationPolicy { max_quote_age: Duration::from_secs(3600), ..ValidationPolicy::default() };
    // Warm up, then time enough iterations for a stable figure.
    let quotes = normalise(p.parse(body.as_bytes()).expect("parse"), &policy, Utc::now()).quotes.len();
    assert_eq!(quotes, 16 * 40 * 6, "every quote valid");
    // Five rounds of 100 payloads (36 MB each); the median round is reported, so one round
    // slowed by a neighbour on the shared cores does not make the figure.
    let (rounds, iterations) = (5, 100);
    let mut parse_secs = Vec::new();
    let mut total_secs = Vec::new();
    for _ in 0..rounds {
        let started = Instant::now();
        for _ in 0..iterations {
            std::hint::black_box(p.parse(std::hint::black_box(body.as_bytes())).expect("parse"));
        }
        parse_secs.push(started.elapsed().as_secs_f64());
        let started = Instant::now();
        let mut kept = 0;
        for _ in 0..iterations {
            let raw = p.parse(std::hint::black_box(body.as_bytes())).expect("parse");
            kept += normalise(raw, &policy, Utc::now()).quotes.len();
        }
        total_secs.push(started.elapsed().as_secs_f64());
        assert_eq!(kept, quotes * iterations);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (parse, total) = (median(&mut parse_secs), median(&mut total_secs));
    let mb = (body.len() * iterations) as f64 / 1e6;
    println!(
        "normalise: payload {:.2} MB, {} quotes; {:.1} MB/s, {:.0} quotes/s (median of {rounds} rounds of {iterations}; parse alone {:.1} MB/s)",
        body.len() as f64 / 1e6,
        quotes,
        mb / total,
        (quotes * iterations) as f64 / total,
        mb / parse,
    );
}

/// Serve `body` to every request on 127.0.0.1 until the process ends.
async fn serve(body: Arc<String>) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let body = body.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let mut head = Vec::new();
                while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16384 {
                    match sock.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let resp = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\nx-requests-remaining: 100\r\n\r\n",
                    body.len()
                );
                let _ = sock.write_all(resp.as_bytes()).await;
                let _ = sock.write_all(body.as_bytes()).await;
            });
        }
    });
    addr
}

fn polling_rss() {
    let seconds: u64 =
        std::env::var("NFLBET_BENCH_SECONDS").ok().and_then(|v| v.parse().ok()).unwrap_or(60).clamp(1, 600);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    rt.block_on(async {
        let addr = serve(Arc::new(week_payload(40))).await;
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SnapshotStore::open(&format!("file://{}", dir.path().display()), &S3Options::default()).expect("store");
        let config = ScrapeConfig {
            sportsbook: "bench".into(),
            namespace: "default".into(),
            provider: Arc::new(provider(&format!("http://{addr}"))),
            markets: Market::ALL.to_vec(),
            poll: PollPolicy { interval: Duration::from_secs(1), timeout: Duration::from_secs(5), ..PollPolicy::default() },
            validation: ValidationPolicy::default(),
            store,
            retention: None,
            metrics_prefix: "nflreadpy".into(),
            listen: "127.0.0.1:0".parse().expect("addr"),
            heartbeat: false,
            heartbeat_interval: Duration::from_secs(30),
            // The bench feed is on 127.0.0.1 over http, with a key: allowed explicitly.
            egress: nflbet::egress::EgressArgs {
                feed_credential_hosts: vec!["http://127.0.0.1".into()],
                allow_addresses: vec!["127.0.0.0/8".into()],
                ..nflbet::egress::EgressArgs::default()
            }
            .policy(vec![])
            .expect("policy"),
        };
        let scraper = Scraper::new(config).expect("scraper");
        let metrics = scraper.metrics();
        let cancel = tokio_util::sync::CancellationToken::new();
        let before = vm_hwm_kib();
        let run = tokio::spawn(scraper.run(cancel.clone()));
        tokio::time::sleep(Duration::from_secs(seconds)).await;
        cancel.cancel();
        let _ = run.await;
        println!(
            "polling: {} s at 1 poll/s, {} snapshots ok, {} failed; peak RSS (VmHWM) {} KiB (before polling {} KiB)",
            seconds,
            metrics.polls(true),
            metrics.polls(false),
            vm_hwm_kib().map(|v| v.to_string()).unwrap_or_else(|| "?".into()),
            before.map(|v| v.to_string()).unwrap_or_else(|| "?".into()),
        );
    });
}

fn main() {
    nflbet::cli::install_crypto_provider();
    // `cargo test --benches` passes --bench-less flags; only run the measurements under `cargo bench`.
    if std::env::args().any(|a| a == "--bench") {
        throughput();
        polling_rss();
    } else {
        println!("normalise bench: run with `cargo bench --bench normalise`");
    }
}
