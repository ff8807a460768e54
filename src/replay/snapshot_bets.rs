//! The bets of a snapshot replay: what a bettor following the model would have placed, settled
//! against the results, and how each price compares with the book's closing line.
//!
//! Every run of the workload recommends stakes from scratch (it does not know what was bet
//! before), so "follow the model" is defined as: a selection at one book and line is bet once,
//! the first time a run recommends it before kickoff, at that run's price and stake. Later runs
//! recommending the same bet do not add to it.
//!
//! Closing-line value is measured against the same book: its last pre-kickoff prices for both
//! sides of the same line, made margin-free with the replay's method. A bet whose line is no
//! longer offered at the close (the number moved) has no CLV rather than a guessed one.

use crate::domain::calibration::{Ledger, LedgerReport, closing_line_value, profit};
use crate::domain::games::Game;
use crate::domain::margin::{MarginMethod, remove_margin_american};
use crate::domain::market::{BookPrice, Market, Selection, Settlement, settle};
use crate::workloads::model::staking::EventPricing;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// One placed bet and how it ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplayBet {
    pub game_id: String,
    pub market: Market,
    /// home, away, over or under.
    pub side: Selection,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<f64>,
    pub book: String,
    /// Snapshot time of the run that placed it.
    pub placed_at: DateTime<Utc>,
    pub american: i32,
    pub decimal: f64,
    /// Fraction of the bankroll.
    pub stake: f64,
    /// `win`, `loss` or `push`; absent while the game has no result.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Settlement>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profit: Option<f64>,
    /// The same book's margin-free closing probability of this side, when it still offered the line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub closing_probability: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clv: Option<f64>,
}

/// Settled totals of a snapshot replay's bets.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BetsReport {
    #[serde(flatten)]
    pub total: LedgerReport,
    /// Bets on games without a result in the games file.
    pub unsettled: u64,
    pub by_market: BTreeMap<Market, LedgerReport>,
    /// Every placed bet, in placing order.
    pub placed: Vec<ReplayBet>,
}

/// A bet is identified by game, market, side, line (tenths of a point) and book.
type BetKey = (String, Market, Selection, Option<i64>, String);

fn line_key(line: Option<f64>) -> Option<i64> {
    line.map(|l| (l * 10.0).round() as i64)
}

/// The bets placed over a replay's runs, and each game's latest pre-kickoff prices.
#[derive(Debug, Default)]
pub struct SnapshotBets {
    placed: BTreeMap<BetKey, usize>,
    bets: Vec<ReplayBet>,
    closing: HashMap<String, Vec<BookPrice>>,
}

impl SnapshotBets {
    pub fn new() -> SnapshotBets {
        SnapshotBets::default()
    }

    /// Take in one run (runs in time order). Games that kicked off by `run_at`, or whose kickoff
    /// or nflverse id is unknown, are ignored: nothing can be bet on them and nothing settles them.
    pub fn record(&mut self, run_at: DateTime<Utc>, events: &[EventPricing]) {
        for pricing in events {
            let event = &pricing.event;
            let (Some(game_id), Some(kickoff)) = (&event.game_id, event.kickoff) else {
                continue;
            };
            if kickoff <= run_at {
                continue;
            }
            self.closing.insert(game_id.clone(), event.prices.clone());
            for q in pricing.quotes.iter().filter(|q| q.stake > 0.0) {
                let key = (game_id.clone(), q.market, q.selection, line_key(q.line), q.book.clone());
                if self.placed.contains_key(&key) {
                    continue;
                }
                self.placed.insert(key, self.bets.len());
                self.bets.push(ReplayBet {
                    game_id: game_id.clone(),
                    market: q.market,
                    side: q.selection,
                    line: q.line,
                    book: q.book.clone(),
                    placed_at: run_at,
                    american: q.american,
                    decimal: q.decimal,
                    stake: q.stake,
                    outcome: None,
                    profit: None,
                    closing_probability: None,
                    clv: None,
                });
            }
        }
    }

    /// The same book's margin-free probability of the bet's side at its last pre-kickoff prices.
    fn closing_probability(&self, bet: &ReplayBet, margin: MarginMethod) -> Option<f64> {
        let prices = self.closing.get(&bet.game_id)?;
        let find = |side: Selection, line: Option<f64>| {
            prices.iter().find(|p| {
                p.book == bet.book
                    && p.market == bet.market
                    && p.selection == side
                    && line_key(p.line) == line_key(line)
            })
        };
        // The other side of a spread is quoted at the opposite number; of a total, at the same.
        let other_line = match bet.market {
            Market::Spread => bet.line.map(|l| -l),
            _ => bet.line,
        };
        let this = find(bet.side, bet.line)?;
        let other = find(bet.side.opposite(), other_line)?;
        remove_margin_american(&[this.american, other.american], margin).ok().map(|p| p[0])
    }

