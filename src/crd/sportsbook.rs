//! `Sportsbook`: one odds feed, run as a scraper workload with its alerts.
//!
//! Everything a user can get wrong is refused at admission: enums and bounds in the schema, and
//! cross-field rules as CEL (`x-kubernetes-validations`) with messages written for people.

pub use super::common::Severity;
use super::common::{SecretKeyRef, WorkloadSettings, conditions_schema, duration_schema, labels_schema};
use crate::crd::condition::Condition;
use crate::domain::duration::parse_duration;
pub use crate::domain::market::Market;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// Regex every duration field of every kind must match (`domain::duration::PATTERN`).
pub use crate::domain::duration::PATTERN as DURATION_PATTERN;

/// Desired state of one odds feed.
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[kube(
    group = "betting.nflbet.dev",
    version = "v1alpha1",
    kind = "Sportsbook",
    namespaced,
    status = "SportsbookStatus",
    shortname = "sb",
    shortname = "books",
    category = "nflbet",
    printcolumn = r#"{"name":"Provider","type":"string","jsonPath":".spec.provider"}"#,
    printcolumn = r#"{"name":"Markets","type":"string","jsonPath":".status.markets"}"#,
    printcolumn = r#"{"name":"Disabled","type":"boolean","jsonPath":".spec.disabled"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Last Snapshot","type":"date","jsonPath":".status.ingestion.lastSnapshotTime"}"#,
    printcolumn = r#"{"name":"Status","type":"string","priority":1,"jsonPath":".status.conditions[?(@.type==\"Ready\")].message"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    selectable = ".spec.provider"
)]
#[x_kube(
    validation = Rule::new("self.provider != 'theOddsApi' || has(self.theOddsApi)")
        .message("provider theOddsApi needs spec.theOddsApi with at least a bookmaker, e.g. {bookmaker: fanduel}")
        .field_path(".theOddsApi"),
    validation = Rule::new("self.provider != 'theOddsApi' || has(self.credentials)")
        .message("provider theOddsApi needs spec.credentials: the name and key of a Secret holding the API key")
        .field_path(".credentials"),
    validation = Rule::new("self.provider != 'genericJson' || has(self.endpoint)")
        .message("provider genericJson needs spec.endpoint: the URL of the feed")
        .field_path(".endpoint"),
    validation = Rule::new("!has(self.alerts) || !has(self.alerts.staleAfter) || !has(self.polling) || !has(self.polling.interval) || duration(self.alerts.staleAfter) > duration(self.polling.interval)")
        .message("alerts.staleAfter must be longer than polling.interval, or every poll would look stale")
        .field_path(".alerts.staleAfter"),
    validation = Rule::new("!has(self.workload) || !has(self.workload.scrapeInterval) || duration(has(self.alerts) && has(self.alerts.errorWindow) ? self.alerts.errorWindow : '15m') >= duration(self.workload.scrapeInterval) + duration(self.workload.scrapeInterval)")
        .message("alerts.errorWindow (default 15m) must be at least twice workload.scrapeInterval: increase() needs two scrapes in the window")
        .field_path(".alerts.errorWindow"),
)]
#[serde(rename_all = "camelCase")]
pub struct SportsbookSpec {
    // The optional groups of settings are boxed: most books leave several of them out, and the
    // operator caches every book (about 800 bytes less per book; 8 MB at 10,000 books).
    /// Where the odds come from: `theOddsApi` (The Odds API v4) or `genericJson` (the nflbet
    /// generic feed format, for in-house sources; see docs/feeds.md).
    pub provider: Provider,

    /// Settings for `provider: theOddsApi`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub the_odds_api: Option<Box<TheOddsApiSettings>>,

