//! `elo`: team ratings from nflverse results, and win, spread and total probabilities.
//!
//! Ratings follow FiveThirtyEight's published NFL Elo, with a quarterback change and rest added
//! (their two parameters and the season regression chosen on 2001-2005 only, never on the
//! 2006-2025 seasons the model is scored on; docs/models.md):
//!
//! - expected score of the home side `E = 1 / (1 + 10^(−d/400))`, with
//!   `d = R_home − R_away + HFA + rest + QB` (HFA = 48 Elo points; none at neutral sites);
//! - rest: `restDayValue` (3) Elo points per day of rest more than the opponent, at most 7 days
//!   counted (a bye week against a Thursday game);
//! - quarterback change: a side whose starting QB is not its usual starter loses
//!   `quarterbackChangePenalty` (70) points. The usual starter is the QB with the most starts for
//!   the franchise, each earlier start weighing 0.9 times the next (a backup replacing a long-time
//!   starter becomes the usual one after seven starts in a row); learned walk-forward from the
//!   games already observed;
//! - after the game, `R ± K · M · (S − E)` with K = 20, S ∈ {1, ½, 0} and the margin-of-victory
//!   multiplier `M = ln(|margin| + 1) · 2.2 / (0.001 · d_winner + 2.2)` (damps the autocorrelation
//!   of favourites winning big);
//! - between seasons every rating regresses half way to the mean (1505), because rosters turn over
//!   (FiveThirtyEight: a third);
//! - relocated franchises keep their rating (OAK→LV, SD→LAC, STL→LA).
//!
//! Spreads and totals need a distribution, not a win probability. Elo's own expected home margin
//! is `β·d` with spread σ, both fitted walk-forward by least squares on every game already observed
//! (priors β = 1/25, σ = 13.5); its own expected total comes from exponentially weighted team
//! attack/defence ratings (points scored/allowed above the league average), σ walk-forward. Each
//! distribution is a discretised normal reweighted by the key numbers learned walk-forward
//! ([`ScoreDistribution`]: the mass at 3, 7, 10 and 14 is what the games so far had, not what a
//! normal says), so a whole-number line's push is the mass at the line. With `anchor_to_market`
//! (the default) it is centred so that the market's line (the median of the quoted lines) is its
//! median, moved toward Elo's own number by the share of Elo's disagreement with the closing line
//! that the games observed show to come true beyond their noise ([`Anchor`]: the slope's 95% lower
//! bound, 0 until then); without, on Elo's own number, which is worse than a coin flip at the
//! closing line (docs/models.md).
//!
//! The moneyline probability is, anchored and with a spread quoted, read off the same margin
//! distribution (`P(margin > 0) / (1 − P(margin = 0))`), so the three markets agree; otherwise
//! Elo's `E`. NFL ties (≈0.2%) are left out, so it is the probability of winning given no tie,
//! which is also how a two-way moneyline settles.

use super::consensus::median;
use super::games::Game;
use super::market::{BookPrice, FairPrice, Market, Selection};
use super::pricing_model::{Fixture, ModelError, PricingModel, line_for, pair_key};
use super::score_distribution::{Pmf, ScoreDistribution};
use std::collections::{BTreeSet, HashMap};

pub const ELO_VERSION: &str = "2.2.0";

/// How much each earlier start counts, against the next, in deciding a team's usual starter.
const STARTER_MEMORY: f64 = 0.9;
/// Rest differences beyond this many days count as this many.
const MAX_REST_DAYS: f64 = 7.0;

/// Elo parameters (defaults: FiveThirtyEight's NFL model, plus rest and quarterback changes).
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
    /// Elo points lost by a side whose starting quarterback is not its usual starter.
    pub qb_change_penalty: f64,
    /// Elo points per day of rest more than the opponent (at most 7 days counted).
    pub rest_day_value: f64,
    /// Centre spreads and totals on the market's line, moved toward Elo's own number by the
    /// share of its disagreement that has come true (learned walk-forward); off: Elo's number.
    pub anchor_to_market: bool,
}

