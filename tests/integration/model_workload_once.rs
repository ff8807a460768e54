//! `nflbet model --once` as the operator runs it: the built binary, its flags, snapshots written
//! through the real `SnapshotStore` in a file:// store, quotes shaped like The Odds API fixture
//! (`tests/fixtures/feeds/the_odds_api/nfl_week1_2024.json`: a sharp book, two retail books).
//!
//! One retail book offers Baltimore at +160 while the sharp book's margin-free price says
//! Baltimore wins 42.0% of the time: a clear positive-EV bet whose Kelly stake is computed by
//! hand below and checked against the table, then with caps, shadow mode and a traffic share.

use chrono::{Duration, Utc};
use nflbet::domain::market::Market;
use nflbet::feed::quote::{Event, Quote, Selection};
use nflbet::feed::snapshot::{S3Options, Snapshot, SnapshotStore};
use std::process::Command;

struct Row {
    event: String,
    market: String,
    selection: String,
    book: String,
    ev: f64,
    kelly: f64,
    stake: f64,
    bound: String,
}

fn quote(
    event: &Event,
    book: &str,
    market: Market,
    sel: Selection,
    line: Option<f64>,
    american: i32,
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
        observed_at: Utc::now() - Duration::minutes(2),
    }
}

/// Two Sportsbook resources: `sharp-feed` (book pinnacle) and `retail-feed` (fanduel,
/// draftkings), one game three days ahead.
fn write_snapshots(dir: &std::path::Path) -> String {
    let url = format!("file://{}", dir.display());
    let store = SnapshotStore::open(&url, &S3Options::default()).unwrap();
    let kickoff = Utc::now() + Duration::days(3);
    let event = Event::new(
        "4b25562a3a1e5d3c6ad9e1b7e5f0a9d1",
        "Kansas City Chiefs",
        "Baltimore Ravens",
        Some(kickoff),
    );
    let team = |t: &str| Selection::Team(t.into());
    let mut sharp = Snapshot::new("sharp-feed", "theOddsApi", Utc::now() - Duration::minutes(1));
    sharp.events = vec![event.clone()];
    sharp.quotes = vec![
        quote(&event, "pinnacle", Market::Moneyline, team("KC"), None, -150),
        quote(&event, "pinnacle", Market::Moneyline, team("BAL"), None, 130),
        quote(&event, "pinnacle", Market::Spread, team("KC"), Some(-3.0), -110),
        quote(&event, "pinnacle", Market::Spread, team("BAL"), Some(3.0), -110),
        quote(&event, "pinnacle", Market::Total, Selection::Over, Some(46.5), -105),
        quote(&event, "pinnacle", Market::Total, Selection::Under, Some(46.5), -115),
    ];
    let mut retail = Snapshot::new("retail-feed", "theOddsApi", Utc::now() - Duration::minutes(1));
    retail.events = vec![event.clone()];
    retail.quotes = vec![
        quote(&event, "fanduel", Market::Moneyline, team("KC"), None, -160),
        quote(&event, "fanduel", Market::Moneyline, team("BAL"), None, 160),
        quote(&event, "fanduel", Market::Spread, team("BAL"), Some(3.0), -105),
        quote(&event, "fanduel", Market::Total, Selection::Over, Some(46.5), -110),
        quote(&event, "draftkings", Market::Moneyline, team("KC"), None, -145),
        quote(&event, "draftkings", Market::Moneyline, team("BAL"), None, 125),
    ];
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        store.write(&sharp).await.unwrap();
        store.write(&retail).await.unwrap();
    });
    url
}

fn model(store: &str, extra: &[&str]) -> (Vec<Row>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_nflbet"))
        .args(["model", "--once", "--model", "consensus", "--algorithm", "marketConsensus"])
        .args(["--version", "1.0.0", "--sportsbooks", "sharp-feed,retail-feed"])
        .args(["--reference-books", "pinnacle", "--margin-method", "proportional"])
        .args(["--bankroll", "10000", "--kelly-fraction", "0.25", "--store", store])
        .args(extra)
        .env_remove("NFLBET_STORE")
        .env_remove("NFLBET_GAMES")
        .env_remove("NFLBET_MODEL")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    let mut lines = stdout.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split_whitespace().collect();
    assert_eq!(
        header,
        ["EVENT", "MARKET", "SELECTION", "LINE", "BOOK", "PRICE", "FAIR", "EV", "KELLY", "STAKE", "BOUND"]
    );
    let rows = lines
        .take_while(|l| !l.trim().is_empty())
        .map(|l| {
            let c: Vec<&str> = l.split_whitespace().collect();
            assert_eq!(c.len(), 11, "{l}");
            Row {
                event: c[0].into(),
                market: c[1].into(),
                selection: c[2].into(),
                book: c[4].into(),
                ev: c[7].parse().unwrap(),
                kelly: c[8].parse().unwrap(),
                stake: c[9].parse().unwrap(),
                bound: c[10].into(),
            }
        })
        .collect();
    (rows, stdout)
}

fn find<'a>(rows: &'a [Row], market: &str, selection: &str, book: &str) -> &'a Row {
    rows.iter()
        .find(|r| r.market == market && r.selection == selection && r.book == book)
        .unwrap_or_else(|| panic!("no row {market} {selection} {book}"))
}

