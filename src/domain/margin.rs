//! Margin (overround) removal: from a book's implied probabilities to fair probabilities.
//!
//! A book's implied probabilities over a complete market sum to more than 1; the excess is its margin.
//! The Python toolkit never removed it, so every "edge" it reported was measured against a vigged
//! price. Four standard methods are offered; they differ in how the margin is spread over favourites
//! and longshots:
//!
//! - **Proportional** (multiplicative, "basic normalisation"): `p_i = π_i / S`. Spreads the margin in
//!   proportion to the price; the baseline.
//! - **Additive**: `p_i = π_i − (S − 1)/n`. The same absolute margin on every outcome; can go
//!   negative for long shots, which is refused.
//! - **Power**: `p_i = π_i^k` with `k` solved so that `Σ π_i^k = 1`. Loads more margin onto long
//!   shots (the favourite-longshot bias).
//! - **Shin** (1993): models the margin as the book's defence against a share `z` of insiders:
//!   `p_i = (√(z² + 4(1 − z) π_i²/S) − z) / (2(1 − z))`, with `z` solved iteratively so the `p_i`
//!   sum to 1.
//!
//! Every method returns probabilities that sum to 1 (to 1e-9) or an error.

use super::odds::{OddsError, american_to_probability};
use thiserror::Error;

/// Which margin-removal method to use. Also the Model resource's `consensus.marginMethod`, hence
/// the schema derive.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub enum MarginMethod {
    #[default]
    Proportional,
    Additive,
    Power,
    Shin,
}

impl MarginMethod {
    pub const ALL: [MarginMethod; 4] = [Self::Proportional, Self::Additive, Self::Power, Self::Shin];

    /// The name of the method as the resources and flags spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Proportional => "proportional",
            Self::Additive => "additive",
            Self::Power => "power",
            Self::Shin => "shin",
        }
    }

    /// The method named `s`, as [`MarginMethod::as_str`] spells it.
    pub fn parse(s: &str) -> Option<MarginMethod> {
        Self::ALL.into_iter().find(|m| m.as_str() == s)
    }
}

impl std::fmt::Display for MarginMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a market could not be made margin-free.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum MarginError {
    #[error("a market needs at least two outcomes to remove a margin, got {0}")]
    TooFewOutcomes(usize),
    #[error("implied probability {0} is invalid: it must be finite and strictly between 0 and 1")]
    InvalidProbability(f64),
    #[error(
        "additive margin removal gives outcome {index} a negative probability ({value:.4}); use the power or Shin method for long shots"
    )]
    AdditiveNegative { index: usize, value: f64 },
    #[error("the {0:?} method did not converge")]
    NoConvergence(MarginMethod),
    #[error(transparent)]
    Odds(#[from] OddsError),
}

/// The book's margin: Σ implied probabilities − 1 (negative for an underround market).
pub fn overround(implied: &[f64]) -> f64 {
    implied.iter().sum::<f64>() - 1.0
}

/// Fair probabilities from American prices covering every outcome of one market.
pub fn remove_margin_american(prices: &[i32], method: MarginMethod) -> Result<Vec<f64>, MarginError> {
    let implied = prices.iter().map(|&a| american_to_probability(a)).collect::<Result<Vec<_>, _>>()?;
    remove_margin(&implied, method)
}

/// Fair probabilities from the implied probabilities of every outcome of one market.
pub fn remove_margin(implied: &[f64], method: MarginMethod) -> Result<Vec<f64>, MarginError> {
    if implied.len() < 2 {
        return Err(MarginError::TooFewOutcomes(implied.len()));
    }
    if let Some(&bad) = implied.iter().find(|p| !p.is_finite() || **p <= 0.0 || **p >= 1.0) {
        return Err(MarginError::InvalidProbability(bad));
    }
    let fair = match method {
        MarginMethod::Proportional => proportional(implied),
        MarginMethod::Additive => additive(implied)?,
        MarginMethod::Power => power(implied)?,
        MarginMethod::Shin => shin(implied)?,
    };
    // Remove the last ulps of solver error so downstream sums are exact to rounding.
    let total: f64 = fair.iter().sum();
    Ok(fair.into_iter().map(|p| p / total).collect())
}

fn proportional(implied: &[f64]) -> Vec<f64> {
    let total: f64 = implied.iter().sum();
    implied.iter().map(|p| p / total).collect()
}

