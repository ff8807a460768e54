//! Odds prices: American and decimal, parsed strictly and converted exactly.
//!
//! An American price A means: win A per 100 staked when A > 0, stake |A| to win 100 when A < 0.
//! Decimal d is the total return per unit: 1 + A/100 or 1 + 100/|A|. +100 and −100 are the same
//! even-money price (decimal 2.0); "EVEN" is accepted as +100. Prices between −100 and +100 do not
//! exist, and anything beyond ±100000 is a feed bug, not a longshot. The conversion itself is
//! the domain's ([`crate::domain::odds`]); this module adds the feed's bounds and lenient parsing.

use super::loose::Loose;
use crate::domain::odds;
use serde::{Deserialize, Serialize};

/// Largest magnitude of an American price accepted.
pub const MAX_AMERICAN: i32 = 100_000;

/// A validated price in both notations.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Price {
    pub american: i32,
    pub decimal: f64,
}

impl Price {
    /// A price from American odds; None when it is not a real price.
    pub fn from_american(a: i32) -> Option<Price> {
        if a.unsigned_abs() > MAX_AMERICAN.unsigned_abs() {
            return None;
        }
        let decimal = odds::american_to_decimal(a).ok()?;
        Some(Price { american: a, decimal })
    }

    /// A price from decimal odds, keeping the decimal as given and rounding the American form.
    pub fn from_decimal(d: f64) -> Option<Price> {
        if d > 1.0 + f64::from(MAX_AMERICAN) / 100.0 {
            return None;
        }
        let american = odds::decimal_to_american(d).ok()?;
        // Decimals just above 1.0 round to beyond −100000; those are rejected here.
        if !(american.unsigned_abs() >= 100 && american.unsigned_abs() <= MAX_AMERICAN.unsigned_abs()) {
            return None;
        }
        Some(Price { american, decimal: d })
    }

    /// Implied probability, vig included: 1/d.
    pub fn implied_probability(&self) -> f64 {
        1.0 / self.decimal
    }
}

/// Parse an American price sent as a number or a string (`-110`, `"+120"`, `"EVEN"`). Fractional
/// numbers are refused: American prices are integers, so `-110.5` is a feed bug.
pub fn parse_american(v: &Loose) -> Option<Price> {
    let a = match v {
        Loose::Number(x) => *x,
        Loose::Text(t) => {
            let t = t.trim();
            if t.eq_ignore_ascii_case("even") || t.eq_ignore_ascii_case("ev") {
                100.0
            } else {
                t.strip_prefix('+').unwrap_or(t).parse::<f64>().ok()?
            }
        }
        Loose::Other => return None,
    };
    if !a.is_finite() || a.fract() != 0.0 || a.abs() > f64::from(MAX_AMERICAN) {
        return None;
    }
    Price::from_american(a as i32)
}

/// Parse a decimal price sent as a number or a numeric string.
pub fn parse_decimal(v: &Loose) -> Option<Price> {
    match v {
        Loose::Number(x) => Price::from_decimal(*x),
        Loose::Text(t) => Price::from_decimal(t.trim().parse::<f64>().ok()?),
        Loose::Other => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions() {
        assert_eq!(Price::from_american(100).unwrap().decimal, 2.0);
        assert_eq!(Price::from_american(-100).unwrap().decimal, 2.0);
        assert_eq!(Price::from_american(150).unwrap().decimal, 2.5);
        assert!((Price::from_american(-110).unwrap().decimal - 1.909_090_909).abs() < 1e-9);
        assert_eq!(Price::from_decimal(1.909_090_909).unwrap().american, -110);
        assert_eq!(Price::from_decimal(2.0).unwrap().american, 100);
        assert_eq!(Price::from_decimal(3.4).unwrap().american, 240);
        for bad in [0, 99, -99, 50, -80, 100_001, -200_000] {
            assert!(Price::from_american(bad).is_none(), "{bad}");
        }
        for bad in [1.0, 0.5, f64::NAN, f64::INFINITY, -2.0, 1.000_001] {
            assert!(Price::from_decimal(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn parsing() {
        let n = |x: f64| parse_american(&Loose::Number(x)).map(|p| p.american);
        let t = |s: &str| parse_american(&Loose::Text(s.into())).map(|p| p.american);
        assert_eq!(n(-110.0), Some(-110));
        assert_eq!(n(-110.5), None);
        assert_eq!(n(0.0), None);
        assert_eq!(t("+120"), Some(120));
        assert_eq!(t("EVEN"), Some(100));
        assert_eq!(t("even"), Some(100));
        assert_eq!(t("-100"), Some(-100));
        assert_eq!(t(""), None);
        assert_eq!(t("1e9"), None);
        assert_eq!(parse_american(&Loose::Other), None);
    }
}
