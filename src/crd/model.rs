//! `Model`: a pricing model run as a workload, with calibration and portfolio alerts, a gradual
//! rollout of new versions, and automatic rollback when a candidate prices worse.

use super::common::{MatchLabels, WorkloadSettings, conditions_schema, duration_schema};
use super::sportsbook::StorageSettings;
use crate::domain::duration::parse_duration;
pub use crate::domain::margin::MarginMethod;
use crate::domain::market::Market;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Why a Model name may not end in `-candidate` (the CRD's rule and `validate-config`).
pub const CANDIDATE_NAME_MESSAGE: &str = "a Model name must not end in '-candidate': the Deployment nflbet-model-foo-candidate is the candidate of Model foo, so a Model named foo-candidate would take it";

/// Desired state of one pricing model.
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[kube(
    group = "betting.nflbet.dev",
    version = "v1alpha1",
    kind = "Model",
    namespaced,
    status = "ModelStatus",
    shortname = "mdl",
    category = "nflbet",
    printcolumn = r#"{"name":"Algorithm","type":"string","jsonPath":".spec.algorithm"}"#,
    printcolumn = r#"{"name":"Version","type":"string","jsonPath":".status.currentVersion"}"#,
    printcolumn = r#"{"name":"Rollout","type":"string","jsonPath":".status.rolloutPhase"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Status","type":"string","priority":1,"jsonPath":".status.conditions[?(@.type==\"Ready\")].message"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    // Checked at creation only (a name never changes): a Model that already exists keeps working.
    validation = Rule::new("oldSelf.hasValue() || !self.metadata.name.endsWith('-candidate')")
        .optional_old_self(true)
        .message(CANDIDATE_NAME_MESSAGE)
)]
#[x_kube(
    validation = Rule::new("self.algorithm != 'marketConsensus' || !has(self.elo)")
        .message("spec.elo only applies to algorithm elo"),
    validation = Rule::new("self.algorithm != 'elo' || !has(self.consensus)")
        .message("spec.consensus only applies to algorithm marketConsensus"),
    validation = Rule::new("!has(self.rollout) || self.rollout.candidate.version != self.version")
        .message("rollout.candidate.version must differ from spec.version (to promote a candidate, set spec.version and remove spec.rollout)")
        .field_path(".rollout.candidate.version"),
    validation = Rule::new("has(self.sportsbooks.names) || has(self.sportsbooks.selector)")
        .message("spec.sportsbooks needs names or a selector")
        .field_path(".sportsbooks"),
    validation = Rule::new("!has(self.storage) || !has(self.storage.retention) || duration(self.storage.retention) >= duration(has(self.calibration) && has(self.calibration.window) ? self.calibration.window : '672h') + duration('336h')")
        .message("storage.retention must be at least calibration.window (default 672h) plus 336h: calibration scores the predictions of that window, made up to 14 days before each game")
        .field_path(".storage.retention"),
)]
#[serde(rename_all = "camelCase")]
pub struct ModelSpec {
    /// Pricing algorithm: `marketConsensus` (fair prices from margin-free reference books) or
    /// `elo` (team ratings from nflverse results).
    pub algorithm: Algorithm,

    /// Version of the stable model (semantic version, e.g. `1.4.0`).
    #[schemars(regex(pattern = r"^v?[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.-]+)?$"))]
    pub version: String,

    /// Sportsbooks whose snapshots the model prices.
    pub sportsbooks: SportsbookSelection,

    /// Markets to price. Default: all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16))]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    pub markets: Vec<Market>,

    /// `marketConsensus` settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consensus: Option<ConsensusSettings>,

    /// `elo` settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub elo: Option<EloSettings>,

    /// Bankroll, Kelly fraction and exposure caps.
    pub staking: Staking,

    /// Calibration baselines: drift alerts and the rollback test compare against these.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration: Option<CalibrationSettings>,

    /// A candidate version rolled out next to the stable one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<Rollout>,

