//! Exposure by team, market and book against bankroll caps.
//!
//! Kelly sizes each event on its own; exposure limits stop the portfolio from piling onto one team
//! (whose injury news moves every market it is in), one market type, or one book (counterparty and
//! limit risk). Each requested stake is cut to the headroom left under every cap that applies to it,
//! and the allocation reports which caps bound, so an operator can see why a bet was trimmed.

use super::market::Market;
use serde::Serialize;
use std::collections::BTreeMap;
use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Error)]
pub enum ExposureError {
    #[error("{name} {value} is invalid: it must be finite and non-negative")]
    InvalidLimit { name: &'static str, value: f64 },
    #[error("stake {0} is invalid: it must be finite and non-negative")]
    InvalidStake(f64),
}

/// Caps as fractions of bankroll (e.g. 0.05 = at most 5% of bankroll on any one team).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExposureLimits {
    pub bankroll: f64,
    pub max_team: f64,
    pub max_market: f64,
    pub max_book: f64,
}

impl ExposureLimits {
    pub fn new(bankroll: f64, max_team: f64, max_market: f64, max_book: f64) -> Result<Self, ExposureError> {
        for (name, value) in [
            ("bankroll", bankroll),
            ("max_team", max_team),
            ("max_market", max_market),
            ("max_book", max_book),
        ] {
            if !value.is_finite() || value < 0.0 {
                return Err(ExposureError::InvalidLimit { name, value });
            }
        }
        Ok(Self { bankroll, max_team, max_market, max_book })
    }
}

/// A stake somebody wants to place, in money.
#[derive(Debug, Clone, PartialEq)]
pub struct StakeRequest {
    /// Teams whose fortunes decide the bet: the backed team for a moneyline or spread, both teams
    /// for a total.
    pub teams: Vec<String>,
    pub market: Market,
    pub book: String,
    pub stake: f64,
}

/// Which cap limited a stake.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "dimension", content = "key")]
pub enum ExposureBound {
    Team(String),
    Market(Market),
    Book(String),
}

/// The stake granted for a request and the caps that cut it (empty if granted in full).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Allocation {
    pub requested: f64,
    pub stake: f64,
    pub bound: Vec<ExposureBound>,
}

/// Running exposure of a portfolio.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Exposure {
    pub team: BTreeMap<String, f64>,
    pub market: BTreeMap<Market, f64>,
    pub book: BTreeMap<String, f64>,
}

/// Allocates stakes one request at a time, never letting any exposure pass its cap.
#[derive(Debug, Clone)]
pub struct ExposureBook {
    limits: ExposureLimits,
    exposure: Exposure,
}

impl ExposureBook {
    pub fn new(limits: ExposureLimits) -> Self {
        Self { limits, exposure: Exposure::default() }
    }

    pub fn exposure(&self) -> &Exposure {
        &self.exposure
    }

