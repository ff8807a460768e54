//! The pricing-model interface and the edge finder shared by every model.
//!
//! A model sees a [`Fixture`] (what is known before kickoff) and the prices on offer, and returns
//! fair probabilities. Results reach a model only through [`PricingModel::observe`], which replay
//! and the model workload call only once the result is known at the pricing instant (kickoff +
//! [`super::games::RESULT_DELAY`], [`Game::result_known_by`]), so a walk-forward run cannot leak
//! the future.

use super::ev::{BetProbabilities, EvError, expected_value};
use super::games::{Game, PreGame};
use super::kelly::{KellyError, kelly_single};
use super::margin::MarginError;
use super::market::{BookPrice, FairPrice, Market, Selection};
use super::odds::{OddsError, american_to_decimal};
use chrono::NaiveDate;
use serde::Serialize;
use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Error)]
pub enum ModelError {
    #[error("no complete two-sided market from the reference books {0}")]
    NoReferencePrices(String),
    #[error(transparent)]
    Margin(#[from] MarginError),
    #[error(transparent)]
    Odds(#[from] OddsError),
    #[error(transparent)]
    Ev(#[from] EvError),
    #[error(transparent)]
    Kelly(#[from] KellyError),
}

/// What is known about a game before kickoff.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Fixture {
    pub game_id: String,
    pub season: u16,
    pub week: u8,
    pub gameday: NaiveDate,
    pub home_team: String,
    pub away_team: String,
    pub neutral: bool,
    pub playoff: bool,
    /// Rest days and starting quarterbacks, where known.
    #[serde(skip_serializing_if = "PreGame::is_empty")]
    pub pre_game: PreGame,
}

impl Game {
    /// The pre-kickoff view of this game.
    pub fn fixture(&self) -> Fixture {
        Fixture {
            game_id: self.game_id.clone(),
            season: self.season,
            week: self.week,
            gameday: self.gameday,
            home_team: self.home_team.clone(),
            away_team: self.away_team.clone(),
            neutral: self.neutral,
            playoff: self.game_type.is_playoff(),
            pre_game: self.pre_game.clone(),
        }
    }
}

/// A model that turns a fixture and the prices on offer into fair probabilities.
pub trait PricingModel: Send {
    /// Stable name used on the command line, in metrics and reports (e.g. `elo`).
    fn name(&self) -> &str;
    /// Version of the model's maths and parameters; changes whenever its output would.
    fn version(&self) -> &str;
    /// Fair probabilities for the markets (and lines) in `quotes`. A model may price fewer markets
    /// than quoted (`elo` has no opinion a book cannot take a line on) but never invents lines.
    fn price(&self, fixture: &Fixture, quotes: &[BookPrice]) -> Result<Vec<FairPrice>, ModelError>;
    /// Learn from a finished game. Called only when the instant being priced is at or after
    /// [`Game::result_known_at`], in that order, never for a game still to be priced.
    fn observe(&mut self, _game: &Game) {}
}

/// A price that a model finds worth considering.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Edge {
    pub price: BookPrice,
    pub decimal: f64,
    pub fair: FairPrice,
    /// Expected profit per unit staked.
    pub expected_value: f64,
    /// Full-Kelly fraction for this bet alone (before any fraction or cap).
    pub kelly: f64,
}

/// Whether a fair price is for the same market, selection and line as a book price.
pub fn same_line(fair: &FairPrice, price: &BookPrice) -> bool {
    fair.market == price.market
        && fair.selection == price.selection
        && match (fair.line, price.line) {
            (None, None) => true,
            (Some(a), Some(b)) => (a - b).abs() < 1e-9,
            _ => false,
        }
}

/// Expected value and single-bet Kelly of every quote the model priced, skipping `exclude_books`
/// (the reference books a consensus was built from have no edge against themselves by design).
pub fn edges(
    fair: &[FairPrice],
    quotes: &[BookPrice],
    exclude_books: &[&str],
) -> Result<Vec<Edge>, ModelError> {
    let mut out = Vec::new();
    for price in quotes {
        if exclude_books.contains(&price.book.as_str()) {
            continue;
        }
        let Some(f) = fair.iter().find(|f| same_line(f, price)) else {
            continue;
        };
        let decimal = american_to_decimal(price.american)?;
        let probabilities = BetProbabilities::new(f.win, f.push)?;
        out.push(Edge {
            price: price.clone(),
            decimal,
            fair: *f,
            expected_value: expected_value(probabilities, decimal)?,
            kelly: kelly_single(f.win, f.push, decimal)?,
        });
    }
    Ok(out)
}

/// The key that pairs the two sides of a market at one line: a spread's line from the home view,
/// a total's line, nothing for a moneyline.
pub(crate) fn pair_key(price: &BookPrice) -> Option<i64> {
    let line = match (price.market, price.selection) {
        (Market::Spread, Selection::Away) => price.line.map(|l| -l),
        _ => price.line,
    };
    // Lines are in half points; key on tenths to be safe against float noise.
    line.map(|l| (l * 10.0).round() as i64)
}

/// The line from `selection`'s view for a pair key.
pub(crate) fn line_for(market: Market, selection: Selection, key: Option<i64>) -> Option<f64> {
    let line = key? as f64 / 10.0;
    Some(match (market, selection) {
        (Market::Spread, Selection::Away) => -line + 0.0,
        _ => line + 0.0,
    })
}
