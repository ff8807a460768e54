//! Optional leader election on a `coordination.k8s.io/v1` Lease, so two operator replicas never
//! both reconcile. It follows client-go's `leaderelection` package:
//!
//! - **Settings** (flags `--leader-elect-lease-duration`, `--leader-elect-renew-deadline`,
//!   `--leader-elect-retry-period`; defaults 15 s, 10 s, 2 s as in the Kubernetes components).
//!   The lease duration must exceed the renew deadline, which must exceed the retry period.
//! - **Expiry is measured by the follower's own clock.** A candidate remembers the last Lease
//!   record it read and *when it first read it* (its own monotonic clock, after the read
//!   returned). The holder is valid until that observation time plus the record's
//!   `leaseDurationSeconds`; only a change of the record restarts the clock. The leader's
//!   `renewTime` is never compared with the follower's clock, so clock skew between nodes cannot
//!   make a follower take a live lease.
//! - **Every attempt has a deadline**: a read and a write of the Lease must finish within
//!   max(1 s, renew deadline / 2) (what client-go's lock client sets as its request timeout), and
//!   a leader's attempt never runs past its renew deadline. A hung connection therefore never
//!   keeps a replica waiting beyond its deadline.
//! - **A leader steps down when it could not renew before the renew deadline**, counted from the
//!   start of its last successful renewal (before its write reached the server, so earlier than any
//!   follower's observation of it). A follower takes over no sooner than the lease duration after
//!   it observed that renewal, so the old leader has stopped `lease duration − renew deadline`
//!   (5 s by default) before the new one starts. A leader that reads another holder steps down at
//!   once. Writes use the Lease's `resourceVersion` (optimistic concurrency): of two candidates
//!   racing for an expired lease, the second gets 409 and stays a follower.
//! - **Stepping down** drops the controllers' future: every in-flight reconcile is aborted at its
//!   next await point (no graceful drain, which could wait on a hung API server), so no new write
//!   leaves this replica. The replica then follows again in the same process (it is not restarted)
//!   and can lead again later. Its per-resource gauges are removed with the controllers' caches.
//! - **Reporting**: the gauge `leader_election_master_status{name=<lease>}` (controller-runtime's
//!   name) is 1 while leading and 0 otherwise, and [`LeaderElector::subscribe`] gives the same
//!   with the instant of each transition and the holder last observed. `/readyz` is 200 for a
//!   follower too: a follower serves metrics, and gating readiness on leadership would stall a
//!   rolling update of two replicas.
//! - A clean shutdown drains the controllers while still renewing, then releases the lease so a
//!   follower takes over at its next retry instead of after the lease expires.
//!
//! Why not a crate: `kube-coordinate` has client-go's observed-time expiry and a request timeout,
//! but is built on kube 2 (this crate uses kube 5, whose `Client` it cannot take).
//! `kube-leader-election` (kube 4) and `kube-lease-manager` (kube 5) both decide expiry by
//! comparing the holder's `renewTime` with the local wall clock and have no per-attempt deadline;
//! neither steps a leader down at a renew deadline shorter than the lease (`kube-lease-manager`
//! keeps reporting leadership through API errors while it retries with backoff, and
//! `kube-leader-election` leaves giving up to the caller).

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::Client;
use kube::api::{Api, PostParams};
use prometheus::IntGauge;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

/// Largest fraction of the retry period added at random to a follower's wait. client-go adds up
/// to 1.2×, which spreads many candidates apart; with a handful of replicas 0.2× is enough and
/// lets a follower notice a silent leader sooner.
const JITTER: f64 = 0.2;

#[derive(Clone, Debug)]
pub struct LeaseSettings {
    pub name: String,
    pub namespace: String,
    pub identity: String,
    /// How long a holder is valid after a candidate observed its last renewal.
    pub lease_duration: Duration,
    /// How long a leader keeps trying to renew before it steps down.
    pub renew_deadline: Duration,
    /// Wait between attempts.
    pub retry_period: Duration,
}