/// The hand computation: pinnacle −150/+130 → implied .6 and .434783; proportional margin
/// removal gives Baltimore p = .434783/1.034783 = .420168. Fanduel +160 pays 2.6:
/// EV = .420168·2.6 − 1 = .092437; full Kelly (b·p − q)/b with b = 1.6 is .057773; quarter
/// Kelly .014443 of a 10,000 bankroll is 144.43.
fn hand() -> (f64, f64, f64) {
    let (ih, ia) = (150.0 / 250.0, 100.0 / 230.0);
    let p = ia / (ih + ia);
    let ev = p * 2.6 - 1.0;
    let full = (1.6 * p - (1.0 - p)) / 1.6;
    (ev, full * 0.25, full * 0.25 * 10_000.0)
}

#[test]
fn prices_a_better_price_with_a_hand_checked_kelly_stake() {
    let dir = tempfile::tempdir().unwrap();
    let store = write_snapshots(dir.path());
    let (ev, kelly, stake) = hand();
    assert!((stake - 144.43).abs() < 0.01, "hand computation {stake}");

    let (rows, stdout) = model(&store, &[]);
    let bet = find(&rows, "moneyline", "BAL", "fanduel");
    assert!((bet.ev - ev).abs() < 1e-4, "{stdout}");
    assert!((bet.kelly - kelly).abs() < 1e-6, "{stdout}");
    assert!((bet.stake - stake).abs() < 0.006, "{stdout}");
    assert_eq!(bet.bound, "-");
    assert!(bet.event.contains("BAL_KC") || bet.event == "4b25562a3a1e5d3c6ad9e1b7e5f0a9d1", "{}", bet.event);
    // The reference book is never bet against; negative-EV prices are listed with no stake.
    assert!(rows.iter().all(|r| r.book != "pinnacle"), "{stdout}");
    let dk = find(&rows, "moneyline", "BAL", "draftkings");
    assert!(dk.ev < 0.0 && dk.stake == 0.0);
    // One bet only: every other row stakes nothing.
    assert_eq!(rows.iter().filter(|r| r.stake > 0.0).count(), 1, "{stdout}");
    assert!(stdout.contains("recommended 1 bet(s), total stake 144.43"), "{stdout}");
    assert!(stdout.contains("from 2 snapshot(s)"), "{stdout}");
    assert!(stdout.contains("calibration: no settled predictions yet"), "{stdout}");
    assert!(stdout.contains("stored recommendations/v1/consensus/stable/"), "{stdout}");
    // The stored record is where the table says.
    let key = stdout.lines().find_map(|l| l.strip_prefix("stored ")).unwrap();
    assert!(dir.path().join(key).is_file());
}

#[test]
fn caps_bind_where_they_should() {
    let dir = tempfile::tempdir().unwrap();
    let store = write_snapshots(dir.path());
    // Per-bet cap 1% of 10,000 = 100 < 144.43.
    let (rows, stdout) = model(&store, &["--max-stake-per-bet", "0.01"]);
    let bet = find(&rows, "moneyline", "BAL", "fanduel");
    assert!((bet.stake - 100.0).abs() < 1e-9, "{stdout}");
    assert_eq!(bet.bound, "perBet");
    // A team cap of 0.8% (80) binds before the bet cap.
    let (rows, stdout) = model(&store, &["--cap-team", "0.008"]);
    let bet = find(&rows, "moneyline", "BAL", "fanduel");
    assert!((bet.stake - 80.0).abs() < 1e-9, "{stdout}");
    assert_eq!(bet.bound, "team:BAL");
    // So does a book cap of 0.5% (50); the value threshold removes the bet altogether.
    let (rows, _) = model(&store, &["--cap-book", "0.005"]);
    assert!((find(&rows, "moneyline", "BAL", "fanduel").stake - 50.0).abs() < 1e-9);
    let (rows, stdout) = model(&store, &["--value-threshold", "0.10"]);
    assert_eq!(find(&rows, "moneyline", "BAL", "fanduel").stake, 0.0, "{stdout}");
}

#[test]
fn shadow_stakes_nothing_and_traffic_share_scales() {
    let dir = tempfile::tempdir().unwrap();
    let store = write_snapshots(dir.path());
    let (ev, kelly, stake) = hand();
    let (rows, stdout) = model(&store, &["--role", "candidate", "--shadow"]);
    let bet = find(&rows, "moneyline", "BAL", "fanduel");
    assert!((bet.ev - ev).abs() < 1e-4 && (bet.kelly - kelly).abs() < 1e-6, "still priced");
    assert!(rows.iter().all(|r| r.stake == 0.0), "{stdout}");
    assert!(stdout.contains("total stake 0.00"), "{stdout}");
    assert!(stdout.contains("stored recommendations/v1/consensus/candidate/"), "{stdout}");

    let (rows, stdout) = model(&store, &["--role", "candidate", "--traffic-share", "0.5"]);
    let bet = find(&rows, "moneyline", "BAL", "fanduel");
    assert!((bet.stake - stake * 0.5).abs() < 0.006, "{stdout}");
    // The Kelly fraction shown is before the share and the caps.
    assert!((bet.kelly - kelly).abs() < 1e-6);
}

#[test]
fn bad_flags_exit_non_zero_with_a_message() {
    let out = Command::new(env!("CARGO_BIN_EXE_nflbet"))
        .args(["model", "--once", "--model", "m", "--algorithm", "magic", "--version", "1.0.0"])
        .args(["--bankroll", "100", "--kelly-fraction", "0.25", "--store", "file:///tmp/nflbet-unused"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--algorithm \"magic\" is invalid"), "{stderr}");
    let out = Command::new(env!("CARGO_BIN_EXE_nflbet"))
        .args(["model", "--once", "--model", "m", "--algorithm", "elo", "--version", "1.0.0"])
        .args(["--bankroll", "100", "--kelly-fraction", "0.25", "--store", "file:///tmp/nflbet-unused"])
        .env_remove("NFLBET_GAMES")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("needs --games"));
}
