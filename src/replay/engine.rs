//! The replay engine: walk the games in kickoff order and price each at its kickoff with every
//! model, then score and bet the games inside the window. The instant priced is the kickoff: the
//! prices are the closing lines, which are the book's last prices before kickoff. Before a game
//! is priced the models learn every result known by its kickoff (kickoff + [`RESULT_DELAY`] at
//! or before it, [`Game::result_known_by`]) and nothing else: a 13:00 ET game (known at 17:00)
//! is learned before that day's 20:20 ET game is priced, and no game is ever priced after its own
//! result was learned (its result is known 4 h after its own kickoff). The workload uses the same
//! rule, so both walk forward alike.
//!
//! [`RESULT_DELAY`]: crate::domain::games::RESULT_DELAY

use super::ReplayError;
use super::window::Window;
use crate::domain::calibration::{Calibration, CalibrationReport, Ledger, LedgerReport, closing_line_value};
use crate::domain::consensus::MarketConsensus;
use crate::domain::elo::Elo;
use crate::domain::games::Game;
use crate::domain::kelly::{ExclusiveOutcome, KellyPolicy, size_event};
use crate::domain::margin::MarginMethod;
use crate::domain::market::{BookPrice, FairPrice, Market, Selection, settle};
use crate::domain::pricing_model::{Edge, PricingModel, edges, pair_key, same_line};
use serde::Serialize;
use std::collections::BTreeMap;

/// Models `replay` knows, by command-line name.
pub const MODEL_NAMES: [&str; 3] = ["closingLine", "elo", "marketConsensus"];

/// Build a model by name.
pub fn model_by_name(name: &str, margin: MarginMethod) -> Result<Box<dyn PricingModel>, ReplayError> {
    match name {
        "closingLine" => Ok(Box::new(MarketConsensus::closing_line(margin))),
        "elo" => Ok(Box::new(Elo::default())),
        "marketConsensus" => Ok(Box::new(MarketConsensus::new(
            crate::domain::consensus::Reference::Median(Vec::new()),
            margin,
        ))),
        other => Err(ReplayError::unknown_model(other, &MODEL_NAMES)),
    }
}

/// How replay bets.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplaySettings {
    pub window: Window,
    /// Margin removal used for the closing-line baseline (and the consensus models).
    pub margin: MarginMethod,
    /// Only selections with at least this expected value per unit are bet.
    pub min_edge: f64,
    pub policy: KellyPolicy,
}

/// Brier score and log loss of one season.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SeasonScore {
    pub season: u16,
    pub samples: u64,
    pub pushes: u64,
    pub brier: Option<f64>,
    pub log_loss: Option<f64>,
}

/// One game day's settled bets of a model: the steps of the report's cumulative profit and CLV.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BetDay {
    pub date: chrono::NaiveDate,
    pub bets: u64,
    /// Profit of the day's bets, as a fraction of the bankroll.
    pub profit: f64,
    /// Sum of the closing-line value of the day's bets that have one, and how many have one.
    pub clv_sum: f64,
    pub clv_bets: u64,
}

impl BetDay {
    /// Add one settled bet to the last day of `days`, or to a new day if `date` is later.
    pub fn add(days: &mut Vec<BetDay>, date: chrono::NaiveDate, profit: f64, clv: Option<f64>) {
        if days.last().is_none_or(|d| d.date != date) {
            days.push(BetDay { date, bets: 0, profit: 0.0, clv_sum: 0.0, clv_bets: 0 });
        }
        if let Some(day) = days.last_mut() {
            day.bets += 1;
            day.profit += profit;
            if let Some(clv) = clv {
                day.clv_sum += clv;
                day.clv_bets += 1;
            }
        }
    }
}

/// Everything replay found for one model.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelReport {
    pub name: String,
    pub version: String,
    /// Home-win forecasts on games with both closing moneylines; ties excluded and counted.
    pub moneyline: CalibrationReport,
    pub by_season: Vec<SeasonScore>,
    /// Home-covers forecasts at the closing spread, on games with both closing spread prices;
    /// pushes (landing on the number) excluded and counted.
    pub spread: CalibrationReport,
    /// Over forecasts at the closing total, on games with both closing total prices; pushes
    /// excluded and counted.
    pub total: CalibrationReport,
    /// All bets together; stakes are fractions of a fixed (non-compounding) bankroll of 1.
    pub bets: LedgerReport,
    pub bets_by_market: BTreeMap<Market, LedgerReport>,
    /// The settled bets per game day, in date order.
    pub bets_by_day: Vec<BetDay>,
    /// Games the model could not price (counted, not fatal).
    pub errors: u64,
}

/// The replay's result.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplayReport {
    pub window: String,
    pub settings: ReplaySettings,
    /// Settled games in the window.
    pub games: u64,
    /// Settled games in the window with both closing moneylines (the scored set).
    pub games_with_moneylines: u64,
    pub models: Vec<ModelReport>,
}

