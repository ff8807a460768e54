//! Pricing throughput of the model workload and its peak memory.
//!
//! A large snapshot (one NFL week: 16 games × `NFLBET_BENCH_BOOKS` books, default 120, each
//! with a moneyline, five alternative spreads and five alternative totals, two sides each) is
//! written through the real `SnapshotStore` into a temporary file:// store. Then
//! `NFLBET_BENCH_RUNS` (default 10) full workload runs are timed, each the whole path: list and
//! read the latest snapshot, decode, group, price every market with `marketConsensus` (median of
//! every book, Shin margin removal), size the slate (Kelly, caps, exposure), export metrics and
//! write the recommendations record. Reported: quotes priced per second, the share spent reading
//! the snapshot, and peak RSS (VmHWM from /proc/self/status). Then the read bounds, each read in
//! a fresh process: one read of that snapshot and of a gzip bomb (1 GiB of JSON stored in about
//! a megabyte under a valid key), as readers do now (streamed, capped) and as they did before
//! (whole object, whole JSON up to 512 MiB, then parse): time and peak RSS.
//!
//! Run: `cargo bench --bench pricing`.

use chrono::{Duration, Utc};
use clap::Parser;
use nflbet::domain::market::Market;
use nflbet::feed::quote::{Event, Quote, Selection};
use nflbet::feed::snapshot::{S3Options, Snapshot, SnapshotStore};
use nflbet::feed::teams;
use nflbet::workloads::model::{ModelArgs, ModelConfig, Workload};
use std::time::Instant;

/// Sixteen games: the current teams paired in nflverse order, by their full names as feeds spell them.
fn matchups() -> impl Iterator<Item = (&'static str, &'static str)> {
    teams::ABBREVIATIONS.chunks(2).map(|p| (teams::full_name(p[0]).unwrap(), teams::full_name(p[1]).unwrap()))
}

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: ModelArgs,
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn peak_rss_kib() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// American price of a fair probability with a margin, nudged per book.
fn price(p: f64, margin: f64, nudge: f64) -> i32 {
    let q = (p * (1.0 + margin) + nudge).clamp(0.03, 0.97);
    let d = 1.0 / q;
    if d >= 2.0 { ((d - 1.0) * 100.0).round() as i32 } else { (-100.0 / (d - 1.0)).round() as i32 }
}

fn snapshot(books: usize) -> Snapshot {
    let now = Utc::now();
    let mut snap = Snapshot::new("big-feed", "theOddsApi", now - Duration::seconds(30));
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut noise = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % 2001) as f64 / 2000.0 * 0.04 - 0.02
    };
    for (i, (away, home)) in matchups().enumerate() {
        let event = Event::new(&format!("evt-{i:02}"), home, away, Some(now + Duration::days(2)));
        let (Some(h), Some(a)) = (event.home.clone(), event.away.clone()) else {
            continue;
        };
        let p_home = 0.35 + 0.3 * (i as f64 / 15.0);
        for b in 0..books {
            let book: std::sync::Arc<str> = format!("book{b:03}").into();
            let mut push = |market, sel: Selection, line: Option<f64>, american: i32| {
                let decimal = if american > 0 {
                    1.0 + f64::from(american) / 100.0
                } else {
                    1.0 + 100.0 / f64::from(-american)
                };
                snap.quotes.push(Quote {
                    event_id: event.id.clone(),
                    game_id: event.game_id.clone(),
                    book: book.clone(),
                    market,
                    selection: sel,
                    line,
                    american,
                    decimal,
                    observed_at: now - Duration::seconds(40),
                });
            };
            let n = noise();
            push(Market::Moneyline, Selection::Team(h.clone()), None, price(p_home, 0.025, n));
            push(Market::Moneyline, Selection::Team(a.clone()), None, price(1.0 - p_home, 0.025, -n));
            for k in 0..5 {
                let line = -3.5 + k as f64;
                let p = 0.5 + 0.03 * (k as f64 - 2.0);
                let n = noise();
                push(Market::Spread, Selection::Team(h.clone()), Some(line), price(p, 0.045, n));
                push(Market::Spread, Selection::Team(a.clone()), Some(-line), price(1.0 - p, 0.045, -n));
                let total = 42.5 + k as f64;
                let n = noise();
                push(Market::Total, Selection::Over, Some(total), price(1.0 - p, 0.045, n));
                push(Market::Total, Selection::Under, Some(total), price(p, 0.045, -n));
            }
        }
        snap.events.push(event);
    }
    snap
}