    /// Automatic rollback of a candidate that prices worse. Default on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback: Option<RollbackSettings>,

    /// Time between pricing runs. Default 60s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "duration_schema")]
    #[x_kube(validation = Rule::new("duration(self) >= duration('5s')").message("interval must be at least 5s"))]
    #[x_kube(validation = Rule::new("duration(self) <= duration('24h')").message("interval must be at most 24h"))]
    pub interval: Option<String>,

    /// Where the Sportsbooks' snapshots are read and recommendations written: the same store
    /// every book writes to (the same S3 bucket, prefix and endpoint, or the same url on the same
    /// ReadWriteMany PersistentVolumeClaim). Books writing elsewhere are reported in the
    /// `StorageShared` condition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<StorageSettings>,

    /// Games file in the nflverse format (results for calibration), as a URL or path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub games: Option<String>,

    /// Pod settings of the model workload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload: Option<WorkloadSettings>,

    /// Stop the model: keep objects, scale to zero, remove its alerts, `Stopped=True`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disabled: bool,

    /// Pause reconciliation: write nothing to children until lifted.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub suspend: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum Algorithm {
    MarketConsensus,
    Elo,
}

impl Algorithm {
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::MarketConsensus => "marketConsensus",
            Algorithm::Elo => "elo",
        }
    }
}

/// Which Sportsbooks a model prices: by name, by label, or both (union).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct SportsbookSelection {
    /// Sportsbook names in the model's namespace.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    pub names: Vec<String>,
    /// Sportsbooks whose labels match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<MatchLabels>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConsensusSettings {
    /// Bookmakers whose prices define the fair line, by the bookmaker key each quote carries,
    /// not by Sportsbook name: The Odds API's key (a Sportsbook's `theOddsApi.bookmaker`, e.g.
    /// `pinnacle`), or the `book` a generic JSON feed reports (docs/feeds.md). The two often
    /// coincide, but a Sportsbook `fd-east` with `bookmaker: fanduel` is `fanduel` here. These
    /// books are priced from and never bet on. Default: the median of all books.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    pub reference_books: Vec<String>,
    /// Margin removal method. Default `shin`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub margin_method: Option<MarginMethod>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct EloSettings {
    /// Rating points gained per unit of surprise. Default 20.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self > 0.0 && self <= 100.0").message("elo.kFactor must be in (0, 100]"))]
    pub k_factor: Option<f64>,
    /// Home-field advantage in rating points. Default 48.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self >= 0.0 && self <= 200.0").message("elo.homeFieldAdvantage must be in [0, 200]"))]
    pub home_field_advantage: Option<f64>,
    /// Share of a rating's distance to the mean removed between seasons. Default 0.5.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self >= 0.0 && self <= 1.0").message("elo.seasonRegression must be in [0, 1]"))]
    pub season_regression: Option<f64>,
    /// Rating points lost by a side whose starting quarterback (from the games file) is not the
    /// team's usual starter. 0 turns it off. Default 70.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self >= 0.0 && self <= 300.0").message("elo.quarterbackChangePenalty must be in [0, 300]"))]
    pub quarterback_change_penalty: Option<f64>,
    /// Rating points per day of rest more than the opponent, at most 7 days counted. 0 turns it
    /// off. Default 3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self >= 0.0 && self <= 20.0").message("elo.restDayValue must be in [0, 20]"))]
    pub rest_day_value: Option<f64>,
    /// Centre spreads and totals on the market's line, moved toward Elo's own number by the share
    /// of its disagreement with the closing line that has come true so far; false: Elo's own
    /// number. Default true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anchor_to_market: Option<bool>,
}

/// How stakes are sized. Fractions are of the bankroll.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!has(self.maxStakePerBet) || !has(self.maxEventExposure) || self.maxStakePerBet <= self.maxEventExposure")
    .message("staking.maxStakePerBet cannot exceed staking.maxEventExposure")
    .field_path(".maxStakePerBet"))]
