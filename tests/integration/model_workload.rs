//! The model workload in-process: its `/metrics` endpoint on 127.0.0.1 scraped for the families
//! the operator's alerts rely on, and calibration settled on real games of the 2023 season
//! (`../shared/data/nfl_games.csv`) against an independent computation.

use crate::support;
use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use clap::Parser;
use nflbet::domain::games::{Game, load_games};
use nflbet::domain::market::Market;
use nflbet::feed::quote::{Event, Quote, Selection};
use nflbet::feed::snapshot::{S3Options, Snapshot, SnapshotStore};
use nflbet::workloads::model::{ModelArgs, ModelConfig, Workload};
use std::collections::BTreeMap;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: ModelArgs,
}

fn config(extra: &[&str]) -> ModelConfig {
    let mut argv = vec!["model", "--algorithm", "marketConsensus"];
    if !extra.contains(&"--version") {
        argv.extend(["--version", "1.0.0"]);
    }
    argv.extend(["--bankroll", "10000", "--kelly-fraction", "0.25"]);
    argv.extend(["--reference-books", "pinnacle", "--margin-method", "proportional"]);
    argv.extend(["--listen", "127.0.0.1:0", "--interval", "1h"]);
    argv.extend(extra);
    ModelConfig::from_args(&Cli::parse_from(argv).args).unwrap()
}

pub(super) fn quote(
    event: &Event,
    book: &str,
    market: Market,
    sel: Selection,
    line: Option<f64>,
    american: i32,
    at: DateTime<Utc>,
) -> Quote {
    let decimal = if american > 0 { 1.0 + american as f64 / 100.0 } else { 1.0 + 100.0 / (-american) as f64 };
    Quote {
        event_id: event.id.clone(),
        game_id: event.game_id.clone(),
        book: book.into(),
        market,
        selection: sel,
        line,
        american,
        decimal,
        observed_at: at,
    }
}

async fn get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").as_bytes()).await.unwrap();
    let mut buf = String::new();
    s.read_to_string(&mut buf).await.unwrap();
    let code = buf.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = buf.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (code, body)
}

