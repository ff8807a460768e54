//! The plain vocabulary shared by models, staking and replay: markets, selections, book prices and
//! fair prices. Scrapers convert their snapshot quotes into [`BookPrice`]s; nothing here knows where
//! a price came from.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::fmt;

// A full-game market with two exclusive sides. It is also a field of the Sportsbook and Model
// resources, hence the schema derive: the doc comments below are the CRDs' descriptions.
/// Markets nflbet understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum Market {
    /// Who wins (The Odds API `h2h`).
    Moneyline,
    /// Point spread (`spreads`).
    Spread,
    /// Game total points (`totals`).
    Total,
}

impl Market {
    pub const ALL: [Market; 3] = [Market::Moneyline, Market::Spread, Market::Total];

    /// The two selections of this market, in a fixed order (home/away or over/under).
    pub fn selections(self) -> [Selection; 2] {
        match self {
            Market::Moneyline | Market::Spread => [Selection::Home, Selection::Away],
            Market::Total => [Selection::Over, Selection::Under],
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Market::Moneyline => "moneyline",
            Market::Spread => "spread",
            Market::Total => "total",
        }
    }

    /// The market named `s` (`moneyline`, `spread`, `total`), as [`Market::as_str`] spells it.
    pub fn parse(s: &str) -> Option<Market> {
        Market::ALL.into_iter().find(|m| m.as_str() == s)
    }
}

impl fmt::Display for Market {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which side of a market a price is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Selection {
    Home,
    Away,
    Over,
    Under,
}

impl Selection {
    /// The other side of the same market.
    pub fn opposite(self) -> Selection {
        match self {
            Selection::Home => Selection::Away,
            Selection::Away => Selection::Home,
            Selection::Over => Selection::Under,
            Selection::Under => Selection::Over,
        }
    }
}

/// One book's price on one selection.
///
/// `line` is the handicap from the selection's own point of view: a home spread of `-3.5` means the
/// home team gives 3.5 points; a total's line is the points total for both over and under. A
/// moneyline has no line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BookPrice {
    pub book: String,
    pub market: Market,
    pub selection: Selection,
    pub line: Option<f64>,
    pub american: i32,
}

/// A model's fair probabilities for one selection at one line.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FairPrice {
    pub market: Market,
    pub selection: Selection,
    pub line: Option<f64>,
    /// Probability the bet wins.
    pub win: f64,
    /// Probability the stake is returned (a tie, or landing on the number).
    pub push: f64,
}

/// How a settled bet ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Settlement {
    Win,
    Loss,
    Push,
}

/// Settle a selection against a final score. Spread lines are from the selection's view; a bet wins
/// when (its margin + line) > 0 and pushes when it is exactly 0.
pub fn settle(
    market: Market,
    selection: Selection,
    line: Option<f64>,
    home_score: u32,
    away_score: u32,
) -> Option<Settlement> {
    let home_margin = f64::from(home_score) - f64::from(away_score);
    let total = f64::from(home_score) + f64::from(away_score);
    let value = match (market, selection) {
        (Market::Moneyline, Selection::Home) => home_margin,
        (Market::Moneyline, Selection::Away) => -home_margin,
        (Market::Spread, Selection::Home) => home_margin + line?,
        (Market::Spread, Selection::Away) => -home_margin + line?,
        (Market::Total, Selection::Over) => total - line?,
        (Market::Total, Selection::Under) => line? - total,
        _ => return None,
    };
    Some(if value > 0.0 {
        Settlement::Win
    } else if value < 0.0 {
        Settlement::Loss
    } else {
        Settlement::Push
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settles_spreads_totals_and_ties() {
        use Market::*;
        use Selection::*;
        // Home wins 24-21: home -3 pushes, home -2.5 wins, away +2.5 loses.
        assert_eq!(settle(Spread, Home, Some(-3.0), 24, 21), Some(Settlement::Push));
        assert_eq!(settle(Spread, Home, Some(-2.5), 24, 21), Some(Settlement::Win));
        assert_eq!(settle(Spread, Away, Some(2.5), 24, 21), Some(Settlement::Loss));
        assert_eq!(settle(Total, Over, Some(45.0), 24, 21), Some(Settlement::Push));
        assert_eq!(settle(Total, Under, Some(45.5), 24, 21), Some(Settlement::Win));
        assert_eq!(settle(Moneyline, Away, None, 17, 17), Some(Settlement::Push));
        assert_eq!(settle(Spread, Home, None, 17, 17), None);
        assert_eq!(settle(Moneyline, Over, None, 17, 17), None);
    }
}
