//! `score_distribution`: the distribution of an integer score (a home margin, a total) around an
//! expected value, with the key numbers the data has and a normal lacks.
//!
//! `P(X = v | μ, σ) ∝ N(v; μ, σ) · w(v)`, where `N(v; μ, σ) = Φ((v + ½ − μ)/σ) − Φ((v − ½ − μ)/σ)` is
//! the discretised normal and `w(v)` is how often `v` has occurred among the games observed so far
//! against how often the normal, with each game's own μ and σ at the time, said it would:
//!
//! `w(v) = (observed(v) + prior) / (expected(v) + prior)`.
//!
//! Learned walk-forward (only the games passed to [`ScoreDistribution::observe`]), so no game's
//! forecast uses its own result. `prior` is a pseudo-count in games: with little data every weight
//! is near 1 (the normal), and a value seen a thousand times (a margin of 3) gets the weight the
//! data says, about 2.5 times the normal's mass. A margin distribution is symmetric (a home win by
//! 3 and an away win by 3 pool their counts; the home side's edge is in μ); a total's is not.
//!
//! [`ScoreDistribution::centre_for_median`] is a root-finding of a handful of pmfs. A model learns
//! every game around the centre it priced the game with, and every model run relearns every
//! finished game, so the centres are memoised process-wide by the distribution's exact state (a
//! 128-bit digest of its construction and of every observation, in order) and the root-finding's
//! inputs: the memo returns what the root-finding would, so it cannot change a forecast or let
//! one use a later game, and a run that relearns the same games in the same order finds each
//! centre once.

use super::elo::normal_cdf;
use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

/// Centres already found: (state digest, median bits, sd bits) → centre.
type CentreKey = (u64, u64, u64, u64);
static CENTRES: LazyLock<Mutex<HashMap<CentreKey, f64>>> = LazyLock::new(Default::default);
/// The memo is cleared when it holds this many centres (about 30 000 are needed per 1999-2025
/// history: two per game learned); a long-running process that sees many histories stays bounded.
const MAX_CENTRES: usize = 1 << 20;

/// The learned weights of an integer score's values on `lo..=hi` (values outside are clamped
/// when observed and get weight 1 when priced).
#[derive(Debug, Clone)]
pub struct ScoreDistribution {
    lo: i32,
    hi: i32,
    symmetric: bool,
    prior: f64,
    observed: Vec<f64>,
    expected: Vec<f64>,
    /// Digest of the construction and of every observation so far: equal digests, equal state.
    digest: (u64, u64),
}

/// `previous` with `parts` mixed in, in two lanes with different constants (splitmix64's
/// finaliser: cheap enough to run on every game every model run learns): a 128-bit digest.
fn chain(previous: (u64, u64), parts: &[u64]) -> (u64, u64) {
    let mix = |mut h: u64, salt: u64| {
        for &x in parts {
            let mut z = (h ^ x).wrapping_add(salt);
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            h = z ^ (z >> 31);
        }
        h
    };
    (mix(previous.0, 0x9E37_79B9_7F4A_7C15), mix(previous.1, 0xD1B5_4A32_D192_ED03))
}

impl ScoreDistribution {
    /// A distribution on `lo..=hi` with `prior` pseudo-games; `symmetric` pools `v` and `−v`
    /// (then `lo` must be `−hi`).
    pub fn new(lo: i32, hi: i32, symmetric: bool, prior: f64) -> Self {
        let n = (hi - lo + 1).max(1) as usize;
        let digest = chain((0, 0), &[lo as u64, hi as u64, u64::from(symmetric), prior.to_bits()]);
        Self { lo, hi, symmetric, prior, observed: vec![0.0; n], expected: vec![0.0; n], digest }
    }

    /// Home margins, −70..=70, symmetric.
    pub fn margins(prior: f64) -> Self {
        Self::new(-70, 70, true, prior)
    }

    /// Total points, 0..=130.
    pub fn totals(prior: f64) -> Self {
        Self::new(0, 130, false, prior)
    }

    fn index(&self, v: i32) -> Option<usize> {
        (self.lo..=self.hi).contains(&v).then(|| (v - self.lo) as usize)
    }

    /// The weight of value `v`: observed over expected occurrences, each with the prior added.
    pub fn weight(&self, v: i32) -> f64 {
        let Some(i) = self.index(v) else {
            return 1.0;
        };
        let (mut observed, mut expected) = (self.observed[i], self.expected[i]);
        if self.symmetric
            && v != 0
            && let Some(j) = self.index(-v)
        {
            observed += self.observed[j];
            expected += self.expected[j];
        }
        (observed + self.prior) / (expected + self.prior)
    }

    /// The discretised normal's mass at every value, each CDF evaluated once.
    fn normal(&self, mean: f64, sd: f64) -> impl Iterator<Item = (i32, f64)> {
        let cdf = move |x: f64| normal_cdf((x - mean) / sd);
        let mut below = cdf(f64::from(self.lo) - 0.5);
        (self.lo..=self.hi).map(move |v| {
            let upper = cdf(f64::from(v) + 0.5);
            let mass = upper - below;
            below = upper;
            (v, mass)
        })
    }

