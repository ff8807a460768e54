//! Pricing throughput of the model workload and its peak memory.
//!
//! A large snapshot (one NFL week: 16 games × `NFLBET_BENCH_BOOKS` books, default 120, each
//! with a moneyline, five alternative spreads and five alternative totals, two sides each) is
//! written through the real `SnapshotStore` into a temporary file:// store. Then
//! `NFLBET_BENCH_RUNS` (default 10) full workload runs are timed, each the whole path: list and
//! read the latest snapshot, decode, group, price every market with `marketConsensus` (median of
//! every book, Shin margin removal), size the slate (Kelly, caps, exposure), export metrics and
//! write the recommendations record. Reported: quotes priced per second, the share spent reading
//! the snapshot, and peak RSS (VmHWM from /proc/self/status). Then the read bounds: the peak
//! memory one read of that snapshot adds, and what reading a gzip bomb (1 GiB of JSON stored
//! in about a megabyte under a valid key) costs before it is refused (VmHWM reset through
//! /proc/self/clear_refs before each).
//!
//! Run: `cargo bench --bench pricing`.

use chrono::{Duration, Utc};
use clap::Parser;
use nflbet::crd::sportsbook::Market;
use nflbet::feed::quote::{Event, Quote, Selection};
use nflbet::feed::snapshot::{S3Options, Snapshot, SnapshotStore};
use nflbet::feed::teams;
use nflbet::model_workload::{ModelArgs, ModelConfig, Workload};
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
            let book = format!("book{b:03}");
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
    bench_read_bounds(&rt, &store, &key, dir.path());
}

fn rss_kib() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Peak RSS growth (MiB) while `f` runs, the high-water mark reset to the current RSS first.
fn peak_growth<T>(f: impl FnOnce() -> T) -> (T, Option<f64>) {
    let reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
    let before = rss_kib();
    let out = f();
    let growth = match (reset, before, peak_rss_kib()) {
        (true, Some(b), Some(p)) => Some(p.saturating_sub(b) as f64 / 1024.0),
        _ => None,
    };
    (out, growth)
}

fn bench_read_bounds(rt: &tokio::runtime::Runtime, store: &SnapshotStore, key: &str, dir: &std::path::Path) {
    use std::io::Write;
    let show =
        |g: Option<f64>| g.map_or("unmeasured (no /proc/self/clear_refs)".into(), |m| format!("+{m:.1} MiB"));
    let (read, growth) = peak_growth(|| rt.block_on(store.read(key)));
    let quotes = read.expect("read").quotes.len();
    println!("one read of the {quotes}-quote snapshot: peak RSS {}", show(growth));

    let at = Utc::now() - Duration::minutes(1);
    let bomb = SnapshotStore::key_for("bomb-feed", at).expect("key");
    let path = dir.join(&bomb);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    let mut gz = flate2::write::GzEncoder::new(
        std::fs::File::create(&path).expect("create"),
        flate2::Compression::best(),
    );
    gz.write_all(br#"{"format":"nflbet.snapshot","version":1,"pad":""#).expect("write");
    let mib = vec![b'0'; 1 << 20];
    for _ in 0..1024 {
        gz.write_all(&mib).expect("write");
    }
    gz.write_all(br#""}"#).expect("write");
    gz.finish().expect("finish");
    let stored = std::fs::metadata(&path).map_or(0, |m| m.len());
    let t = Instant::now();
    let (refused, growth) = peak_growth(|| rt.block_on(store.read(&bomb)));
    let err = refused.expect_err("a bomb is refused");
    println!(
        "gzip bomb ({:.2} MB stored, 1 GiB of JSON): refused in {:.3} s, peak RSS {} ({err})",
        stored as f64 / 1e6,
        t.elapsed().as_secs_f64(),
        show(growth)
    );
}
