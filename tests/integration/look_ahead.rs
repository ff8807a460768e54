//! No look-ahead: a result is learned only from its kickoff + `RESULT_DELAY` (4 h), by instant,
//! never by date. Checked on real kickoffs of the nflverse games file
//! (`../shared/data/nfl_games.csv`): night games whose kickoff falls on the next UTC date
//! (2023_01_DAL_NYG, 20:20 EDT = 00:20 UTC) and London games at 09:30 ET; in the model
//! workload's pricing path (the `Workload` over stored snapshots, and its `Pricer`) and in the
//! closing-line replay, for Elo and the consensus model.

use crate::support;
use chrono::{DateTime, Duration, TimeZone, Utc};
use clap::Parser;
use nflbet::domain::games::{Game, RESULT_DELAY, load_games};
use nflbet::domain::kelly::KellyPolicy;
use nflbet::domain::margin::MarginMethod;
use nflbet::domain::market::{BookPrice, FairPrice, Market, Selection as Side};
use nflbet::domain::pricing_model::{Fixture, ModelError, PricingModel};
use nflbet::feed::quote::{Event, Quote, Selection};
use nflbet::feed::snapshot::{S3Options, Snapshot, SnapshotStore};
use nflbet::replay::{ReplaySettings, Window, model_by_name, replay};
use nflbet::workloads::model::config::AlgorithmConfig;
use nflbet::workloads::model::inputs::EventPrices;
use nflbet::workloads::model::pricing::Pricer;
use nflbet::workloads::model::{ModelArgs, ModelConfig, Workload};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: ModelArgs,
}

fn games() -> Vec<Game> {
    load_games(&support::games_file()).unwrap()
}

fn game<'a>(games: &'a [Game], id: &str) -> &'a Game {
    games.iter().find(|g| g.game_id == id).unwrap_or_else(|| panic!("{id} is in the games file"))
}

/// The games with `id`'s result removed, as a games file published before it was played.
fn without_result(games: &[Game], id: &str) -> Vec<Game> {
    let mut out = games.to_vec();
    let g = out.iter_mut().find(|g| g.game_id == id).unwrap();
    (g.home_score, g.away_score) = (None, None);
    out
}

fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap()
}

fn config(algorithm: &str, store: &str) -> ModelConfig {
    let games = support::games_file();
    let argv = [
        "model",
        "--model",
        "look-ahead",
        "--algorithm",
        algorithm,
        "--version",
        "1.0.0",
        "--sportsbooks",
        "sharp",
        "--store",
        store,
        "--games",
        games.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--interval",
        "1h",
        "--bankroll",
        "10000",
        "--kelly-fraction",
        "0.25",
    ];
    ModelConfig::from_args(&Cli::parse_from(argv).args).unwrap()
}

fn moneyline(event: &Event, team: &str, american: i32, at: DateTime<Utc>) -> Quote {
    let decimal = if american > 0 { 1.0 + american as f64 / 100.0 } else { 1.0 + 100.0 / (-american) as f64 };
    Quote {
        event_id: event.id.clone(),
        game_id: event.game_id.clone(),
        book: "sharp".into(),
        market: Market::Moneyline,
        selection: Selection::Team(team.into()),
        line: None,
        american,
        decimal,
        observed_at: at,
    }
}

/// One snapshot of book "sharp" polled at `at` with the closing moneylines of `slate`, each at
/// its real kickoff from the games file.
async fn write_snapshot(url: &str, slate: &[&Game], at: DateTime<Utc>) {
    let store = SnapshotStore::open(url, &S3Options::default()).unwrap();
    let mut snap = Snapshot::new("sharp", "theOddsApi", at);
    for g in slate {
        let event = Event::new(&g.game_id, &g.home_team, &g.away_team, g.kickoff);
        assert_eq!(event.game_id.as_deref(), Some(g.game_id.as_str()), "the feed names the game");
        snap.quotes.push(moneyline(&event, &g.home_team, g.home_moneyline.unwrap(), at));
        snap.quotes.push(moneyline(&event, &g.away_team, g.away_moneyline.unwrap(), at));
        snap.events.push(event);
    }
    store.write(&snap).await.unwrap();
}

/// Home-win probability per game id of one workload run at `at` over `games`.
async fn workload_forecasts(
    algorithm: &str,
    url: &str,
    games: Vec<Game>,
    at: DateTime<Utc>,
) -> HashMap<String, f64> {
    let mut workload = Workload::new(config(algorithm, url)).unwrap().with_games(games);
    let report = workload.run_at(at).await;
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    report
        .events
        .iter()
        .filter_map(|e| {
            let home = e.fair.iter().find(|f| f.market == Market::Moneyline && f.selection == Side::Home)?;
            Some((e.event.game_id.clone()?, home.win))
        })
        .collect()
}

