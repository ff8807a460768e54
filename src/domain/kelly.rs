//! Kelly staking: full and fractional, per-bet and per-event caps, and several bets on one event.
//!
//! Kelly maximises the expected logarithm of wealth. Two rules the Python toolkit broke:
//!
//! 1. **The fraction is applied once.** `stake = fraction × f*`; the toolkit multiplied by a
//!    "kelly_fraction" and then again by a "portfolio_fraction".
//! 2. **Bets on the same event are not independent.** Backing the home side at one book and the
//!    away side at another (or several outcomes of a three-way market) are bets on mutually
//!    exclusive outcomes; summing single-bet Kelly stakes *under*-bets them: each bet pays exactly
//!    when the others lose, so together they hedge, and the joint optimum stakes at least as much
//!    on every backed outcome as its single-bet Kelly (and may back an outcome without an edge of
//!    its own to complete an arbitrage). The test `summed_singles_under_bet_exclusive_outcomes`
//!    shows it on numbers. We use the exact solution for mutually exclusive outcomes (Smoczynski &
//!    Tomkins, 2010, the "horse race" Kelly):
//!
//!    - rank outcomes by expected return `p_i·d_i`;
//!    - grow the set `S` of backed outcomes while `p_k·d_k > R(S)`, where
//!      `R(S) = (1 − Σ_S p_i) / (1 − Σ_S 1/d_i)` is the wealth kept when no backed outcome wins;
//!    - stake `f_i = p_i − R(S)/d_i` on each outcome in `S`.
//!
//! A push (tie on a moneyline, a spread landing on the number) returns every stake, so wealth is
//! unchanged and the push outcome drops out of the objective: the optimum is that of the market
//! conditioned on no push, `p_i / (1 − p_push)`. For one bet this reduces to the familiar
//! `f* = (b·p_win − p_loss) / (b·(p_win + p_loss))`, with `b = d − 1`.
//!
//! Bets on *correlated but not exclusive* outcomes of one game (a moneyline and a spread on the same
//! team) are not solved jointly here; the per-event cap bounds their sum instead.

use serde::Serialize;
use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Error)]
pub enum KellyError {
    #[error("probability {0} is invalid: it must be finite and in [0, 1]")]
    InvalidProbability(f64),
    #[error("outcome probabilities plus push sum to {0}, not 1: outcomes must be exhaustive and exclusive")]
    NotExhaustive(f64),
    #[error("decimal odds {0} are invalid: they must be finite and greater than 1")]
    InvalidDecimal(f64),
    #[error("{name} {value} is invalid: it must be in [0, 1]")]
    InvalidPolicy { name: &'static str, value: f64 },
    #[error("the push probability is 1: nothing can be won or lost")]
    CertainPush,
}

/// One of an event's mutually exclusive outcomes, with the best price available on it (if any).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ExclusiveOutcome {
    /// Fair probability that this outcome happens.
    pub probability: f64,
    /// Decimal odds offered on it; `None` if it cannot be backed.
    pub decimal: Option<f64>,
}

/// Full-Kelly fractions of bankroll for a set of exhaustive, mutually exclusive outcomes.
///
/// `outcomes` and `push` must sum to 1. The result is aligned with `outcomes`; it is all zeros when
/// no outcome has an edge (`p·d ≤ 1` for every priced outcome).
pub fn kelly_exclusive(outcomes: &[ExclusiveOutcome], push: f64) -> Result<Vec<f64>, KellyError> {
    check_probability(push)?;
    for outcome in outcomes {
        check_probability(outcome.probability)?;
        if let Some(d) = outcome.decimal
            && (!d.is_finite() || d <= 1.0)
        {
            return Err(KellyError::InvalidDecimal(d));
        }
    }
    let total = outcomes.iter().map(|o| o.probability).sum::<f64>() + push;
    if (total - 1.0).abs() > 1e-6 {
        return Err(KellyError::NotExhaustive(total));
    }
    if push >= 1.0 {
        return Err(KellyError::CertainPush);
    }
    let no_push = 1.0 - push;

    // Priced outcomes by expected return, best first.
    let mut order: Vec<(usize, f64, f64)> = outcomes
        .iter()
        .enumerate()
        .filter_map(|(i, o)| o.decimal.map(|d| (i, o.probability / no_push, d)))
        .collect();
    order.sort_by(|a, b| (b.1 * b.2).total_cmp(&(a.1 * a.2)));

    let mut reserve = 1.0; // R(S)
    let (mut sum_p, mut sum_inv_d) = (0.0, 0.0);
    let mut backed = Vec::new();
    for &(i, p, d) in &order {
        if p * d <= reserve {
            break;
        }
        sum_p += p;
        sum_inv_d += 1.0 / d;
        backed.push((i, p, d));
        // 1 − Σ1/d stays positive while p·d > R holds (an all-outcome set only gets here when the
        // prices are an arbitrage), and R ≥ 0.
        reserve = ((1.0 - sum_p) / (1.0 - sum_inv_d)).max(0.0);
    }
    let mut fractions = vec![0.0; outcomes.len()];
    for (i, p, d) in backed {
        fractions[i] = (p - reserve / d).max(0.0);
    }
    Ok(fractions)
}