    /// The probability of every value on `lo..=hi`, summing to 1.
    pub fn pmf(&self, mean: f64, sd: f64) -> Pmf {
        let mut p: Vec<f64> = self.normal(mean, sd).map(|(v, p)| p * self.weight(v)).collect();
        let sum: f64 = p.iter().sum();
        if sum > 0.0 {
            p.iter_mut().for_each(|x| *x /= sum);
        }
        Pmf { lo: self.lo, p }
    }

    /// The normal's centre that gives the distribution the median `median`: half the mass not at
    /// `median` on each side of it (for a half-point `median`, P(X > median) = ½). A balanced
    /// line is a median, not a mean: with the mass at 3, a normal centred on 2.5 puts more than
    /// half of the margins above 2.5. The mass above grows with the centre, so the root is unique.
    /// Memoised by the distribution's state (module docs).
    pub fn centre_for_median(&self, median: f64, sd: f64) -> f64 {
        let key = (self.digest.0, self.digest.1, median.to_bits(), sd.to_bits());
        if let Some(&centre) = CENTRES.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
            return centre;
        }
        let centre = self.find_centre(median, sd);
        let mut memo = CENTRES.lock().unwrap_or_else(|e| e.into_inner());
        if memo.len() >= MAX_CENTRES {
            memo.clear();
        }
        memo.insert(key, centre);
        centre
    }

    fn find_centre(&self, median: f64, sd: f64) -> f64 {
        // P(X > median) − P(X < median) of the pmf centred on `centre`, in one pass over the
        // values with the weights looked up once per search.
        let weights: Vec<f64> = (self.lo..=self.hi).map(|v| self.weight(v)).collect();
        let balance = |centre: f64| {
            let (mut above, mut below, mut total) = (0.0, 0.0, 0.0);
            for ((v, p), w) in self.normal(centre, sd).zip(&weights) {
                let mass = p * w;
                total += mass;
                let x = f64::from(v);
                if (x - median).abs() < 1e-9 {
                    continue;
                }
                if x > median { above += mass } else { below += mass }
            }
            if total > 0.0 { (above - below) / total } else { -1.0 }
        };
        // Regula falsi (Illinois) on a bracket that widens until it holds the root: a handful of
        // evaluations instead of bisection's thirty. The key numbers move the centre by well
        // under a point, so the first bracket is ±1.
        let (mut lo, mut hi) = (median - 1.0, median + 1.0);
        let (mut f_lo, mut f_hi) = (balance(lo), balance(hi));
        while f_lo > 0.0 && lo > median - 4.0 * sd {
            lo -= 4.0;
            f_lo = balance(lo);
        }
        while f_hi < 0.0 && hi < median + 4.0 * sd {
            hi += 4.0;
            f_hi = balance(hi);
        }
        if f_lo > 0.0 || f_hi < 0.0 {
            return median;
        }
        let mut side = 0;
        for _ in 0..40 {
            let x = (lo * f_hi - hi * f_lo) / (f_hi - f_lo);
            let f = balance(x);
            if f.abs() < 1e-10 || hi - lo < 1e-9 {
                return x;
            }
            if f > 0.0 {
                (hi, f_hi) = (x, f);
                if side == 1 {
                    f_lo /= 2.0;
                }
                side = 1;
            } else {
                (lo, f_lo) = (x, f);
                if side == -1 {
                    f_hi /= 2.0;
                }
                side = -1;
            }
        }
        0.5 * (lo + hi)
    }

    /// Learn one game's value `v`, forecast at the time as Normal(`mean`, `sd`).
    pub fn observe(&mut self, mean: f64, sd: f64, v: i32) {
        self.digest = chain(self.digest, &[mean.to_bits(), sd.to_bits(), v as u64]);
        let expected: Vec<(i32, f64)> = self.normal(mean, sd).collect();
        for (value, p) in expected {
            if let Some(i) = self.index(value) {
                self.expected[i] += p;
            }
        }
        let clamped = v.clamp(self.lo, self.hi);
        if let Some(i) = self.index(clamped) {
            self.observed[i] += 1.0;
        }
    }
}

/// Probabilities of consecutive integer values from `lo`.
#[derive(Debug, Clone, PartialEq)]
pub struct Pmf {
    lo: i32,
    p: Vec<f64>,
}

impl Pmf {
    /// P(X = v).
    pub fn at(&self, v: i32) -> f64 {
        usize::try_from(v - self.lo).ok().and_then(|i| self.p.get(i)).copied().unwrap_or(0.0)
    }

