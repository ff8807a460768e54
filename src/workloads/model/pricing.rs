//! The chosen algorithm, ready to price: `marketConsensus` as configured, or `elo` trained on
//! every game of the games file whose result is known at the pricing instant (walk-forward by
//! instant, never by date: a game is learned only from its kickoff + [`RESULT_DELAY`], so a
//! night game whose kickoff falls on the next UTC date is not learned before it is priced, and a
//! rerun of a past instant prices as it would have then).
//!
//! [`RESULT_DELAY`]: crate::domain::games::RESULT_DELAY

use super::config::AlgorithmConfig;
use super::inputs::EventPrices;
use crate::domain::consensus::{MarketConsensus, Reference};
use crate::domain::elo::Elo;
use crate::domain::games::Game;
use crate::domain::market::FairPrice;
use crate::domain::pricing_model::{ModelError, PricingModel, edges};
use chrono::{DateTime, Utc};
use std::collections::{HashMap, HashSet};

/// A model plus the books it must not bet against.
pub struct Pricer {
    model: Box<dyn PricingModel + Sync>,
    /// Books whose prices define the model's fair line: an edge against them is zero by
    /// construction. Empty when the consensus is the median of every book (each book is then
    /// measured against the median, to which it contributed one vote of many).
    excluded: Vec<String>,
    needs_teams: bool,
    /// Games whose results the model learned: never priced (a feed without a kickoff, or with
    /// a wrong one, would otherwise have a game priced from its own result).
    learned: HashSet<String>,
}

/// How many games of `games` have a result known at `at`: the games a [`Pricer`] built at `at`
/// learns. They are the first ones in [`Game::result_known_at`] order, so two instants with the
/// same count build the same model.
pub fn known_results(games: &[Game], at: DateTime<Utc>) -> usize {
    games.iter().filter(|g| g.result_known_by(at)).count()
}

impl Pricer {
    /// Build the model to price at `at`; `elo` learns every game whose result is known by then,
    /// in the order the results became known.
    pub fn new(algorithm: &AlgorithmConfig, games: &[Game], at: DateTime<Utc>) -> Pricer {
        match algorithm {
            AlgorithmConfig::MarketConsensus { reference_books, margin } => Pricer {
                model: Box::new(MarketConsensus::new(Reference::Median(reference_books.clone()), *margin)),
                excluded: reference_books.clone(),
                needs_teams: false,
                learned: HashSet::new(),
            },
            AlgorithmConfig::Elo(params) => {
                let mut elo = Elo::new(*params);
                let mut order: Vec<&Game> = games.iter().filter(|g| g.result_known_by(at)).collect();
                order.sort_by(|a, b| {
                    (a.result_known_at(), &a.game_id).cmp(&(b.result_known_at(), &b.game_id))
                });
                for g in &order {
                    elo.observe(g);
                }
                let learned = order.iter().map(|g| g.game_id.clone()).collect();
                Pricer { model: Box::new(elo), excluded: Vec::new(), needs_teams: true, learned }
            }
        }
    }

    pub fn model(&self) -> &dyn PricingModel {
        self.model.as_ref()
    }

    pub fn excluded_books(&self) -> Vec<&str> {
        self.excluded.iter().map(String::as_str).collect()
    }

    /// Fair prices for one game at `at`, or None when the model has no opinion (elo on a team it
    /// cannot name, or on a game whose result it has learned; a consensus without any reference
    /// book's two-sided market). Other failures are errors.
    pub fn price(
        &self,
        event: &EventPrices,
        games: &HashMap<String, Game>,
        at: DateTime<Utc>,
    ) -> Result<Option<Vec<FairPrice>>, ModelError> {
        if self.needs_teams && !event.teams_known {
            return Ok(None);
        }
        if event.game_id.as_ref().is_some_and(|id| self.learned.contains(id)) {
            return Ok(None);
        }
        let fixture = event.fixture(games, crate::feed::calendar::eastern_date(at));
        match self.model.price(&fixture, &event.prices) {
            Ok(fair) if fair.is_empty() => Ok(None),
            Ok(fair) => Ok(Some(fair)),
            Err(ModelError::NoReferencePrices(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Expected value and single-bet Kelly of every price the model priced.
    pub fn edges(
        &self,
        fair: &[FairPrice],
        event: &EventPrices,
    ) -> Result<Vec<crate::domain::pricing_model::Edge>, ModelError> {
        edges(fair, &event.prices, &self.excluded_books())
    }
}
