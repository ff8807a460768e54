//! `nflbet replay --store ... --sportsbooks ...`: the model workload re-run over stored
//! snapshots in a time window, settled against the nflverse results. The snapshots are written
//! through the real `SnapshotStore` from the closing moneylines of 2023 weeks 1–2, so the
//! consensus model's forecasts are the margin-free closing line and its Brier score can be
//! checked against an independent computation.

use crate::support;
use chrono::{Duration, NaiveTime};
use nflbet::domain::games::{Game, load_games};
use nflbet::domain::market::Market;
use nflbet::feed::quote::{Event, Quote, Selection};
use nflbet::feed::snapshot::{S3Options, Snapshot, SnapshotStore};
use std::process::Command;

pub(super) fn decimal(american: i32) -> f64 {
    if american > 0 { 1.0 + american as f64 / 100.0 } else { 1.0 + 100.0 / (-american) as f64 }
}

pub(super) fn quote(event: &Event, team: &str, american: i32, at: chrono::DateTime<chrono::Utc>) -> Quote {
    Quote {
        event_id: event.id.clone(),
        game_id: event.game_id.clone(),
        book: "pinnacle".into(),
        market: Market::Moneyline,
        selection: Selection::Team(team.into()),
        line: None,
        american,
        decimal: decimal(american),
        observed_at: at - Duration::minutes(1),
    }
}

/// Regular-season games of 2023 weeks 1–2 with both closing moneylines and a result.
pub(super) fn slate(games: &[Game]) -> Vec<&Game> {
    games
        .iter()
        .filter(|g| g.season == 2023 && g.week <= 2 && g.game_id.starts_with("2023_0"))
        .filter(|g| g.home_moneyline.is_some() && g.away_moneyline.is_some() && g.home_score.is_some())
        .collect()
}

/// Store one snapshot of the book "sharp" per game day of `slate`, three hours before a 1pm ET
/// (17:00 UTC) kickoff, at the games' closing moneylines.
pub(super) async fn write_closing_snapshots(url: &str, slate: &[&Game]) {
    let store = SnapshotStore::open(url, &S3Options::default()).unwrap();
    let mut by_day: std::collections::BTreeMap<chrono::NaiveDate, Vec<&Game>> = Default::default();
    for g in slate {
        by_day.entry(g.gameday).or_default().push(g);
    }
    for (day, day_games) in by_day {
        let kickoff = day.and_time(NaiveTime::from_hms_opt(17, 0, 0).unwrap()).and_utc();
        let polled = kickoff - Duration::hours(3);
        let mut snap = Snapshot::new("sharp", "theOddsApi", polled);
        for g in day_games {
            let event = Event::new(&g.game_id, &g.home_team, &g.away_team, Some(kickoff));
            snap.quotes.push(quote(&event, &g.home_team, g.home_moneyline.unwrap(), polled));
            snap.quotes.push(quote(&event, &g.away_team, g.away_moneyline.unwrap(), polled));
            snap.events.push(event);
        }
        store.write(&snap).await.unwrap();
    }
}

