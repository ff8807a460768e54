//! `marketConsensus`: fair probabilities from the margin-free prices of reference books.
//!
//! The closing price of a liquid market is the best public forecast of an NFL game; a sharp book
//! (one that takes big limits and moves on information) or the median of many books is the same
//! idea in real time. This model removes each reference book's margin, takes the median fair
//! probability per market and line (or the one named sharp book), and every *other* book's prices
//! are then compared against it for edges.
//!
//! Probabilities on whole-number spreads and totals come from two-way prices, which settle a push as
//! stake returned; they are therefore probabilities conditional on no push, and the model reports
//! `push = 0`. The Kelly stake is unchanged by that conditioning (see [`super::kelly`]); expected
//! value is overstated by the factor `1/(1 − P(push))`.

use super::margin::{MarginMethod, remove_margin_american};
use super::market::{BookPrice, FairPrice, Market};
use super::pricing_model::{Fixture, ModelError, PricingModel, line_for, pair_key};
use std::collections::BTreeMap;

pub const CONSENSUS_VERSION: &str = "1.0.0";

/// Which books define the fair price.
#[derive(Debug, Clone, PartialEq)]
pub enum Reference {
    /// The median over these books (all books when empty).
    Median(Vec<String>),
    /// One named sharp book.
    Sharp(String),
}

/// The consensus model. [`MarketConsensus::closing_line`] is the `closingLine` pseudo-model: the
/// margin-free closing price itself, the market baseline every model is judged against.
#[derive(Debug, Clone)]
pub struct MarketConsensus {
    name: String,
    reference: Reference,
    method: MarginMethod,
}

impl MarketConsensus {
    pub fn new(reference: Reference, method: MarginMethod) -> Self {
        Self { name: "marketConsensus".into(), reference, method }
    }

    /// The margin-free closing line of the games file (book [`super::games::CLOSING_BOOK`]).
    pub fn closing_line(method: MarginMethod) -> Self {
        Self {
            name: "closingLine".into(),
            reference: Reference::Sharp(super::games::CLOSING_BOOK.into()),
            method,
        }
    }

    pub fn reference(&self) -> &Reference {
        &self.reference
    }

    /// Books whose prices define the consensus (None = every book).
    pub fn reference_books(&self) -> Option<Vec<&str>> {
        match &self.reference {
            Reference::Median(books) if books.is_empty() => None,
            Reference::Median(books) => Some(books.iter().map(String::as_str).collect()),
            Reference::Sharp(book) => Some(vec![book.as_str()]),
        }
    }

    fn is_reference(&self, book: &str) -> bool {
        self.reference_books().is_none_or(|books| books.contains(&book))
    }
}

impl PricingModel for MarketConsensus {
    fn name(&self) -> &str {
        &self.name
    }

    fn version(&self) -> &str {
        CONSENSUS_VERSION
    }

    fn price(&self, _fixture: &Fixture, quotes: &[BookPrice]) -> Result<Vec<FairPrice>, ModelError> {
        // (market, line key) → book → [first selection price, second selection price].
        type Pair = [Option<i32>; 2];
        let mut markets: BTreeMap<(Market, Option<i64>), BTreeMap<&str, Pair>> = BTreeMap::new();
        for quote in quotes
            .iter()
            .filter(|q| self.is_reference(&q.book) && q.market.selections().contains(&q.selection))
        {
            let slot = usize::from(quote.selection != quote.market.selections()[0]);
            let key = (quote.market, pair_key(quote));
            markets.entry(key).or_default().entry(quote.book.as_str()).or_insert([None, None])[slot] =
                Some(quote.american);
        }
        let mut fair = Vec::new();
        for ((market, key), books) in markets {
            let mut firsts = Vec::new();
            for pair in books.values() {
                if let [Some(a), Some(b)] = *pair {
                    firsts.push(remove_margin_american(&[a, b], self.method)?[0]);
                }
            }
            let Some(p) = median(&mut firsts) else {
                continue;
            };
            let [first, second] = market.selections();
            for (selection, win) in [(first, p), (second, 1.0 - p)] {
                fair.push(FairPrice {
                    market,
                    selection,
                    line: line_for(market, selection, key),
                    win,
                    push: 0.0,
                });
            }
        }
        if fair.is_empty() && !quotes.is_empty() {
            let books = self.reference_books().map_or("(all)".to_string(), |b| b.join(","));
            return Err(ModelError::NoReferencePrices(books));
        }
        Ok(fair)
    }
}