/// Samples of `family` whose labels include every `k="v"` of `labels`.
fn samples(text: &str, family: &str, labels: &[(&str, &str)]) -> Vec<f64> {
    text.lines()
        .filter(|l| l.starts_with(&format!("{family}{{")) || l.starts_with(&format!("{family} ")))
        .filter(|l| labels.iter().all(|(k, v)| l.contains(&format!("{k}=\"{v}\""))))
        .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_endpoint_exports_the_alerting_families() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("file://{}", dir.path().display());
    let store = SnapshotStore::open(&url, &S3Options::default()).unwrap();
    let now = Utc::now();
    let event =
        Event::new("e-bal-kc", "Kansas City Chiefs", "Baltimore Ravens", Some(now + Duration::days(3)));
    let label = event.game_id.clone().unwrap_or_else(|| event.id.clone());
    let team = |t: &str| Selection::Team(t.into());
    let at = now - Duration::minutes(1);
    let mut snap = Snapshot::new("odds-feed", "theOddsApi", at);
    snap.events = vec![event.clone()];
    snap.quotes = vec![
        quote(&event, "pinnacle", Market::Moneyline, team("KC"), None, -150, at),
        quote(&event, "pinnacle", Market::Moneyline, team("BAL"), None, 130, at),
        quote(&event, "pinnacle", Market::Total, Selection::Over, Some(46.5), -105, at),
        quote(&event, "pinnacle", Market::Total, Selection::Under, Some(46.5), -115, at),
        quote(&event, "fanduel", Market::Moneyline, team("BAL"), None, 160, at),
        quote(&event, "fanduel", Market::Total, Selection::Under, Some(46.5), 120, at),
    ];
    store.write(&snap).await.unwrap();

    let cfg = config(&["--model", "edge-model", "--sportsbooks", "odds-feed,missing-feed", "--store", &url]);
    let workload = Workload::new(cfg).unwrap();
    let cancel = tokio_util::sync::CancellationToken::new();
    let running = nflbet::workloads::model::start(workload, None, cancel.clone()).await.unwrap();
    let addr = running.addr;
    assert!(addr.ip().is_loopback());
    let mut ready = false;
    for _ in 0..100 {
        if get(addr, "/readyz").await.0 == 200 {
            ready = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(ready, "/readyz never answered 200");
    assert_eq!(get(addr, "/healthz").await.0, 200);
    let (code, text) = get(addr, "/metrics").await;
    assert_eq!(code, 200);

    let base = [("model", "edge-model"), ("role", "stable")];
    let edge = |sel: &str, book: &str, market: &str, which: &str| {
        let mut l = base.to_vec();
        l.extend([
            ("market", market),
            ("event", &*label),
            ("selection", sel),
            ("book", book),
            ("which", which),
        ]);
        samples(&text, "nflreadpy_model_edge", &l)
    };
    let p = (100.0 / 230.0) / (150.0 / 250.0 + 100.0 / 230.0);
    let ev = edge("BAL", "fanduel", "moneyline", "ev");
    assert_eq!(ev.len(), 1, "{text}");
    assert!((ev[0] - (p * 2.6 - 1.0)).abs() < 1e-9);
    let kelly = edge("BAL", "fanduel", "moneyline", "kelly");
    let quarter = 0.25 * (1.6 * p - (1.0 - p)) / 1.6;
    assert!((kelly[0] - quarter).abs() < 1e-9);
    assert_eq!(edge("under", "fanduel", "total", "ev").len(), 1, "totals are priced too");
    assert!(edge("KC", "pinnacle", "moneyline", "ev").is_empty(), "reference book");

    // Exposure: the moneyline bet on BAL and the total (both teams) at fanduel.
    let exposure = samples(
        &text,
        "nflreadpy_portfolio_exposure",
        &[("model", "edge-model"), ("team", "BAL"), ("market", "moneyline"), ("book", "fanduel")],
    );
    assert_eq!(exposure.len(), 1, "{text}");
    assert!((exposure[0] - quarter * 10_000.0).abs() < 1e-6);
    let total_kc = samples(&text, "nflreadpy_portfolio_exposure", &[("team", "KC"), ("market", "total")]);
    let total_bal = samples(&text, "nflreadpy_portfolio_exposure", &[("team", "BAL"), ("market", "total")]);
    assert_eq!(total_kc, total_bal, "a total counts against both teams");
    assert!(total_kc[0] > 0.0);
    let stake = samples(
        &text,
        "nflreadpy_portfolio_stake",
        &[("event", &*label), ("market", "total"), ("book", "fanduel")],
    );
    assert_eq!(stake, total_kc, "…and once in the stake family, under its event");
    assert_eq!(samples(&text, "nflreadpy_portfolio_cap", &[("dimension", "bet")]), vec![200.0]);

    // Calibration on a fresh store: zero samples, and no invented scores.
    let cal = [("model", "edge-model"), ("version", "1.0.0"), ("role", "stable")];
    assert_eq!(samples(&text, "nflreadpy_model_calibration_samples", &cal), vec![0.0], "{text}");
    assert!(samples(&text, "nflreadpy_model_brier_score", &[]).is_empty(), "{text}");
    assert!(samples(&text, "nflreadpy_model_log_loss", &[]).is_empty());

    let last = samples(&text, "nflreadpy_model_last_run_timestamp_seconds", &base);
    assert!((last[0] - now.timestamp() as f64).abs() < 60.0);
    assert_eq!(
        samples(&text, "nflreadpy_model_markets_priced", &base),
        vec![2.0],
        "moneyline and one total line"
    );
    for t in ["snapshot", "games", "pricing", "staking", "store", "calibration"] {
        let mut l = base.to_vec();
        l.push(("error_type", t));
        assert_eq!(samples(&text, "nflreadpy_model_run_errors_total", &l), vec![0.0], "{t}");
    }
    running.shutdown().await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err(), "server stopped");
}

fn games() -> Vec<Game> {
    load_games(&support::games_file()).expect("the shared nflverse games file")
}

/// Independent implied probability of an American price.
fn implied(a: i32) -> f64 {
    let a = f64::from(a);
    if a < 0.0 { -a / (-a + 100.0) } else { 100.0 / (a + 100.0) }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calibration_settles_stored_predictions_of_a_past_season() {
    let games = games();
    // Weeks 1-4 of 2023 with both closing moneylines: priced by the workload the day before
    // each week opens, then settled after week 4.
    let slate: Vec<&Game> = games
        .iter()
        .filter(|g| {
            g.season == 2023
                && (1..=4).contains(&g.week)
                && g.home_moneyline.is_some()
                && g.away_moneyline.is_some()
        })
        .collect();
    assert!(slate.len() > 50, "{}", slate.len());
    let dir = tempfile::tempdir().unwrap();
    let url = format!("file://{}", dir.path().display());
    let store = SnapshotStore::open(&url, &S3Options::default()).unwrap();
    let cfg = config(&[
        "--model",
        "cal-model",
        "--sportsbooks",
        "closing",
        "--store",
        &url,
        "--calibration-window",
        "1500h",
        "--snapshot-max-age",
        "1h",
        "--parameters",
        "aaaaaaaaaa",
    ]);
    let mut workload = Workload::new(cfg).unwrap().with_games(games.clone());

    let mut weeks: BTreeMap<u8, Vec<&Game>> = BTreeMap::new();
    for g in &slate {
        weeks.entry(g.week).or_default().push(g);
    }
    for week in weeks.values() {
        let first: NaiveDate = week.iter().map(|g| g.gameday).min().unwrap();
        let polled = (first - Duration::days(1)).and_hms_opt(12, 0, 0).unwrap().and_utc();
        let mut snap = Snapshot::new("closing", "genericJson", polled);
        for g in week {
            let kickoff = g.gameday.and_hms_opt(17, 0, 0).unwrap().and_utc();
            let event = Event {
                id: format!("desk-{}", g.game_id).into(),
                game_id: Some(g.game_id.as_str().into()),
                season: Some(i32::from(g.season)),
                week: Some(u32::from(g.week)),
                home: Some(g.home_team.clone()),
                away: Some(g.away_team.clone()),
                home_name: g.home_team.clone(),
                away_name: g.away_team.clone(),
                kickoff: Some(kickoff),
            };
            let (h, a) = (g.home_moneyline.unwrap(), g.away_moneyline.unwrap());
            snap.quotes.push(quote(
                &event,
                "pinnacle",
                Market::Moneyline,
                Selection::Team(g.home_team.clone()),
                None,
                h,
                polled,
            ));
            snap.quotes.push(quote(
                &event,
                "pinnacle",
                Market::Moneyline,
                Selection::Team(g.away_team.clone()),
                None,
                a,
                polled,
            ));
            snap.events.push(event);
        }
        store.write(&snap).await.unwrap();
        let report = workload.run_at(polled + Duration::minutes(1)).await;
        assert!(report.errors.is_empty(), "{:?}", report.errors);
        assert_eq!(report.events.len(), week.len());
        assert!(report.record_key.is_some());
    }

    // A run after kickoff must not count: price week 1 again after it was played.
    let week1 = &weeks[&1];
    let late = week1.iter().map(|g| g.gameday).max().unwrap().and_hms_opt(23, 0, 0).unwrap().and_utc()
        + Duration::days(1);
    let mut snap = Snapshot::new("closing", "genericJson", late);
    for g in week1 {
        let event = Event {
            id: format!("desk-{}", g.game_id).into(),
            game_id: Some(g.game_id.as_str().into()),
            season: Some(2023),
            week: Some(1),
            home: Some(g.home_team.clone()),
            away: Some(g.away_team.clone()),
            home_name: g.home_team.clone(),
            away_name: g.away_team.clone(),
            kickoff: None,
        };
        // Prices that "know" the result: a scoring leak if they were counted.
        let home_won = g.home_score > g.away_score;
        let (h, a) = if home_won { (-5000, 2000) } else { (2000, -5000) };
        snap.quotes.push(quote(
            &event,
            "pinnacle",
            Market::Moneyline,
            Selection::Team(g.home_team.clone()),
            None,
            h,
            late,
        ));
        snap.quotes.push(quote(
            &event,
            "pinnacle",
            Market::Moneyline,
            Selection::Team(g.away_team.clone()),
            None,
            a,
            late,
        ));
        snap.events.push(event);
    }
    store.write(&snap).await.unwrap();
    workload.run_at(late + Duration::minutes(1)).await;

    let settle_at = Utc.with_ymd_and_hms(2023, 10, 20, 12, 0, 0).unwrap();
    let scores = workload.calibrate_at(settle_at).await;

    // Independent computation: proportional margin removal of the closing moneylines, one
    // forecast per game, ties excluded.
    let (mut n, mut pushes, mut brier, mut log_loss) = (0u64, 0u64, 0.0, 0.0);
    for g in &slate {
        let (hs, as_) = (g.home_score.unwrap(), g.away_score.unwrap());
        if hs == as_ {
            pushes += 1;
            continue;
        }
        let (ih, ia) = (implied(g.home_moneyline.unwrap()), implied(g.away_moneyline.unwrap()));
        let p = ih / (ih + ia);
        let y = if hs > as_ { 1.0 } else { 0.0 };
        n += 1;
        brier += (p - y) * (p - y);
        log_loss -= y * p.ln() + (1.0 - y) * (1.0 - p).ln();
    }
    assert_eq!((scores.samples, scores.pushes), (n, pushes));
    let (brier, log_loss) = (brier / n as f64, log_loss / n as f64);
    assert!((scores.brier.unwrap() - brier).abs() < 1e-12, "{:?} vs {brier}", scores.brier);
    assert!((scores.log_loss.unwrap() - log_loss).abs() < 1e-12);
    assert!(brier > 0.15 && brier < 0.26, "a market-like Brier score: {brier}");

    let text = workload.metrics().render();
    let cal = [("model", "cal-model"), ("version", "1.0.0"), ("role", "stable")];
    assert_eq!(samples(&text, "nflreadpy_model_calibration_samples", &cal), vec![n as f64]);
    let exported = samples(&text, "nflreadpy_model_brier_score", &cal);
    assert!((exported[0] - brier).abs() < 1e-12);

    // Another version of the model has no predictions yet: absent, not borrowed.
    let cfg = config(&[
        "--model",
        "cal-model",
        "--version",
        "2.0.0",
        "--sportsbooks",
        "closing",
        "--store",
        &url,
        "--calibration-window",
        "1500h",
    ]);
    let mut other = Workload::new(cfg).unwrap().with_games(games.clone());
    let none = other.calibrate_at(settle_at).await;
    assert_eq!((none.samples, none.brier), (0, None));

    // The same version with other parameters (a candidate's overrides) has none either; with
    // the same parameters, or none named, the records are its own.
    let with = |parameters: Option<&'static str>| {
        let mut extra: Vec<&str> =
            vec!["--model", "cal-model", "--sportsbooks", "closing", "--store", url.as_str()];
        extra.extend(["--calibration-window", "1500h"]);
        extra.extend(parameters.map(|p| ["--parameters", p]).into_iter().flatten());
        Workload::new(config(&extra)).unwrap().with_games(games.clone())
    };
    let none = with(Some("bbbbbbbbbb")).calibrate_at(settle_at).await;
    assert_eq!((none.samples, none.brier), (0, None));
    assert_eq!(with(Some("aaaaaaaaaa")).calibrate_at(settle_at).await.samples, n);
    assert_eq!(with(None).calibrate_at(settle_at).await.samples, n);
}

/// Gzip `parts` repeated `times` times, written at `key` under `dir`.
fn write_gzip(dir: &std::path::Path, key: &str, head: &[u8], filler: &[u8], times: usize, tail: &[u8]) {
    use std::io::Write;
    let path = dir.join(key);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut gz =
        flate2::write::GzEncoder::new(std::fs::File::create(path).unwrap(), flate2::Compression::fast());
    gz.write_all(head).unwrap();
    for _ in 0..times {
        gz.write_all(filler).unwrap();
    }
    gz.write_all(tail).unwrap();
    gz.finish().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_snapshots_are_counted_and_skipped_while_the_other_books_are_priced() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("file://{}", dir.path().display());
    let store = SnapshotStore::open(&url, &S3Options::default()).unwrap();
    let now = Utc::now();
    let at = now - Duration::minutes(1);
    let event =
        Event::new("e-bal-kc", "Kansas City Chiefs", "Baltimore Ravens", Some(now + Duration::days(3)));
    let team = |t: &str| Selection::Team(t.into());
    let mut snap = Snapshot::new("good-book", "theOddsApi", at);
    snap.events = vec![event.clone()];
    snap.quotes = vec![
        quote(&event, "pinnacle", Market::Moneyline, team("KC"), None, -150, at),
        quote(&event, "pinnacle", Market::Moneyline, team("BAL"), None, 130, at),
        quote(&event, "fanduel", Market::Moneyline, team("BAL"), None, 160, at),
    ];
    store.write(&snap).await.unwrap();
    // A gzip bomb under a valid key: 80 MiB of JSON in well under 1 MiB.
    let bomb = SnapshotStore::key_for("bomb-book", at).unwrap();
    let head = br#"{"format":"nflbet.snapshot","version":1,"pad":""#;
    write_gzip(dir.path(), &bomb, head, &[b'0'; 1 << 20], 80, br#"","sportsbook":"bomb-book"}"#);
    let bomb_size = std::fs::metadata(dir.path().join(&bomb)).unwrap().len();
    assert!(bomb_size < 1 << 20, "{bomb_size} bytes stored");
    // A stored object over the 16 MiB cap (incompressible bytes): never read.
    let huge = SnapshotStore::key_for("huge-book", at).unwrap();
    let mut noise = vec![0u8; 17 << 20];
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for b in noise.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    std::fs::create_dir_all(dir.path().join(&huge).parent().unwrap()).unwrap();
    std::fs::write(dir.path().join(&huge), &noise).unwrap();
    drop(noise);

    let cfg = config(&["--model", "m", "--sportsbooks", "good-book,bomb-book,huge-book", "--store", &url]);
    let mut workload = Workload::new(cfg).unwrap();
    let run = workload.run_at(now).await;
    assert_eq!(run.snapshots.keys().collect::<Vec<_>>(), ["good-book"], "{:?}", run.errors);
    assert!(run.markets_priced > 0, "the good book is priced");
    let snapshot_errors: Vec<&String> = run
        .errors
        .iter()
        .filter(|(t, _)| *t == nflbet::workloads::model::ErrorType::Snapshot)
        .map(|(_, m)| m)
        .collect();
    assert_eq!(snapshot_errors.len(), 2, "{:?}", run.errors);
    assert!(
        snapshot_errors
            .iter()
            .any(|m| m.contains("bomb-book") && m.contains("decompresses to more than 67108864"))
    );
    assert!(
        snapshot_errors.iter().any(|m| m.contains("huge-book") && m.contains("over the 16777216-byte limit"))
    );
    assert_eq!(workload.metrics().errors(nflbet::workloads::model::ErrorType::Snapshot), 2);
    // The next run counts them again and still prices the good book: refused, never fatal.
    let again = workload.run_at(now).await;
    assert_eq!(again.markets_priced, run.markets_priced);
    assert_eq!(workload.metrics().errors(nflbet::workloads::model::ErrorType::Snapshot), 4);
}

fn record(
    model: &str,
    role: &str,
    at: DateTime<Utc>,
) -> nflbet::workloads::model::record::RecommendationRecord {
    use nflbet::workloads::model::record::{FORMAT, RecommendationRecord, VERSION};
    RecommendationRecord {
        format: FORMAT.into(),
        version: VERSION,
        model: model.into(),
        role: role.into(),
        model_version: "1.0.0".into(),
        parameters: None,
        algorithm: "marketConsensus".into(),
        run_at: at,
        effective_bankroll: 1.0,
        traffic_share: 1.0,
        shadow: false,
        snapshots: BTreeMap::new(),
        predictions: vec![],
        recommendations: vec![],
    }
}

#[tokio::test]
async fn retention_deletes_only_this_roles_expired_records_and_never_below_calibration() {
    use nflbet::workloads::model::store::RecordStore;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("file://{}", dir.path().display());
    let records = RecordStore::open(&url, &S3Options::default()).unwrap();
    let now = Utc.timestamp_millis_opt(Utc::now().timestamp_millis()).unwrap();
    let days = |d: i64| now - Duration::days(d);
    for (model, role, at) in [
        ("m", "stable", days(60)),
        ("m", "stable", days(43)),
        ("m", "stable", days(41)),
        ("m", "stable", now - Duration::hours(1)),
        ("m", "candidate", days(60)),
        ("m2", "stable", days(60)),
    ] {
        records.write(&record(model, role, at)).await.unwrap();
    }
    // 1008h = the default calibration window (672h) plus the 14 days before a game.
    let mut workload =
        Workload::new(config(&["--model", "m", "--store", &url, "--retention", "1008h"])).unwrap();
    let report = workload.prune_at(now).await.expect("a retention is set");
    assert_eq!((report.deleted, report.failed, report.more), (2, 0, false), "{report:?}");
    assert_eq!(workload.metrics().retention_counts(), (2, 0));
    let listed = |model: &'static str, role: &'static str| {
        let records = records.clone();
        async move { records.list(model, role, days(400), now + Duration::hours(1)).await.unwrap() }
    };
    let stable: Vec<DateTime<Utc>> = listed("m", "stable").await.into_iter().map(|(_, at)| at).collect();
    assert_eq!(stable, vec![days(41), now - Duration::hours(1)]);
    assert_eq!(listed("m", "candidate").await.len(), 1, "the other role's records are its own");
    assert_eq!(listed("m2", "stable").await.len(), 1, "another model's records are untouched");

    // A retention shorter than calibration needs is refused at start, saying why.
    let argv = ["model", "--model", "m", "--algorithm", "marketConsensus", "--version", "1.0.0"];
    let short = Cli::parse_from(argv.into_iter().chain([
        "--bankroll",
        "1",
        "--kelly-fraction",
        "0.25",
        "--retention",
        "100h",
    ]));
    let err = ModelConfig::from_args(&short.args).expect_err("too short").to_string();
    assert!(err.contains("--retention") && err.contains("1008h"), "{err}");
}