#[test]
fn consensus_over_stored_snapshots_matches_the_margin_free_closing_line() {
    let path = support::games_file();
    let games = load_games(&path).unwrap();
    let slate = slate(&games);
    assert!(slate.len() >= 30, "expected two weeks of games, got {}", slate.len());

    let dir = tempfile::tempdir().unwrap();
    let url = format!("file://{}", dir.path().display());
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(write_closing_snapshots(&url, &slate));

    let out = Command::new(env!("CARGO_BIN_EXE_nflbet"))
        .args(["replay", "--from", "2023-09-01", "--to", "2023-09-25", "--models", "marketConsensus,elo"])
        .args(["--store", &url, "--sportsbooks", "sharp", "--output", "json"])
        .arg("--games")
        .arg(&path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let consensus =
        report["models"].as_array().unwrap().iter().find(|m| m["model"] == "marketConsensus").unwrap();
    let elo = report["models"].as_array().unwrap().iter().find(|m| m["model"] == "elo").unwrap();

    // Independent computation: proportional margin removal of the closing moneylines.
    let (mut sum, mut n) = (0.0, 0u64);
    for g in &slate {
        let (h, a) = (1.0 / decimal(g.home_moneyline.unwrap()), 1.0 / decimal(g.away_moneyline.unwrap()));
        let p = h / (h + a);
        let (hs, aws) = (g.home_score.unwrap(), g.away_score.unwrap());
        if hs == aws {
            continue;
        }
        let y = if hs > aws { 1.0 } else { 0.0 };
        sum += (p - y) * (p - y);
        n += 1;
    }
    assert_eq!(consensus["samples"].as_u64(), Some(n), "{consensus}");
    let brier = consensus["brier"].as_f64().unwrap();
    assert!((brier - sum / n as f64).abs() < 1e-9, "replayed {brier} vs independent {}", sum / n as f64);
    assert!(consensus["runs"].as_u64().unwrap() >= 2);
    assert_eq!(elo["samples"].as_u64(), Some(n), "elo forecasts the same games: {elo}");
    assert!(elo["brier"].as_f64().unwrap() < 0.3);
}

/// An American price for a decimal one (rounded to whole cents, never inside (-100, 100)).
pub(super) fn american(decimal: f64) -> i32 {
    if decimal >= 2.0 {
        ((decimal - 1.0) * 100.0).round() as i32
    } else {
        (-100.0 / (decimal - 1.0)).round() as i32
    }
}

/// Bets placed over snapshots: once, at the first pre-kickoff recommendation and its price,
/// settled on the real results, with CLV against the same book's margin-free closing prices.
/// Every figure is recomputed here from what the test wrote, not from nflbet's code.
#[test]
fn snapshot_bets_are_placed_once_before_kickoff_and_settled_with_roi_and_clv() {
    let path = support::games_file();
    let games = load_games(&path).unwrap();
    let slate = slate(&games);
    let dir = tempfile::tempdir().unwrap();
    let url = format!("file://{}", dir.path().display());
    // Per game: opening prices (5% longer on the home side, 5% shorter on the away side), the
    // closing moneylines an hour before kickoff, and absurd prices after kickoff that no bet may take.
    let opening = |g: &Game| {
        (
            american(decimal(g.home_moneyline.unwrap()) * 1.05),
            american(decimal(g.away_moneyline.unwrap()) / 1.05),
        )
    };
    let kickoff_of = |g: &Game| g.gameday.and_time(NaiveTime::from_hms_opt(17, 0, 0).unwrap()).and_utc();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let store = SnapshotStore::open(&url, &S3Options::default()).unwrap();
        let mut by_day: std::collections::BTreeMap<chrono::NaiveDate, Vec<&Game>> = Default::default();
        for g in &slate {
            by_day.entry(g.gameday).or_default().push(g);
        }
        for day_games in by_day.values() {
            let kickoff = kickoff_of(day_games[0]);
            for (offset, prices) in [(-3, 0), (-1, 1), (1, 2)] {
                let polled = kickoff + Duration::hours(offset);
                let mut snap = Snapshot::new("sharp", "theOddsApi", polled);
                for g in day_games {
                    let (home, away) = match prices {
                        0 => opening(g),
                        1 => (g.home_moneyline.unwrap(), g.away_moneyline.unwrap()),
                        _ => (900, 900),
                    };
                    let event = Event::new(&g.game_id, &g.home_team, &g.away_team, Some(kickoff));
                    snap.quotes.push(quote(&event, &g.home_team, home, polled));
                    snap.quotes.push(quote(&event, &g.away_team, away, polled));
                    snap.events.push(event);
                }
                store.write(&snap).await.unwrap();
            }
        }
    });

    let out = Command::new(env!("CARGO_BIN_EXE_nflbet"))
        .args(["replay", "--from", "2023-09-01", "--to", "2023-09-25", "--models", "elo"])
        .args(["--store", &url, "--sportsbooks", "sharp", "--output", "json"])
        .arg("--games")
        .arg(&path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let elo = &report["models"][0];
    let bets = elo["bets"]["placed"].as_array().unwrap();
    assert!(bets.len() >= 5, "Elo disagrees with the market on some of {} games: {elo}", slate.len());

    let by_id: std::collections::HashMap<&str, &&Game> =
        slate.iter().map(|g| (g.game_id.as_str(), g)).collect();
    let mut seen = std::collections::HashSet::new();
    let (mut staked, mut profit, mut clv_sum) = (0.0, 0.0, 0.0);
    for bet in bets {
        let g = by_id[bet["gameId"].as_str().unwrap()];
        let side = bet["side"].as_str().unwrap();
        assert!(seen.insert((g.game_id.clone(), side.to_string())), "one bet per side: {bet}");
        // Placed before kickoff at the price of the snapshot it was placed from.
        let placed: chrono::DateTime<chrono::Utc> = bet["placedAt"].as_str().unwrap().parse().unwrap();
        let kickoff = kickoff_of(g);
        assert!(placed < kickoff, "{bet}");
        let (open, close) = (opening(g), (g.home_moneyline.unwrap(), g.away_moneyline.unwrap()));
        let pick = |(h, a): (i32, i32)| if side == "home" { h } else { a };
        let expected_price = if placed == kickoff - Duration::hours(3) { pick(open) } else { pick(close) };
        assert_eq!(bet["american"].as_i64(), Some(expected_price as i64), "{bet}");
        // Settled on the real score.
        let stake = bet["stake"].as_f64().unwrap();
        let d = decimal(expected_price);
        let (hs, aw) = (g.home_score.unwrap(), g.away_score.unwrap());
        let won = if side == "home" { hs > aw } else { aw > hs };
        let expected_profit = if hs == aw {
            0.0
        } else if won {
            stake * (d - 1.0)
        } else {
            -stake
        };
        assert!((bet["profit"].as_f64().unwrap() - expected_profit).abs() < 1e-9, "{bet}");
        // CLV against the closing prices, margin removed proportionally.
        let (h, a) = (1.0 / decimal(close.0), 1.0 / decimal(close.1));
        let p_close = if side == "home" { h / (h + a) } else { a / (h + a) };
        let clv = bet["clv"].as_f64().unwrap();
        assert!((clv - (d * p_close - 1.0)).abs() < 1e-9, "{bet}");
        staked += stake;
        profit += expected_profit;
        clv_sum += clv;
    }
    let total = &elo["bets"];
    assert_eq!(total["bets"].as_u64(), Some(bets.len() as u64));
    assert!((total["staked"].as_f64().unwrap() - staked).abs() < 1e-9);
    assert!((total["roi"].as_f64().unwrap() - profit / staked).abs() < 1e-9, "{total}");
    assert!((total["meanClv"].as_f64().unwrap() - clv_sum / bets.len() as f64).abs() < 1e-9, "{total}");
    assert!(elo["recommendations"].as_u64().unwrap() >= bets.len() as u64);

    // The table shows the same figures.
    let out = Command::new(env!("CARGO_BIN_EXE_nflbet"))
        .args(["replay", "--from", "2023-09-01", "--to", "2023-09-25", "--models", "elo"])
        .args(["--store", &url, "--sportsbooks", "sharp", "--games"])
        .arg(&path)
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains(&format!("{:+.2}%", profit / staked * 100.0)), "{table}");
    assert!(table.contains("moneyline  bets"), "{table}");
}

