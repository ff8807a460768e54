//! `Model`: a pricing model run as a workload, with calibration and portfolio alerts, a gradual
//! rollout of new versions, and automatic rollback when a candidate prices worse.

pub use super::common::Severity;
use super::common::{MatchLabels, WorkloadSettings, conditions_schema, duration_schema};
use super::sportsbook::StorageSettings;
use crate::crd::condition::Condition;
use crate::domain::duration::parse_duration;
pub use crate::domain::margin::MarginMethod;
use crate::domain::market::Market;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Why a Model name may not end in `-candidate` (the CRD's rule and `validate-config`).
pub const CANDIDATE_NAME_MESSAGE: &str = "a Model name must not end in '-candidate': the Deployment nflbet-model-foo-candidate is the candidate of Model foo, so a Model named foo-candidate would take it";

/// Why a candidate's merged staking is refused (the CRD's rule and the build step).
pub const PARAMETERS_STAKE_MESSAGE: &str = "the candidate's staking.maxStakePerBet (its override, else the spec's) cannot exceed its staking.maxEventExposure (its override, else the spec's)";

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
    validation = Rule::new("!has(self.rollout) || !has(self.rollout.candidate.overrides) || !has(self.rollout.candidate.overrides.elo) || self.algorithm == 'elo'")
        .message("rollout.candidate.overrides.elo only applies to algorithm elo")
        .field_path(".rollout.candidate.overrides.elo"),
    validation = Rule::new("!has(self.rollout) || !has(self.rollout.candidate.overrides) || !has(self.rollout.candidate.overrides.consensus) || self.algorithm == 'marketConsensus'")
        .message("rollout.candidate.overrides.consensus only applies to algorithm marketConsensus")
        .field_path(".rollout.candidate.overrides.consensus"),
    // The candidate's staking is the spec's with the overrides over it: the same rule as
    // `staking`'s own, on the merged values.
    validation = Rule::new("!has(self.rollout) || !has(self.rollout.candidate.overrides) || !has(self.rollout.candidate.overrides.staking) || !(has(self.rollout.candidate.overrides.staking.maxStakePerBet) || has(self.staking.maxStakePerBet)) || !(has(self.rollout.candidate.overrides.staking.maxEventExposure) || has(self.staking.maxEventExposure)) || (has(self.rollout.candidate.overrides.staking.maxStakePerBet) ? self.rollout.candidate.overrides.staking.maxStakePerBet : self.staking.maxStakePerBet) <= (has(self.rollout.candidate.overrides.staking.maxEventExposure) ? self.rollout.candidate.overrides.staking.maxEventExposure : self.staking.maxEventExposure)")
        .message(PARAMETERS_STAKE_MESSAGE)
        .field_path(".rollout.candidate.overrides.staking"),
    // The replay gate settles both sides' replays with the games file: without one it could
    // never judge, and the rollout would wait for it forever.
    validation = Rule::new("!has(self.rollout) || has(self.games) || (has(self.rollout.candidate.shadow) && self.rollout.candidate.shadow) || (has(self.rollout.gate) && has(self.rollout.gate.enabled) && !self.rollout.gate.enabled)")
        .message("the rollout's replay gate settles the candidate's and stable's replays with spec.games: set spec.games (a games file in the nflverse format), or set rollout.gate.enabled: false to roll out without it")
        .field_path(".games"),
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

    /// Markets, algorithm settings and staking: what a candidate may override.
    #[serde(flatten)]
    pub parameters: ModelParameters,

    /// Calibration baselines: drift alerts and the rollback test compare against these.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration: Option<CalibrationSettings>,

    /// A candidate version rolled out next to the stable one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<Rollout>,

    /// Settings of the model's alerts (the PrometheusRule the operator generates).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alerts: Option<ModelAlertSettings>,

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

/// The tunable parameters of a Model: the markets it prices, its algorithm's settings and how it
/// stakes. The stable workload runs the spec's; a candidate runs them with its
/// [`ParameterOverrides`] merged over ([`ModelSpec::candidate_parameters`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ModelParameters {
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
pub struct Staking {
    /// Bankroll in currency units.
    #[x_kube(validation = Rule::new("self > 0.0").message("staking.bankroll must be positive"))]
    pub bankroll: f64,
    /// Fraction of full Kelly to stake, applied once. In (0, 1].
    #[x_kube(validation = Rule::new("self > 0.0 && self <= 1.0").message("staking.kellyFraction must be in (0, 1]"))]
    pub kelly_fraction: f64,
    #[serde(flatten)]
    pub limits: StakeLimits,
}

/// The limits on stakes, the same fields in the spec's [`Staking`] and a candidate's
/// [`StakingOverrides`] (there each set limit replaces the spec's). Fractions are of the bankroll.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!has(self.maxStakePerBet) || !has(self.maxEventExposure) || self.maxStakePerBet <= self.maxEventExposure")
    .message("staking.maxStakePerBet cannot exceed staking.maxEventExposure")
    .field_path(".maxStakePerBet"))]