pub(crate) fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len() % 2 == 1 { values[mid] } else { 0.5 * (values[mid - 1] + values[mid]) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::market::Selection;
    use crate::domain::pricing_model::edges;
    use chrono::NaiveDate;

    fn fixture() -> Fixture {
        Fixture {
            game_id: "2024_01_BAL_KC".into(),
            season: 2024,
            week: 1,
            gameday: NaiveDate::from_ymd_opt(2024, 9, 5).unwrap(),
            home_team: "KC".into(),
            away_team: "BAL".into(),
            neutral: false,
            playoff: false,
            pre_game: Default::default(),
        }
    }

    fn q(book: &str, market: Market, selection: Selection, line: Option<f64>, american: i32) -> BookPrice {
        BookPrice { book: book.into(), market, selection, line, american }
    }

    #[test]
    fn median_of_books_and_edges_for_the_rest() {
        use Market::*;
        use Selection::*;
        let quotes = vec![
            q("a", Moneyline, Home, None, -150),
            q("a", Moneyline, Away, None, 130),
            q("b", Moneyline, Home, None, -140),
            q("b", Moneyline, Away, None, 120),
            q("c", Moneyline, Home, None, -160),
            q("c", Moneyline, Away, None, 140),
            q("a", Spread, Home, Some(-3.0), -110),
            q("a", Spread, Away, Some(3.0), -110),
            q("soft", Moneyline, Away, None, 150),
            q("soft", Spread, Away, Some(3.0), 105),
            q("soft", Spread, Away, Some(3.5), -105),
        ];
        let model = MarketConsensus::new(
            Reference::Median(vec!["a".into(), "b".into(), "c".into()]),
            MarginMethod::Proportional,
        );
        let fair = model.price(&fixture(), &quotes).unwrap();
        let ml_home = fair.iter().find(|f| f.market == Moneyline && f.selection == Home).unwrap();
        let a = remove_margin_american(&[-150, 130], MarginMethod::Proportional).unwrap()[0];
        assert!((ml_home.win - a).abs() < 1e-12, "book a is the median");
        let spread_away = fair.iter().find(|f| f.market == Spread && f.selection == Away).unwrap();
        assert_eq!((spread_away.line, spread_away.win), (Some(3.0), 0.5));

        let found = edges(&fair, &quotes, &["a", "b", "c"]).unwrap();
        // The soft book's +3.5 has no reference line, so only two edges are priced.
        assert_eq!(found.len(), 2);
        let away_ml = &found[0];
        assert!((away_ml.expected_value - ((1.0 - a) * 2.5 - 1.0)).abs() < 1e-12);
        assert!(away_ml.expected_value > 0.0 && away_ml.kelly > 0.0);
        assert!((found[1].expected_value - (0.5 * 2.05 - 1.0)).abs() < 1e-12);
    }

    #[test]
    fn sharp_book_and_missing_reference() {
        let quotes = vec![
            q("pin", Market::Total, Selection::Over, Some(47.5), -105),
            q("pin", Market::Total, Selection::Under, Some(47.5), -115),
            q("dk", Market::Total, Selection::Over, Some(47.5), -110),
        ];
        let model = MarketConsensus::new(Reference::Sharp("pin".into()), MarginMethod::Shin);
        let fair = model.price(&fixture(), &quotes).unwrap();
        assert_eq!(fair.len(), 2);
        assert!((fair[0].win + fair[1].win - 1.0).abs() < 1e-12);
        assert!(fair[0].win < 0.5, "over at -105 is the underdog to under at -115");
        let missing = MarketConsensus::new(Reference::Sharp("circa".into()), MarginMethod::Shin);
        assert!(matches!(missing.price(&fixture(), &quotes), Err(ModelError::NoReferencePrices(_))));
    }
}