#[test]
fn snapshot_replay_argument_errors_are_clear() {
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_nflbet")).arg("replay").args(args).output().unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let dir = tempfile::tempdir().unwrap();
    let url = format!("file://{}", dir.path().display());
    let games = support::games_file();
    let games = games.to_str().unwrap();
    let (code, err) = run(&[
        "--from",
        "2023",
        "--to",
        "2023",
        "--models",
        "elo",
        "--games",
        games,
        "--store",
        &url,
        "--sportsbooks",
        "sharp",
    ]);
    assert_eq!(code, Some(1));
    assert!(err.contains("no stored snapshots of these books from"), "{err}");
    let (code, err) = run(&[
        "--from",
        "2023",
        "--to",
        "2023",
        "--models",
        "closingLine",
        "--games",
        games,
        "--store",
        &url,
        "--sportsbooks",
        "sharp",
    ]);
    assert_eq!(code, Some(1));
    // Names are checked before the store is read: the empty window is not what it reports.
    assert!(
        err.contains("unknown model \"closingLine\": --models takes algorithm names (marketConsensus, elo)"),
        "{err}"
    );
    let (code, err) =
        run(&["--from", "2023", "--to", "2023", "--models", "elo", "--games", games, "--store", &url]);
    // The books come from --sportsbooks, or from the Model of --model-file/--model.
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("--store needs --sportsbooks"), "{err}");
}
