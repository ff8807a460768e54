//! Health of each nflbet resource, judged from its spec and status alone (pure: no cluster, the
//! clock is a parameter), in the stable shape `nflbet status --output json|yaml` prints.
//!
//! Rules, the same for scripts and people:
//! - a stopped resource (`spec.disabled`) is fine: someone switched it off on purpose;
//! - a suspended one (`spec.suspend`) is reported, with its problems, but does not fail the run;
//! - otherwise it is unhealthy when `Ready` is not `True`, and a Sportsbook also when its last
//!   snapshot is older than its stale threshold (`SportsbookSpec::stale_after`, the threshold of
//!   its stale-data alert).

use crate::crd::common::find_condition;
use crate::crd::condition::Condition;
use crate::crd::model::{CalibrationReport, EdgeSummary};
use crate::crd::{AlertRoute, Model, Sportsbook};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::jiff::Timestamp;
use serde::Serialize;

/// Version of the JSON/YAML shape; bumped only on incompatible changes.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Running,
    Stopped,
    Suspended,
    /// The object exists but does not match the CRD's Rust type (e.g. written by a newer nflbet).
    Unreadable,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Running => "running",
            State::Stopped => "stopped",
            State::Suspended => "suspended",
            State::Unreadable => "unreadable",
        }
    }
}

/// The `Ready` condition as reported, or `Unknown` when there is none yet.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Ready {
    pub status: String,
    pub reason: String,
    pub message: String,
}

