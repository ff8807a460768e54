//! Scoring forecasts and bets: Brier score, log loss, a reliability table, profit and closing-line
//! value.
//!
//! Pushes are handled explicitly. A forecast of "the home side wins" has no true/false answer when
//! the game ties, so pushes are *excluded* from probability scoring and counted separately (the
//! toolkit scored them as y = 0.5, which rewards a 50% forecast for an event that did not happen).
//! In money terms a push returns the stake: zero profit, and the stake still counts as turned over.

use super::market::Settlement;
use serde::Serialize;

/// Probabilities are clipped to [ε, 1 − ε] in log loss so one confident miss cannot make it infinite.
pub const LOG_LOSS_EPSILON: f64 = 1e-15;

/// Number of equal-width bins of the reliability table.
pub const RELIABILITY_BINS: usize = 10;

/// One row of the reliability table: forecasts with probability in [lower, upper).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReliabilityBin {
    pub lower: f64,
    pub upper: f64,
    pub count: u64,
    /// Mean forecast probability in the bin (None when empty).
    pub mean_predicted: Option<f64>,
    /// Share of the bin's forecasts that came true (None when empty).
    pub observed_rate: Option<f64>,
}

/// Probability scores over settled, non-push forecasts.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CalibrationReport {
    /// Forecasts scored (wins and losses).
    pub samples: u64,
    /// Forecasts excluded because the outcome was a push.
    pub pushes: u64,
    /// Mean of (p − y)²; None without samples.
    pub brier: Option<f64>,
    /// Mean of −[y ln p + (1 − y) ln(1 − p)], p clipped by [`LOG_LOSS_EPSILON`].
    pub log_loss: Option<f64>,
    pub reliability: Vec<ReliabilityBin>,
}

/// Accumulates forecasts one at a time (so replay need not keep them all).
#[derive(Debug, Clone, Default)]
pub struct Calibration {
    samples: u64,
    pushes: u64,
    brier_sum: f64,
    log_loss_sum: f64,
    bins: [(u64, f64, u64); RELIABILITY_BINS],
}

impl Calibration {
    pub fn new() -> Self {
        Self::default()
    }

    /// Record that a selection forecast to win with `probability` ended as `outcome`.
    pub fn add(&mut self, probability: f64, outcome: Settlement) {
        let y = match outcome {
            Settlement::Win => 1.0,
            Settlement::Loss => 0.0,
            Settlement::Push => {
                self.pushes += 1;
                return;
            }
        };
        let p = probability.clamp(0.0, 1.0);
        self.samples += 1;
        self.brier_sum += (p - y).powi(2);
        let clipped = p.clamp(LOG_LOSS_EPSILON, 1.0 - LOG_LOSS_EPSILON);
        self.log_loss_sum -= y * clipped.ln() + (1.0 - y) * (1.0 - clipped).ln();
        let bin = ((p * RELIABILITY_BINS as f64) as usize).min(RELIABILITY_BINS - 1);
        let (count, sum_p, hits) = &mut self.bins[bin];
        *count += 1;
        *sum_p += p;
        *hits += y as u64;
    }

    pub fn report(&self) -> CalibrationReport {
        let mean = |sum: f64| (self.samples > 0).then(|| sum / self.samples as f64);
        let reliability = self
            .bins
            .iter()
            .enumerate()
            .map(|(i, &(count, sum_p, hits))| ReliabilityBin {
                lower: i as f64 / RELIABILITY_BINS as f64,
                upper: (i + 1) as f64 / RELIABILITY_BINS as f64,
                count,
                mean_predicted: (count > 0).then(|| sum_p / count as f64),
                observed_rate: (count > 0).then(|| hits as f64 / count as f64),
            })
            .collect();
        CalibrationReport {
            samples: self.samples,
            pushes: self.pushes,
            brier: mean(self.brier_sum),
            log_loss: mean(self.log_loss_sum),
            reliability,
        }
    }
}

/// Closing-line value of a bet: its expected profit per unit at the margin-free closing
/// probability, `d_taken · p_close − 1`. Positive CLV means the bet beat the closing market, the
/// best available estimate of whether a bettor has an edge.
pub fn closing_line_value(taken_decimal: f64, closing_fair_probability: f64) -> f64 {
    taken_decimal * closing_fair_probability - 1.0
}