fn additive(implied: &[f64]) -> Result<Vec<f64>, MarginError> {
    let share = overround(implied) / implied.len() as f64;
    implied
        .iter()
        .enumerate()
        .map(|(index, p)| {
            let value = p - share;
            if value <= 0.0 { Err(MarginError::AdditiveNegative { index, value }) } else { Ok(value) }
        })
        .collect()
}

/// Solve `Σ π_i^k = 1` for `k` by bisection: the sum falls strictly as `k` grows because every
/// `π_i` is in (0, 1), so the root is unique.
fn power(implied: &[f64]) -> Result<Vec<f64>, MarginError> {
    let sum_at = |k: f64| implied.iter().map(|p| p.powf(k)).sum::<f64>();
    let (mut lo, mut hi) = (1e-6_f64, 1.0_f64);
    // Grow the bracket until it contains the root (sum(lo) ≥ 1 ≥ sum(hi)).
    while sum_at(hi) > 1.0 {
        lo = hi;
        hi *= 2.0;
        if hi > 1e6 {
            return Err(MarginError::NoConvergence(MarginMethod::Power));
        }
    }
    if sum_at(lo) < 1.0 {
        return Err(MarginError::NoConvergence(MarginMethod::Power));
    }
    let k = bisect(|k| sum_at(k) - 1.0, lo, hi).ok_or(MarginError::NoConvergence(MarginMethod::Power))?;
    Ok(implied.iter().map(|p| p.powf(k)).collect())
}

/// Shin's probabilities for insider share `z`.
fn shin_probabilities(implied: &[f64], z: f64) -> impl Iterator<Item = f64> + '_ {
    let total: f64 = implied.iter().sum();
    implied.iter().map(move |p| ((z * z + 4.0 * (1.0 - z) * p * p / total).sqrt() - z) / (2.0 * (1.0 - z)))
}

/// Solve Shin's `z` by bisection on `Σ p_i(z) = 1`. At z = 0 the sum is √S > 1 and as z → 1 it
/// tends to Σπ²/S < 1, so an overround market always has a root in (0, 1). An underround market
/// (S ≤ 1, e.g. the 2020_01_LV_CAR line in the nflverse file) has no insider margin to attribute:
/// Shin is then undefined and we fall back to proportional, which is exact there.
fn shin(implied: &[f64]) -> Result<Vec<f64>, MarginError> {
    if implied.iter().sum::<f64>() <= 1.0 {
        return Ok(proportional(implied));
    }
    let excess = |z: f64| shin_probabilities(implied, z).sum::<f64>() - 1.0;
    let z = bisect(excess, 0.0, 1.0 - 1e-12).ok_or(MarginError::NoConvergence(MarginMethod::Shin))?;
    Ok(shin_probabilities(implied, z).collect())
}

