//! The model workload's settings, parsed and checked once at start: `nflbet model` flags in,
//! typed configuration out. Tests build a [`ModelConfig`] with [`ModelConfig::from_args`] on
//! hand-made [`ModelArgs`] and adjust fields directly.

use super::args::ModelArgs;
use super::error::ConfigError;
use crate::domain::duration::{format_duration, parse_duration};
use crate::domain::elo::EloParams;
use crate::domain::kelly::KellyPolicy;
use crate::domain::margin::MarginMethod;
use crate::domain::market::Market;
use crate::egress::Egress;
use crate::feed::snapshot::{S3Options, SnapshotStore};
use std::net::SocketAddr;
use std::time::Duration;

/// Which model prices, with its settings.
#[derive(Clone, Debug, PartialEq)]
pub enum AlgorithmConfig {
    /// Margin-free median of the reference books (all books when empty), or of the one named.
    MarketConsensus { reference_books: Vec<String>, margin: MarginMethod },
    /// Elo ratings from the games file.
    Elo(EloParams),
}

impl AlgorithmConfig {
    /// The `--algorithm` value.
    pub fn name(&self) -> &'static str {
        match self {
            AlgorithmConfig::MarketConsensus { .. } => "marketConsensus",
            AlgorithmConfig::Elo(_) => "elo",
        }
    }
}

/// How stakes are sized. Every fraction is of the bankroll.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StakingConfig {
    pub bankroll: f64,
    /// Kelly fraction (applied once) and per-bet and per-event caps.
    pub policy: KellyPolicy,
    /// Exposure caps; a missing cap is the whole bankroll.
    pub cap_team: f64,
    pub cap_market: f64,
    pub cap_book: f64,
    /// Smallest EV per unit stake that is bet.
    pub value_threshold: f64,
    /// Share of the bankroll this workload stakes, in [0, 1].
    pub traffic_share: f64,
    /// Price but stake nothing.
    pub shadow: bool,
}

impl StakingConfig {
    /// The bankroll this workload actually stakes from: the traffic share of the whole, or 0 in
    /// shadow mode. Every cap is a fraction of it, so multiplying by the share is exact.
    pub fn effective_bankroll(&self) -> f64 {
        if self.shadow { 0.0 } else { self.bankroll * self.traffic_share }
    }
}

/// `stable` or `candidate`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Stable,
    Candidate,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Stable => "stable",
            Role::Candidate => "candidate",
        }
    }
}

/// Everything a [`super::Workload`] needs.
#[derive(Clone)]
pub struct ModelConfig {
    /// Model resource name: the `model` label and the recommendations path segment.
    pub model: String,
    pub namespace: String,
    pub version: String,
    pub role: Role,
    /// Fingerprint of the parameters run (`--parameters`), if given.
    pub parameters: Option<String>,
    pub algorithm: AlgorithmConfig,
    /// Sportsbook resources whose snapshots are priced.
    pub sportsbooks: Vec<String>,
    pub markets: Vec<Market>,
    pub staking: StakingConfig,
    pub calibration_window: Duration,
    /// Own records older than this are deleted (None: kept forever); at least the calibration
    /// window plus `settle::LEAD`.
    pub retention: Option<Duration>,
    pub interval: Duration,
    pub snapshot_max_age: Duration,
    pub games: Option<String>,
    pub games_refresh: Duration,
    pub store: SnapshotStore,
    pub store_url: String,
    /// Where recommendation records go: the snapshot store, except for replays, which keep
    /// theirs apart so a replay never mixes with a live model's calibration.
    pub records_url: String,
    pub s3: S3Options,
    /// Which addresses the games URL and the store may not be at (also in `s3`).
    pub egress: Egress,
    pub listen: SocketAddr,
    pub metrics_prefix: String,
    pub report_status: bool,
    pub status_interval: Duration,
}