    /// (P(X > t), P(X = t)): the push is non-zero only for a whole-number `t`.
    pub fn above(&self, t: f64) -> (f64, f64) {
        let (mut above, mut at) = (0.0, 0.0);
        for (i, p) in self.p.iter().enumerate() {
            let v = f64::from(self.lo + i as i32);
            if (v - t).abs() < 1e-9 {
                at += p;
            } else if v > t {
                above += p;
            }
        }
        (above, at)
    }

    /// The mirror image: the distribution of −X.
    pub fn negated(&self) -> Pmf {
        let hi = self.lo + self.p.len() as i32 - 1;
        Pmf { lo: -hi, p: self.p.iter().rev().copied().collect() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// NFL-like margins: about 15% of games are decided by exactly 3 and 9% by 7.
    fn learned() -> ScoreDistribution {
        let mut d = ScoreDistribution::margins(50.0);
        let margins = [3, -3, 7, 3, -7, 1, 10, -3, 14, 4, 6, -2, 3, 17, -10, 7, 2, -6, 3, 24];
        for _ in 0..100 {
            for (i, &m) in margins.iter().enumerate() {
                d.observe(if i % 2 == 0 { 2.5 } else { -1.0 }, 13.5, m);
            }
        }
        d
    }

    #[test]
    fn key_numbers_keep_their_mass() {
        let d = learned();
        let pmf = d.pmf(2.5, 13.5);
        for key in [3, 7, -3, -7] {
            assert!(pmf.at(key) > pmf.at(key - 1) && pmf.at(key) > pmf.at(key + 1), "key number {key}");
        }
        assert!(pmf.at(3) > 0.10, "P(3) = {}", pmf.at(3));
        let normal = ScoreDistribution::margins(50.0).pmf(2.5, 13.5);
        assert!(pmf.at(3) > 2.0 * normal.at(3));
        // Pushes at 3 are priced from the mass at 3.
        let (above, push) = pmf.above(3.0);
        assert!((push - pmf.at(3)).abs() < 1e-12 && above > 0.0);
        assert_eq!(pmf.above(3.5).1, 0.0);
    }

    #[test]
    fn a_line_is_a_median() {
        let d = learned();
        for median in [2.5, 3.0, 3.5, 7.0, -6.5] {
            let pmf = d.pmf(d.centre_for_median(median, 13.5), 13.5);
            let (above, at) = pmf.above(median);
            assert!((above - (1.0 - above - at)).abs() < 1e-6, "{median}: {above} {at}");
        }
        // With key numbers the normal centred on a line does not split the mass at it.
        let above = d.pmf(2.5, 13.5).above(2.5).0;
        let centre = d.centre_for_median(2.5, 13.5);
        assert!((above - 0.5).abs() > 0.005 && (centre - 2.5).abs() > 0.1, "{above} {centre}");
    }

    #[test]
    fn memoised_centres_are_the_root_findings_own() {
        let learned = learned();
        let fresh = ScoreDistribution::margins(50.0);
        let mut one_more = learned.clone();
        one_more.observe(2.5, 13.5, 3);
        assert_ne!(one_more.digest, learned.digest, "an observation changes the state's digest");
        for median in [2.5, 3.0, -6.5] {
            // Twice each: the first finds and memoises the centre, the second reads the memo;
            // distributions with other histories must not read each other's centres.
            for _ in 0..2 {
                for d in [&learned, &fresh, &one_more] {
                    assert_eq!(d.centre_for_median(median, 13.5), d.find_centre(median, 13.5), "{median}");
                }
            }
        }
        assert_ne!(learned.centre_for_median(3.0, 13.5), one_more.centre_for_median(3.0, 13.5));
    }

    #[test]
    fn without_data_it_is_the_discretised_normal() {
        let pmf = ScoreDistribution::margins(50.0).pmf(0.0, 13.5);
        let expected = normal_cdf(0.5 / 13.5) - normal_cdf(-0.5 / 13.5);
        assert!((pmf.at(0) - expected).abs() < 1e-6);
        assert!((pmf.at(3) - pmf.at(-3)).abs() < 1e-12);
        assert!((pmf.negated().at(5) - pmf.at(-5)).abs() < 1e-15);
    }

    proptest! {
        #[test]
        fn probabilities_sum_to_one(mean in -25.0f64..25.0, sd in 5.0f64..20.0, line in -20i32..20) {
            let d = learned();
            let pmf = d.pmf(mean, sd);
            let total: f64 = (-70..=70).map(|v| pmf.at(v)).sum();
            prop_assert!((total - 1.0).abs() < 1e-9);
            let half = f64::from(line) + 0.5;
            let (above, push) = pmf.above(half);
            let (below, _) = pmf.negated().above(-half);
            prop_assert!((above + below + push - 1.0).abs() < 1e-9);
            let (above, push) = pmf.above(f64::from(line));
            let (below, push_neg) = pmf.negated().above(-f64::from(line));
            prop_assert!((push - push_neg).abs() < 1e-12);
            prop_assert!((above + below + push - 1.0).abs() < 1e-9);
        }
    }
}
