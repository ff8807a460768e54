//! `elo`: team ratings from nflverse results, and win, spread and total probabilities.
//!
//! Ratings follow FiveThirtyEight's published NFL Elo (parameters fixed a priori, not tuned on the
//! replay data, so every season is out of sample for them):
//!
//! - expected score of the home side `E = 1 / (1 + 10^(−d/400))`, with
//!   `d = R_home − R_away + HFA` (HFA = 48 Elo points; none at neutral sites);
//! - after the game, `R ± K · M · (S − E)` with K = 20, S ∈ {1, ½, 0} and the margin-of-victory
//!   multiplier `M = ln(|margin| + 1) · 2.2 / (0.001 · d_winner + 2.2)` (damps the autocorrelation
//!   of favourites winning big);
//! - between seasons every rating regresses a third of the way to the mean (1505), because rosters
//!   turn over;
//! - relocated franchises keep their rating (OAK→LV, SD→LAC, STL→LA).
//!
//! Spreads and totals need a distribution, not a win probability. The home margin is modelled as
//! `M ~ Normal(β·d, σ)`, discretised to whole points (`P(M = m) = Φ((m + ½ − μ)/σ) − Φ((m − ½ − μ)/σ)`)
//! so that whole-number lines get an explicit push probability. β and σ are fitted walk-forward by
//! least squares on every game already observed (starting from the priors β = 1/25, σ = 13.5). The
//! total uses exponentially weighted team attack/defence ratings (points scored/allowed above the
//! league average) and the same discretised normal with a walk-forward σ. A normal ignores key
//! numbers (3, 7): honest, simple, and a known limitation.
//!
//! The moneyline probability is Elo's `E`; NFL ties (≈0.2%) are left out, so it is read as the
//! probability of winning given no tie, which is also how a two-way moneyline settles.

use super::games::Game;
use super::market::{BookPrice, FairPrice, Market, Selection};
use super::pricing_model::{Fixture, ModelError, PricingModel, line_for, pair_key};
use std::collections::{BTreeSet, HashMap};

pub const ELO_VERSION: &str = "1.0.0";

/// Elo parameters (defaults: FiveThirtyEight's NFL model).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EloParams {
    pub k: f64,
    pub home_field: f64,
    pub mean: f64,
    /// Share of the distance to the mean removed between seasons.
    pub regress: f64,
    /// Prior slope of expected margin per Elo point (1/25: 25 Elo points ≈ 1 point of spread).
    pub margin_per_elo: f64,
    /// Prior standard deviation of the home margin around its expectation.
    pub margin_sd: f64,
    /// Weight of the priors in the walk-forward fits, in games.
    pub prior_games: f64,
    /// Learning rate of the attack/defence ratings used for totals.
    pub total_rate: f64,
    /// Prior league-average points per team.
    pub points_per_team: f64,
    /// Prior standard deviation of the total around its expectation.
    pub total_sd: f64,
}