/// What every row has.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Common {
    pub namespace: String,
    pub name: String,
    pub ready: Ready,
    pub state: State,
    /// False only for running (or unreadable) resources with problems.
    pub healthy: bool,
    /// Why the resource is (or, when suspended, would be) unhealthy.
    pub problems: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BookRow {
    #[serde(flatten)]
    pub common: Common,
    pub provider: Option<String>,
    pub last_snapshot_time: Option<String>,
    pub last_snapshot_age_seconds: Option<i64>,
    pub stale_after_seconds: u64,
    pub stale: bool,
    pub quotes: Option<i64>,
    pub consecutive_failures: i64,
    pub last_error: Option<String>,
    pub last_error_time: Option<String>,
    pub ready_replicas: Option<i32>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelRow {
    #[serde(flatten)]
    pub common: Common,
    pub algorithm: Option<String>,
    pub version: Option<String>,
    pub candidate_version: Option<String>,
    pub rollout_phase: Option<String>,
    pub top_edge: Option<EdgeSummary>,
    pub total_stake: Option<f64>,
    pub bankroll: Option<f64>,
    pub markets_priced: Option<i64>,
    pub last_run_time: Option<String>,
    pub calibration: Option<CalibrationReport>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteRow {
    #[serde(flatten)]
    pub common: Common,
    pub min_severity: Option<String>,
    pub receivers: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Counts {
    pub total: usize,
    pub healthy: usize,
    pub unhealthy: usize,
    pub stopped: usize,
    pub suspended: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusReport {
    pub schema_version: u32,
    /// The namespace listed, or null for all namespaces.
    pub namespace: Option<String>,
    pub generated_at: String,
    pub healthy: bool,
    pub counts: Counts,
    pub sportsbooks: Vec<BookRow>,
    pub models: Vec<ModelRow>,
    pub alert_routes: Vec<RouteRow>,
}

impl StatusReport {
    pub fn new(
        namespace: Option<String>,
        now: Timestamp,
        sportsbooks: Vec<BookRow>,
        models: Vec<ModelRow>,
        alert_routes: Vec<RouteRow>,
    ) -> Self {
        let commons: Vec<&Common> = sportsbooks
            .iter()
            .map(|r| &r.common)
            .chain(models.iter().map(|r| &r.common))
            .chain(alert_routes.iter().map(|r| &r.common))
            .collect();
        let mut counts = Counts { total: commons.len(), ..Counts::default() };
        for c in &commons {
            match (c.state, c.healthy) {
                (State::Stopped, _) => counts.stopped += 1,
                (State::Suspended, _) => counts.suspended += 1,
                (_, true) => counts.healthy += 1,
                (_, false) => counts.unhealthy += 1,
            }
        }
        StatusReport {
            schema_version: SCHEMA_VERSION,
            namespace,
            generated_at: now.to_string(),
            healthy: counts.unhealthy == 0,
            counts,
            sportsbooks,
            models,
            alert_routes,
        }
    }

    /// Every unhealthy (or suspended-with-problems) resource with its reasons, for the footer.
    pub fn problems(&self) -> Vec<(&'static str, &Common)> {
        let rows = self
            .sportsbooks
            .iter()
            .map(|r| ("Sportsbook", &r.common))
            .chain(self.models.iter().map(|r| ("Model", &r.common)))
            .chain(self.alert_routes.iter().map(|r| ("AlertRoute", &r.common)));
        rows.filter(|(_, c)| !c.problems.is_empty() && c.state != State::Stopped).collect()
    }
}

fn ready(conditions: &[Condition]) -> Ready {
    match find_condition(conditions, crate::controller::conditions::READY) {
        Some(c) => {
            Ready { status: c.status.to_string(), reason: c.reason.to_string(), message: c.message.clone() }
        }
        None => Ready {
            status: "Unknown".into(),
            reason: "NoStatus".into(),
            message: "no Ready condition yet: is the operator running and watching this namespace?".into(),
        },
    }
}

fn common(meta: &ObjectMeta, conditions: &[Condition], disabled: bool, suspend: bool) -> Common {
    let ready = ready(conditions);
    let state = if disabled {
        State::Stopped
    } else if suspend {
        State::Suspended
    } else {
        State::Running
    };
    let mut problems = Vec::new();
    if state != State::Stopped && ready.status != "True" {
        let mut p = format!("Ready is {} ({})", ready.status, ready.reason);
        if !ready.message.is_empty() {
            p.push_str(&format!(": {}", ready.message));
        }
        problems.push(p);
    }
    Common {
        namespace: meta.namespace.clone().unwrap_or_default(),
        name: meta.name.clone().unwrap_or_default(),
        ready,
        state,
        healthy: true,
        problems,
    }
}

/// Settle `healthy` once every problem is known: only running resources can be unhealthy.
fn settle(mut c: Common) -> Common {
    c.healthy = match c.state {
        State::Stopped | State::Suspended => true,
        State::Running | State::Unreadable => c.problems.is_empty(),
    };
    c
}

/// A row for an object that does not deserialise: always unhealthy, with the reason.
pub fn unreadable(meta: &ObjectMeta, error: &str) -> Common {
    let mut c = common(meta, &[], false, false);
    c.state = State::Unreadable;
    c.problems = vec![format!("cannot be read as this nflbet version's type: {error}")];
    c.healthy = false;
    c
}

fn rfc3339(t: &Option<Time>) -> Option<String> {
    t.as_ref().map(|t| t.0.to_string())
}

fn age_seconds(now: Timestamp, t: &Time) -> i64 {
    now.duration_since(t.0).as_secs()
}

/// `42s`, `5m`, `3h12m`, `2d4h`: kubectl's compact ages.
pub fn human_age(secs: i64) -> String {
    let s = secs.max(0);
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86400 if (s % 3600) / 60 == 0 => format!("{}h", s / 3600),
        3600..86400 => format!("{}h{}m", s / 3600, (s % 3600) / 60),
        _ if (s % 86400) / 3600 == 0 => format!("{}d", s / 86400),
        _ => format!("{}d{}h", s / 86400, (s % 86400) / 3600),
    }
}

pub fn book(sb: &Sportsbook, now: Timestamp) -> BookRow {
    let status = sb.status.clone().unwrap_or_default();
    let ingestion = status.ingestion.clone().unwrap_or_default();
    let mut c = common(&sb.metadata, &status.conditions, sb.spec.disabled, sb.spec.suspend);
    let stale_after = sb.spec.stale_after();
    let stale_s = stale_after.as_secs() as i64;
    let age = ingestion.last_snapshot_time.as_ref().map(|t| age_seconds(now, t));
    let mut stale = false;
    if c.state != State::Stopped && sb.spec.feature_heartbeat() {
        let threshold = crate::domain::duration::format_duration(stale_after);
        match (age, sb.metadata.creation_timestamp.as_ref()) {
            (Some(a), _) if a > stale_s => {
                stale = true;
                c.problems.push(format!(
                    "stale: last snapshot {} ago, older than its threshold of {threshold}",
                    human_age(a)
                ));
            }
            (None, Some(created)) if age_seconds(now, created) > stale_s => {
                stale = true;
                c.problems.push(format!(
                    "stale: no snapshot since it was created {} ago (threshold {threshold})",
                    human_age(age_seconds(now, created))
                ));
            }
            _ => {}
        }
    }
    BookRow {
        common: settle(c),
        provider: Some(sb.spec.provider.as_str().to_string()),
        last_snapshot_time: rfc3339(&ingestion.last_snapshot_time),
        last_snapshot_age_seconds: age,
        stale_after_seconds: stale_after.as_secs(),
        stale,
        quotes: ingestion.quotes,
        consecutive_failures: ingestion.consecutive_failures.unwrap_or(0),
        last_error: ingestion.last_error.clone(),
        last_error_time: rfc3339(&ingestion.last_error_time),
        ready_replicas: status.ready_replicas,
    }
}

pub fn model(m: &Model) -> ModelRow {
    let status = m.status.clone().unwrap_or_default();
    let c = common(&m.metadata, &status.conditions, m.spec.disabled, m.spec.suspend);
    let summary = status.summary.clone().unwrap_or_default();
    let top_edge =
        summary.top_edges.iter().max_by(|a, b| a.expected_value.total_cmp(&b.expected_value)).cloned();
    ModelRow {
        common: settle(c),
        algorithm: Some(m.spec.algorithm.as_str().to_string()),
        version: status.current_version.clone().or_else(|| Some(m.spec.version.clone())),
        candidate_version: status.candidate_version.clone(),
        rollout_phase: status.rollout_phase.clone(),
        top_edge,
        total_stake: summary.total_stake,
        bankroll: Some(m.spec.parameters.staking.bankroll),
        markets_priced: summary.markets_priced,
        last_run_time: rfc3339(&summary.last_run_time),
        calibration: status.calibration.clone(),
    }
}

pub fn route(r: &AlertRoute) -> RouteRow {
    let status = r.status.clone().unwrap_or_default();
    let c = common(&r.metadata, &status.conditions, r.spec.disabled, false);
    RouteRow {
        common: settle(c),
        min_severity: Some(r.spec.min_severity().as_str().to_string()),
        receivers: status.receivers.clone().or_else(|| Some(r.spec.receivers_label())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> Timestamp {
        "2025-09-07T18:00:00Z".parse().unwrap()
    }

    fn sb(spec: serde_json::Value, status: serde_json::Value) -> Sportsbook {
        serde_json::from_value(json!({
            "apiVersion": "betting.nflbet.dev/v1alpha1", "kind": "Sportsbook",
            "metadata": {"name": "fd", "namespace": "b", "creationTimestamp": "2025-09-07T10:00:00Z"},
            "spec": spec, "status": status,
        }))
        .unwrap()
    }

    fn ready_true() -> serde_json::Value {
        json!([{"type": "Ready", "status": "True", "reason": "Succeeded", "message": "", "lastTransitionTime": "2025-09-07T10:00:00Z"}])
    }

    #[test]
    fn ages_read_like_kubectl() {
        assert_eq!(human_age(42), "42s");
        assert_eq!(human_age(300), "5m");
        assert_eq!(human_age(3600), "1h");
        assert_eq!(human_age(3600 * 3 + 720), "3h12m");
        assert_eq!(human_age(86400 * 2 + 3600 * 4), "2d4h");
    }

    #[test]
    fn fresh_ready_book_is_healthy_and_old_data_is_stale() {
        let spec = json!({"provider": "genericJson", "endpoint": "http://x", "markets": [{"name": "total"}], "alerts": {"staleAfter": "10m"}});
        let fresh = book(
            &sb(
                spec.clone(),
                json!({"conditions": ready_true(), "ingestion": {"lastSnapshotTime": "2025-09-07T17:59:30Z"}}),
            ),
            now(),
        );
        assert!(fresh.common.healthy, "{fresh:?}");
        assert_eq!(fresh.last_snapshot_age_seconds, Some(30));

        let old = book(
            &sb(
                spec,
                json!({"conditions": ready_true(), "ingestion": {"lastSnapshotTime": "2025-09-07T17:00:00Z"}}),
            ),
            now(),
        );
        assert!(!old.common.healthy);
        assert_eq!(old.common.problems, ["stale: last snapshot 1h ago, older than its threshold of 10m"]);
    }

    #[test]
    fn stopped_is_fine_suspended_is_reported_but_not_counted() {
        let base = json!({"provider": "genericJson", "endpoint": "http://x", "markets": [{"name": "total"}]});
        let mut stopped = base.clone();
        stopped["disabled"] = json!(true);
        let row = book(&sb(stopped, json!({})), now());
        assert_eq!((row.common.state, row.common.healthy), (State::Stopped, true));
        assert!(row.common.problems.is_empty());

        let mut suspended = base;
        suspended["suspend"] = json!(true);
        let row = book(&sb(suspended, json!({})), now());
        assert_eq!((row.common.state, row.common.healthy), (State::Suspended, true));
        assert_eq!(row.common.problems.len(), 2, "{:?}", row.common.problems);

        let report = StatusReport::new(Some("b".into()), now(), vec![row], vec![], vec![]);
        assert!(report.healthy);
        assert_eq!(report.counts.suspended, 1);
    }
}