pub struct StakeLimits {
    /// Largest stake on one bet. In (0, 1]. Default 0.02 (in overrides: the spec's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self > 0.0 && self <= 1.0").message("staking.maxStakePerBet must be in (0, 1]"))]
    pub max_stake_per_bet: Option<f64>,
    /// Largest total stake on one event. In (0, 1]. Default 0.05 (in overrides: the spec's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self > 0.0 && self <= 1.0").message("staking.maxEventExposure must be in (0, 1]"))]
    pub max_event_exposure: Option<f64>,
    /// Exposure caps by team, market and book (in overrides: over the spec's, cap by cap).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exposure_caps: Option<ExposureCaps>,
    /// Smallest expected value per unit stake worth a bet. Default 0.02 (in overrides: the spec's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self >= 0.0 && self < 1.0").message("staking.valueThreshold must be in [0, 1)"))]
    pub value_threshold: Option<f64>,
}

impl StakeLimits {
    /// `maxEventExposure`, or its default 0.05.
    pub fn max_event_exposure(&self) -> f64 {
        self.max_event_exposure.unwrap_or(0.05)
    }

    /// These limits over `base`, limit by limit.
    fn over(&self, base: &StakeLimits) -> StakeLimits {
        StakeLimits {
            max_stake_per_bet: self.max_stake_per_bet.or(base.max_stake_per_bet),
            max_event_exposure: self.max_event_exposure.or(base.max_event_exposure),
            exposure_caps: merge_option(&self.exposure_caps, &base.exposure_caps, ExposureCaps::over),
            value_threshold: self.value_threshold.or(base.value_threshold),
        }
    }
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

/// The alerts of a Model's PrometheusRule, by the name they fire under ([`ModelAlert::as_str`],
/// also their name in `alerts.severities`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ModelAlert {
    BrierDrift,
    LogLossDrift,
    ExposureAboveCap,
    EventExposureAboveCap,
    KellyStakeAboveCap,
    Down,
}

impl ModelAlert {
    pub const ALL: [ModelAlert; 6] = [
        ModelAlert::BrierDrift,
        ModelAlert::LogLossDrift,
        ModelAlert::ExposureAboveCap,
        ModelAlert::EventExposureAboveCap,
        ModelAlert::KellyStakeAboveCap,
        ModelAlert::Down,
    ];

    /// The alert name, as the rule and Alertmanager carry it (and `alerts.severities` keys it).
    pub const fn as_str(self) -> &'static str {
        match self {
            ModelAlert::BrierDrift => "NflbetModelBrierDrift",
            ModelAlert::LogLossDrift => "NflbetModelLogLossDrift",
            ModelAlert::ExposureAboveCap => "NflbetModelExposureAboveCap",
            ModelAlert::EventExposureAboveCap => "NflbetModelEventExposureAboveCap",
            ModelAlert::KellyStakeAboveCap => "NflbetModelKellyStakeAboveCap",
            ModelAlert::Down => "NflbetModelDown",
        }
    }

    /// Severity unless `alerts.severities` says otherwise. Stakes above a cap are a warning (the
    /// workload applies the caps; the alert says the inputs pushed against them); a workload that
    /// produces nothing is critical.
    pub const fn default_severity(self) -> Severity {
        match self {
            ModelAlert::Down => Severity::Critical,
            _ => Severity::Warning,
        }
    }
}

impl Serialize for ModelAlert {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ModelAlert {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        ModelAlert::ALL.into_iter().find(|a| a.as_str() == name).ok_or_else(|| {
            let names: Vec<&str> = ModelAlert::ALL.iter().map(|a| a.as_str()).collect();
            serde::de::Error::custom(format!(
                "unknown alert {name:?}: a Model's alerts are {}",
                names.join(", ")
            ))
        })
    }
}