impl Default for EloParams {
    fn default() -> Self {
        Self {
            k: 20.0,
            home_field: 48.0,
            mean: 1505.0,
            regress: 1.0 / 3.0,
            margin_per_elo: 1.0 / 25.0,
            margin_sd: 13.5,
            prior_games: 50.0,
            total_rate: 0.08,
            points_per_team: 21.5,
            total_sd: 13.5,
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Scoring {
    attack: f64,
    defence: f64,
}

/// The walk-forward Elo model.
#[derive(Debug, Clone)]
pub struct Elo {
    params: EloParams,
    ratings: HashMap<String, f64>,
    scoring: HashMap<String, Scoring>,
    season: Option<u16>,
    league_points: f64,
    // Σ d·m, Σ d², for the margin slope; Σ residual² and n for σ.
    sum_dm: f64,
    sum_dd: f64,
    sum_margin_residual_sq: f64,
    sum_total_residual_sq: f64,
    games: f64,
}

impl Default for Elo {
    fn default() -> Self {
        Self::new(EloParams::default())
    }
}

/// Current franchise code for an nflverse team code (relocations keep their history).
pub fn franchise(team: &str) -> &str {
    match team {
        "OAK" => "LV",
        "SD" => "LAC",
        "STL" => "LA",
        other => other,
    }
}

impl Elo {
    pub fn new(params: EloParams) -> Self {
        Self {
            params,
            ratings: HashMap::new(),
            scoring: HashMap::new(),
            season: None,
            league_points: params.points_per_team,
            sum_dm: 0.0,
            sum_dd: 0.0,
            sum_margin_residual_sq: 0.0,
            sum_total_residual_sq: 0.0,
            games: 0.0,
        }
    }

    /// Rating of `team` as it stands for a game in `season` (regressed if the season is new).
    pub fn rating(&self, team: &str, season: u16) -> f64 {
        let r = self.ratings.get(franchise(team)).copied().unwrap_or(self.params.mean);
        if self.season.is_some_and(|s| season > s) {
            r + (self.params.mean - r) * self.params.regress
        } else {
            r
        }
    }

    fn scoring(&self, team: &str, season: u16) -> Scoring {
        let s = self.scoring.get(franchise(team)).copied().unwrap_or_default();
        if self.season.is_some_and(|current| season > current) {
            let keep = 1.0 - self.params.regress;
            Scoring { attack: s.attack * keep, defence: s.defence * keep }
        } else {
            s
        }
    }

    /// Elo difference in favour of the home side, home field included.
    pub fn home_edge(&self, fixture: &Fixture) -> f64 {
        let hfa = if fixture.neutral { 0.0 } else { self.params.home_field };
        self.rating(&fixture.home_team, fixture.season) - self.rating(&fixture.away_team, fixture.season)
            + hfa
    }

    /// Probability the home side wins (given no tie).
    pub fn home_win_probability(&self, fixture: &Fixture) -> f64 {
        expected_score(self.home_edge(fixture))
    }

    /// Current slope of expected home margin per Elo point.
    pub fn margin_slope(&self) -> f64 {
        let w = self.params.prior_games * 400.0 * 400.0 / 4.0; // prior Σd², d ≈ 200 typical
        (self.sum_dm + self.params.margin_per_elo * w) / (self.sum_dd + w)
    }

    /// Current standard deviation of the home margin around its expectation.
    pub fn margin_sd(&self) -> f64 {
        let w = self.params.prior_games;
        ((self.sum_margin_residual_sq + w * self.params.margin_sd.powi(2)) / (self.games + w)).sqrt()
    }

    fn total_sd(&self) -> f64 {
        let w = self.params.prior_games;
        ((self.sum_total_residual_sq + w * self.params.total_sd.powi(2)) / (self.games + w)).sqrt()
    }

    /// Expected points of (home, away).
    pub fn expected_points(&self, fixture: &Fixture) -> (f64, f64) {
        let home = self.scoring(&fixture.home_team, fixture.season);
        let away = self.scoring(&fixture.away_team, fixture.season);
        (self.league_points + home.attack + away.defence, self.league_points + away.attack + home.defence)
    }

    /// Win and push probabilities of a selection at a line, from the discretised normal models.
    fn cover(&self, fixture: &Fixture, market: Market, selection: Selection, line: f64) -> (f64, f64) {
        match market {
            Market::Spread => {
                let mean = self.margin_slope() * self.home_edge(fixture);
                let sd = self.margin_sd();
                // Selection's margin + line > 0 wins; the away margin is −M.
                let (mean, threshold) = match selection {
                    Selection::Away => (-mean, -line),
                    _ => (mean, -line),
                };
                discrete_above(mean, sd, threshold)
            }
            Market::Total => {
                let (h, a) = self.expected_points(fixture);
                let (win_over, push) = discrete_above(h + a, self.total_sd(), line);
                match selection {
                    Selection::Under => ((1.0 - win_over - push).max(0.0), push),
                    _ => (win_over, push),
                }
            }
            Market::Moneyline => unreachable!("moneyline has no line"),
        }
    }

    fn start_season(&mut self, season: u16) {
        if self.season.is_some_and(|s| season > s) {
            let (mean, regress) = (self.params.mean, self.params.regress);
            for r in self.ratings.values_mut() {
                *r += (mean - *r) * regress;
            }
            for s in self.scoring.values_mut() {
                s.attack *= 1.0 - regress;
                s.defence *= 1.0 - regress;
            }
        }
        if self.season.is_none_or(|s| season > s) {
            self.season = Some(season);
        }
    }
}

/// Elo's logistic expected score.
pub fn expected_score(elo_difference: f64) -> f64 {
    1.0 / (1.0 + 10f64.powf(-elo_difference / 400.0))
}

/// For an integer-valued X ≈ Normal(mean, sd): (P(X > t), P(X = t)) — the push is non-zero only
/// for a whole-number `t`.
pub fn discrete_above(mean: f64, sd: f64, t: f64) -> (f64, f64) {
    let cdf = |x: f64| normal_cdf((x - mean) / sd);
    if (t - t.round()).abs() < 1e-9 {
        let t = t.round();
        (1.0 - cdf(t + 0.5), cdf(t + 0.5) - cdf(t - 0.5))
    } else {
        // X > t ⟺ X ≥ ⌈t⌉.
        (1.0 - cdf(t.ceil() - 0.5), 0.0)
    }
}

/// Standard normal CDF via erfc (Numerical Recipes' Chebyshev fit, relative error < 1.2e-7).
pub fn normal_cdf(z: f64) -> f64 {
    0.5 * erfc(-z / std::f64::consts::SQRT_2)
}

fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.26551223
        + t * (1.00002368
            + t * (0.37409196
                + t * (0.09678418
                    + t * (-0.18628806
                        + t * (0.27886807
                            + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
    let r = t * poly.exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

impl PricingModel for Elo {
    fn name(&self) -> &str {
        "elo"
    }

    fn version(&self) -> &str {
        ELO_VERSION
    }

    fn price(&self, fixture: &Fixture, quotes: &[BookPrice]) -> Result<Vec<FairPrice>, ModelError> {
        let mut fair = Vec::new();
        let p_home = self.home_win_probability(fixture);
        if quotes.iter().any(|q| q.market == Market::Moneyline) {
            fair.push(FairPrice {
                market: Market::Moneyline,
                selection: Selection::Home,
                line: None,
                win: p_home,
                push: 0.0,
            });
            fair.push(FairPrice {
                market: Market::Moneyline,
                selection: Selection::Away,
                line: None,
                win: 1.0 - p_home,
                push: 0.0,
            });
        }
        let lines: BTreeSet<(Market, i64)> = quotes
            .iter()
            .filter(|q| q.market != Market::Moneyline && q.market.selections().contains(&q.selection))
            .filter_map(|q| Some((q.market, pair_key(q)?)))
            .collect();
        for (market, key) in lines {
            for selection in market.selections() {
                let Some(line) = line_for(market, selection, Some(key)) else {
                    continue;
                };
                let (win, push) = self.cover(fixture, market, selection, line);
                fair.push(FairPrice { market, selection, line: Some(line), win, push });
            }
        }
        Ok(fair)
    }

    fn observe(&mut self, game: &Game) {
        let Some((home_score, away_score)) = game.score() else {
            return;
        };
        self.start_season(game.season);
        let fixture = game.fixture();
        let d = self.home_edge(&fixture);
        let margin = f64::from(home_score) - f64::from(away_score);

        // Margin model fit (before the update, so it uses the pre-game edge).
        let predicted = self.margin_slope() * d;
        self.sum_dm += d * margin;
        self.sum_dd += d * d;
        self.sum_margin_residual_sq += (margin - predicted).powi(2);
        let (exp_home, exp_away) = self.expected_points(&fixture);
        let total = f64::from(home_score) + f64::from(away_score);
        self.sum_total_residual_sq += (total - exp_home - exp_away).powi(2);
        self.games += 1.0;

        // Elo update with the margin-of-victory multiplier.
        let expected = expected_score(d);
        let actual = if margin > 0.0 {
            1.0
        } else if margin < 0.0 {
            0.0
        } else {
            0.5
        };
        let winner_edge = if margin >= 0.0 { d } else { -d };
        let multiplier =
            if margin == 0.0 { 1.0 } else { (margin.abs() + 1.0).ln() * 2.2 / (0.001 * winner_edge + 2.2) };
        let shift = self.params.k * multiplier * (actual - expected);
        let mean = self.params.mean;
        *self.ratings.entry(franchise(&game.home_team).to_string()).or_insert(mean) += shift;
        *self.ratings.entry(franchise(&game.away_team).to_string()).or_insert(mean) -= shift;

        // Attack/defence ratings for totals.
        let rate = self.params.total_rate;
        let (home_err, away_err) = (f64::from(home_score) - exp_home, f64::from(away_score) - exp_away);
        let home = self.scoring.entry(franchise(&game.home_team).to_string()).or_default();
        home.attack += rate * home_err;
        home.defence += rate * away_err;
        let away = self.scoring.entry(franchise(&game.away_team).to_string()).or_default();
        away.attack += rate * away_err;
        away.defence += rate * home_err;
        self.league_points += 0.2 * rate * (home_err + away_err) / 2.0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn game(season: u16, home: &str, away: &str, hs: u32, as_: u32) -> Game {
        Game::played(NaiveDate::from_ymd_opt(i32::from(season), 9, 10).unwrap(), home, away, hs, as_)
    }

    #[test]
    fn normal_cdf_is_accurate() {
        assert!((normal_cdf(0.0) - 0.5).abs() < 1e-7);
        assert!((normal_cdf(1.959964) - 0.975).abs() < 1e-6);
        assert!((normal_cdf(-1.0) - 0.158655254).abs() < 1e-6);
    }

    #[test]
    fn home_field_and_updates() {
        let mut elo = Elo::default();
        let g = game(2020, "KC", "LV", 31, 10);
        let p0 = elo.home_win_probability(&g.fixture());
        assert!((p0 - expected_score(48.0)).abs() < 1e-12 && p0 > 0.5);
        elo.observe(&g);
        assert!(elo.rating("KC", 2020) > 1505.0);
        // OAK is LV's history.
        assert_eq!(elo.rating("OAK", 2020), elo.rating("LV", 2020));
        let sum = elo.rating("KC", 2020) + elo.rating("LV", 2020);
        assert!((sum - 3010.0).abs() < 1e-9, "Elo is zero-sum");
        // Regression to the mean at the next season.
        let kc = elo.rating("KC", 2020);
        assert!((elo.rating("KC", 2021) - (kc - (kc - 1505.0) / 3.0)).abs() < 1e-9);
    }

    #[test]
    fn spread_and_total_probabilities_are_coherent() {
        let elo = Elo::default();
        let f = game(2020, "KC", "LV", 0, 0).fixture();
        let q =
            |market, selection, line| BookPrice { book: "x".into(), market, selection, line, american: -110 };
        let quotes = vec![
            q(Market::Spread, Selection::Home, Some(-3.0)),
            q(Market::Spread, Selection::Away, Some(3.0)),
            q(Market::Total, Selection::Over, Some(43.0)),
            q(Market::Total, Selection::Over, Some(43.5)),
        ];
        let fair = elo.price(&f, &quotes).unwrap();
        assert_eq!(fair.len(), 6);
        let home = fair.iter().find(|p| p.selection == Selection::Home).unwrap();
        let away = fair.iter().find(|p| p.selection == Selection::Away).unwrap();
        assert!(home.push > 0.0 && (home.push - away.push).abs() < 1e-12);
        assert!((home.win + away.win + home.push - 1.0).abs() < 1e-9);
        for p in fair.iter().filter(|p| p.market == Market::Total) {
            assert!(p.win > 0.0 && p.win < 1.0);
        }
        let over_half = fair.iter().find(|p| p.line == Some(43.5) && p.selection == Selection::Over).unwrap();
        assert_eq!(over_half.push, 0.0);
    }
}