    /// Settle every bet against the games' results.
    pub fn settle(mut self, games: &[Game], margin: MarginMethod) -> BetsReport {
        let by_id: HashMap<&str, &Game> = games.iter().map(|g| (g.game_id.as_str(), g)).collect();
        let mut total = Ledger::new();
        let mut by_market: BTreeMap<Market, Ledger> = BTreeMap::new();
        let mut unsettled = 0;
        let closing: Vec<Option<f64>> =
            self.bets.iter().map(|b| self.closing_probability(b, margin)).collect();
        for (bet, closing) in self.bets.iter_mut().zip(closing) {
            bet.closing_probability = closing;
            bet.clv = closing.map(|p| closing_line_value(bet.decimal, p));
            let result = by_id.get(bet.game_id.as_str()).and_then(|g| Some((g.home_score?, g.away_score?)));
            let Some(outcome) = result.and_then(|(h, a)| settle(bet.market, bet.side, bet.line, h, a)) else {
                unsettled += 1;
                continue;
            };
            bet.outcome = Some(outcome);
            bet.profit = Some(profit(bet.stake, bet.decimal, outcome));
            total.add(bet.stake, bet.decimal, outcome, bet.clv);
            by_market.entry(bet.market).or_default().add(bet.stake, bet.decimal, outcome, bet.clv);
        }
        BetsReport {
            total: total.report(),
            unsettled,
            by_market: by_market.into_iter().map(|(m, l)| (m, l.report())).collect(),
            placed: self.bets,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workloads::model::inputs::EventPrices;
    use crate::workloads::model::staking::PricedQuote;
    use chrono::TimeZone;

    fn at(hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2023, 9, 10, hour, 0, 0).unwrap()
    }

    fn price(selection: Selection, american: i32) -> BookPrice {
        BookPrice { book: "b".into(), market: Market::Moneyline, selection, line: None, american }
    }

    fn run(home: i32, away: i32, stake_home: f64) -> Vec<EventPricing> {
        let event = EventPrices {
            key: "2023_01_AWY_HOM".into(),
            game_id: Some("2023_01_AWY_HOM".into()),
            event_id: "e1".into(),
            home: "HOM".into(),
            away: "AWY".into(),
            teams_known: true,
            season: Some(2023),
            week: Some(1),
            kickoff: Some(at(17)),
            prices: vec![price(Selection::Home, home), price(Selection::Away, away)],
        };
        let quote = PricedQuote {
            event: event.key.clone(),
            market: Market::Moneyline,
            selection: Selection::Home,
            selection_label: "HOM".into(),
            line: None,
            book: "b".into(),
            american: home,
            decimal: crate::domain::odds::american_to_decimal(home).unwrap(),
            fair_win: 0.5,
            fair_push: 0.0,
            expected_value: 0.1,
            kelly: 0.05,
            stake: stake_home,
            bound: vec![],
            teams: vec!["HOM".into()],
        };
        vec![EventPricing { event, fair: vec![], quotes: vec![quote] }]
    }

    fn game(home_score: u32, away_score: u32) -> Game {
        Game::played(at(0).date_naive(), "HOM", "AWY", home_score, away_score)
    }

    #[test]
    fn first_recommendation_is_the_bet_and_the_close_prices_its_clv() {
        let mut bets = SnapshotBets::new();
        bets.record(at(12), &run(120, -140, 0.02)); // placed here at +120
        bets.record(at(15), &run(100, -120, 0.01)); // same bet again: not added; becomes the close
        bets.record(at(18), &run(400, -600, 0.02)); // after kickoff: ignored entirely
        let report = bets.settle(&[game(24, 17)], MarginMethod::Proportional);
        assert_eq!(report.total.bets, 1);
        let bet = &report.placed[0];
        assert_eq!((bet.american, bet.stake, bet.placed_at), (120, 0.02, at(12)));
        // Close: +100 / -120 → 0.5 / 0.54545…, proportional → 0.47826…
        let p = 0.5 / (0.5 + 120.0 / 220.0);
        assert!((bet.closing_probability.unwrap() - p).abs() < 1e-12);
        assert!((bet.clv.unwrap() - (2.2 * p - 1.0)).abs() < 1e-12);
        assert_eq!(bet.outcome, Some(Settlement::Win));
        assert!((report.total.profit - 0.02 * 1.2).abs() < 1e-12);
        assert!((report.total.roi.unwrap() - 1.2).abs() < 1e-12);
    }

    #[test]
    fn a_game_without_result_stays_unsettled_and_a_loss_costs_the_stake() {
        let mut bets = SnapshotBets::new();
        bets.record(at(12), &run(120, -140, 0.02));
        let mut games = vec![game(10, 17)];
        let report = bets.settle(&games, MarginMethod::Proportional);
        assert_eq!(report.total.losses, 1);
        assert!((report.total.profit + 0.02).abs() < 1e-12);

        let mut bets = SnapshotBets::new();
        bets.record(at(12), &run(120, -140, 0.02));
        games[0].home_score = None;
        let report = bets.settle(&games, MarginMethod::Proportional);
        assert_eq!((report.total.bets, report.unsettled), (0, 1));
        assert_eq!(report.placed[0].outcome, None);
    }
}