pub struct Staking {
    /// Bankroll in currency units.
    #[x_kube(validation = Rule::new("self > 0.0").message("staking.bankroll must be positive"))]
    pub bankroll: f64,
    /// Fraction of full Kelly to stake, applied once. In (0, 1].
    #[x_kube(validation = Rule::new("self > 0.0 && self <= 1.0").message("staking.kellyFraction must be in (0, 1]"))]
    pub kelly_fraction: f64,
    /// Largest stake on one bet. In (0, 1]. Default 0.02.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self > 0.0 && self <= 1.0").message("staking.maxStakePerBet must be in (0, 1]"))]
    pub max_stake_per_bet: Option<f64>,
    /// Largest total stake on one event. In (0, 1]. Default 0.05.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self > 0.0 && self <= 1.0").message("staking.maxEventExposure must be in (0, 1]"))]
    pub max_event_exposure: Option<f64>,
    /// Exposure caps by team, market and book.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exposure_caps: Option<ExposureCaps>,
    /// Smallest expected value per unit stake worth a bet. Default 0.02.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self >= 0.0 && self < 1.0").message("staking.valueThreshold must be in [0, 1)"))]
    pub value_threshold: Option<f64>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExposureCaps {
    /// Largest total stake on one team. In (0, 1].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self > 0.0 && self <= 1.0").message("exposureCaps.team must be in (0, 1]"))]
    pub team: Option<f64>,
    /// Largest total stake on one market type. In (0, 1].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self > 0.0 && self <= 1.0").message("exposureCaps.market must be in (0, 1]"))]
    pub market: Option<f64>,
    /// Largest total stake at one book. In (0, 1].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self > 0.0 && self <= 1.0").message("exposureCaps.book must be in (0, 1]"))]
    pub book: Option<f64>,
}

/// Calibration baselines for drift alerts and rollback.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct CalibrationSettings {
    /// Expected Brier score (0.25 is a coin flip; NFL closing lines sit near 0.21).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self > 0.0 && self < 0.25").message("calibration.baselineBrier must be in (0, 0.25): 0.25 is a coin flip"))]
    pub baseline_brier: Option<f64>,
    /// Expected log loss (ln 2 ≈ 0.693 is a coin flip).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self > 0.0 && self < 0.6932").message("calibration.baselineLogLoss must be in (0, ln 2 ≈ 0.693)"))]
    pub baseline_log_loss: Option<f64>,
    /// How much worse than the baseline (or the stable version) is tolerated. Default 0.01.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self > 0.0 && self <= 0.5").message("calibration.tolerance must be in (0, 0.5]"))]
    pub tolerance: Option<f64>,
    /// Settled bets needed before drift or rollback is judged. Default 100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 10, max = 1000000))]
    pub min_samples: Option<i32>,
    /// Window of settled games the scores are computed over. Default 28d as 672h.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "duration_schema")]
    #[x_kube(validation = Rule::new("duration(self) >= duration('1h')").message("calibration.window must be at least 1h"))]
    #[x_kube(validation = Rule::new("duration(self) <= duration('8784h')").message("calibration.window must be at most 8784h (a year)"))]
    pub window: Option<String>,
}

/// A candidate version running next to the stable one.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Rollout {
    pub candidate: Candidate,
    /// Hold the rollout: the candidate keeps running but its share is not used for stakes.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub paused: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!(has(self.shadow) && self.shadow && has(self.trafficShare))")
    .message("a shadow candidate takes no traffic: set either shadow or trafficShare"))]
pub struct Candidate {
    /// Candidate version.
    #[schemars(regex(pattern = r"^v?[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.-]+)?$"))]
    pub version: String,
    /// Share of the bankroll the candidate stakes, in (0, 1]. Default 0.1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self > 0.0 && self <= 1.0").message("rollout.candidate.trafficShare must be in (0, 1]"))]
    pub traffic_share: Option<f64>,
    /// Price and score only; stake nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shadow: Option<bool>,
    /// Image of the candidate (default: the stable image). Must be allowed by the operator's pod
    /// policy (docs/security.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct RollbackSettings {
    /// Roll a worse candidate back automatically. Default true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub automatic: Option<bool>,
}