/// Settings of a Model's alerts.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ModelAlertSettings {
    /// Severity (`critical`, `warning` or `info`) of each alert, by alert name, e.g.
    /// `NflbetModelExposureAboveCap: critical`. An alert not listed keeps its default:
    /// `NflbetModelDown` critical, every other alert warning (docs/runbooks.md).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(schema_with = "severities_schema")]
    pub severities: BTreeMap<ModelAlert, Severity>,
}

/// Schema of `alerts.severities`: an object whose keys must be the Model's alert names (a CEL
/// rule naming them, so a typo is refused with the list) and whose values are severities.
fn severities_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let names: Vec<&str> = ModelAlert::ALL.iter().map(|a| a.as_str()).collect();
    let quoted = names.iter().map(|n| format!("'{n}'")).collect::<Vec<_>>().join(", ");
    schemars::json_schema!({
        "type": "object",
        "additionalProperties": generator.subschema_for::<Severity>(),
        "maxProperties": ModelAlert::ALL.len(),
        "x-kubernetes-validations": [{
            "rule": format!("self.all(k, k in [{quoted}])"),
            "message": format!("alerts.severities keys must be alert names of a Model: {}", names.join(", ")),
        }],
    })
}

/// A candidate version running next to the stable one.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Rollout {
    pub candidate: Candidate,
    /// Hold the rollout: the candidate keeps running but its share is not used for stakes.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub paused: bool,
    /// The replay gate: before a candidate takes traffic, it and the stable version are replayed
    /// over the last `weeks` of stored snapshots, and a candidate worse by more than `tolerance`
    /// does not start. Shadow candidates take no traffic and are never gated. Default: enabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gate: Option<ReplayGate>,
}

/// `rollout.gate`: how a candidate is replayed against the stable version before it takes
/// traffic.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReplayGate {
    /// Replay before the candidate takes traffic. Default true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Weeks of stored snapshots replayed, ending at the newest one. 1 to 52, default 4.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 52))]
    pub weeks: Option<i32>,
    /// How much worse than stable the candidate's replayed Brier score or log loss may be.
    /// Default: `calibration.tolerance`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self > 0.0 && self <= 0.5").message("rollout.gate.tolerance must be in (0, 0.5]"))]
    pub tolerance: Option<f64>,
}

/// Weeks of snapshots the replay gate replays when `rollout.gate.weeks` is not set.
pub const DEFAULT_GATE_WEEKS: u32 = 4;

/// The replay gate's settings with defaults applied; `None` from [`ModelSpec::replay_gate`]
/// when there is nothing to gate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EffectiveGate {
    pub weeks: u32,
    pub tolerance: f64,
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
    /// Parameters the candidate runs with instead of the spec's: markets, `elo` or `consensus`
    /// settings, staking. Each field set here replaces the spec's; the rest is the spec's. The
    /// merged set is held to the spec's rules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overrides: Option<ParameterOverrides>,
}

/// A candidate's changes to the spec's [`ModelParameters`]: every field optional, each one set
/// replacing the spec's (settings field by field).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ParameterOverrides {
    /// Markets to price (empty: all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 16))]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    pub markets: Option<Vec<Market>>,
    /// `marketConsensus` settings, over the spec's: a `marginMethod` here replaces the spec's,
    /// non-empty `referenceBooks` replace the spec's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consensus: Option<ConsensusSettings>,
    /// `elo` settings, over the spec's, field by field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub elo: Option<EloSettings>,
    /// Staking, over the spec's, field by field. The bankroll is not overridden: the candidate
    /// stakes `trafficShare` of the spec's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub staking: Option<StakingOverrides>,
}

