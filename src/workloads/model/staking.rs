//! From edges to stakes, for a whole slate at once.
//!
//! Per game and market line, only the best price on each side is a candidate (backing one side
//! at two books is the same bet twice). The two sides are sized together by the exact
//! exclusive-outcome Kelly of [`crate::domain::kelly`], offering only sides whose expected value
//! reaches the value threshold; the Kelly fraction is applied there, once, then the per-bet cap;
//! then all stakes of one game are scaled to the per-event cap. Finally the slate is allocated
//! best expected value first through an [`ExposureBook`], which cuts each stake to the room left
//! under its team, market and book caps.
//!
//! All of that is in fractions of the bankroll; money is `fraction × bankroll × traffic share`
//! (0 in shadow mode), and the exposure caps are fractions of that same effective bankroll, so a
//! candidate with a 10% share stakes exactly 10% of what the stable version would.

use super::config::StakingConfig;
use super::inputs::EventPrices;
use crate::domain::exposure::{ExposureBook, ExposureBound, ExposureLimits, StakeRequest};
use crate::domain::kelly::{ExclusiveOutcome, KellyBound, size_event};
use crate::domain::market::{FairPrice, Market, Selection};
use crate::domain::pricing_model::{Edge, pair_key};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// One price the model priced, with its stake.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PricedQuote {
    /// Event label (nflverse game id, else provider event id).
    pub event: String,
    pub market: Market,
    /// home, away, over or under.
    #[serde(rename = "side")]
    pub selection: Selection,
    /// Team abbreviation, `over` or `under`.
    #[serde(rename = "selection")]
    pub selection_label: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<f64>,
    pub book: String,
    pub american: i32,
    pub decimal: f64,
    pub fair_win: f64,
    pub fair_push: f64,
    /// Expected profit per unit staked.
    pub expected_value: f64,
    /// Kelly fraction of bankroll for this bet alone, after the fractional multiplier and
    /// before any cap.
    pub kelly: f64,
    /// Recommended stake in currency units (0 when not bet).
    pub stake: f64,
    /// The caps that cut the stake: `perBet`, `perEvent`, `team:KC`, `market:spread`, `book:x`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bound: Vec<String>,
    /// Teams the stake counts against for the team cap.
    pub teams: Vec<String>,
}

/// One game's fair prices and priced quotes.
#[derive(Clone, Debug, PartialEq)]
pub struct EventPricing {
    pub event: EventPrices,
    pub fair: Vec<FairPrice>,
    pub quotes: Vec<PricedQuote>,
}

