//! Expected value of a bet per unit staked, with the push (stake returned) made explicit.
//!
//! A spread of exactly 3 or 7, a total on a whole number, or a tied moneyline returns the stake.
//! The toolkit scored a push as half a win in calibration; here it is its own probability that
//! neither wins nor loses money.

use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Error)]
pub enum EvError {
    #[error("win probability {win} and push probability {push} must be in [0, 1] and sum to at most 1")]
    InvalidProbabilities { win: f64, push: f64 },
    #[error("decimal odds {0} are invalid: they must be finite and greater than 1")]
    InvalidDecimal(f64),
}

/// The outcome probabilities of one bet: win, push (stake back), and the rest is a loss.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BetProbabilities {
    pub win: f64,
    pub push: f64,
}

impl BetProbabilities {
    pub fn new(win: f64, push: f64) -> Result<Self, EvError> {
        let ok = |p: f64| p.is_finite() && (0.0..=1.0).contains(&p);
        if !ok(win) || !ok(push) || win + push > 1.0 + 1e-12 {
            return Err(EvError::InvalidProbabilities { win, push });
        }
        Ok(Self { win, push })
    }

    pub fn loss(&self) -> f64 {
        (1.0 - self.win - self.push).max(0.0)
    }
}

/// Expected profit per unit staked at decimal odds `decimal`: `p_win·(d − 1) − p_loss`.
/// A push contributes nothing, which is exactly what it pays.
pub fn expected_value(probabilities: BetProbabilities, decimal: f64) -> Result<f64, EvError> {
    if !decimal.is_finite() || decimal <= 1.0 {
        return Err(EvError::InvalidDecimal(decimal));
    }
    Ok(probabilities.win * (decimal - 1.0) - probabilities.loss())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fair_coin_at_even_money_is_zero() {
        let p = BetProbabilities::new(0.5, 0.0).unwrap();
        assert_eq!(expected_value(p, 2.0).unwrap(), 0.0);
    }

    #[test]
    fn push_is_neither_win_nor_loss() {
        // 45% win, 10% push, 45% loss at even money: EV 0. Scoring the push as half a win would
        // have reported +10%.
        let p = BetProbabilities::new(0.45, 0.10).unwrap();
        assert!(expected_value(p, 2.0).unwrap().abs() < 1e-12);
        let p = BetProbabilities::new(0.5, 0.0).unwrap();
        assert!((expected_value(p, 1.0 + 100.0 / 110.0).unwrap() + 0.045454545).abs() < 1e-8);
    }

    #[test]
    fn refuses_bad_inputs() {
        assert!(BetProbabilities::new(0.7, 0.4).is_err());
        assert!(BetProbabilities::new(f64::NAN, 0.0).is_err());
        assert!(BetProbabilities::new(-0.1, 0.0).is_err());
        let p = BetProbabilities::new(0.5, 0.0).unwrap();
        assert!(expected_value(p, 1.0).is_err());
    }
}