impl Default for EloParams {
    fn default() -> Self {
        Self {
            k: 20.0,
            home_field: 48.0,
            mean: 1505.0,
            regress: 0.5,
            margin_per_elo: 1.0 / 25.0,
            margin_sd: 13.5,
            prior_games: 50.0,
            total_rate: 0.08,
            points_per_team: 21.5,
            total_sd: 13.5,
            qb_change_penalty: 70.0,
            rest_day_value: 3.0,
            anchor_to_market: true,
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
    /// Per franchise, each quarterback's decayed count of starts.
    starters: HashMap<String, HashMap<String, f64>>,
    margins: ScoreDistribution,
    totals: ScoreDistribution,
    spread_anchor: Anchor,
    total_anchor: Anchor,
}

/// How much of a model's disagreement with the market's number to believe: the least-squares
/// slope of `(actual − line)` on `(model − line)` over the games observed (the share of the
/// disagreement that came true), taken at its one-sided 95% lower confidence bound and never
/// below 0 (the market's number). A model earns a share only once the games show, beyond their
/// noise, that its disagreement comes true; until then it prices at the market's number. The
/// same rule for spreads and totals, with nothing chosen on the scored seasons (2.1.0 shrank
/// the slope by priors of 500 and 50,000 games picked on 2006-2015: docs/models.md).
#[derive(Debug, Clone, Copy, Default)]
struct Anchor {
    n: f64,
    sum_xy: f64,
    sum_xx: f64,
    sum_yy: f64,
}

impl Anchor {
    /// One-sided 95% normal quantile.
    const Z: f64 = 1.645;

    fn share(&self) -> f64 {
        if self.n < 3.0 || self.sum_xx <= 0.0 {
            return 0.0;
        }
        let slope = self.sum_xy / self.sum_xx;
        // Residual variance of the fit through the origin, and the slope's standard error.
        let residual = ((self.sum_yy - slope * self.sum_xy) / (self.n - 1.0)).max(0.0);
        let se = (residual / self.sum_xx).sqrt();
        (slope - Self::Z * se).clamp(0.0, 1.0)
    }

    fn observe(&mut self, model: f64, line: f64, actual: f64) {
        let (x, y) = (model - line, actual - line);
        self.n += 1.0;
        self.sum_xy += x * y;
        self.sum_xx += x * x;
        self.sum_yy += y * y;
    }
}

/// The market's number for a spread (the home margin the median home line implies) or a total
/// (the median total line) among `quotes`.
pub fn market_number(market: Market, quotes: &[BookPrice]) -> Option<f64> {
    let mut lines: Vec<f64> = quotes
        .iter()
        .filter(|q| q.market == market && market.selections().contains(&q.selection))
        .filter_map(|q| Some(pair_key(q)? as f64 / 10.0))
        .map(|l| if market == Market::Spread { -l } else { l })
        .collect();
    median(&mut lines)
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
            starters: HashMap::new(),
            margins: ScoreDistribution::margins(params.prior_games),
            totals: ScoreDistribution::totals(params.prior_games),
            spread_anchor: Anchor::default(),
            total_anchor: Anchor::default(),
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

    /// Elo difference in favour of the home side: ratings, home field, rest and quarterback
    /// changes.
    pub fn home_edge(&self, fixture: &Fixture) -> f64 {
        let hfa = if fixture.neutral { 0.0 } else { self.params.home_field };
        let pre = &fixture.pre_game;
        let rest = match (pre.home_rest, pre.away_rest) {
            (Some(h), Some(a)) => {
                (f64::from(h) - f64::from(a)).clamp(-MAX_REST_DAYS, MAX_REST_DAYS)
                    * self.params.rest_day_value
            }
            _ => 0.0,
        };
        let qb = self.qb_change(&fixture.away_team, pre.away_qb.as_deref())
            - self.qb_change(&fixture.home_team, pre.home_qb.as_deref());
        self.rating(&fixture.home_team, fixture.season) - self.rating(&fixture.away_team, fixture.season)
            + hfa
            + rest
            + qb
    }

    /// The team's usual starting quarterback so far: the most (decayed) starts.
    pub fn usual_starter(&self, team: &str) -> Option<&str> {
        self.starters
            .get(franchise(team))?
            .iter()
            .max_by(|a, b| a.1.total_cmp(b.1).then_with(|| b.0.cmp(a.0)))
            .map(|(qb, _)| qb.as_str())
    }

    /// The penalty for `team` starting `qb`: none when either is unknown or `qb` is the usual one.
    fn qb_change(&self, team: &str, qb: Option<&str>) -> f64 {
        match (qb, self.usual_starter(team)) {
            (Some(qb), Some(usual)) if qb != usual => self.params.qb_change_penalty,
            _ => 0.0,
        }
    }

    fn learn_starter(&mut self, team: &str, qb: Option<&str>) {
        let Some(qb) = qb else {
            return;
        };
        let starts = self.starters.entry(franchise(team).to_string()).or_default();
        starts.values_mut().for_each(|w| *w *= STARTER_MEMORY);
        *starts.entry(qb.to_string()).or_default() += 1.0;
    }

    /// Probability the home side wins (given no tie).
    pub fn home_win_probability(&self, fixture: &Fixture) -> f64 {
        expected_score(self.home_edge(fixture))
    }

    /// The moneyline's home probability (given no tie). Anchored, with a market number for the
    /// spread, it is read off the same margin distribution the spreads are priced from (the
    /// market's line its median, moved by the share Elo has earned), so the three markets agree;
    /// otherwise Elo's own `E`.
    pub fn moneyline_home(&self, fixture: &Fixture, spread: Option<f64>) -> f64 {
        match spread.filter(|_| self.params.anchor_to_market) {
            Some(line) => {
                let (win, tie) = self.margin_pmf(fixture, Some(line)).above(0.0);
                win / (1.0 - tie)
            }
            None => self.home_win_probability(fixture),
        }
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

    /// Elo's own expected home margin.
    pub fn expected_margin(&self, fixture: &Fixture) -> f64 {
        self.margin_slope() * self.home_edge(fixture)
    }

    /// The distribution of the home margin. Its normal is centred on Elo's expected margin or,
    /// with `anchor_to_market` and a market number (the home margin the line implies), where it
    /// makes the market's line the median (a balanced line is a median, not a mean), moved
    /// toward Elo's expectation by the share of its disagreement that has come true so far.
    pub fn margin_pmf(&self, fixture: &Fixture, market: Option<f64>) -> Pmf {
        self.margins.pmf(self.margin_centre(fixture, market), self.margin_sd())
    }

    /// The distribution of the total points, as [`Elo::margin_pmf`] with the market's total.
    pub fn total_pmf(&self, fixture: &Fixture, market: Option<f64>) -> Pmf {
        self.totals.pmf(self.total_centre(fixture, market), self.total_sd())
    }

    /// The centre of the margin's normal: anchored, where it makes the market's line the median
    /// (a balanced line is a median, not a mean), moved toward Elo's own expected margin by the
    /// share of its disagreement that has come true so far; otherwise Elo's expected margin.
    fn margin_centre(&self, fixture: &Fixture, market: Option<f64>) -> f64 {
        let own = self.expected_margin(fixture);
        match market.filter(|_| self.params.anchor_to_market) {
            Some(line) => {
                self.margins.centre_for_median(line, self.margin_sd())
                    + self.spread_anchor.share() * (own - line)
            }
            None => own,
        }
    }

    fn total_centre(&self, fixture: &Fixture, market: Option<f64>) -> f64 {
        let (h, a) = self.expected_points(fixture);
        match market.filter(|_| self.params.anchor_to_market) {
            Some(line) => {
                self.totals.centre_for_median(line, self.total_sd())
                    + self.total_anchor.share() * (h + a - line)
            }
            None => h + a,
        }
    }

    /// Win and push probabilities of a selection at a line, from the margin or total distribution.
    fn cover(pmf: &Pmf, selection: Selection, line: f64) -> (f64, f64) {
        match selection {
            // Home margin + line > 0 wins; the away margin is −M.
            Selection::Home => pmf.above(-line),
            Selection::Away => pmf.negated().above(-line),
            Selection::Over => pmf.above(line),
            Selection::Under => pmf.negated().above(-line),
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
        let p_home = self.moneyline_home(fixture, market_number(Market::Spread, quotes));
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
        let mut pmfs: HashMap<Market, Pmf> = HashMap::new();
        for (market, key) in lines {
            let pmf = pmfs.entry(market).or_insert_with(|| match market {
                Market::Total => self.total_pmf(fixture, market_number(Market::Total, quotes)),
                _ => self.margin_pmf(fixture, market_number(Market::Spread, quotes)),
            });
            for selection in market.selections() {
                let Some(line) = line_for(market, selection, Some(key)) else {
                    continue;
                };
                let (win, push) = Self::cover(pmf, selection, line);
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
        let (exp_home, exp_away) = self.expected_points(&fixture);
        let total = f64::from(home_score) + f64::from(away_score);
        // Key numbers: each value's count against what the normal this game was priced with
        // (centred where it makes the closing line its median, moved by the share earned, when
        // anchored; on Elo's own number otherwise) expected, and the share of Elo's disagreement with the closing
        // line that came true. The centres are root-found once per distribution state and then
        // memoised (score_distribution), so relearning every game in each run stays cheap.
        let (spread_line, total_line) = (game.spread_line, game.total_line);
        let margin_centre = self.margin_centre(&fixture, spread_line);
        let total_centre = self.total_centre(&fixture, total_line);
        self.margins.observe(margin_centre, self.margin_sd(), home_score as i32 - away_score as i32);
        self.totals.observe(total_centre, self.total_sd(), (home_score + away_score) as i32);
        if let Some(line) = spread_line {
            self.spread_anchor.observe(predicted, line, margin);
        }
        if let Some(line) = total_line {
            self.total_anchor.observe(exp_home + exp_away, line, total);
        }
        self.sum_dm += d * margin;
        self.sum_dd += d * d;
        self.sum_margin_residual_sq += (margin - predicted).powi(2);
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

        // Starters, after the game's own forecast quantities were used.
        self.learn_starter(&game.home_team, game.pre_game.home_qb.as_deref());
        self.learn_starter(&game.away_team, game.pre_game.away_qb.as_deref());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::games::PreGame;
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
        assert!((elo.rating("KC", 2021) - (kc - (kc - 1505.0) / 2.0)).abs() < 1e-9);
    }

    #[test]
    fn rest_and_quarterback_changes_move_the_edge() {
        let mut elo = Elo::default();
        let with = |home_rest, away_rest, home_qb: Option<&str>| {
            let mut g = game(2020, "KC", "LV", 0, 0);
            g.pre_game = PreGame {
                home_rest,
                away_rest,
                home_qb: home_qb.map(str::to_string),
                away_qb: Some("lv-1".into()),
            };
            g.fixture()
        };
        let base = elo.home_edge(&with(None, None, Some("kc-1")));
        // A bye (14 days) against a Thursday game (4 days) counts as 7 days.
        assert!((elo.home_edge(&with(Some(14), Some(4), Some("kc-1"))) - base - 21.0).abs() < 1e-9);
        assert!((elo.home_edge(&with(Some(6), Some(7), Some("kc-1"))) - base + 3.0).abs() < 1e-9);
        // No usual starter yet: no penalty. After three starts by kc-1, a backup costs 70.
        assert_eq!(elo.home_edge(&with(None, None, Some("kc-2"))), base);
        for day in 1..=3 {
            let mut g = game(2020, "KC", "LV", 20, 17);
            g.gameday = NaiveDate::from_ymd_opt(2020, 9, day).unwrap();
            g.pre_game.home_qb = Some("kc-1".into());
            elo.observe(&g);
        }
        assert_eq!(elo.usual_starter("KC"), Some("kc-1"));
        let usual = elo.home_edge(&with(None, None, Some("kc-1")));
        assert!((elo.home_edge(&with(None, None, Some("kc-2"))) - (usual - 70.0)).abs() < 1e-9);
        assert_eq!(elo.home_edge(&with(None, None, None)), usual, "an unknown starter is no change");
        // The backup becomes the usual starter after three starts: kc-1's 1 + 0.9 + 0.81 = 2.71
        // decays to 2.71·0.9³ = 1.98 while kc-2 reaches 2.71.
        for _ in 0..3 {
            let mut g = game(2020, "KC", "LV", 20, 17);
            g.pre_game.home_qb = Some("kc-2".into());
            elo.observe(&g);
        }
        assert_eq!(elo.usual_starter("KC"), Some("kc-2"));
    }

    proptest::proptest! {
        /// No look-ahead: a game's forecast, built from the results known at its kickoff, is the
        /// same with its own result removed or changed.
        #[test]
        fn a_games_own_result_never_changes_its_forecast(
            scores in proptest::collection::vec((0u32..45, 0u32..45, 0u8..4, 0u8..48), 30..60),
            pick in 0usize..30,
            other in (0u32..60, 0u32..60),
        ) {
            let teams = ["KC", "LV", "BUF", "MIA", "DEN", "LAC"];
            let games: Vec<Game> = scores
                .iter()
                .enumerate()
                .map(|(i, &(hs, as_, qb, hours))| {
                    let mut g = game(2020, teams[i % 6], teams[(i + 1 + i / 6) % 6], hs, as_);
                    g.game_id = format!("g{i}");
                    g.kickoff = g.kickoff.map(|k| k + chrono::Duration::hours(i64::from(hours) + 6 * i as i64));
                    g.pre_game.home_qb = Some(format!("{}-{qb}", g.home_team));
                    g
                })
                .collect();
            let target = &games[pick];
            let quotes = [
                BookPrice { book: "x".into(), market: Market::Moneyline, selection: Selection::Home, line: None, american: -120 },
                BookPrice { book: "x".into(), market: Market::Spread, selection: Selection::Home, line: Some(-3.0), american: -110 },
                BookPrice { book: "x".into(), market: Market::Total, selection: Selection::Over, line: Some(44.0), american: -110 },
            ];
            let forecast = |games: &[Game]| {
                let at = target.forecast_deadline();
                let mut known: Vec<&Game> = games.iter().filter(|g| g.result_known_by(at)).collect();
                known.sort_by_key(|g| (g.result_known_at(), g.game_id.clone()));
                let mut elo = Elo::default();
                known.iter().for_each(|g| elo.observe(g));
                elo.price(&target.fixture(), &quotes).unwrap()
            };
            let before = forecast(&games);
            let mut removed = games.clone();
            removed[pick].home_score = None;
            removed[pick].away_score = None;
            proptest::prop_assert_eq!(&forecast(&removed), &before);
            let mut changed = games.clone();
            changed[pick].home_score = Some(other.0);
            changed[pick].away_score = Some(other.1);
            proptest::prop_assert_eq!(&forecast(&changed), &before);
        }
    }

    #[test]
    fn anchored_spreads_split_at_the_market_line_until_elo_earns_a_share() {
        let q = |selection, line| BookPrice {
            book: "x".into(),
            market: Market::Spread,
            selection,
            line: Some(line),
            american: -110,
        };
        let quotes = [q(Selection::Home, -3.0), q(Selection::Away, 3.0)];
        assert_eq!(market_number(Market::Spread, &quotes), Some(3.0));
        let mut elo = Elo::default();
        // KC far stronger than LV: Elo's own margin is well above the market's 3.
        for day in 1..=20 {
            let mut g = game(2020, "KC", "LV", 38, 10);
            g.gameday = NaiveDate::from_ymd_opt(2020, 9, day).unwrap();
            g.spread_line = Some(3.0);
            elo.observe(&g);
        }
        let f = game(2020, "KC", "LV", 0, 0).fixture();
        assert!(elo.expected_margin(&f) > 5.0);
        let cover = |elo: &Elo| {
            let fair = elo.price(&f, &quotes).unwrap();
            let home = fair.iter().find(|p| p.selection == Selection::Home).unwrap();
            home.win / (1.0 - home.push)
        };
        // KC beat a 3-point line by 28 twenty times: Elo's disagreement earned a share, so the
        // anchored forecast leans to KC but less than Elo's own centre does.
        let anchored = cover(&elo);
        let own = cover(&Elo { params: EloParams { anchor_to_market: false, ..elo.params }, ..elo.clone() });
        assert!(anchored > 0.5 && own > anchored, "anchored {anchored}, own {own}");
        // Without any game observed the share is 0: the line splits the non-push mass in half.
        let fresh = cover(&Elo::default());
        assert!((fresh - 0.5).abs() < 1e-6, "{fresh}");
    }

    #[test]
    fn the_anchored_moneyline_is_read_off_the_margin_distribution() {
        let q = |market, selection, line, american| BookPrice {
            book: "x".into(),
            market,
            selection,
            line,
            american,
        };
        let moneyline = [
            q(Market::Moneyline, Selection::Home, None, -150),
            q(Market::Moneyline, Selection::Away, None, 130),
        ];
        let home_win = |elo: &Elo, quotes: &[BookPrice]| {
            let fair = elo.price(&game(2020, "KC", "LV", 0, 0).fixture(), quotes).unwrap();
            let home = fair
                .iter()
                .find(|p| p.market == Market::Moneyline && p.selection == Selection::Home)
                .unwrap();
            let away = fair
                .iter()
                .find(|p| p.market == Market::Moneyline && p.selection == Selection::Away)
                .unwrap();
            assert!((home.win + away.win - 1.0).abs() < 1e-12 && home.push == 0.0);
            home.win
        };
        let mut elo = Elo::default();
        // Equal ratings: Elo's own number is home field alone.
        let own = home_win(&elo, &moneyline);
        assert!((own - expected_score(48.0)).abs() < 1e-12, "{own}");
        // The market makes KC a 7-point favourite at home: the moneyline follows the spread's
        // distribution (about 0.75 with the key number at 7), not Elo's 0.57.
        let with_spread: Vec<BookPrice> = moneyline
            .iter()
            .cloned()
            .chain([
                q(Market::Spread, Selection::Home, Some(-7.0), -110),
                q(Market::Spread, Selection::Away, Some(7.0), -110),
            ])
            .collect();
        let anchored = home_win(&elo, &with_spread);
        let f = game(2020, "KC", "LV", 0, 0).fixture();
        let (win, tie) = elo.margin_pmf(&f, Some(7.0)).above(0.0);
        assert!((anchored - win / (1.0 - tie)).abs() < 1e-12);
        assert!(anchored > 0.7 && anchored < 0.85, "{anchored}");
        // Unanchored, the spread quotes change nothing: Elo's own number.
        elo.params.anchor_to_market = false;
        assert!((home_win(&elo, &with_spread) - own).abs() < 1e-12);
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