struct ModelState {
    model: Box<dyn PricingModel>,
    /// Books to leave out of edge finding (a consensus does not bet against its own references).
    reference_books: Option<Vec<String>>,
    moneyline: Calibration,
    by_season: BTreeMap<u16, Calibration>,
    spread: Calibration,
    total: Calibration,
    bets: Ledger,
    bets_by_market: BTreeMap<Market, Ledger>,
    bets_by_day: Vec<BetDay>,
    errors: u64,
}

/// Run `models` over `games` (any order) and report on the window.
///
/// Every game with a result, inside the window or before it, is shown to the models once its
/// result is known (kickoff + [`crate::domain::games::RESULT_DELAY`]) and before the next game
/// is priced from then on, so ratings are warm at the window's start and never see the future.
pub fn replay(
    games: &[Game],
    models: Vec<Box<dyn PricingModel>>,
    settings: &ReplaySettings,
    mut progress: impl FnMut(u64),
) -> Result<ReplayReport, ReplayError> {
    // Priced in kickoff order (the last instant a forecast is surely pre-game, for a game with
    // no kickoff time); learned in the order results become known.
    let mut order: Vec<&Game> = games.iter().collect();
    order.sort_by(|a, b| (a.forecast_deadline(), &a.game_id).cmp(&(b.forecast_deadline(), &b.game_id)));
    let mut results: Vec<&Game> = games.iter().filter(|g| g.score().is_some()).collect();
    results.sort_by(|a, b| (a.result_known_at(), &a.game_id).cmp(&(b.result_known_at(), &b.game_id)));
    let settled_in_window =
        order.iter().filter(|g| settings.window.contains(g) && g.score().is_some()).count();
    if settled_in_window == 0 {
        return Err(ReplayError::EmptyWindow(settings.window.to_string()));
    }
    let closing = MarketConsensus::closing_line(settings.margin);
    let mut states: Vec<ModelState> = models
        .into_iter()
        .map(|model| {
            let reference_books = reference_books(model.as_ref());
            ModelState {
                model,
                reference_books,
                moneyline: Calibration::new(),
                by_season: BTreeMap::new(),
                spread: Calibration::new(),
                total: Calibration::new(),
                bets: Ledger::new(),
                bets_by_market: BTreeMap::new(),
                bets_by_day: Vec::new(),
                errors: 0,
            }
        })
        .collect();

    let mut games_scored = 0u64;
    let mut with_moneylines = 0u64;
    let mut learned = 0;
    for game in &order {
        let priced_at = game.forecast_deadline();
        while let Some(result) = results.get(learned).filter(|r| r.result_known_by(priced_at)) {
            for state in &mut states {
                state.model.observe(result);
            }
            learned += 1;
        }
        let Some((home, away)) = game.score() else {
            continue;
        };
        if !settings.window.contains(game) {
            continue;
        }
        games_scored += 1;
        let quotes = game.closing_prices();
        let fixture = game.fixture();
        let close = closing.price(&fixture, &quotes).unwrap_or_default();
        let has_moneylines = game.home_moneyline.is_some() && game.away_moneyline.is_some();
        with_moneylines += u64::from(has_moneylines);
        for state in &mut states {
            let fair = match state.model.price(&fixture, &quotes) {
                Ok(fair) => fair,
                Err(_) => {
                    state.errors += 1;
                    continue;
                }
            };
            if has_moneylines
                && let Some(p) =
                    fair.iter().find(|f| f.market == Market::Moneyline && f.selection == Selection::Home)
                && let Some(outcome) = settle(Market::Moneyline, Selection::Home, None, home, away)
            {
                state.moneyline.add(p.win, outcome);
                state.by_season.entry(game.season).or_default().add(p.win, outcome);
            }
            score_line(&mut state.spread, &fair, &quotes, Market::Spread, Selection::Home, (home, away));
            score_line(&mut state.total, &fair, &quotes, Market::Total, Selection::Over, (home, away));
            if bet(state, &fair, &quotes, &close, settings, (game.gameday, home, away)).is_err() {
                state.errors += 1;
            }
        }
        progress(1);
    }

    Ok(ReplayReport {
        window: settings.window.to_string(),
        settings: *settings,
        games: games_scored,
        games_with_moneylines: with_moneylines,
        models: states.into_iter().map(finish).collect(),
    })
}