/// The measured bug: a run at 2023-09-11 00:10 UTC, ten minutes before the Sunday night kickoff
/// (DAL at NYG, 20:20 EDT = 00:20 UTC; DAL won 40–0), learned that game from its result, because
/// it learned every game with `gameday` (an Eastern date) before the run's UTC date. Its forecast,
/// and the forecast of NYG's next game, must be what they are without the result in the file;
/// after kickoff + 4 h the result is learned and NYG's next forecast moves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_night_game_is_not_learned_before_it_is_played() {
    let games = games();
    let night = game(&games, "2023_01_DAL_NYG");
    assert_eq!(night.kickoff, Some(utc(2023, 9, 11, 0, 20)), "20:20 EDT is 00:20 UTC the next day");
    assert_eq!((night.away_score, night.home_score), (Some(40), Some(0)));
    let next = game(&games, "2023_02_NYG_ARI");
    let blind = without_result(&games, "2023_01_DAL_NYG");

    let dir = tempfile::tempdir().unwrap();
    let url = format!("file://{}", dir.path().display());
    let before = utc(2023, 9, 11, 0, 10);
    write_snapshot(&url, &[night, next], before - Duration::minutes(1)).await;
    for algorithm in ["elo", "marketConsensus"] {
        let with = workload_forecasts(algorithm, &url, games.clone(), before).await;
        let without = workload_forecasts(algorithm, &url, blind.clone(), before).await;
        assert_eq!(with.len(), 2, "{algorithm} prices both games before the night kickoff: {with:?}");
        assert_eq!(with, without, "{algorithm} at {before} learned DAL-NYG from its result");
    }

    // Once the result is known (00:20 + 4 h), Elo learns it: NYG's next game is priced lower.
    let after = night.kickoff.unwrap() + RESULT_DELAY;
    write_snapshot(&url, &[next], after - Duration::minutes(5)).await;
    let learned = workload_forecasts("elo", &url, games.clone(), after).await;
    let blind_after = workload_forecasts("elo", &url, blind.clone(), after).await;
    let id = &next.game_id;
    assert!(
        learned[id] > blind_after[id] + 0.01,
        "ARI at home to NYG after NYG lost 0-40: {} vs {} without the result",
        learned[id],
        blind_after[id]
    );
    // A minute earlier it is not known yet.
    let early = workload_forecasts("elo", &url, games.clone(), after - Duration::minutes(1)).await;
    assert_eq!(early[id], blind_after[id]);
}

/// London games kick off at 09:30 ET (13:30 UTC in October): the result is learned from 17:30
/// UTC, so the 16:25 ET (20:25 UTC) games of that Sunday are priced knowing it, the 13:00 ET
/// games are not, and neither is a run at 17:29 UTC.
#[test]
fn a_london_game_is_learned_four_hours_after_its_kickoff() {
    let games = games();
    let london = game(&games, "2023_04_ATL_JAX");
    assert!(london.neutral);
    assert_eq!(london.kickoff, Some(utc(2023, 10, 1, 13, 30)), "09:30 EDT");
    let atl_next = game(&games, "2023_05_HOU_ATL");
    let blind = without_result(&games, &london.game_id);
    let params = AlgorithmConfig::Elo(Default::default());
    let by_id: HashMap<String, Game> = games.iter().map(|g| (g.game_id.clone(), g.clone())).collect();
    let forecast = |games: &[Game], at: DateTime<Utc>| {
        let pricer = Pricer::new(&params, games, at);
        home_win(&pricer, atl_next, &by_id, at).expect("elo prices ATL's next game")
    };
    for at in [utc(2023, 10, 1, 17, 0), utc(2023, 10, 1, 17, 29)] {
        assert_eq!(forecast(&games, at), forecast(&blind, at), "learned the London game at {at}");
    }
    let at = utc(2023, 10, 1, 17, 30);
    assert_ne!(forecast(&games, at), forecast(&blind, at), "the London result is known at {at}");
    // A game the model learned is not priced again (a feed with a wrong kickoff).
    let pricer = Pricer::new(&params, &games, at);
    assert_eq!(home_win(&pricer, london, &by_id, at), None);
}

