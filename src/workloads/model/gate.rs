//! The report of `nflbet model … --replay-gate-weeks N`: one side of a Model's replay gate.
//!
//! Instead of serving, the model workload's flags are replayed over the last N weeks of the
//! store's snapshots (the replay lives in `crate::replay`, dispatched by the CLI, so this
//! module only names what the replay writes and the operator reads back from the pod's
//! termination message).

use serde::{Deserialize, Serialize};

/// Where the kubelet reads a container's termination message; the report is written there (when
/// it exists, i.e. in a pod) as well as to stdout.
pub const TERMINATION_LOG: &str = "/dev/termination-log";

/// The largest termination message the kubelet keeps (4096 bytes); a report stays far below.
pub const TERMINATION_MESSAGE_LIMIT: usize = 4096;

/// What one side of the gate replayed and how it scored. JSON, camelCase. Fields it does not know
/// are ignored: a candidate's image may be newer than the operator reading its report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GateReport {
    /// The model version replayed (`--version`).
    pub version: String,
    /// The fingerprint of the parameters replayed (`--parameters`).
    pub parameters: Option<String>,
    /// Brier score and log loss of the settled pre-kickoff forecasts; `None` with no samples.
    pub brier: Option<f64>,
    pub log_loss: Option<f64>,
    /// Settled forecasts scored (pushes excluded).
    pub samples: u64,
    /// Bets placed at their first recommendation and settled, and their return on stake.
    pub bets: u64,
    pub roi: Option<f64>,
    /// The replayed window (RFC 3339); `None` when the store holds no snapshot of the books.
    pub from: Option<String>,
    pub to: Option<String>,
}

impl GateReport {
    /// A report read back from a termination message.
    pub fn parse(message: &str) -> Result<GateReport, serde_json::Error> {
        serde_json::from_str(message.trim())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_round_trips_and_garbage_is_refused() {
        let r = GateReport {
            version: "1.0.0".into(),
            parameters: Some("0123456789".into()),
            brier: Some(0.21),
            log_loss: Some(0.61),
            samples: 120,
            bets: 14,
            roi: Some(-0.02),
            from: Some("2024-09-01T00:00:00Z".into()),
            to: Some("2024-09-29T17:00:00Z".into()),
        };
        let json = serde_json::to_string(&r).unwrap();
        assert!(json.contains("\"logLoss\":0.61"), "{json}");
        assert!(json.len() < TERMINATION_MESSAGE_LIMIT);
        assert_eq!(GateReport::parse(&format!("{json}\n")).unwrap(), r);
        assert!(GateReport::parse("thread 'main' panicked at src/main.rs").is_err());
        assert!(GateReport::parse("{\"version\": \"1.0.0\"}").is_err(), "fields missing");
        // A newer image may report more; what this operator reads is still there.
        let newer = json.replacen('{', "{\"calibrationBins\":[0.1,0.2],", 1);
        assert_eq!(GateReport::parse(&newer).unwrap(), r);
    }
}