impl LeaseSettings {
    /// Refuse settings under which two replicas could both lead, or that a Lease cannot carry.
    pub fn validate(&self) -> Result<(), LeaderError> {
        let (lease, renew, retry) = (self.lease_duration, self.renew_deadline, self.retry_period);
        let bad = |why: String| Err(LeaderError::Settings(why));
        if lease.subsec_nanos() != 0 || lease.is_zero() {
            return bad(format!(
                "--leader-elect-lease-duration must be a whole number of seconds, at least 1s \
                 (the Lease stores seconds), got {lease:?}"
            ));
        }
        if renew >= lease {
            return bad(format!(
                "--leader-elect-renew-deadline ({renew:?}) must be shorter than \
                 --leader-elect-lease-duration ({lease:?}): a leader must stop before a follower \
                 may take over"
            ));
        }
        if retry.is_zero() || retry.mul_f64(1.0 + JITTER) >= renew {
            return bad(format!(
                "--leader-elect-retry-period ({retry:?}) must be above zero and, with {}% jitter, \
                 shorter than --leader-elect-renew-deadline ({renew:?}), or a leader gets no \
                 second try",
                (JITTER * 100.0) as u32
            ));
        }
        if self.identity.is_empty() {
            return bad("the replica's identity (--pod-name / POD_NAME) is empty".into());
        }
        Ok(())
    }

    /// Deadline of one attempt (a read and a write of the Lease): max(1 s, renew deadline / 2),
    /// the request timeout client-go gives its lock client.
    pub fn attempt_timeout(&self) -> Duration {
        (self.renew_deadline / 2).max(Duration::from_secs(1))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LeaderError {
    #[error("invalid leader-election settings: {0}")]
    Settings(String),
    #[error("lease {0}: {1}")]
    Api(String, #[source] kube::Error),
    #[error("lease {lease}: the API server did not answer within {timeout:?}")]
    Timeout { lease: String, timeout: Duration },
    #[error("lease {0}: another candidate changed it while this one was writing (conflict)")]
    Conflict(String),
}

/// Outcome of one attempt to take or keep the lease.
#[derive(Debug, PartialEq, Eq)]
pub enum Attempt {
    Acquired,
    HeldBy(String),
}

/// Why a leader stopped leading.
#[derive(Debug)]
pub enum StepDown {
    /// The lease record names another holder.
    Lost { holder: String },
    /// No renewal succeeded within the renew deadline.
    RenewDeadline { since_renewal: Duration, last_error: Option<LeaderError> },
}

impl std::fmt::Display for StepDown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StepDown::Lost { holder } => write!(f, "the lease is held by {holder}"),
            StepDown::RenewDeadline { since_renewal, last_error: Some(e) } => {
                write!(f, "no renewal for {since_renewal:?} (past the renew deadline); last error: {e}")
            }
            StepDown::RenewDeadline { since_renewal, last_error: None } => {
                write!(f, "no renewal for {since_renewal:?} (past the renew deadline)")
            }
        }
    }
}

/// This replica's leadership as it reports it: whether it leads, since when (its own clock: the
/// instant it acquired the lease, or the instant its controllers had stopped after stepping
/// down), and the holder it last observed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaderStatus {
    pub leading: bool,
    pub since: Instant,
    pub observed_holder: Option<String>,
}

/// The last Lease record a candidate read and when, by its own clock, it first read it. Pure:
/// the caller passes the time, so the expiry rule is tested without a cluster or a real clock.
#[derive(Debug, Default)]
pub struct Observation {
    seen: Option<(LeaseSpec, Instant)>,
}

impl Observation {
    /// Record the lease as read at `now`. The clock restarts only when the record changed, so a
    /// holder that stops renewing expires on schedule however often it is read.
    pub fn observe(&mut self, spec: LeaseSpec, now: Instant) {
        match &self.seen {
            Some((old, _)) if *old == spec => {}
            _ => self.seen = Some((spec, now)),
        }
    }

    /// The observed holder, if any (an empty identity is a released lease).
    pub fn holder(&self) -> Option<&str> {
        let (spec, _) = self.seen.as_ref()?;
        spec.holder_identity.as_deref().filter(|h| !h.is_empty())
    }

    /// When the observed holder's claim ends by this replica's clock: first observation of the
    /// record plus its `leaseDurationSeconds`. `None` when nothing is held.
    pub fn expires_at(&self) -> Option<Instant> {
        let (spec, at) = self.seen.as_ref()?;
        self.holder()?;
        let secs = u64::try_from(spec.lease_duration_seconds.unwrap_or(0)).unwrap_or(0);
        Some(*at + Duration::from_secs(secs))
    }

    /// The holder that keeps `me` from taking the lease at `now`: someone else whose claim has
    /// not expired.
    pub fn blocking_holder(&self, me: &str, now: Instant) -> Option<&str> {
        let holder = self.holder()?;
        (holder != me && self.expires_at().is_some_and(|end| now < end)).then_some(holder)
    }
}