/// Full-Kelly fraction for a single bet with win, push and (implicit) loss probabilities.
pub fn kelly_single(win: f64, push: f64, decimal: f64) -> Result<f64, KellyError> {
    check_probability(win)?;
    check_probability(push)?;
    let loss = 1.0 - win - push;
    if loss < -1e-9 {
        return Err(KellyError::NotExhaustive(win + push));
    }
    let outcomes = [
        ExclusiveOutcome { probability: win, decimal: Some(decimal) },
        ExclusiveOutcome { probability: loss.max(0.0), decimal: None },
    ];
    Ok(kelly_exclusive(&outcomes, push)?[0])
}

/// How stakes are sized: the Kelly fraction (applied once) and caps, all as fractions of bankroll.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KellyPolicy {
    /// Multiplier on full Kelly, e.g. 0.25 for quarter Kelly. Applied exactly once.
    pub fraction: f64,
    /// Largest stake on a single bet.
    pub max_bet: f64,
    /// Largest total stake on one event (all its bets together).
    pub max_event: f64,
}

impl KellyPolicy {
    pub fn new(fraction: f64, max_bet: f64, max_event: f64) -> Result<Self, KellyError> {
        for (name, value) in [("fraction", fraction), ("max_bet", max_bet), ("max_event", max_event)] {
            if !value.is_finite() || !(0.0..=1.0).contains(&value) {
                return Err(KellyError::InvalidPolicy { name, value });
            }
        }
        Ok(Self { fraction, max_bet, max_event })
    }
}

/// Which limit cut a stake below `fraction × full Kelly`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum KellyBound {
    PerBet,
    PerEvent,
}

/// The sizing of one event's outcomes.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventSizing {
    /// Full-Kelly fractions, aligned with the outcomes.
    pub full: Vec<f64>,
    /// Final stakes as fractions of bankroll after the fraction and the caps.
    pub stakes: Vec<f64>,
    /// The cap that bound each stake, if any (the last one applied wins).
    pub bound: Vec<Option<KellyBound>>,
}

impl EventSizing {
    pub fn total(&self) -> f64 {
        self.stakes.iter().sum()
    }
}

/// Size one event: exact exclusive-outcome Kelly, × fraction once, then the per-bet cap, then the
/// per-event cap (scaling every stake of the event down proportionally, which keeps their ratio —
/// the shape of the Kelly portfolio — intact).
pub fn size_event(
    outcomes: &[ExclusiveOutcome],
    push: f64,
    policy: &KellyPolicy,
) -> Result<EventSizing, KellyError> {
    let full = kelly_exclusive(outcomes, push)?;
    let mut bound = vec![None; full.len()];
    let mut stakes: Vec<f64> = full.iter().map(|f| f * policy.fraction).collect();
    for (stake, bound) in stakes.iter_mut().zip(bound.iter_mut()) {
        if *stake > policy.max_bet {
            *stake = policy.max_bet;
            *bound = Some(KellyBound::PerBet);
        }
    }
    let total: f64 = stakes.iter().sum();
    if total > policy.max_event {
        let scale = policy.max_event / total;
        for (stake, bound) in stakes.iter_mut().zip(bound.iter_mut()) {
            if *stake > 0.0 {
                *stake *= scale;
                *bound = Some(KellyBound::PerEvent);
            }
        }
    }
    Ok(EventSizing { full, stakes, bound })
}

