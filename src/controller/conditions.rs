//! `metav1.Condition` bookkeeping shared by every controller.
//!
//! Rules (Kubernetes API conventions, kstatus): `Ready` is always present; reasons are PascalCase;
//! `observedGeneration` is set on every condition; `lastTransitionTime` changes only when the
//! status value flips, so an unchanged reconcile writes an identical status and triggers nothing.

use crate::crd::condition::Condition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

pub const READY: &str = "Ready";
pub const STOPPED: &str = "Stopped";
pub const SUSPENDED: &str = "Suspended";
pub const MONITORING: &str = "MonitoringAvailable";

/// Condition status values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    True,
    False,
    Unknown,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::True => "True",
            Status::False => "False",
            Status::Unknown => "Unknown",
        }
    }

    pub fn from_bool(b: bool) -> Status {
        if b { Status::True } else { Status::False }
    }
}

/// What a controller wants one condition to say.
#[derive(Clone, Debug, PartialEq)]
pub struct Desired {
    pub type_: &'static str,
    pub status: Status,
    pub reason: &'static str,
    pub message: String,
}

impl Desired {
    pub fn new(
        type_: &'static str,
        status: Status,
        reason: &'static str,
        message: impl Into<String>,
    ) -> Self {
        Desired { type_, status, reason, message: message.into() }
    }
}

/// Merge desired conditions into the previous list. Keeps `lastTransitionTime` of a condition
/// whose status did not change; drops a condition of a type the controller `owns` but no longer
/// sets (it would go stale); keeps conditions of other types untouched (someone else owns them);
/// orders the result by type so the written status is deterministic.
pub fn merge(
    previous: &[Condition],
    desired: &[Desired],
    owns: &[&str],
    generation: Option<i64>,
    now: Timestamp,
) -> Vec<Condition> {
    let mut out: Vec<Condition> = previous
        .iter()
        .filter(|c| !owns.contains(&c.type_.as_str()) && !desired.iter().any(|d| d.type_ == c.type_))
        .cloned()
        .collect();
    for d in desired {
        let last_transition_time = previous
            .iter()
            .find(|c| c.type_ == d.type_ && c.status == d.status.as_str())
            .map(|c| c.last_transition_time.clone())
            .unwrap_or(Time(now));
        out.push(Condition {
            type_: d.type_.into(),
            status: d.status.as_str().into(),
            reason: d.reason.into(),
            message: truncate(&d.message, 1024),
            observed_generation: generation,
            last_transition_time,
        });
    }
    out.sort_by(|a, b| a.type_.cmp(&b.type_));
    out
}

/// Keep messages bounded (API conventions: human-readable, short).
fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// Monitoring objects the API server refused in one reconcile (the workload was applied anyway):
/// the API server's reason and what it said, for `MonitoringAvailable=False` and a Warning Event.
#[derive(Clone, Debug, PartialEq)]
pub struct Refusal {
    pub reason: &'static str,
    pub message: String,
}

impl Refusal {
    pub fn condition(&self) -> Desired {
        Desired::new(MONITORING, Status::False, self.reason, self.message.clone())
    }
}

/// The two off switches, never confused: `Suspended` (reconciliation paused) and `Stopped`
/// (workload scaled to zero). When both are set, paused wins and `Stopped` is `Unknown`: the
/// operator is not enforcing it right now.
pub fn lifecycle(disabled: bool, suspend: bool, stopped_means: &str) -> [Desired; 2] {
    let suspended = if suspend {
        Desired::new(
            SUSPENDED,
            Status::True,
            "Suspended",
            "reconciliation paused by spec.suspend: children are not written",
        )
    } else {
        Desired::new(SUSPENDED, Status::False, "Active", "reconciling")
    };
    let stopped = if suspend {
        Desired::new(STOPPED, Status::Unknown, "Suspended", "reconciliation is suspended")
    } else if disabled {
        Desired::new(STOPPED, Status::True, "Disabled", format!("stopped by spec.disabled: {stopped_means}"))
    } else {
        Desired::new(STOPPED, Status::False, "Running", "enabled")
    };
    [suspended, stopped]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(secs: i64) -> Timestamp {
        Timestamp::from_second(secs).unwrap()
    }

    #[test]
    fn transition_time_changes_only_when_status_flips() {
        let first = merge(
            &[],
            &[Desired::new(READY, Status::False, "Progressing", "rolling out")],
            &[],
            Some(1),
            t(100),
        );
        assert_eq!(first[0].last_transition_time, Time(t(100)));

        // Same status, new message and generation: time kept.
        let second = merge(
            &first,
            &[Desired::new(READY, Status::False, "Progressing", "still rolling")],
            &[],
            Some(2),
            t(200),
        );
        assert_eq!(second[0].last_transition_time, Time(t(100)));
        assert_eq!(second[0].observed_generation, Some(2));
        assert_eq!(second[0].message, "still rolling");

        // Flip: time moves.
        let third =
            merge(&second, &[Desired::new(READY, Status::True, "Succeeded", "ok")], &[], Some(2), t(300));
        assert_eq!(third[0].last_transition_time, Time(t(300)));
    }

    #[test]
    fn foreign_conditions_are_kept_and_order_is_stable() {
        let prev = merge(
            &[],
            &[
                Desired::new("Zeta", Status::True, "X", ""),
                Desired::new("ConfigValid", Status::True, "Y", ""),
            ],
            &[],
            None,
            t(1),
        );
        let out = merge(
            &prev,
            &[
                Desired::new(STOPPED, Status::False, "Running", ""),
                Desired::new(READY, Status::True, "Succeeded", ""),
            ],
            &[READY, STOPPED, "ConfigValid"],
            Some(1),
            t(2),
        );
        let types: Vec<&str> = out.iter().map(|c| c.type_.as_str()).collect();
        assert_eq!(types, ["Ready", "Stopped", "Zeta"], "an owned type no longer set is dropped");
    }

    #[test]
    fn long_messages_are_truncated_on_a_char_boundary() {
        let msg = "é".repeat(1000);
        let out = merge(&[], &[Desired::new(READY, Status::False, "Failed", msg)], &[], None, t(1));
        assert!(out[0].message.len() <= 1024 + '…'.len_utf8());
    }
}