/// The Lease record a candidate writes to take or renew the lease.
fn claim(old: &LeaseSpec, s: &LeaseSettings, now: Timestamp) -> LeaseSpec {
    let ours = old.holder_identity.as_deref() == Some(s.identity.as_str());
    LeaseSpec {
        holder_identity: Some(s.identity.clone()),
        lease_duration_seconds: Some(s.lease_duration.as_secs().min(i32::MAX as u64) as i32),
        acquire_time: if ours { old.acquire_time.clone() } else { Some(MicroTime(now)) },
        renew_time: Some(MicroTime(now)),
        lease_transitions: Some(match (ours, old.lease_transitions) {
            (true, t) => t.unwrap_or(0),
            (false, t) => t.map_or(0, |t| t + 1),
        }),
        ..old.clone()
    }
}

pub struct LeaderElector {
    api: Api<Lease>,
    s: LeaseSettings,
    observed: Observation,
    status: watch::Sender<LeaderStatus>,
    gauge: IntGauge,
}

impl LeaderElector {
    /// `gauge` is set to 1 while this replica leads, 0 otherwise.
    pub fn new(client: Client, s: LeaseSettings, gauge: IntGauge) -> Result<Self, LeaderError> {
        s.validate()?;
        gauge.set(0);
        let status = LeaderStatus { leading: false, since: Instant::now(), observed_holder: None };
        Ok(LeaderElector {
            api: Api::namespaced(client, &s.namespace),
            s,
            observed: Observation::default(),
            status: watch::Sender::new(status),
            gauge,
        })
    }

    /// This replica's leadership, updated at each transition and each new observed holder.
    pub fn subscribe(&self) -> watch::Receiver<LeaderStatus> {
        self.status.subscribe()
    }

    /// Block until this replica holds the lease. Returns the start of the winning attempt, from
    /// which the renew deadline counts.
    pub async fn acquire(&mut self) -> Instant {
        let mut last_holder = None;
        loop {
            let start = Instant::now();
            match self.attempt(self.s.attempt_timeout()).await {
                Ok(Attempt::Acquired) => {
                    self.set_leading(true);
                    tracing::info!(lease = %self.s.name, identity = %self.s.identity, "became leader");
                    return start;
                }
                Ok(Attempt::HeldBy(holder)) => {
                    if last_holder.as_ref() != Some(&holder) {
                        tracing::info!(lease = %self.s.name, %holder, "following; waiting for leadership");
                        last_holder = Some(holder);
                    }
                }
                Err(e) => tracing::warn!(error = %e, "could not read or take the lease; retrying"),
            }
            // Retry after the (jittered) retry period, or as soon as the holder's claim ends.
            let jitter = self.s.retry_period.mul_f64(JITTER * rand::random::<f64>());
            let mut wake = Instant::now() + self.s.retry_period + jitter;
            if let Some(end) = self.observed.expires_at() {
                wake = wake.min(end.max(Instant::now()));
            }
            tokio::time::sleep_until(wake).await;
        }
    }

    /// Renew every retry period. Returns when this replica must stop leading: another holder is
    /// observed, or no renewal succeeded within the renew deadline of the start of the last
    /// successful one (`renewed_at`, from [`acquire`](Self::acquire)). The caller stops its
    /// controllers, then calls [`follow`](Self::follow).
    pub async fn keep(&mut self, mut renewed_at: Instant) -> StepDown {
        let mut last_error = None;
        loop {
            let deadline = renewed_at + self.s.renew_deadline;
            tokio::time::sleep_until((Instant::now() + self.s.retry_period).min(deadline)).await;
            let start = Instant::now();
            if start >= deadline {
                return StepDown::RenewDeadline { since_renewal: start - renewed_at, last_error };
            }
            match self.attempt(self.s.attempt_timeout().min(deadline - start)).await {
                Ok(Attempt::Acquired) => {
                    renewed_at = start;
                    last_error = None;
                }
                Ok(Attempt::HeldBy(holder)) => return StepDown::Lost { holder },
                Err(e) => {
                    tracing::warn!(error = %e, "lease renewal failed; retrying until the renew deadline");
                    last_error = Some(e);
                }
            }
        }
    }

    /// Report that this replica has stopped leading (its controllers are stopped).
    pub fn follow(&self) {
        self.set_leading(false);
    }