impl std::fmt::Debug for ModelConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // No credentials in here: S3 keys come from the environment and are never stored.
        f.debug_struct("ModelConfig")
            .field("model", &self.model)
            .field("namespace", &self.namespace)
            .field("version", &self.version)
            .field("role", &self.role)
            .field("parameters", &self.parameters)
            .field("algorithm", &self.algorithm)
            .field("sportsbooks", &self.sportsbooks)
            .field("markets", &self.markets)
            .field("staking", &self.staking)
            .field("calibration_window", &self.calibration_window)
            .field("interval", &self.interval)
            .field("store", &self.store_url)
            .field("games", &self.games.as_deref().map(redact_url))
            .finish_non_exhaustive()
    }
}

/// A URL without its query and user info (a games URL may carry a token).
pub fn redact_url(s: &str) -> String {
    match url::Url::parse(s) {
        Ok(mut u) if u.scheme().starts_with("http") => {
            u.set_query(None);
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.to_string()
        }
        _ => s.to_owned(),
    }
}

fn duration(flag: &'static str, value: &str) -> Result<Duration, ConfigError> {
    parse_duration(value)
        .filter(|d| !d.is_zero())
        .ok_or_else(|| ConfigError::flag(flag, value, "expected a positive Go duration like 60s"))
}

fn fraction(flag: &'static str, value: f64, allow_zero: bool) -> Result<f64, ConfigError> {
    let ok = value.is_finite() && value <= 1.0 && (value > 0.0 || (allow_zero && value == 0.0));
    if ok {
        Ok(value)
    } else {
        let range = if allow_zero { "[0, 1]" } else { "(0, 1]" };
        Err(ConfigError::flag(flag, value, format!("must be in {range}")))
    }
}

/// A name that becomes a path segment and a label: a lowercase DNS label.
fn segment(flag: &'static str, value: &str) -> Result<String, ConfigError> {
    let ok = !value.is_empty()
        && value.len() <= 253
        && value.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && !value.starts_with(['-', '.']);
    if ok {
        Ok(value.to_owned())
    } else {
        Err(ConfigError::flag(flag, value, "expected a lowercase resource name"))
    }
}