fn check_probability(p: f64) -> Result<(), KellyError> {
    if p.is_finite() && (0.0..=1.0).contains(&p) { Ok(()) } else { Err(KellyError::InvalidProbability(p)) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn priced(probability: f64, decimal: f64) -> ExclusiveOutcome {
        ExclusiveOutcome { probability, decimal: Some(decimal) }
    }

    #[test]
    fn single_bet_matches_textbook() {
        // p = .55 at even money: f* = .1.
        assert!((kelly_single(0.55, 0.0, 2.0).unwrap() - 0.1).abs() < 1e-12);
        // With a push: f* = (b·p_win − p_loss) / (b·(p_win + p_loss)).
        let (w, q, d) = (0.5, 0.1, 2.1);
        let b = d - 1.0;
        let expected = (b * w - (1.0 - w - q)) / (b * (1.0 - q));
        assert!((kelly_single(w, q, d).unwrap() - expected).abs() < 1e-12);
        // No edge, no bet.
        assert_eq!(kelly_single(0.5, 0.0, 1.9).unwrap(), 0.0);
    }

    #[test]
    fn both_sides_of_an_arbitrage_bet_everything_in_proportion() {
        // 1/2.2 + 1/1.95 < 1: a sure profit; Kelly stakes p_i of wealth on each outcome.
        let f = kelly_exclusive(&[priced(0.5, 2.2), priced(0.5, 1.95)], 0.0).unwrap();
        assert!((f[0] - 0.5).abs() < 1e-12 && (f[1] - 0.5).abs() < 1e-12, "{f:?}");
    }

    #[test]
    fn exclusive_bets_are_not_summed_singles() {
        // Three-way market, two outcomes with an edge.
        let outcomes = [priced(0.5, 2.3), priced(0.3, 3.6), priced(0.2, 4.0)];
        let f = kelly_exclusive(&outcomes, 0.0).unwrap();
        // By hand: S = {0}: R = .5/(1 − 1/2.3) = .884615; .3·3.6 = 1.08 > R → S = {0,1}:
        // R = .2/(1 − 1/2.3 − 1/3.6) = .695804; .2·4 = .8 > R → S = {0,1,2}: R = 0, because
        // Σ1/d = .962560 < 1 makes the three prices an arbitrage, and Kelly stakes f_i = p_i.
        let sum_inv: f64 = outcomes.iter().map(|o| 1.0 / o.decimal.unwrap()).sum();
        assert!(sum_inv < 1.0);
        assert!((f[0] - 0.5).abs() < 1e-12 && (f[2] - 0.2).abs() < 1e-12);

        // Without the arbitrage: the third outcome is priced short.
        let outcomes = [priced(0.5, 2.3), priced(0.3, 3.6), priced(0.2, 3.0)];
        let f = kelly_exclusive(&outcomes, 0.0).unwrap();
        let r = 0.2 / (1.0 - 1.0 / 2.3 - 1.0 / 3.6);
        assert!((f[0] - (0.5 - r / 2.3)).abs() < 1e-12, "{f:?}");
        assert!((f[1] - (0.3 - r / 3.6)).abs() < 1e-12);
        assert_eq!(f[2], 0.0);
        let singles = kelly_single(0.5, 0.0, 2.3).unwrap() + kelly_single(0.3, 0.0, 3.6).unwrap();
        assert!(f[0] + f[1] != singles);
    }

    #[test]
    fn summed_singles_under_bet_exclusive_outcomes() {
        // Home 50% at 2.3 at one book, away 30% at 3.6 at another, the draw-like rest unpriced.
        // Single-bet Kelly: (.5·2.3 − 1)/1.3 = .115385 and (.3·3.6 − 1)/2.6 = .030769, .146154
        // together. Jointly R = .2/(1 − 1/2.3 − 1/3.6) = .695804, so f = .5 − R/2.3 = .197479
        // and .3 − R/3.6 = .106723: .304202 together, twice the summed singles.
        let outcomes =
            [priced(0.5, 2.3), priced(0.3, 3.6), ExclusiveOutcome { probability: 0.2, decimal: None }];
        let joint = kelly_exclusive(&outcomes, 0.0).unwrap();
        let singles = [kelly_single(0.5, 0.0, 2.3).unwrap(), kelly_single(0.3, 0.0, 3.6).unwrap()];
        assert!((singles[0] - 0.115385).abs() < 1e-6 && (singles[1] - 0.030769).abs() < 1e-6);
        assert!((joint[0] - 0.197479).abs() < 1e-6 && (joint[1] - 0.106723).abs() < 1e-6, "{joint:?}");
        assert!(joint[0] > singles[0] && joint[1] > singles[1]);
        assert!(joint[0] + joint[1] > 2.0 * (singles[0] + singles[1]));
        // And the joint stakes grow wealth faster than the summed singles do.
        let growth = |f: &[f64]| {
            let staked: f64 = f.iter().sum();
            0.5 * (1.0 - staked + f[0] * 2.3).ln()
                + 0.3 * (1.0 - staked + f[1] * 3.6).ln()
                + 0.2 * (1.0 - staked).ln()
        };
        assert!(growth(&joint[..2]) > growth(&singles));
    }

    #[test]
    fn policy_rejects_bad_values() {
        assert!(KellyPolicy::new(1.5, 0.1, 0.1).is_err());
        assert!(KellyPolicy::new(0.5, f64::NAN, 0.1).is_err());
    }

    /// Exclusive outcomes with fair probabilities, a push share and prices with a margin around the
    /// fair ones (some outcomes unpriced).
    fn event() -> impl Strategy<Value = (Vec<ExclusiveOutcome>, f64)> {
        (prop::collection::vec((0.05f64..1.0, 0.8f64..1.25, any::<bool>()), 2..6), 0.0f64..0.1).prop_map(
            |(raw, push)| {
                let total: f64 = raw.iter().map(|r| r.0).sum();
                let outcomes = raw
                    .iter()
                    .map(|&(w, skew, has_price)| {
                        let p = w / total * (1.0 - push);
                        let d = (skew / p).max(1.01);
                        ExclusiveOutcome { probability: p, decimal: has_price.then_some(d) }
                    })
                    .collect();
                (outcomes, push)
            },
        )
    }

    proptest! {
        /// Without an edge on any priced outcome, Kelly stakes nothing.
        #[test]
        fn no_edge_no_stake((outcomes, push) in event()) {
            // Shorten every price to at most 0.999 of fair (conditional on no push).
            let outcomes: Vec<_> = outcomes
                .into_iter()
                .map(|o| ExclusiveOutcome {
                    decimal: o.decimal.map(|d| d.min(0.999 * (1.0 - push) / o.probability)),
                    ..o
                })
                .collect();
            prop_assume!(outcomes.iter().all(|o| o.decimal.is_none_or(|d| d > 1.0)));
            let f = kelly_exclusive(&outcomes, push).unwrap();
            prop_assert!(f.iter().all(|x| *x == 0.0), "{:?}", f);
        }

        /// Stakes are non-negative, never exceed wealth, and the caps always hold.
        #[test]
        fn caps_hold((outcomes, push) in event(), fraction in 0.0f64..=1.0,
                     max_bet in 0.0f64..0.2, max_event in 0.0f64..0.3) {
            let policy = KellyPolicy::new(fraction, max_bet, max_event).unwrap();
            let sizing = size_event(&outcomes, push, &policy).unwrap();
            prop_assert!(sizing.full.iter().all(|f| *f >= 0.0));
            prop_assert!(sizing.full.iter().sum::<f64>() <= 1.0 + 1e-9);
            prop_assert!(sizing.stakes.iter().all(|s| *s >= 0.0 && *s <= max_bet + 1e-12));
            prop_assert!(sizing.total() <= max_event + 1e-12);
            for (s, f) in sizing.stakes.iter().zip(&sizing.full) {
                prop_assert!(*s <= f * fraction + 1e-12);
            }
        }

        /// Summing single-bet Kelly stakes never over-bets exclusive outcomes: the joint stake on
        /// each outcome is at least its single-bet stake.
        #[test]
        fn joint_stakes_are_at_least_the_single_ones((outcomes, push) in event()) {
            let f = kelly_exclusive(&outcomes, push).unwrap();
            for (o, fi) in outcomes.iter().zip(&f) {
                let Some(d) = o.decimal else { continue };
                let single = kelly_single(o.probability, push, d).unwrap();
                prop_assert!(*fi >= single - 1e-9, "joint {} < single {} in {:?}", fi, single, outcomes);
            }
        }

        /// Backing an outcome Kelly chose never has negative expected log growth versus not betting.
        #[test]
        fn kelly_beats_not_betting((outcomes, push) in event()) {
            let f = kelly_exclusive(&outcomes, push).unwrap();
            let staked: f64 = f.iter().sum();
            let growth: f64 = outcomes.iter().zip(&f).map(|(o, fi)| {
                let wealth = 1.0 - staked + fi * o.decimal.unwrap_or(0.0);
                o.probability * wealth.max(1e-300).ln()
            }).sum();
            prop_assert!(growth >= -1e-12, "{}", growth);
        }
    }
}