/// Money at stake, summed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Portfolio {
    /// By (team, market, book); a total counts against both its teams.
    pub by_team: BTreeMap<(String, Market, String), f64>,
    /// By (event, market, book); every bet once.
    pub by_event_market_book: BTreeMap<(String, Market, String), f64>,
    pub total: f64,
    pub bets: usize,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StakingError {
    #[error(transparent)]
    Kelly(#[from] crate::domain::kelly::KellyError),
    #[error(transparent)]
    Exposure(#[from] crate::domain::exposure::ExposureError),
}

/// Priced quotes of one game from its edges; stakes are all 0 until [`size_slate`].
pub fn priced_quotes(event: &EventPrices, edges: &[Edge], kelly_fraction: f64) -> Vec<PricedQuote> {
    edges
        .iter()
        .map(|e| PricedQuote {
            event: event.key.clone(),
            market: e.price.market,
            selection: e.price.selection,
            selection_label: event.selection_label(e.price.selection).to_owned(),
            line: e.price.line,
            book: e.price.book.clone(),
            american: e.price.american,
            decimal: e.decimal,
            fair_win: e.fair.win,
            fair_push: e.fair.push,
            expected_value: e.expected_value,
            kelly: e.kelly * kelly_fraction,
            stake: 0.0,
            bound: Vec::new(),
            teams: event.teams_of(e.price.selection),
        })
        .collect()
}

/// Kelly stakes (fractions of bankroll, caps applied) of one game's quotes: (index, fraction,
/// bounds).
fn event_fractions(
    quotes: &[PricedQuote],
    cfg: &StakingConfig,
) -> Result<Vec<(usize, f64, Vec<String>)>, StakingError> {
    let mut out: Vec<(usize, f64, Vec<String>)> = Vec::new();
    let lines: BTreeSet<(Market, Option<i64>)> = quotes.iter().map(|q| (q.market, line_key(q))).collect();
    for (market, key) in lines {
        let [first, second] = market.selections();
        // Best price per side; ties go to the first book by name, for a stable answer.
        let best = |selection: Selection| {
            quotes
                .iter()
                .enumerate()
                .filter(|(_, q)| q.market == market && q.selection == selection && line_key(q) == key)
                .max_by(|(_, a), (_, b)| a.decimal.total_cmp(&b.decimal).then_with(|| b.book.cmp(&a.book)))
        };
        let sides: Vec<(usize, &PricedQuote)> = [best(first), best(second)].into_iter().flatten().collect();
        if sides.is_empty() {
            continue;
        }
        // Fair probabilities of the two sides and the push; a side nobody prices is an
        // outcome that cannot be backed.
        let any = sides[0].1;
        let (p_first, p_second, push) = match sides.iter().find(|(_, q)| q.selection == first) {
            Some((_, q)) => (q.fair_win, (1.0 - q.fair_win - q.fair_push).max(0.0), q.fair_push),
            None => ((1.0 - any.fair_win - any.fair_push).max(0.0), any.fair_win, any.fair_push),
        };
        let offer = |selection: Selection, probability: f64| {
            let q = sides.iter().find(|(_, q)| q.selection == selection);
            ExclusiveOutcome {
                probability,
                decimal: q.filter(|(_, q)| q.expected_value >= cfg.value_threshold).map(|(_, q)| q.decimal),
            }
        };
        let outcomes = [offer(first, p_first), offer(second, p_second)];
        let sizing = size_event(&outcomes, push, &cfg.policy)?;
        for (i, selection) in [first, second].into_iter().enumerate() {
            if sizing.stakes[i] <= 0.0 {
                continue;
            }
            let Some((idx, _)) = sides.iter().find(|(_, q)| q.selection == selection) else {
                continue;
            };
            let bound = match sizing.bound[i] {
                Some(KellyBound::PerBet) => vec!["perBet".to_owned()],
                Some(KellyBound::PerEvent) => vec!["perEvent".to_owned()],
                None => Vec::new(),
            };
            out.push((*idx, sizing.stakes[i], bound));
        }
    }
    // The per-event cap over every market of the game (size_event capped each line alone).
    let total: f64 = out.iter().map(|s| s.1).sum();
    if total > cfg.policy.max_event {
        let scale = cfg.policy.max_event / total;
        for s in &mut out {
            s.1 *= scale;
            if !s.2.iter().any(|b| b == "perEvent") {
                s.2.push("perEvent".to_owned());
            }
        }
    }
    Ok(out)
}

fn line_key(q: &PricedQuote) -> Option<i64> {
    pair_key(&crate::domain::market::BookPrice {
        book: String::new(),
        market: q.market,
        selection: q.selection,
        line: q.line,
        american: q.american,
    })
}

/// Size every stake of the slate in place and return the portfolio.
pub fn size_slate(events: &mut [EventPricing], cfg: &StakingConfig) -> Result<Portfolio, StakingError> {
    let bankroll = cfg.effective_bankroll();
    let limits = ExposureLimits::new(bankroll, cfg.cap_team, cfg.cap_market, cfg.cap_book)?;
    let mut book = ExposureBook::new(limits);
    // (event index, quote index, fraction, bounds), best expected value first.
    let mut wanted: Vec<(usize, usize, f64, Vec<String>)> = Vec::new();
    for (ei, ev) in events.iter().enumerate() {
        for (qi, fraction, bound) in event_fractions(&ev.quotes, cfg)? {
            wanted.push((ei, qi, fraction, bound));
        }
    }
    wanted.sort_by(|a, b| {
        let (qa, qb) = (&events[a.0].quotes[a.1], &events[b.0].quotes[b.1]);
        qb.expected_value.total_cmp(&qa.expected_value).then_with(|| (a.0, a.1).cmp(&(b.0, b.1)))
    });
    let mut portfolio = Portfolio::default();
    for (ei, qi, fraction, mut bound) in wanted {
        let q = &mut events[ei].quotes[qi];
        let request = StakeRequest {
            teams: q.teams.clone(),
            market: q.market,
            book: q.book.clone(),
            stake: fraction * bankroll,
        };
        let allocation = book.allocate(&request)?;
        for b in allocation.bound {
            bound.push(match b {
                ExposureBound::Team(t) => format!("team:{t}"),
                ExposureBound::Market(m) => format!("market:{m}"),
                ExposureBound::Book(b) => format!("book:{b}"),
            });
        }
        q.stake = allocation.stake;
        q.bound = bound;
        if q.stake > 0.0 {
            portfolio.bets += 1;
            portfolio.total += q.stake;
            *portfolio
                .by_event_market_book
                .entry((q.event.clone(), q.market, q.book.clone()))
                .or_default() += q.stake;
            let mut teams = q.teams.clone();
            teams.sort();
            teams.dedup();
            for t in teams {
                *portfolio.by_team.entry((t, q.market, q.book.clone())).or_default() += q.stake;
            }
        }
    }
    Ok(portfolio)
}