/// How many games kick off after midnight UTC: the games a cut-off by UTC date leaked.
#[test]
fn one_game_in_six_kicks_off_on_the_next_utc_date() {
    let games = games();
    let timed: Vec<&Game> = games.iter().filter(|g| g.kickoff.is_some()).collect();
    let next_day = timed.iter().filter(|g| g.kickoff.unwrap().date_naive() != g.gameday).count();
    let share = next_day as f64 / timed.len() as f64;
    println!(
        "{next_day} of {} timed games kick off on the next UTC date ({:.1}%)",
        timed.len(),
        share * 100.0
    );
    assert!(share > 0.12 && share < 0.25, "{share}");
    // Only 1999 has no kickoff times; every kickoff is before its result is known.
    assert!(games.iter().filter(|g| g.kickoff.is_none()).all(|g| g.season == 1999));
    assert!(games.iter().all(|g| g.forecast_deadline() < g.result_known_at()));
}

/// The event the workload would build for `g` from a feed, priced at the closing lines.
fn event_of(g: &Game) -> EventPrices {
    EventPrices {
        key: g.game_id.clone(),
        game_id: Some(g.game_id.clone()),
        event_id: g.game_id.clone(),
        home: g.home_team.clone(),
        away: g.away_team.clone(),
        teams_known: true,
        season: Some(i32::from(g.season)),
        week: Some(u32::from(g.week)),
        kickoff: g.kickoff,
        prices: g.closing_prices(),
    }
}

fn home_win(pricer: &Pricer, g: &Game, by_id: &HashMap<String, Game>, at: DateTime<Utc>) -> Option<f64> {
    let fair = pricer.price(&event_of(g), by_id, at).unwrap()?;
    fair.iter().find(|f| f.market == Market::Moneyline && f.selection == Side::Home).map(|f| f.win)
}

/// Property, over every game of the 2023 season (night, London and day games alike): the
/// workload's forecast for a game, made ten minutes before its kickoff, is the same when that
/// game's result is removed from the games file. Elo and the consensus model.
#[test]
fn workload_forecasts_do_not_depend_on_the_games_own_result() {
    let games = games();
    let by_id: HashMap<String, Game> = games.iter().map(|g| (g.game_id.clone(), g.clone())).collect();
    let season: Vec<&Game> = games
        .iter()
        .filter(|g| g.season == 2023 && g.score().is_some() && g.home_moneyline.is_some())
        .collect();
    assert!(season.len() > 270, "{}", season.len());
    let algorithms = [
        AlgorithmConfig::Elo(Default::default()),
        AlgorithmConfig::MarketConsensus { reference_books: Vec::new(), margin: MarginMethod::Proportional },
    ];
    let mut checked = 0;
    for g in season {
        let at = g.kickoff.unwrap() - Duration::minutes(10);
        let blind = without_result(&games, &g.game_id);
        for algorithm in &algorithms {
            let with = home_win(&Pricer::new(algorithm, &games, at), g, &by_id, at);
            let without = home_win(&Pricer::new(algorithm, &blind, at), g, &by_id, at);
            assert!(with.is_some(), "{} is priced at {at}", g.game_id);
            assert_eq!(
                with, without,
                "{:?} forecast of {} at {at} uses its own result",
                algorithm, g.game_id
            );
            checked += 1;
        }
    }
    assert!(checked > 540);
}

/// A model that records what it priced and, at each forecast, how many results it had learned.
struct Recording {
    inner: Box<dyn PricingModel>,
    log: Arc<Mutex<Log>>,
}

#[derive(Default)]
struct Log {
    learned: Vec<String>,
    /// game id → (home-win forecast, results learned before it).
    forecasts: HashMap<String, (Vec<FairPrice>, usize)>,
}

impl PricingModel for Recording {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn version(&self) -> &str {
        self.inner.version()
    }

    fn price(&self, fixture: &Fixture, quotes: &[BookPrice]) -> Result<Vec<FairPrice>, ModelError> {
        let fair = self.inner.price(fixture, quotes)?;
        let mut log = self.log.lock().unwrap();
        let learned = log.learned.len();
        log.forecasts.insert(fixture.game_id.clone(), (fair.clone(), learned));
        Ok(fair)
    }

    fn observe(&mut self, game: &Game) {
        self.log.lock().unwrap().learned.push(game.game_id.clone());
        self.inner.observe(game);
    }
}

fn settings(from: &str, to: &str) -> ReplaySettings {
    ReplaySettings {
        window: Window::parse(from, to).unwrap(),
        margin: MarginMethod::Proportional,
        min_edge: 0.02,
        policy: KellyPolicy::new(0.25, 0.02, 0.05).unwrap(),
    }
}