/// [`Staking`] without the bankroll, every field optional.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct StakingOverrides {
    /// Fraction of full Kelly to stake, applied once. In (0, 1].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self > 0.0 && self <= 1.0").message("staking.kellyFraction must be in (0, 1]"))]
    pub kelly_fraction: Option<f64>,
    #[serde(flatten)]
    pub limits: StakeLimits,
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
    /// Ready, Stopped, Suspended, MonitoringAvailable, CalibrationDrift, RolledBack, StorageShared,
    /// ReplayGate.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "conditions_schema")]
    pub conditions: Vec<Condition>,
    /// Version of the stable model serving.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_version: Option<String>,
    /// Fingerprint of the parameters the stable version runs (the spec's), as its calibration is
    /// labelled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_parameters: Option<String>,
    /// Version of the candidate, while one runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub candidate_version: Option<String>,
    /// Fingerprint of the parameters the candidate runs (the spec's with its overrides), while
    /// one runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub candidate_parameters: Option<String>,
    /// Stable, Gating, Progressing, Shadow, Paused, GateFailed or RolledBack.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout_phase: Option<String>,
    /// The last automatic rollback; it holds until `rollout.candidate.version` or the candidate's
    /// parameters change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback: Option<RollbackRecord>,
    /// The last replay gate: what was replayed (versions, parameters, weeks), the result and
    /// both sides' figures. A candidate takes traffic only once the gate of its current key has
    /// passed (or found too little history to judge).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay_gate: Option<ReplayGateStatus>,
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
    /// Fingerprint of the parameters the candidate ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub candidate_parameters: Option<String>,
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<Time>,
}

/// What a replay gate is about: the two sides and the window length. A new key (a changed
/// version, parameters or image of either side, or `weeks`) is gated again.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReplayGateKey {
    pub stable_version: String,
    pub stable_parameters: String,
    /// The stable side's image when the spec names one (`workload.image`); unset: the
    /// operator's workload image, which both sides share.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stable_image: Option<String>,
    pub candidate_version: String,
    pub candidate_parameters: String,
    /// The candidate's own image (`rollout.candidate.image`); unset: the stable side's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub candidate_image: Option<String>,
    pub weeks: i32,
}

/// The outcome of a replay gate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema, strum::IntoStaticStr)]
pub enum ReplayGateResult {
    /// The candidate is no worse than stable beyond the tolerance: the rollout starts.
    Passed,
    /// Too few settled forecasts in the window to judge (fewer than `calibration.minSamples`):
    /// the rollout starts, judged live by the rollback.
    InsufficientHistory,
    /// The candidate is worse beyond the tolerance: it does not start until its key changes.
    Failed,
    /// The replay did not produce two readable reports; retried after 10 minutes or when the
    /// key changes.
    Error,
}

impl ReplayGateResult {
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Whether the rollout may start.
    pub fn lets_through(self) -> bool {
        matches!(self, ReplayGateResult::Passed | ReplayGateResult::InsufficientHistory)
    }
}

/// One side of a replay gate, as its replay reported it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReplayGateFigures {
    pub version: String,
    pub parameters: String,
    /// Brier score of the settled pre-kickoff forecasts; unset when nothing was settled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub brier: Option<f64>,
    /// Log loss of the same forecasts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_loss: Option<f64>,
    /// Settled forecasts scored.
    pub samples: i64,
    /// Bets placed (at their first recommendation) and settled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bets: Option<i64>,
    /// Their profit over stake.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roi: Option<f64>,
}

/// `status.replayGate`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReplayGateStatus {
    /// What was replayed.
    pub key: ReplayGateKey,
    pub result: ReplayGateResult,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stable: Option<ReplayGateFigures>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub candidate: Option<ReplayGateFigures>,
    /// The replayed window (RFC 3339), as the replay reported it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    pub message: String,
    /// The Job that replayed both sides.
    pub job_name: String,
    /// When the result was read.
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
    /// Fingerprint of the parameters that earned the score (`status.currentParameters`,
    /// `status.candidateParameters`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<String>,
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

    /// The severity `alert` carries: `alerts.severities`, else its default.
    pub fn alert_severity(&self, alert: ModelAlert) -> Severity {
        self.alerts
            .as_ref()
            .and_then(|a| a.severities.get(&alert).copied())
            .unwrap_or(alert.default_severity())
    }

    pub fn automatic_rollback(&self) -> bool {
        self.rollback.as_ref().and_then(|r| r.automatic).unwrap_or(true)
    }

    /// The replay gate a candidate must pass before it takes traffic: `None` without a rollout,
    /// for a shadow candidate (it takes no traffic) and when `rollout.gate.enabled` is false.
    pub fn replay_gate(&self) -> Option<EffectiveGate> {
        let rollout = self.rollout.as_ref()?;
        let gate = rollout.gate.clone().unwrap_or_default();
        if rollout.candidate.shadow.unwrap_or(false) || !gate.enabled.unwrap_or(true) {
            return None;
        }
        Some(EffectiveGate {
            weeks: gate.weeks.map_or(DEFAULT_GATE_WEEKS, |w| w.clamp(1, 52) as u32),
            tolerance: gate.tolerance.unwrap_or(self.calibration().tolerance),
        })
    }
}