    /// Base URL of the feed. Required for `genericJson`; for `theOddsApi` it overrides
    /// `https://api.the-odds-api.com`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self.startsWith('http://') || self.startsWith('https://')")
        .message("endpoint must be an http:// or https:// URL"))]
    #[schemars(length(min = 1, max = 2048))]
    pub endpoint: Option<String>,

    /// Secret key holding the feed's API key. The operator never reads it; the scraper receives it
    /// as the environment variable `NFLBET_API_KEY`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<SecretKeyRef>,

    /// Markets to ingest, each with its own enable flag. At least one.
    #[schemars(length(min = 1, max = 16))]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    #[x_kube(validation = Rule::new("self.all(m, self.exists_one(n, n.name == m.name))")
        .message("each market may be listed only once"))]
    #[x_kube(validation = Rule::new("self.exists(m, !has(m.enabled) || m.enabled)")
        .message("at least one market must be enabled; to stop the book set spec.disabled: true"))]
    pub markets: Vec<MarketSpec>,

    /// Polling schedule and HTTP behaviour.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub polling: Option<Box<PollingSettings>>,

    /// Where snapshots are written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<Box<StorageSettings>>,

    /// Alert thresholds and labels of the generated PrometheusRule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alerts: Option<Box<AlertSettings>>,

    /// Feature flags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub features: Option<FeatureFlags>,

    /// Pod settings of the scraper.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload: Option<Box<WorkloadSettings>>,

    /// Stop the book: keep every object, scale the scraper to zero, remove its alerts, and report
    /// `Stopped=True`. Set back to false to restore everything.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disabled: bool,

    /// Pause reconciliation: the operator writes nothing to the children until this is lifted,
    /// but keeps the status fresh. Deleting the Sportsbook still works.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub suspend: bool,
}

/// Feed provider.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum Provider {
    /// The Odds API v4 (`/v4/sports/{sport}/odds`).
    TheOddsApi,
    /// The nflbet generic JSON feed format.
    GenericJson,
}

impl Provider {
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::TheOddsApi => "theOddsApi",
            Provider::GenericJson => "genericJson",
        }
    }
}

/// Settings of The Odds API v4.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct TheOddsApiSettings {
    /// Bookmaker key as The Odds API spells it (e.g. `fanduel`, `draftkings`, `pinnacle`).
    #[schemars(length(min = 1, max = 64), regex(pattern = r"^[a-z0-9_]+$"))]
    pub bookmaker: String,
    /// Sport key. Default `americanfootball_nfl`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64), regex(pattern = r"^[a-z0-9_]+$"))]
    pub sport: Option<String>,
    /// Regions to request (`us`, `us2`, `uk`, `eu`, `au`). Default `[us]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 5))]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    pub regions: Vec<Region>,
}

/// The Odds API region.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Region {
    Us,
    Us2,
    Uk,
    Eu,
    Au,
}

impl Region {
    pub fn as_str(self) -> &'static str {
        match self {
            Region::Us => "us",
            Region::Us2 => "us2",
            Region::Uk => "uk",
            Region::Eu => "eu",
            Region::Au => "au",
        }
    }
}

/// A market to ingest.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct MarketSpec {
    /// Market name.
    pub name: Market,
    /// Ingest this market. Default true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

impl MarketSpec {
    pub fn is_enabled(&self) -> bool {
        self.enabled.unwrap_or(true)
    }
}