/// Replay `games` over `from..to` with recorded Elo and marketConsensus.
fn recorded_replay(games: &[Game], from: &str, to: &str) -> Vec<Log> {
    let logs: Vec<Arc<Mutex<Log>>> = (0..2).map(|_| Arc::default()).collect();
    let models: Vec<Box<dyn PricingModel>> = ["elo", "marketConsensus"]
        .iter()
        .zip(&logs)
        .map(|(name, log)| {
            let inner = model_by_name(name, MarginMethod::Proportional).unwrap();
            Box::new(Recording { inner, log: log.clone() }) as Box<dyn PricingModel>
        })
        .collect();
    replay(games, models, &settings(from, to), |_| {}).unwrap();
    logs.into_iter().map(|l| Arc::try_unwrap(l).ok().unwrap().into_inner().unwrap()).collect()
}

/// The closing-line replay prices each game at its kickoff having learned exactly the results
/// known by then (kickoff + 4 h at or before it), in the order they became known: the Sunday
/// night game after that afternoon's games, never a game after its own result.
#[test]
fn replay_learns_exactly_the_results_known_at_each_kickoff() {
    let games = games();
    let logs = recorded_replay(&games, "2022", "2023");
    let by_id: HashMap<&str, &Game> = games.iter().map(|g| (g.game_id.as_str(), g)).collect();
    let mut known: Vec<DateTime<Utc>> =
        games.iter().filter(|g| g.score().is_some()).map(|g| g.result_known_at()).collect();
    known.sort();
    for log in &logs {
        assert!(log.forecasts.len() > 500, "{}", log.forecasts.len());
        let at_learned: Vec<DateTime<Utc>> =
            log.learned.iter().map(|id| by_id[id.as_str()].result_known_at()).collect();
        assert!(at_learned.is_sorted(), "results are learned in the order they became known");
        for (id, (_, learned)) in &log.forecasts {
            let priced_at = by_id[id.as_str()].forecast_deadline();
            let expected = known.partition_point(|k| *k <= priced_at);
            assert_eq!(*learned, expected, "{id} priced at {priced_at}");
            assert!(!log.learned[..*learned].contains(id), "{id} priced after its own result");
        }
    }
    // Sunday 2023-10-01: the London game (known 17:30 UTC) and the 13:00 ET games (known 21:00
    // UTC) are learned before the 20:20 ET game is priced; the 13:00 ET games are priced
    // without the London result.
    let elo = &logs[0];
    let learned_before = |id: &str| &elo.learned[..elo.forecasts[id].1];
    let snf = learned_before("2023_04_KC_NYJ");
    assert!(snf.iter().any(|g| g == "2023_04_ATL_JAX") && snf.iter().any(|g| g == "2023_04_MIA_BUF"));
    assert!(!learned_before("2023_04_MIA_BUF").iter().any(|g| g == "2023_04_ATL_JAX"));
}

/// Property: in the replay, no forecast for a game changes when that game's result is replaced
/// by a very different one (its result removed would drop it from the scored games): for night
/// games, London games and day games alike, Elo and the consensus model.
#[test]
fn replay_forecasts_do_not_depend_on_the_games_own_result() {
    let games: Vec<Game> = games().into_iter().filter(|g| (2021..=2023).contains(&g.season)).collect();
    let by_id: HashMap<&str, &Game> = games.iter().map(|g| (g.game_id.as_str(), g)).collect();
    let base = recorded_replay(&games, "2023", "2023");
    let sample: Vec<&Game> = games
        .iter()
        .filter(|g| g.season == 2023 && g.score().is_some())
        .filter(|g| {
            let hour =
                g.kickoff.unwrap().with_timezone(&chrono_tz::America::New_York).format("%H:%M").to_string();
            hour == "09:30" || hour.as_str() >= "20:00" || g.week % 6 == 0
        })
        .collect();
    assert!(sample.len() > 60, "{}", sample.len());
    for g in sample {
        let mut flipped = games.clone();
        let f = flipped.iter_mut().find(|x| x.game_id == g.game_id).unwrap();
        let (h, a) = g.score().unwrap();
        // The loser by 50.
        (f.home_score, f.away_score) = if h >= a { (Some(0), Some(50)) } else { (Some(50), Some(0)) };
        let logs = recorded_replay(&flipped, "2023", "2023");
        for (before, after) in base.iter().zip(&logs) {
            // Its own forecast, and every forecast made before its result was known.
            for (id, (fair, _)) in &before.forecasts {
                if by_id[id.as_str()].forecast_deadline() < g.result_known_at() {
                    assert_eq!(Some(fair), after.forecasts.get(id).map(|f| &f.0), "{id} after {}", g.game_id);
                }
            }
        }
    }
}