/// Score a model's forecast for one side of a spread or total at the game's closing line, when
/// the closing prices of both sides exist. The forecast scored is the probability of winning
/// given no push, `win / (1 − push)`: pushes are excluded from the sample, so the forecast must
/// be conditioned the same way to be comparable with the outcome.
fn score_line(
    calibration: &mut Calibration,
    fair: &[FairPrice],
    quotes: &[BookPrice],
    market: Market,
    side: Selection,
    (home, away): (u32, u32),
) {
    let quoted = |s: Selection| quotes.iter().find(|q| q.market == market && q.selection == s);
    // Both sides quoted: a one-sided price is no line to score against.
    let (Some(this), Some(_)) = (quoted(side), quoted(side.opposite())) else {
        return;
    };
    let Some(f) = fair.iter().find(|f| f.market == market && f.selection == side && same_line(f, this))
    else {
        return;
    };
    let Some(outcome) = settle(market, side, this.line, home, away) else {
        return;
    };
    let decided = 1.0 - f.push;
    if decided > 0.0 {
        calibration.add(f.win / decided, outcome);
    }
}

/// Number of settled games `replay` will walk through for a window (for a progress bar).
pub fn settled_games_in(games: &[Game], window: &Window) -> u64 {
    games.iter().filter(|g| window.contains(g) && g.score().is_some()).count() as u64
}

fn reference_books(model: &dyn PricingModel) -> Option<Vec<String>> {
    match model.name() {
        "closingLine" => Some(vec![crate::domain::games::CLOSING_BOOK.to_string()]),
        // The median of every book: nothing is left to bet against in a one-book games file.
        "marketConsensus" => Some(Vec::new()),
        _ => None,
    }
}

/// Size and settle the model's bets on one game: per market, the exact Kelly stakes over its two
/// exclusive selections (only those with EV ≥ min_edge are offered), then the per-event cap over
/// all markets of the game.
fn bet(
    state: &mut ModelState,
    fair: &[FairPrice],
    quotes: &[BookPrice],
    close: &[FairPrice],
    settings: &ReplaySettings,
    (day, home, away): (chrono::NaiveDate, u32, u32),
) -> Result<(), crate::domain::pricing_model::ModelError> {
    let excluded: Vec<&str> = match &state.reference_books {
        Some(books) if books.is_empty() => quotes.iter().map(|q| q.book.as_str()).collect(),
        Some(books) => books.iter().map(String::as_str).collect(),
        None => Vec::new(),
    };
    let found = edges(fair, quotes, &excluded)?;
    let mut stakes: Vec<(f64, &BookPrice, f64)> = Vec::new();
    for market in Market::ALL {
        let [first, second] = market.selections();
        // One exclusive pair of selections per line.
        let lines: std::collections::BTreeSet<Option<i64>> =
            found.iter().filter(|e| e.price.market == market).map(|e| pair_key(&e.price)).collect();
        for key in lines {
            let pick = |selection: Selection| {
                found.iter().find(|e| {
                    e.price.market == market && e.price.selection == selection && pair_key(&e.price) == key
                })
            };
            let (Some(a), Some(b)) = (pick(first), pick(second)) else {
                continue;
            };
            let offer = |e: &Edge| ExclusiveOutcome {
                probability: e.fair.win,
                decimal: (e.expected_value >= settings.min_edge).then_some(e.decimal),
            };
            let push = (1.0 - a.fair.win - b.fair.win).max(0.0);
            let sizing = size_event(&[offer(a), offer(b)], push, &settings.policy)?;
            for (edge, stake) in [a, b].into_iter().zip(sizing.stakes) {
                if stake > 0.0 {
                    stakes.push((stake, &edge.price, edge.decimal));
                }
            }
        }
    }
    let total: f64 = stakes.iter().map(|s| s.0).sum();
    let scale = if total > settings.policy.max_event { settings.policy.max_event / total } else { 1.0 };
    for (stake, price, decimal) in stakes {
        let stake = stake * scale;
        let Some(outcome) = settle(price.market, price.selection, price.line, home, away) else {
            continue;
        };
        let clv = close.iter().find(|c| same_line(c, price)).map(|c| closing_line_value(decimal, c.win));
        state.bets.add(stake, decimal, outcome, clv);
        state.bets_by_market.entry(price.market).or_default().add(stake, decimal, outcome, clv);
        let profit = crate::domain::calibration::profit(stake, decimal, outcome);
        BetDay::add(&mut state.bets_by_day, day, profit, clv);
    }
    Ok(())
}

fn finish(state: ModelState) -> ModelReport {
    ModelReport {
        name: state.model.name().to_string(),
        version: state.model.version().to_string(),
        moneyline: state.moneyline.report(),
        by_season: state
            .by_season
            .iter()
            .map(|(&season, c)| {
                let r = c.report();
                SeasonScore {
                    season,
                    samples: r.samples,
                    pushes: r.pushes,
                    brier: r.brier,
                    log_loss: r.log_loss,
                }
            })
            .collect(),
        spread: state.spread.report(),
        total: state.total.report(),
        bets: state.bets.report(),
        bets_by_market: state.bets_by_market.iter().map(|(m, l)| (*m, l.report())).collect(),
        bets_by_day: state.bets_by_day,
        errors: state.errors,
    }
}