/// Polling schedule and HTTP behaviour of the scraper.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("!has(self.jitter) || duration(self.jitter) < duration(has(self.interval) ? self.interval : '60s')")
        .message("polling.jitter must be shorter than polling.interval")
        .field_path(".jitter"),
    validation = Rule::new("!has(self.timeout) || duration(self.timeout) <= duration(has(self.interval) ? self.interval : '60s')")
        .message("polling.timeout must not be longer than polling.interval")
        .field_path(".timeout"),
    validation = Rule::new("!has(self.backoffMax) || duration(self.backoffMax) >= duration(has(self.backoffBase) ? self.backoffBase : '1s')")
        .message("polling.backoffMax must be at least polling.backoffBase")
        .field_path(".backoffMax"),
)]
pub struct PollingSettings {
    /// Time between polls. Default 60s, at least 5s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "duration_schema")]
    #[x_kube(validation = Rule::new("duration(self) >= duration('5s')")
        .message("polling.interval must be at least 5s"))]
    #[x_kube(validation = Rule::new("duration(self) <= duration('24h')")
        .message("polling.interval must be at most 24h"))]
    pub interval: Option<String>,
    /// Random delay added to each interval, to spread books. Default 10% of the interval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "duration_schema")]
    pub jitter: Option<String>,
    /// Timeout of one HTTP request. Default 10s, at least 100ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "duration_schema")]
    #[x_kube(validation = Rule::new("duration(self) >= duration('100ms')")
        .message("polling.timeout must be at least 100ms"))]
    pub timeout: Option<String>,
    /// Retries of a failed request within one poll. Default 3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 10))]
    pub max_retries: Option<i32>,
    /// First retry delay; doubles each retry, with full jitter. Default 1s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "duration_schema")]
    #[x_kube(validation = Rule::new("duration(self) >= duration('100ms') && duration(self) <= duration('10m')")
        .message("polling.backoffBase must be between 100ms and 10m"))]
    pub backoff_base: Option<String>,
    /// Longest retry delay. Default 30s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "duration_schema")]
    #[x_kube(validation = Rule::new("duration(self) <= duration('1h')")
        .message("polling.backoffMax must be at most 1h"))]
    pub backoff_max: Option<String>,
    /// Upper bound on requests per minute, across retries. Default: no limit beyond the schedule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 6000))]
    pub max_requests_per_minute: Option<i32>,
    /// Largest response body accepted, in bytes. Default 16 MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1024, max = 268435456))]
    pub max_response_bytes: Option<i64>,
    /// Quotes observed longer ago than this are dropped as stale. Default 10m.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "duration_schema")]
    #[x_kube(validation = Rule::new("duration(self) >= duration('1s') && duration(self) <= duration('168h')")
        .message("polling.maxQuoteAge must be between 1s and 168h (0s would drop every quote)"))]
    pub max_quote_age: Option<String>,
}

/// Where the scraper writes its snapshots.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct StorageSettings {
    /// Object store URL: `file:///path` or `s3://bucket/prefix`. Default
    /// `file:///var/lib/nflbet/snapshots` on the pod's volume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self.startsWith('file:///') || self.startsWith('s3://')")
        .message("storage.url must start with file:/// or s3://"))]
    pub url: Option<String>,
    /// PersistentVolumeClaim mounted at /var/lib/nflbet. Default: an emptyDir.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persistent_volume_claim: Option<String>,
    /// S3 settings for `s3://` URLs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3: Option<S3Settings>,
    /// How long stored objects are kept: a Sportsbook's snapshots, a Model's recommendation
    /// records. The workload that wrote them deletes its own older ones (a bounded batch every
    /// 10 minutes). Go duration, 1h to 87600h (10 years). Default 24h on the pod's own emptyDir
    /// (a `file://` store without `persistentVolumeClaim`, lost with the pod anyway), else 4392h
    /// (183 days: a whole season stays replayable). A Model keeps at least its
    /// `calibration.window` plus 14 days.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "duration_schema")]
    #[x_kube(validation = Rule::new("duration(self) >= duration('1h')")
        .message("storage.retention must be at least 1h: models price the latest snapshots and the stale-data alert looks back that far"))]
    #[x_kube(validation = Rule::new("duration(self) <= duration('87600h')")
        .message("storage.retention must be at most 87600h (10 years)"))]
    pub retention: Option<String>,
}

/// Default retention on a pod's own emptyDir.
pub const POD_LOCAL_RETENTION: Duration = Duration::from_secs(24 * 3600);
/// Default retention on a shared store (S3 or a PersistentVolumeClaim): a whole season.
pub const SHARED_RETENTION: Duration = Duration::from_secs(4392 * 3600);

impl StorageSettings {
    /// The store is the pod's own emptyDir: a `file://` URL (or none) without a claim.
    pub fn is_pod_local(storage: Option<&StorageSettings>) -> bool {
        storage.is_none_or(|s| {
            s.persistent_volume_claim.is_none() && s.url.as_deref().is_none_or(|u| u.starts_with("file://"))
        })
    }

