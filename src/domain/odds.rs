//! Price formats: American, decimal and implied probability.
//!
//! Books quote American odds; all maths in nflbet is done on decimal odds (the total return per unit
//! staked, stake included) and probabilities. Conversions validate their input once, here, so the rest
//! of the domain can assume a price is meaningful.

use thiserror::Error;

/// Why a price was refused.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum OddsError {
    /// American odds of 0 mean nothing (the toolkit's mock book produced them).
    #[error("American odds of 0 are not a price")]
    ZeroAmerican,
    /// |A| < 100 is not a valid American price, except exactly ±100 (even money).
    #[error("American odds {0} are invalid: |odds| must be at least 100")]
    AmericanTooSmall(i32),
    /// Decimal odds must be finite and greater than 1 (a bet must be able to return more than its stake).
    #[error("decimal odds {0} are invalid: they must be finite and greater than 1")]
    InvalidDecimal(f64),
    /// A probability must be finite and strictly inside (0, 1) to be turned into a price.
    #[error("probability {0} is invalid: it must be finite and strictly between 0 and 1")]
    InvalidProbability(f64),
}

/// Decimal odds from American odds: `1 + A/100` for plus money, `1 + 100/|A|` for minus money.
pub fn american_to_decimal(american: i32) -> Result<f64, OddsError> {
    validate_american(american)?;
    let a = f64::from(american);
    Ok(if american > 0 { 1.0 + a / 100.0 } else { 1.0 + 100.0 / -a })
}

/// American odds from decimal odds, rounded to the nearest integer as books quote them.
///
/// Even money (decimal 2.0) comes back as +100.
pub fn decimal_to_american(decimal: f64) -> Result<i32, OddsError> {
    validate_decimal(decimal)?;
    let american =
        if decimal >= 2.0 { ((decimal - 1.0) * 100.0).round() } else { (-100.0 / (decimal - 1.0)).round() };
    // Rounding can only land on ±100 or beyond; clamp guards the i32 conversion for absurd prices.
    Ok(american.clamp(-1.0e9, 1.0e9) as i32)
}

/// The probability a price implies, margin included: `1 / decimal`.
pub fn implied_probability(decimal: f64) -> Result<f64, OddsError> {
    validate_decimal(decimal)?;
    Ok(1.0 / decimal)
}

/// Implied probability straight from American odds.
pub fn american_to_probability(american: i32) -> Result<f64, OddsError> {
    implied_probability(american_to_decimal(american)?)
}

/// The fair decimal price of a probability: `1 / p`.
pub fn probability_to_decimal(probability: f64) -> Result<f64, OddsError> {
    if !probability.is_finite() || probability <= 0.0 || probability >= 1.0 {
        return Err(OddsError::InvalidProbability(probability));
    }
    Ok(1.0 / probability)
}

/// Check an American price: non-zero and |A| ≥ 100.
pub fn validate_american(american: i32) -> Result<(), OddsError> {
    if american == 0 {
        Err(OddsError::ZeroAmerican)
    } else if american.unsigned_abs() < 100 {
        Err(OddsError::AmericanTooSmall(american))
    } else {
        Ok(())
    }
}

fn validate_decimal(decimal: f64) -> Result<(), OddsError> {
    if decimal.is_finite() && decimal > 1.0 { Ok(()) } else { Err(OddsError::InvalidDecimal(decimal)) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_prices() {
        assert_eq!(american_to_decimal(-110).unwrap(), 1.0 + 100.0 / 110.0);
        assert_eq!(american_to_decimal(150).unwrap(), 2.5);
        assert_eq!(american_to_decimal(100).unwrap(), 2.0);
        assert_eq!(american_to_decimal(-100).unwrap(), 2.0);
        assert_eq!(decimal_to_american(2.0).unwrap(), 100);
        assert_eq!(decimal_to_american(1.5).unwrap(), -200);
        assert!((american_to_probability(-200).unwrap() - 2.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn refuses_nonsense() {
        assert_eq!(american_to_decimal(0), Err(OddsError::ZeroAmerican));
        assert_eq!(american_to_decimal(-80), Err(OddsError::AmericanTooSmall(-80)));
        assert_eq!(american_to_decimal(99), Err(OddsError::AmericanTooSmall(99)));
        assert!(decimal_to_american(1.0).is_err());
        assert!(decimal_to_american(f64::NAN).is_err());
        assert!(decimal_to_american(f64::INFINITY).is_err());
        assert!(implied_probability(0.5).is_err());
        assert!(probability_to_decimal(1.0).is_err());
        assert!(probability_to_decimal(f64::NAN).is_err());
    }

    proptest! {
        /// Every valid American price survives American → decimal → American exactly.
        #[test]
        fn american_round_trip(a in prop_oneof![100i32..100_000, -100_000i32..=-100]) {
            let d = american_to_decimal(a).unwrap();
            let back = decimal_to_american(d).unwrap();
            // -100 and +100 are the same price.
            if a.abs() == 100 { prop_assert_eq!(back, 100) } else { prop_assert_eq!(back, a) }
        }

        /// Decimal → probability → decimal is the identity (to floating point).
        #[test]
        fn probability_round_trip(d in 1.0001f64..1000.0) {
            let p = implied_probability(d).unwrap();
            prop_assert!(p > 0.0 && p < 1.0);
            prop_assert!((probability_to_decimal(p).unwrap() - d).abs() < 1e-9 * d);
        }

        /// A shorter price always implies a higher probability.
        #[test]
        fn implied_probability_is_monotone(a in 100i32..5000, b in 100i32..5000) {
            prop_assume!(a < b);
            prop_assert!(american_to_probability(a).unwrap() > american_to_probability(b).unwrap());
            prop_assert!(american_to_probability(-a).unwrap() < american_to_probability(-b).unwrap());
        }
    }
}