/// `over` where set, else `base`; both set: `merge(over, base)`.
fn merge_option<T: Clone>(over: &Option<T>, base: &Option<T>, merge: impl Fn(&T, &T) -> T) -> Option<T> {
    match (over, base) {
        (Some(o), Some(b)) => Some(merge(o, b)),
        (Some(o), None) => Some(o.clone()),
        (None, b) => b.clone(),
    }
}

impl ConsensusSettings {
    /// These settings over `base`: the margin method where set, the reference books where any.
    fn over(&self, base: &ConsensusSettings) -> ConsensusSettings {
        ConsensusSettings {
            reference_books: if self.reference_books.is_empty() {
                base.reference_books.clone()
            } else {
                self.reference_books.clone()
            },
            margin_method: self.margin_method.or(base.margin_method),
        }
    }
}

impl EloSettings {
    /// These settings over `base`, field by field.
    fn over(&self, base: &EloSettings) -> EloSettings {
        EloSettings {
            k_factor: self.k_factor.or(base.k_factor),
            home_field_advantage: self.home_field_advantage.or(base.home_field_advantage),
            season_regression: self.season_regression.or(base.season_regression),
            quarterback_change_penalty: self.quarterback_change_penalty.or(base.quarterback_change_penalty),
            rest_day_value: self.rest_day_value.or(base.rest_day_value),
            anchor_to_market: self.anchor_to_market.or(base.anchor_to_market),
        }
    }
}

impl ExposureCaps {
    /// These caps over `base`, cap by cap.
    fn over(&self, base: &ExposureCaps) -> ExposureCaps {
        ExposureCaps {
            team: self.team.or(base.team),
            market: self.market.or(base.market),
            book: self.book.or(base.book),
        }
    }
}

impl StakingOverrides {
    /// `base` with these overrides over it; the bankroll is `base`'s.
    fn over(&self, base: &Staking) -> Staking {
        Staking {
            bankroll: base.bankroll,
            kelly_fraction: self.kelly_fraction.unwrap_or(base.kelly_fraction),
            limits: self.limits.over(&base.limits),
        }
    }
}

/// Hex digits of a parameter set's fingerprint ([`ModelParameters::fingerprint`]).
pub const FINGERPRINT_LEN: usize = 10;

impl ModelParameters {
    /// The markets priced: those listed, or all.
    pub fn markets(&self) -> Vec<Market> {
        if self.markets.is_empty() { Market::ALL.to_vec() } else { self.markets.clone() }
    }

    /// These parameters with `overrides` over them. Pure; the one merge of a candidate's
    /// parameters.
    pub fn with_overrides(&self, overrides: &ParameterOverrides) -> ModelParameters {
        ModelParameters {
            markets: overrides.markets.clone().unwrap_or_else(|| self.markets.clone()),
            consensus: merge_option(&overrides.consensus, &self.consensus, ConsensusSettings::over),
            elo: merge_option(&overrides.elo, &self.elo, EloSettings::over),
            staking: overrides
                .staking
                .as_ref()
                .map_or_else(|| self.staking.clone(), |o| o.over(&self.staking)),
        }
    }