fn main() {
    if let Ok(spec) = std::env::var(READ_CHILD) {
        return read_child(&spec);
    }
    let books = env_usize("NFLBET_BENCH_BOOKS", 120);
    let runs = env_usize("NFLBET_BENCH_RUNS", 10).max(1);
    let rt =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("file://{}", dir.path().display());
    let snap = snapshot(books);
    let quotes = snap.quotes.len();
    let store = SnapshotStore::open(&url, &S3Options::default()).expect("store");
    let key = rt.block_on(store.write(&snap)).expect("write snapshot");
    drop(snap);
    let size = std::fs::metadata(dir.path().join(&key)).map_or(0, |m| m.len());
    println!("snapshot: {quotes} quotes, 16 games × {books} books, {:.2} MB gzip", size as f64 / 1e6);

    let argv = [
        "model",
        "--model",
        "bench",
        "--algorithm",
        "marketConsensus",
        "--version",
        "1.0.0",
        "--sportsbooks",
        "big-feed",
        "--bankroll",
        "100000",
        "--kelly-fraction",
        "0.25",
        "--cap-team",
        "0.1",
        "--cap-market",
        "0.2",
        "--cap-book",
        "0.05",
        "--store",
        &url,
        "--listen",
        "127.0.0.1:0",
    ];
    let config = ModelConfig::from_args(&Cli::parse_from(argv).args).expect("config");
    let mut workload = Workload::new(config).expect("workload");

    // Reading alone, for the share of the path it takes.
    let t = Instant::now();
    for _ in 0..runs {
        let s = rt.block_on(store.read(&key)).expect("read");
        std::hint::black_box(s.quotes.len());
    }
    let read = t.elapsed().as_secs_f64() / runs as f64;

    let mut priced = 0usize;
    let mut bets = 0usize;
    let t = Instant::now();
    for _ in 0..runs {
        let report = rt.block_on(workload.run_once());
        assert!(report.errors.is_empty(), "{:?}", report.errors);
        priced += report.quotes_priced;
        bets = report.portfolio.bets;
    }
    let secs = t.elapsed().as_secs_f64();
    let per_run = secs / runs as f64;
    println!(
        "whole path: {runs} runs, {:.3} s per run, {:.0} quotes priced per second ({} priced per run, {bets} bets)",
        per_run,
        priced as f64 / secs,
        priced / runs
    );
    println!("  snapshot read + decode: {:.3} s per run ({:.0}% of the path)", read, 100.0 * read / per_run);
    match peak_rss_kib() {
        Some(kib) => println!("peak RSS (VmHWM): {:.1} MiB", kib as f64 / 1024.0),
        None => println!("peak RSS: /proc/self/status unavailable"),
    }
    bench_read_bounds(&url, &key, dir.path());
}

/// Environment variable that makes this binary a child measuring one read: `url|key|mode`.
const READ_CHILD: &str = "NFLBET_BENCH_READ_CHILD";

/// In a fresh process (so the allocator holds nothing from earlier work), read one snapshot and
/// print the peak RSS. `streamed`: `SnapshotStore::read` (size checked, streamed, capped at
/// 64 MiB); `buffered`: what readers did before (whole object, then the whole decompressed JSON
/// up to 512 MiB, then parse).
fn read_child(spec: &str) {
    use std::io::Read;
    let mut parts = spec.splitn(3, '|');
    let (url, key, mode) =
        (parts.next().unwrap_or(""), parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let store = SnapshotStore::open(url, &S3Options::default()).expect("store");
    let base = peak_rss_kib().unwrap_or(0);
    let t = Instant::now();
    let outcome = if mode == "streamed" {
        rt.block_on(store.read(key)).map(|s| s.quotes.len()).map_err(|e| e.to_string())
    } else {
        let path = url.trim_start_matches("file://");
        let bytes = std::fs::read(format!("{path}/{key}")).expect("read");
        let mut json = Vec::new();
        let read =
            flate2::read::GzDecoder::new(&bytes[..]).take(512 * 1024 * 1024 + 1).read_to_end(&mut json);
        match read {
            Ok(n) if n > 512 * 1024 * 1024 => Err("larger than 512 MiB".into()),
            Ok(_) => {
                serde_json::from_slice::<Snapshot>(&json).map(|s| s.quotes.len()).map_err(|e| e.to_string())
            }
            Err(e) => Err(e.to_string()),
        }
    };
    let peak = peak_rss_kib().unwrap_or(0);
    println!(
        "{:.3}|{:.1}|{:.1}|{}",
        t.elapsed().as_secs_f64(),
        base as f64 / 1024.0,
        peak as f64 / 1024.0,
        match outcome {
            Ok(n) => format!("{n} quotes"),
            Err(e) => format!("refused: {e}"),
        }
    );
}

fn measure_read(url: &str, key: &str, mode: &str) -> String {
    let exe = std::env::current_exe().expect("current exe");
    let out = std::process::Command::new(exe)
        .env(READ_CHILD, format!("{url}|{key}|{mode}"))
        .output()
        .expect("run the read child");
    let line = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let f: Vec<&str> = line.splitn(4, '|').collect();
    match f.as_slice() {
        [secs, base, peak, what] => {
            format!("{mode:>8}: {secs} s, peak RSS {peak} MiB (process before the read {base} MiB); {what}")
        }
        _ => format!("{mode:>8}: no measurement ({line})"),
    }
}

fn bench_read_bounds(url: &str, key: &str, dir: &std::path::Path) {
    use std::io::Write;
    println!("one read of the snapshot, each in a fresh process:");
    for mode in ["buffered", "streamed"] {
        println!("  {}", measure_read(url, key, mode));
    }
    let at = Utc::now() - Duration::minutes(1);
    let bomb = SnapshotStore::key_for("bomb-feed", at).expect("key");
    let path = dir.join(&bomb);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    let file = std::fs::File::create(&path).expect("create");
    let mut gz = flate2::write::GzEncoder::new(file, flate2::Compression::best());
    gz.write_all(br#"{"format":"nflbet.snapshot","version":1,"pad":""#).expect("write");
    let mib = vec![b'0'; 1 << 20];
    for _ in 0..1024 {
        gz.write_all(&mib).expect("write");
    }
    gz.write_all(br#""}"#).expect("write");
    gz.finish().expect("finish");
    let stored = std::fs::metadata(&path).map_or(0, |m| m.len());
    println!("a gzip bomb ({:.2} MB stored, 1 GiB of JSON), each in a fresh process:", stored as f64 / 1e6);
    for mode in ["buffered", "streamed"] {
        println!("  {}", measure_read(url, &bomb, mode));
    }
}