    /// Grant as much of `request` as every cap allows and record it.
    pub fn allocate(&mut self, request: &StakeRequest) -> Result<Allocation, ExposureError> {
        if !request.stake.is_finite() || request.stake < 0.0 {
            return Err(ExposureError::InvalidStake(request.stake));
        }
        let cap = |fraction: f64| fraction * self.limits.bankroll;
        let mut headrooms: Vec<(ExposureBound, f64)> = Vec::new();
        let mut teams = request.teams.clone();
        teams.sort();
        teams.dedup();
        for team in &teams {
            let used = self.exposure.team.get(team).copied().unwrap_or(0.0);
            headrooms.push((ExposureBound::Team(team.clone()), cap(self.limits.max_team) - used));
        }
        let used = self.exposure.market.get(&request.market).copied().unwrap_or(0.0);
        headrooms.push((ExposureBound::Market(request.market), cap(self.limits.max_market) - used));
        let used = self.exposure.book.get(&request.book).copied().unwrap_or(0.0);
        headrooms.push((ExposureBound::Book(request.book.clone()), cap(self.limits.max_book) - used));

        let room = headrooms.iter().map(|(_, h)| h.max(0.0)).fold(f64::INFINITY, f64::min);
        let stake = request.stake.min(room);
        let bound = if stake < request.stake {
            headrooms.into_iter().filter(|(_, h)| h.max(0.0) <= room).map(|(b, _)| b).collect()
        } else {
            Vec::new()
        };
        if stake > 0.0 {
            for team in teams {
                *self.exposure.team.entry(team).or_default() += stake;
            }
            *self.exposure.market.entry(request.market).or_default() += stake;
            *self.exposure.book.entry(request.book.clone()).or_default() += stake;
        }
        Ok(Allocation { requested: request.stake, stake, bound })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn request(teams: &[&str], market: Market, book: &str, stake: f64) -> StakeRequest {
        StakeRequest {
            teams: teams.iter().map(|t| t.to_string()).collect(),
            market,
            book: book.into(),
            stake,
        }
    }

    #[test]
    fn cuts_to_the_tightest_cap_and_says_which() {
        let limits = ExposureLimits::new(1000.0, 0.05, 0.08, 0.10).unwrap();
        let mut book = ExposureBook::new(limits);
        let a = book.allocate(&request(&["KC"], Market::Moneyline, "pinnacle", 30.0)).unwrap();
        assert_eq!((a.stake, a.bound.len()), (30.0, 0));
        // KC has 20 left of its 50.
        let b = book.allocate(&request(&["KC"], Market::Spread, "pinnacle", 40.0)).unwrap();
        assert_eq!(b.stake, 20.0);
        assert_eq!(b.bound, vec![ExposureBound::Team("KC".into())]);
        // Moneyline has 50 left of 80, book 50 left of 100; a total on BUF-MIA for 70 stops at 50 by
        // the team cap on both teams.
        let c = book.allocate(&request(&["BUF", "MIA"], Market::Moneyline, "dk", 70.0)).unwrap();
        assert_eq!(c.stake, 50.0);
        assert_eq!(
            c.bound,
            vec![
                ExposureBound::Team("BUF".into()),
                ExposureBound::Team("MIA".into()),
                ExposureBound::Market(Market::Moneyline)
            ]
        );
        // The moneyline market is now full.
        let d = book.allocate(&request(&["NYJ"], Market::Moneyline, "dk", 10.0)).unwrap();
        assert_eq!(d.stake, 0.0);
        assert_eq!(d.bound, vec![ExposureBound::Market(Market::Moneyline)]);
        assert!(book.allocate(&request(&["NYJ"], Market::Total, "dk", f64::NAN)).is_err());
    }

    proptest! {
        /// Whatever the requests, no team, market or book exposure ever exceeds its cap, and no
        /// stake exceeds what was asked.
        #[test]
        fn exposure_never_exceeds_caps(
            requests in prop::collection::vec((0usize..6, 0usize..6, 0usize..3, 0usize..3, 0.0f64..200.0), 1..60),
            max_team in 0.0f64..0.2, max_market in 0.0f64..0.3, max_book in 0.0f64..0.3,
        ) {
            const TEAMS: [&str; 6] = ["KC", "BUF", "PHI", "DAL", "SF", "DET"];
            let limits = ExposureLimits::new(1000.0, max_team, max_market, max_book).unwrap();
            let mut book = ExposureBook::new(limits);
            for (t1, t2, m, b, stake) in requests {
                let r = request(&[TEAMS[t1], TEAMS[t2]], Market::ALL[m], ["a", "b", "c"][b], stake);
                let a = book.allocate(&r).unwrap();
                prop_assert!(a.stake >= 0.0 && a.stake <= stake);
                prop_assert_eq!(a.bound.is_empty(), a.stake == stake);
            }
            let e = book.exposure();
            let eps = 1e-9;
            prop_assert!(e.team.values().all(|v| *v <= max_team * 1000.0 + eps));
            prop_assert!(e.market.values().all(|v| *v <= max_market * 1000.0 + eps));
            prop_assert!(e.book.values().all(|v| *v <= max_book * 1000.0 + eps));
        }
    }
}