impl ModelConfig {
    pub fn from_args(args: &ModelArgs) -> Result<ModelConfig, ConfigError> {
        let model = segment("model", &args.model)?;
        let role = match args.role.as_str() {
            "stable" => Role::Stable,
            "candidate" => Role::Candidate,
            other => {
                return Err(ConfigError::flag("role", other, "expected stable or candidate"));
            }
        };
        if args.version.trim().is_empty() {
            return Err(ConfigError::flag("version", &args.version, "must not be empty"));
        }
        let parameters = match args.parameters.as_deref().map(str::trim) {
            Some(p) if p.is_empty() || p.len() > 64 || !p.chars().all(|c| c.is_ascii_alphanumeric()) => {
                return Err(ConfigError::flag("parameters", p, "expected up to 64 letters and digits"));
            }
            p => p.map(str::to_owned),
        };
        let margin = MarginMethod::parse(&args.margin_method).ok_or_else(|| {
            ConfigError::flag(
                "margin-method",
                &args.margin_method,
                "expected proportional, additive, power or shin",
            )
        })?;
        let algorithm = match args.algorithm.as_str() {
            "marketConsensus" => AlgorithmConfig::MarketConsensus {
                reference_books: clean_list(&args.reference_books),
                margin,
            },
            "elo" => {
                let positive = |flag, v: f64, max: f64| {
                    if v.is_finite() && v >= 0.0 && v <= max {
                        Ok(v)
                    } else {
                        Err(ConfigError::flag(flag, v, format!("must be in [0, {max}]")))
                    }
                };
                if args.games.is_none() {
                    return Err(ConfigError::EloWithoutGames);
                }
                AlgorithmConfig::Elo(EloParams {
                    k: positive("elo-k-factor", args.elo_k_factor, 100.0)?,
                    home_field: positive("elo-home-field-advantage", args.elo_home_field_advantage, 200.0)?,
                    regress: positive("elo-season-regression", args.elo_season_regression, 1.0)?,
                    qb_change_penalty: positive(
                        "elo-quarterback-change-penalty",
                        args.elo_quarterback_change_penalty,
                        300.0,
                    )?,
                    rest_day_value: positive("elo-rest-day-value", args.elo_rest_day_value, 20.0)?,
                    anchor_to_market: args.elo_anchor_to_market,
                    ..EloParams::default()
                })
            }
            other => {
                return Err(ConfigError::flag("algorithm", other, "expected marketConsensus or elo"));
            }
        };
        let sportsbooks = clean_list(&args.sportsbooks)
            .iter()
            .map(|s| segment("sportsbooks", s))
            .collect::<Result<Vec<_>, _>>()?;
        let mut markets = Vec::new();
        for m in clean_list(&args.markets) {
            let market = Market::parse(&m)
                .ok_or_else(|| ConfigError::flag("markets", &m, "expected moneyline, spread or total"))?;
            if !markets.contains(&market) {
                markets.push(market);
            }
        }
        if !args.bankroll.is_finite() || args.bankroll <= 0.0 {
            return Err(ConfigError::flag("bankroll", args.bankroll, "must be positive"));
        }
        let policy = KellyPolicy::new(
            fraction("kelly-fraction", args.kelly_fraction, false)?,
            fraction("max-stake-per-bet", args.max_stake_per_bet, false)?,
            fraction("max-event-exposure", args.max_event_exposure, false)?,
        )?;
        let cap = |flag, v: Option<f64>| v.map_or(Ok(1.0), |v| fraction(flag, v, false));
        if !args.value_threshold.is_finite() || !(0.0..1.0).contains(&args.value_threshold) {
            return Err(ConfigError::flag("value-threshold", args.value_threshold, "must be in [0, 1)"));
        }
        let staking = StakingConfig {
            bankroll: args.bankroll,
            policy,
            cap_team: cap("cap-team", args.cap_team)?,
            cap_market: cap("cap-market", args.cap_market)?,
            cap_book: cap("cap-book", args.cap_book)?,
            value_threshold: args.value_threshold,
            traffic_share: fraction("traffic-share", args.traffic_share, true)?,
            shadow: args.shadow,
        };
        let egress = args.egress.workload_policy(&args.api_server_dns_name)?;
        let games = args.games.clone().filter(|g| !g.trim().is_empty());
        if let Some(url) = games.as_deref().and_then(|g| url::Url::parse(g).ok()) {
            egress.check_destination(&url)?;
        }
        let s3 = S3Options {
            endpoint: args.s3_endpoint.clone(),
            region: args.s3_region.clone(),
            credentials: None,
            egress: egress.clone(),
        };
        let store = SnapshotStore::open(&args.store, &s3)?;
        let calibration_window = duration("calibration-window", &args.calibration_window)?;
        let retention = args.retention.as_deref().map(|r| duration("retention", r)).transpose()?;
        let needed = calibration_window + super::settle::LEAD.to_std().unwrap_or_default();
        if let Some(r) = retention.filter(|r| *r < needed) {
            return Err(ConfigError::flag(
                "retention",
                format_duration(r),
                format!(
                    "must be at least --calibration-window plus 336h ({}): calibration reads the records of that span",
                    format_duration(needed)
                ),
            ));
        }
        Ok(ModelConfig {
            model,
            namespace: args.namespace.clone(),
            version: args.version.trim().to_owned(),
            role,
            parameters,
            algorithm,
            sportsbooks,
            markets,
            staking,
            calibration_window,
            retention,
            interval: duration("interval", &args.interval)?,
            snapshot_max_age: duration("snapshot-max-age", &args.snapshot_max_age)?,
            games,
            games_refresh: duration("games-refresh", &args.games_refresh)?,
            store,
            store_url: args.store.clone(),
            records_url: args.store.clone(),
            s3,
            egress,
            listen: args.listen,
            metrics_prefix: args.metrics_namespace.clone(),
            report_status: args.report_status,
            status_interval: duration("status-interval", &args.status_interval)?,
        })
    }
}

fn clean_list(values: &[String]) -> Vec<String> {
    values.iter().map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()).collect()
}