    /// Give the lease up on a clean shutdown, so a follower takes over at its next retry instead
    /// of after the lease expires. Best effort within one attempt's deadline: a failure only
    /// delays the follower.
    pub async fn release(&mut self) {
        let timeout = self.s.attempt_timeout();
        let released = tokio::time::timeout(timeout, async {
            let Some(mut lease) = self.api.get_opt(&self.s.name).await? else { return Ok(false) };
            let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
            if spec.holder_identity.as_deref() != Some(self.s.identity.as_str()) {
                return Ok(false);
            }
            spec.holder_identity = None;
            spec.renew_time = None;
            self.api.replace(&self.s.name, &PostParams::default(), &lease).await.map(|_| true)
        })
        .await;
        self.set_leading(false);
        match released {
            Ok(Ok(true)) => tracing::info!(lease = %self.s.name, "released the lease"),
            Ok(Ok(false)) => {}
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "could not release the lease; a follower takes over when it expires")
            }
            Err(_) => tracing::warn!(
                ?timeout,
                "releasing the lease timed out; a follower takes over when it expires"
            ),
        }
    }

    /// One attempt to take or renew the lease, abandoned after `timeout`.
    pub async fn attempt(&mut self, timeout: Duration) -> Result<Attempt, LeaderError> {
        match tokio::time::timeout(timeout, self.try_acquire_or_renew()).await {
            Ok(r) => r,
            Err(_) => Err(LeaderError::Timeout { lease: self.s.name.clone(), timeout }),
        }
    }

    async fn try_acquire_or_renew(&mut self) -> Result<Attempt, LeaderError> {
        let name = self.s.name.clone();
        let err = |e| LeaderError::Api(name.clone(), e);
        let current = self.api.get_opt(&self.s.name).await.map_err(err)?;
        // Observed after the read returned: never earlier than the holder's write.
        let now = Instant::now();
        let (metadata, old) = match current {
            Some(lease) => {
                let spec = lease.spec.unwrap_or_default();
                self.observe(spec.clone(), now);
                if let Some(holder) = self.observed.blocking_holder(&self.s.identity, now) {
                    return Ok(Attempt::HeldBy(holder.to_string()));
                }
                (lease.metadata, Some(spec))
            }
            None => (ObjectMeta { name: Some(self.s.name.clone()), ..ObjectMeta::default() }, None),
        };
        let spec = claim(old.as_ref().unwrap_or(&LeaseSpec::default()), &self.s, Timestamp::now());
        let lease = Lease { metadata, spec: Some(spec.clone()) };
        // A replace carries the resourceVersion just read: it fails with 409 if anyone wrote since.
        let written = match old {
            Some(_) => self.api.replace(&self.s.name, &PostParams::default(), &lease).await,
            None => self.api.create(&PostParams::default(), &lease).await,
        };
        match written {
            Ok(_) => {
                self.observe(spec, Instant::now());
                Ok(Attempt::Acquired)
            }
            Err(kube::Error::Api(s)) if s.code == 409 => Err(LeaderError::Conflict(name)),
            Err(e) => Err(err(e)),
        }
    }

    fn observe(&mut self, spec: LeaseSpec, now: Instant) {
        self.observed.observe(spec, now);
        let holder = self.observed.holder().map(str::to_string);
        self.status.send_if_modified(|s| {
            let changed = s.observed_holder != holder;
            s.observed_holder = holder;
            changed
        });
    }

    fn set_leading(&self, leading: bool) {
        self.gauge.set(leading as i64);
        self.status.send_if_modified(|s| {
            let changed = s.leading != leading;
            if changed {
                s.leading = leading;
                s.since = Instant::now();
            }
            changed
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(holder: &str, duration: i32, renewed: i64) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(holder.into()),
            lease_duration_seconds: Some(duration),
            renew_time: Some(MicroTime(Timestamp::from_second(renewed).unwrap())),
            ..LeaseSpec::default()
        }
    }

    fn settings(lease: u64, renew: u64, retry: u64) -> LeaseSettings {
        LeaseSettings {
            name: "nflbet-operator".into(),
            namespace: "ops".into(),
            identity: "replica-b".into(),
            lease_duration: Duration::from_millis(lease),
            renew_deadline: Duration::from_millis(renew),
            retry_period: Duration::from_millis(retry),
        }
    }

    #[test]
    fn expiry_counts_from_the_followers_own_observation_not_the_leaders_renew_time() {
        let t0 = Instant::now();
        let mut seen = Observation::default();
        // The leader's clock is an hour behind: by its renewTime the lease expired long ago.
        // Only the follower's observation counts, so it stays held for the full 15 s.
        seen.observe(record("replica-a", 15, 1_000), t0);
        assert_eq!(seen.blocking_holder("replica-b", t0 + Duration::from_secs(14)), Some("replica-a"));
        assert_eq!(seen.blocking_holder("replica-b", t0 + Duration::from_secs(15)), None);
        // A leader clock far ahead does not extend its claim either.
        let mut ahead = Observation::default();
        ahead.observe(record("replica-a", 15, 4_000_000_000), t0);
        assert_eq!(ahead.blocking_holder("replica-b", t0 + Duration::from_secs(15)), None);
    }

    #[test]
    fn only_a_changed_record_restarts_the_clock() {
        let t0 = Instant::now();
        let mut seen = Observation::default();
        seen.observe(record("replica-a", 15, 1_000), t0);
        // Read again, unchanged: a silent leader expires 15 s after the first observation.
        seen.observe(record("replica-a", 15, 1_000), t0 + Duration::from_secs(10));
        assert_eq!(seen.expires_at(), Some(t0 + Duration::from_secs(15)));
        // A renewal (new renewTime) is a new record: 15 s from when it was seen.
        seen.observe(record("replica-a", 15, 1_002), t0 + Duration::from_secs(12));
        assert_eq!(seen.expires_at(), Some(t0 + Duration::from_secs(27)));
        assert_eq!(seen.blocking_holder("replica-b", t0 + Duration::from_secs(26)), Some("replica-a"));
        // The record's own duration is used: a holder that declares 4 s expires after 4 s.
        seen.observe(record("replica-a", 4, 1_003), t0 + Duration::from_secs(13));
        assert_eq!(seen.blocking_holder("replica-b", t0 + Duration::from_secs(17)), None);
    }

    #[test]
    fn a_released_or_own_lease_blocks_nobody() {
        let t0 = Instant::now();
        let mut seen = Observation::default();
        assert_eq!(seen.blocking_holder("replica-b", t0), None, "nothing observed: take it");
        seen.observe(record("replica-b", 15, 1_000), t0);
        assert_eq!(seen.blocking_holder("replica-b", t0), None, "our own record: renew it");
        seen.observe(LeaseSpec { holder_identity: Some(String::new()), ..record("", 15, 1_000) }, t0);
        assert_eq!(seen.blocking_holder("replica-b", t0), None, "released");
        assert_eq!(seen.expires_at(), None);
    }

    #[test]
    fn a_claim_counts_transitions_and_keeps_the_acquire_time_of_its_own_term() {
        let s = settings(15_000, 10_000, 2_000);
        let now = Timestamp::from_second(2_000).unwrap();
        let mut theirs = record("replica-a", 15, 1_000);
        theirs.lease_transitions = Some(3);
        let taken = claim(&theirs, &s, now);
        assert_eq!(taken.holder_identity.as_deref(), Some("replica-b"));
        assert_eq!(taken.lease_transitions, Some(4));
        assert_eq!(taken.acquire_time, Some(MicroTime(now)));
        assert_eq!(taken.lease_duration_seconds, Some(15));
        let later = Timestamp::from_second(2_002).unwrap();
        let renewed = claim(&taken, &s, later);
        assert_eq!(renewed.lease_transitions, Some(4));
        assert_eq!(renewed.acquire_time, Some(MicroTime(now)));
        assert_eq!(renewed.renew_time, Some(MicroTime(later)));
        assert_eq!(claim(&LeaseSpec::default(), &s, now).lease_transitions, Some(0), "a new Lease");
    }

    #[test]
    fn settings_that_could_let_two_replicas_lead_are_refused_with_the_flag_to_fix() {
        assert!(settings(15_000, 10_000, 2_000).validate().is_ok());
        assert!(settings(4_000, 3_000, 1_000).validate().is_ok());
        let msg = |s: LeaseSettings| s.validate().unwrap_err().to_string();
        assert!(msg(settings(10_000, 10_000, 2_000)).contains("--leader-elect-renew-deadline"));
        assert!(msg(settings(4_500, 3_000, 1_000)).contains("whole number of seconds"));
        assert!(msg(settings(15_000, 10_000, 9_000)).contains("--leader-elect-retry-period"));
        assert!(msg(settings(15_000, 10_000, 0)).contains("--leader-elect-retry-period"));
        let mut anonymous = settings(15_000, 10_000, 2_000);
        anonymous.identity.clear();
        assert!(msg(anonymous).contains("identity"));
    }

    #[test]
    fn an_attempt_never_waits_longer_than_half_the_renew_deadline() {
        assert_eq!(settings(15_000, 10_000, 2_000).attempt_timeout(), Duration::from_secs(5));
        assert_eq!(settings(4_000, 1_500, 500).attempt_timeout(), Duration::from_secs(1), "at least 1 s");
    }
}