/// Bisection for a decreasing function with `f(lo) ≥ 0 ≥ f(hi)`.
fn bisect(f: impl Fn(f64) -> f64, mut lo: f64, mut hi: f64) -> Option<f64> {
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        let value = f(mid);
        if !value.is_finite() {
            return None;
        }
        if value.abs() < 1e-14 || hi - lo < 1e-15 {
            return Some(mid);
        }
        if value > 0.0 { lo = mid } else { hi = mid }
    }
    Some(0.5 * (lo + hi))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn two_way_minus_110_is_fifty_fifty_for_every_method() {
        for method in MarginMethod::ALL {
            let fair = remove_margin_american(&[-110, -110], method).unwrap();
            assert!((fair[0] - 0.5).abs() < 1e-12, "{method:?}: {fair:?}");
        }
    }

    #[test]
    fn methods_differ_on_a_favourite() {
        let implied = [1.0 / 1.25, 1.0 / 4.5];
        let prop = remove_margin(&implied, MarginMethod::Proportional).unwrap();
        let add = remove_margin(&implied, MarginMethod::Additive).unwrap();
        let pow = remove_margin(&implied, MarginMethod::Power).unwrap();
        let shin = remove_margin(&implied, MarginMethod::Shin).unwrap();
        // Power and Shin charge the long shot more margin than proportional does; additive takes the
        // same absolute margin from both, so the favourite keeps the most.
        assert!(pow[1] < prop[1], "power {pow:?} vs proportional {prop:?}");
        assert!(shin[1] < prop[1], "shin {shin:?} vs proportional {prop:?}");
        assert!(add[0] > prop[0]);
        // For two outcomes, Shin and additive coincide (a known identity).
        assert!((shin[0] - add[0]).abs() < 1e-9, "{shin:?} {add:?}");
    }

    #[test]
    fn refuses_bad_markets() {
        assert_eq!(remove_margin(&[0.5], MarginMethod::Shin), Err(MarginError::TooFewOutcomes(1)));
        assert!(remove_margin(&[0.5, 1.2], MarginMethod::Power).is_err());
        assert!(remove_margin(&[0.5, f64::NAN], MarginMethod::Power).is_err());
        assert!(matches!(
            remove_margin(&[0.9, 0.3, 0.02], MarginMethod::Additive),
            Err(MarginError::AdditiveNegative { index: 2, .. })
        ));
        assert!(remove_margin_american(&[-80, 120], MarginMethod::Proportional).is_err());
    }

    #[test]
    fn underround_market_is_handled() {
        // 2020_01_LV_CAR closed at -124 / +134, implied sum < 1.
        for method in MarginMethod::ALL {
            let fair = remove_margin_american(&[-124, 134], method).unwrap();
            assert!((fair.iter().sum::<f64>() - 1.0).abs() < 1e-12);
            assert!(fair[0] > 0.5);
        }
    }

    /// Published worked examples, each method against another implementation's own output:
    /// penaltyblog's documentation (decimal odds 2.7 / 2.3 / 4.4: power k = 1.0309, Shin
    /// z = 0.0162) and the `shin` Python package's README (2.6 / 2.4 / 4.3, z = 0.0169, and the
    /// analytic two-outcome case 1.5 / 2.74).
    #[test]
    fn agrees_with_published_worked_examples() {
        let implied = |odds: &[f64]| odds.iter().map(|o| 1.0 / o).collect::<Vec<_>>();
        let cases: [(&[f64], MarginMethod, &[f64]); 6] = [
            (&[2.7, 2.3, 4.4], MarginMethod::Proportional, &[0.35873804, 0.42112726, 0.2201347]),
            (&[2.7, 2.3, 4.4], MarginMethod::Additive, &[0.3595618, 0.42397404, 0.21646416]),
            (&[2.7, 2.3, 4.4], MarginMethod::Power, &[0.3591711, 0.42373075, 0.21709815]),
            (&[2.7, 2.3, 4.4], MarginMethod::Shin, &[0.35934392, 0.42324385, 0.21741223]),
            (&[2.6, 2.4, 4.3], MarginMethod::Shin, &[0.37299406, 0.40477941, 0.22222653]),
            (&[1.5, 2.74], MarginMethod::Shin, &[0.65085158, 0.34914842]),
        ];
        for (odds, method, published) in cases {
            let fair = remove_margin(&implied(odds), method).unwrap();
            for (got, want) in fair.iter().zip(published) {
                assert!(
                    (got - want).abs() < 2e-6,
                    "{method:?} on {odds:?}: {fair:?}, published {published:?}"
                );
            }
        }
    }

    fn market() -> impl Strategy<Value = Vec<f64>> {
        // 2 to 6 outcomes, margins from -5% to +30%.
        (prop::collection::vec(0.02f64..1.0, 2..7), 0.95f64..1.30).prop_map(|(weights, book)| {
            let total: f64 = weights.iter().sum();
            weights.iter().map(|w| (w / total * book).min(0.999)).collect()
        })
    }

    proptest! {
        /// Every method's fair probabilities sum to 1 and lie in (0, 1), or (additive only) the method
        /// refuses because a long shot would go negative.
        #[test]
        fn fair_probabilities_sum_to_one(implied in market()) {
            for method in MarginMethod::ALL {
                match remove_margin(&implied, method) {
                    Ok(fair) => {
                        prop_assert!((fair.iter().sum::<f64>() - 1.0).abs() < 1e-9, "{:?} {:?}", method, fair);
                        prop_assert!(fair.iter().all(|p| *p > 0.0 && *p < 1.0));
                    }
                    Err(MarginError::AdditiveNegative { .. }) => {
                        prop_assert_eq!(method, MarginMethod::Additive);
                        let share = overround(&implied) / implied.len() as f64;
                        prop_assert!(implied.iter().any(|p| *p <= share));
                    }
                    Err(other) => prop_assert!(false, "{:?} failed: {}", method, other),
                }
            }
        }

        /// Margin removal keeps the order of outcomes: a favourite stays the favourite.
        #[test]
        fn order_is_preserved(implied in market()) {
            for method in MarginMethod::ALL {
                if let Ok(fair) = remove_margin(&implied, method) {
                    for i in 0..implied.len() {
                        for j in 0..implied.len() {
                            if implied[i] > implied[j] + 1e-12 {
                                prop_assert!(fair[i] >= fair[j], "{:?}", method);
                            }
                        }
                    }
                }
            }
        }
    }
}