/// Profit of a settled bet: a win pays `stake·(d − 1)`, a loss costs the stake, a push returns it.
pub fn profit(stake: f64, decimal: f64, outcome: Settlement) -> f64 {
    match outcome {
        Settlement::Win => stake * (decimal - 1.0),
        Settlement::Loss => -stake,
        Settlement::Push => 0.0,
    }
}

/// Running totals of settled bets.
#[derive(Debug, Clone, Default)]
pub struct Ledger {
    bets: u64,
    wins: u64,
    losses: u64,
    pushes: u64,
    staked: f64,
    profit: f64,
    clv_sum: f64,
    clv_count: u64,
}

/// Totals of settled bets.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LedgerReport {
    pub bets: u64,
    pub wins: u64,
    pub losses: u64,
    pub pushes: u64,
    /// Total stake, in bankroll units.
    pub staked: f64,
    pub profit: f64,
    /// profit / staked; None without stakes.
    pub roi: Option<f64>,
    /// Mean closing-line value per bet; None if no bet had a closing price.
    pub mean_clv: Option<f64>,
}

impl Ledger {
    pub fn new() -> Self {
        Self::default()
    }

    /// Record a settled bet; `clv` is its closing-line value if a closing price exists.
    pub fn add(&mut self, stake: f64, decimal: f64, outcome: Settlement, clv: Option<f64>) {
        self.bets += 1;
        match outcome {
            Settlement::Win => self.wins += 1,
            Settlement::Loss => self.losses += 1,
            Settlement::Push => self.pushes += 1,
        }
        self.staked += stake;
        self.profit += profit(stake, decimal, outcome);
        if let Some(clv) = clv {
            self.clv_sum += clv;
            self.clv_count += 1;
        }
    }

    pub fn report(&self) -> LedgerReport {
        LedgerReport {
            bets: self.bets,
            wins: self.wins,
            losses: self.losses,
            pushes: self.pushes,
            staked: self.staked,
            profit: self.profit,
            roi: (self.staked > 0.0).then(|| self.profit / self.staked),
            mean_clv: (self.clv_count > 0).then(|| self.clv_sum / self.clv_count as f64),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_by_hand() {
        let mut c = Calibration::new();
        c.add(0.8, Settlement::Win);
        c.add(0.3, Settlement::Loss);
        c.add(0.6, Settlement::Push);
        let r = c.report();
        assert_eq!((r.samples, r.pushes), (2, 1));
        assert!((r.brier.unwrap() - (0.04 + 0.09) / 2.0).abs() < 1e-12);
        let ll = -(0.8f64.ln() + 0.7f64.ln()) / 2.0;
        assert!((r.log_loss.unwrap() - ll).abs() < 1e-12);
        assert_eq!(r.reliability.len(), 10);
        assert_eq!(r.reliability[8].count, 1);
        assert_eq!(r.reliability[8].observed_rate, Some(1.0));
        assert_eq!(r.reliability[3].observed_rate, Some(0.0));
        assert_eq!(r.reliability[6].count, 0, "the push is not in the table");
    }

    #[test]
    fn certain_miss_is_finite() {
        let mut c = Calibration::new();
        c.add(1.0, Settlement::Loss);
        c.add(1.0, Settlement::Win);
        let r = c.report();
        assert!(r.log_loss.unwrap().is_finite());
        assert_eq!(r.reliability[9].count, 2);
        assert_eq!(Calibration::new().report().brier, None);
    }

    #[test]
    fn ledger_settles_push_as_stake_returned() {
        let mut l = Ledger::new();
        l.add(1.0, 2.0, Settlement::Win, Some(0.02));
        l.add(1.0, 2.0, Settlement::Push, Some(0.0));
        l.add(2.0, 1.5, Settlement::Loss, None);
        let r = l.report();
        assert_eq!((r.bets, r.wins, r.pushes, r.losses), (3, 1, 1, 1));
        assert_eq!(r.staked, 4.0);
        assert_eq!(r.profit, -1.0);
        assert_eq!(r.roi, Some(-0.25));
        assert_eq!(r.mean_clv, Some(0.01));
        assert!((closing_line_value(2.1, 0.5) - 0.05).abs() < 1e-12);
    }
}