    /// A short name of this parameter set: the first [`FINGERPRINT_LEN`] hex digits of the
    /// SHA-256 of its JSON. The workloads label their calibration with it, so a score is only
    /// ever compared for the parameters that earned it.
    pub fn fingerprint(&self) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        let digest = ring::digest::digest(&ring::digest::SHA256, &json);
        digest.as_ref()[..FINGERPRINT_LEN / 2].iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The spec's rules across fields, on a merged set (a candidate's): settings only for the
    /// algorithm they belong to, no stake per bet above the exposure per event. `field` is where
    /// the set comes from, for the message. The API server's rules refuse each override out of
    /// range; this catches what only the merge can produce.
    pub fn check(&self, algorithm: Algorithm, field: &str) -> Result<(), String> {
        match algorithm {
            Algorithm::MarketConsensus if self.elo.is_some() => {
                return Err(format!("{field}.elo only applies to algorithm elo"));
            }
            Algorithm::Elo if self.consensus.is_some() => {
                return Err(format!("{field}.consensus only applies to algorithm marketConsensus"));
            }
            _ => {}
        }
        let s = &self.staking;
        if let (Some(per_bet), Some(per_event)) = (s.limits.max_stake_per_bet, s.limits.max_event_exposure)
            && per_bet > per_event
        {
            return Err(format!("{field}.staking: {PARAMETERS_STAKE_MESSAGE}: {per_bet} > {per_event}"));
        }
        Ok(())
    }
}

impl ModelSpec {
    /// The parameters the stable workload runs: the spec's own.
    pub fn stable_parameters(&self) -> &ModelParameters {
        &self.parameters
    }