    /// The retention in effect: the explicit one, else the default for the kind of store.
    pub fn retention(storage: Option<&StorageSettings>) -> Duration {
        storage.and_then(|s| s.retention.as_deref()).and_then(parse_duration).unwrap_or_else(|| {
            if StorageSettings::is_pod_local(storage) { POD_LOCAL_RETENTION } else { SHARED_RETENTION }
        })
    }
}

/// S3-compatible object store connection.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct S3Settings {
    /// Endpoint for S3-compatible stores (MinIO, Ceph). Default: AWS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// Region. Default us-east-1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Secret key with the access key id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<SecretKeyRef>,
    /// Secret key with the secret access key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_access_key: Option<SecretKeyRef>,
}

/// Thresholds and labels of the book's alerts.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct AlertSettings {
    /// Data older than this fires `SportsbookDataStale`. Default: 5 × polling.interval, at least 5m.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "duration_schema")]
    #[x_kube(validation = Rule::new("duration(self) >= duration('1m') && duration(self) <= duration('168h')")
        .message("alerts.staleAfter must be between 1m and 168h"))]
    pub stale_after: Option<String>,
    /// More ingestion errors than this within `errorWindow` fires `SportsbookIngestionErrors`.
    /// Default 10.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1000000))]
    pub error_threshold: Option<i32>,
    /// Window for `errorThreshold`. Default 15m.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "duration_schema")]
    #[x_kube(validation = Rule::new("duration(self) >= duration('1m') && duration(self) <= duration('168h')")
        .message("alerts.errorWindow must be between 1m and 168h: Prometheus needs at least two scrapes (30s apart) in the window"))]
    pub error_window: Option<String>,
    /// Severity of the scraper-down and stale-data alerts. Default critical.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<Severity>,
    /// Extra labels on every alert of this book (e.g. `team: trading`). Keys are Prometheus
    /// label names (letters, digits and `_`, not starting with a digit or `__`); `severity`,
    /// `namespace` and `sportsbook` are set by the operator. Values are literal text.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(schema_with = "labels_schema")]
    #[x_kube(validation = Rule::new("self.all(k, size(k) <= 128 && k.matches('^[a-zA-Z_][a-zA-Z0-9_]*$'))")
        .message("alerts.extraLabels keys must be Prometheus label names of at most 128 characters: letters, digits and _, not starting with a digit (e.g. team, on_call)"))]
    #[x_kube(validation = Rule::new("self.all(k, !k.startsWith('__'))")
        .message("alerts.extraLabels keys starting with __ are reserved by Prometheus"))]
    #[x_kube(validation = Rule::new("self.all(k, !(k in ['severity', 'namespace', 'sportsbook']))")
        .message("alerts.extraLabels cannot set severity, namespace or sportsbook: the operator sets them (use alerts.severity for the severity)"))]
    #[x_kube(validation = Rule::new("self.all(k, !self[k].contains('{{') && !self[k].contains('}}'))")
        .message("alerts.extraLabels values are literal text and must not contain {{ or }} (Prometheus would read them as a template)"))]
    pub extra_labels: BTreeMap<String, String>,
}

/// Feature flags of a book.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct FeatureFlags {
    /// The scraper reports its heartbeat into `status.ingestion`. Default true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heartbeat: Option<bool>,
    /// Generate the PrometheusRule. Default true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alerts: Option<bool>,
    /// Generate a ServiceMonitor when its CRD is installed. Default true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_monitor: Option<bool>,
}

/// Observed state of a Sportsbook.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct SportsbookStatus {
    /// The spec generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Conditions: Ready, Stopped, Suspended, MonitoringAvailable.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "conditions_schema")]
    pub conditions: Vec<Condition>,
    /// Ready scraper replicas.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_replicas: Option<i32>,
    /// Enabled markets, comma separated (for `kubectl get`: a printer column shows one value).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub markets: Option<String>,
    /// Heartbeat of the scraper; written by the scraper, never by the operator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingestion: Option<IngestionStatus>,
}

