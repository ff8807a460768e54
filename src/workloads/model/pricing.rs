//! The chosen algorithm, ready to price: `marketConsensus` as configured, or `elo` trained on
//! every settled game of the games file before today (walk-forward: a game is learned only
//! after its day, so a rerun of a past day prices as it would have then).

use super::config::AlgorithmConfig;
use super::inputs::EventPrices;
use crate::domain::consensus::{MarketConsensus, Reference};
use crate::domain::elo::Elo;
use crate::domain::games::Game;
use crate::domain::market::FairPrice;
use crate::domain::pricing_model::{ModelError, PricingModel, edges};
use chrono::NaiveDate;
use std::collections::HashMap;

/// A model plus the books it must not bet against.
pub struct Pricer {
    model: Box<dyn PricingModel + Sync>,
    /// Books whose prices define the model's fair line: an edge against them is zero by
    /// construction. Empty when the consensus is the median of every book (each book is then
    /// measured against the median, to which it contributed one vote of many).
    excluded: Vec<String>,
    needs_teams: bool,
}

impl Pricer {
    /// Build the model; `elo` learns every settled game played before `today`.
    pub fn new(algorithm: &AlgorithmConfig, games: &[Game], today: NaiveDate) -> Pricer {
        match algorithm {
            AlgorithmConfig::MarketConsensus { reference_books, margin } => Pricer {
                model: Box::new(MarketConsensus::new(Reference::Median(reference_books.clone()), *margin)),
                excluded: reference_books.clone(),
                needs_teams: false,
            },
            AlgorithmConfig::Elo(params) => {
                let mut elo = Elo::new(*params);
                let mut order: Vec<&Game> =
                    games.iter().filter(|g| g.score().is_some() && g.gameday < today).collect();
                order.sort_by(|a, b| (a.gameday, &a.game_id).cmp(&(b.gameday, &b.game_id)));
                for g in order {
                    elo.observe(g);
                }
                Pricer { model: Box::new(elo), excluded: Vec::new(), needs_teams: true }
            }
        }
    }

    pub fn model(&self) -> &dyn PricingModel {
        self.model.as_ref()
    }

    pub fn excluded_books(&self) -> Vec<&str> {
        self.excluded.iter().map(String::as_str).collect()
    }

    /// Fair prices for one game, or None when the model has no opinion (elo on a team it cannot
    /// name; a consensus without any reference book's two-sided market). Other failures are
    /// errors.
    pub fn price(
        &self,
        event: &EventPrices,
        games: &HashMap<String, Game>,
        today: NaiveDate,
    ) -> Result<Option<Vec<FairPrice>>, ModelError> {
        if self.needs_teams && !event.teams_known {
            return Ok(None);
        }
        let fixture = event.fixture(games, today);
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