    /// The parameters the candidate runs, while the spec has one: the spec's with
    /// `rollout.candidate.overrides` over them.
    pub fn candidate_parameters(&self) -> Option<ModelParameters> {
        let candidate = &self.rollout.as_ref()?.candidate;
        Some(match &candidate.overrides {
            Some(o) => self.parameters.with_overrides(o),
            None => self.parameters.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(extra: &str) -> ModelSpec {
        serde_saphyr::from_str(&format!(
            "algorithm: elo\nversion: 1.0.0\nsportsbooks: {{names: [fanduel]}}\nmarkets: [moneyline, spread]\nelo: {{kFactor: 20, homeFieldAdvantage: 48}}\nstaking: {{bankroll: 10000, kellyFraction: 0.25, maxEventExposure: 0.04, exposureCaps: {{team: 0.1, book: 0.3}}}}\n{extra}"
        ))
        .unwrap()
    }

    #[test]
    fn the_spec_reads_and_writes_its_parameters_where_they_always_were() {
        let s = spec("");
        assert_eq!(s.parameters.markets, [Market::Moneyline, Market::Spread]);
        assert_eq!(s.parameters.staking.bankroll, 10000.0);
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(json["staking"]["kellyFraction"], 0.25);
        assert_eq!(json["elo"]["kFactor"], 20.0);
        assert!(json.get("parameters").is_none(), "flattened: {json}");
    }

    #[test]
    fn a_candidate_runs_the_spec_s_parameters_with_its_overrides_over_them() {
        assert_eq!(spec("").candidate_parameters(), None, "no rollout, no candidate");
        let same = spec("rollout: {candidate: {version: 1.1.0}}");
        assert_eq!(same.candidate_parameters().as_ref(), Some(same.stable_parameters()));

        let s = spec(
            "rollout: {candidate: {version: 1.1.0, overrides: {elo: {kFactor: 25}, staking: {kellyFraction: 0.1, exposureCaps: {team: 0.05}}}}}",
        );
        let c = s.candidate_parameters().unwrap();
        let mut want = s.stable_parameters().clone();
        want.elo.as_mut().unwrap().k_factor = Some(25.0);
        want.staking.kelly_fraction = 0.1;
        want.staking.limits.exposure_caps.as_mut().unwrap().team = Some(0.05);
        assert_eq!(c, want, "field by field: homeFieldAdvantage, the book cap and the rest are the spec's");
        assert_eq!(s.stable_parameters().elo.as_ref().unwrap().k_factor, Some(20.0), "stable keeps its own");

        let markets = spec("rollout: {candidate: {version: 1.1.0, overrides: {markets: [total]}}}");
        assert_eq!(markets.candidate_parameters().unwrap().markets(), [Market::Total]);
        let all = spec("rollout: {candidate: {version: 1.1.0, overrides: {markets: []}}}");
        assert_eq!(all.candidate_parameters().unwrap().markets(), Market::ALL.to_vec());
    }

    #[test]
    fn consensus_overrides_replace_the_margin_method_and_reference_books_given() {
        let s: ModelSpec = serde_saphyr::from_str(
            "algorithm: marketConsensus\nversion: 1.0.0\nsportsbooks: {names: [fanduel]}\nconsensus: {referenceBooks: [pinnacle]}\nstaking: {bankroll: 100, kellyFraction: 0.25}\nrollout: {candidate: {version: 1.1.0, overrides: {consensus: {marginMethod: power}}}}",
        )
        .unwrap();
        let c = s.candidate_parameters().unwrap().consensus.unwrap();
        assert_eq!(
            (c.reference_books, c.margin_method),
            (vec!["pinnacle".to_string()], Some(MarginMethod::Power))
        );
    }

    #[test]
    fn the_fingerprint_names_the_parameter_set() {
        let s = spec("rollout: {candidate: {version: 1.1.0, overrides: {elo: {kFactor: 25}}}}");
        let (stable, candidate) =
            (s.stable_parameters().fingerprint(), s.candidate_parameters().unwrap().fingerprint());
        assert_eq!(stable.len(), FINGERPRINT_LEN);
        assert!(stable.chars().all(|c| c.is_ascii_hexdigit()), "{stable}");
        assert_ne!(stable, candidate);
        assert_eq!(stable, spec("").stable_parameters().fingerprint(), "the rollout is not a parameter");
        let none = spec("rollout: {candidate: {version: 1.1.0}}");
        assert_eq!(none.candidate_parameters().unwrap().fingerprint(), stable);
    }

    #[test]
    fn a_merged_set_is_held_to_the_spec_s_rules_across_fields() {
        let field = "spec.rollout.candidate.overrides";
        let ok = spec("rollout: {candidate: {version: 1.1.0, overrides: {staking: {maxStakePerBet: 0.03}}}}");
        assert_eq!(ok.candidate_parameters().unwrap().check(Algorithm::Elo, field), Ok(()));
        // 0.05 is fine on its own, but above the spec's maxEventExposure 0.04.
        let s = spec("rollout: {candidate: {version: 1.1.0, overrides: {staking: {maxStakePerBet: 0.05}}}}");
        let err = s.candidate_parameters().unwrap().check(Algorithm::Elo, field).unwrap_err();
        assert!(
            err.starts_with(
                "spec.rollout.candidate.overrides.staking: the candidate's staking.maxStakePerBet"
            ),
            "{err}"
        );
        assert!(err.ends_with("0.05 > 0.04"), "{err}");
        let elo = spec("rollout: {candidate: {version: 1.1.0, overrides: {elo: {kFactor: 25}}}}");
        let err = elo.candidate_parameters().unwrap().check(Algorithm::MarketConsensus, field).unwrap_err();
        assert_eq!(err, "spec.rollout.candidate.overrides.elo only applies to algorithm elo");
    }
}

#[cfg(test)]
mod alert_severity_tests {
    use super::*;

    const BASE: &str = "algorithm: elo\nversion: 1.0.0\nsportsbooks: {names: [fanduel]}\nstaking: {bankroll: 1000, kellyFraction: 0.25}\n";

    fn spec(alerts: &str) -> ModelSpec {
        serde_saphyr::from_str(&format!("{BASE}{alerts}")).unwrap()
    }

    #[test]
    fn severities_default_as_the_guide_says_and_the_spec_overrides_them() {
        let plain = spec("");
        assert_eq!(plain.alert_severity(ModelAlert::ExposureAboveCap), Severity::Warning);
        assert_eq!(plain.alert_severity(ModelAlert::EventExposureAboveCap), Severity::Warning);
        assert_eq!(plain.alert_severity(ModelAlert::Down), Severity::Critical);
        let set =
            spec("alerts: {severities: {NflbetModelExposureAboveCap: critical, NflbetModelDown: info}}");
        assert_eq!(set.alert_severity(ModelAlert::ExposureAboveCap), Severity::Critical);
        assert_eq!(set.alert_severity(ModelAlert::Down), Severity::Info);
        assert_eq!(set.alert_severity(ModelAlert::BrierDrift), Severity::Warning, "not listed");
        let back = serde_json::to_value(&set).unwrap();
        assert_eq!(back["alerts"]["severities"]["NflbetModelDown"], "info");
    }

    #[test]
    fn an_unknown_alert_name_is_refused_with_the_list() {
        let e = serde_saphyr::from_str::<ModelSpec>(&format!(
            "{BASE}alerts: {{severities: {{ExposureAboveCap: warning}}}}\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(
            e.contains(r#"unknown alert "ExposureAboveCap": a Model's alerts are NflbetModelBrierDrift"#),
            "{e}"
        );
    }
}