/// Observed state of a Model.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ModelStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Ready, Stopped, Suspended, MonitoringAvailable, CalibrationDrift, RolledBack, StorageShared.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "conditions_schema")]
    pub conditions: Vec<Condition>,
    /// Version of the stable model serving.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_version: Option<String>,
    /// Version of the candidate, while one runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub candidate_version: Option<String>,
    /// Stable, Progressing, Shadow, Paused or RolledBack.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout_phase: Option<String>,
    /// The last automatic rollback; it holds until `rollout.candidate.version` changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback: Option<RollbackRecord>,
    /// Calibration reported by the model workloads (field managers `nflbet-model-stable` and
    /// `nflbet-model-candidate`, one per version).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration: Option<CalibrationReport>,
    /// Bounded summary of the last pricing run, written by the stable workload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<PricingSummary>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct RollbackRecord {
    pub candidate_version: String,
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<Time>,
}

/// Calibration per role. Each workload writes only its own entry.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct CalibrationReport {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stable: Option<CalibrationScore>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub candidate: Option<CalibrationScore>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct CalibrationScore {
    pub version: String,
    pub brier: f64,
    pub log_loss: f64,
    pub samples: i64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct PricingSummary {
    /// Best edges of the last run, at most 10.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 10))]
    pub top_edges: Vec<EdgeSummary>,
    /// Total recommended stake.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_stake: Option<f64>,
    /// Markets priced in the last run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub markets_priced: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_run_time: Option<Time>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct EdgeSummary {
    pub event: String,
    pub market: String,
    pub selection: String,
    pub book: String,
    pub american: i32,
    pub expected_value: f64,
    pub stake: f64,
}

/// Predictions are made up to this long before a game; calibration reads records this far
/// before its window (`workloads::model::settle::LEAD`), so retention keeps them.
pub const CALIBRATION_LEAD: std::time::Duration = std::time::Duration::from_secs(14 * 24 * 3600);

/// Effective calibration settings with defaults applied.
#[derive(Clone, Debug, PartialEq)]
pub struct EffectiveCalibration {
    pub baseline_brier: Option<f64>,
    pub baseline_log_loss: Option<f64>,
    pub tolerance: f64,
    pub min_samples: u64,
    pub window: std::time::Duration,
}

impl ModelSpec {
    pub fn calibration(&self) -> EffectiveCalibration {
        let c = self.calibration.clone().unwrap_or_default();
        EffectiveCalibration {
            baseline_brier: c.baseline_brier,
            baseline_log_loss: c.baseline_log_loss,
            tolerance: c.tolerance.unwrap_or(0.01),
            min_samples: c.min_samples.unwrap_or(100).max(0) as u64,
            window: c
                .window
                .as_deref()
                .and_then(parse_duration)
                .unwrap_or(std::time::Duration::from_secs(28 * 24 * 3600)),
        }
    }

    /// How long the model's recommendation records are kept: `storage.retention` (or its
    /// default), never less than the calibration window plus [`CALIBRATION_LEAD`].
    pub fn record_retention(&self) -> std::time::Duration {
        let needed = self.calibration().window + CALIBRATION_LEAD;
        super::sportsbook::StorageSettings::retention(self.storage.as_ref()).max(needed)
    }

    pub fn automatic_rollback(&self) -> bool {
        self.rollback.as_ref().and_then(|r| r.automatic).unwrap_or(true)
    }

    pub fn markets(&self) -> Vec<Market> {
        if self.markets.is_empty() { Market::ALL.to_vec() } else { self.markets.clone() }
    }
}