/// What the scraper last reported. Bounded in size and free of secrets.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct IngestionStatus {
    /// When the last snapshot was written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_snapshot_time: Option<Time>,
    /// Object key of the last snapshot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_snapshot: Option<String>,
    /// Quotes kept in the last snapshot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quotes: Option<i64>,
    /// Quotes dropped by validation in the last poll.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejected_quotes: Option<i64>,
    /// Short description of the last failed poll (no secrets, at most 512 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// When the last failed poll happened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error_time: Option<Time>,
    /// Failed polls since the last success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consecutive_failures: Option<i64>,
    /// Remaining request quota reported by the provider, when it reports one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota_remaining: Option<i64>,
}

/// Effective settings with every default applied: what the build step and the scraper use.
#[derive(Clone, Debug, PartialEq)]
pub struct EffectivePolling {
    pub interval: Duration,
    pub jitter: Duration,
    pub timeout: Duration,
    pub max_retries: u32,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    pub max_requests_per_minute: Option<u32>,
    pub max_response_bytes: u64,
    pub max_quote_age: Duration,
}

impl SportsbookSpec {
    /// Markets with their enable flag on, in a stable order.
    pub fn enabled_markets(&self) -> Vec<Market> {
        let mut m: Vec<Market> = self.markets.iter().filter(|m| m.is_enabled()).map(|m| m.name).collect();
        m.sort();
        m.dedup();
        m
    }

    pub fn polling(&self) -> EffectivePolling {
        let p = self.polling.clone().unwrap_or_default();
        let d =
            |v: &Option<String>, default: Duration| v.as_deref().and_then(parse_duration).unwrap_or(default);
        let interval = d(&p.interval, Duration::from_secs(60));
        EffectivePolling {
            interval,
            jitter: d(&p.jitter, interval / 10),
            timeout: d(&p.timeout, Duration::from_secs(10).min(interval)),
            max_retries: p.max_retries.unwrap_or(3).max(0) as u32,
            backoff_base: d(&p.backoff_base, Duration::from_secs(1)),
            backoff_max: d(&p.backoff_max, Duration::from_secs(30)),
            max_requests_per_minute: p.max_requests_per_minute.map(|v| v.max(1) as u32),
            max_response_bytes: p.max_response_bytes.map(|v| v.max(0) as u64).unwrap_or(16 * 1024 * 1024),
            max_quote_age: d(&p.max_quote_age, Duration::from_secs(600)),
        }
    }

    /// Data older than this is stale: the explicit setting, else 5 polls, at least 5 minutes.
    pub fn stale_after(&self) -> Duration {
        self.alerts
            .as_ref()
            .and_then(|a| a.stale_after.as_deref())
            .and_then(parse_duration)
            .unwrap_or_else(|| (self.polling().interval * 5).max(Duration::from_secs(300)))
    }

    pub fn feature_heartbeat(&self) -> bool {
        self.features.as_ref().and_then(|f| f.heartbeat).unwrap_or(true)
    }

    pub fn feature_alerts(&self) -> bool {
        self.features.as_ref().and_then(|f| f.alerts).unwrap_or(true)
    }

    pub fn feature_service_monitor(&self) -> bool {
        self.features.as_ref().and_then(|f| f.service_monitor).unwrap_or(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retention_defaults_follow_the_store() {
        let store = |v: serde_json::Value| serde_json::from_value::<StorageSettings>(v).unwrap();
        assert_eq!(StorageSettings::retention(None), POD_LOCAL_RETENTION, "emptyDir");
        let file = store(serde_json::json!({"url": "file:///var/lib/nflbet/x"}));
        assert_eq!(StorageSettings::retention(Some(&file)), POD_LOCAL_RETENTION);
        let claim =
            store(serde_json::json!({"url": "file:///var/lib/nflbet/x", "persistentVolumeClaim": "c"}));
        assert_eq!(StorageSettings::retention(Some(&claim)), SHARED_RETENTION);
        let s3 = store(serde_json::json!({"url": "s3://b/p"}));
        assert_eq!(StorageSettings::retention(Some(&s3)), SHARED_RETENTION);
        let set = store(serde_json::json!({"url": "s3://b/p", "retention": "720h"}));
        assert_eq!(StorageSettings::retention(Some(&set)), Duration::from_secs(720 * 3600));
    }
}
