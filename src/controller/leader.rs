//! Optional leader election on a `coordination.k8s.io/v1` Lease, so two operator replicas never
//! both write. The follower waits; the leader renews; a leader that cannot renew before the
//! lease would expire stops its controllers (the process exits and is restarted as a follower).
//!
//! Acquisition uses the Lease's resourceVersion as an optimistic lock (a replace that loses the
//! race gets 409), so two candidates can never both believe they hold it.

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::Client;
use kube::api::{Api, PostParams};
use std::time::Duration;

#[derive(Clone, Debug)]
pub struct LeaseSettings {
    pub name: String,
    pub namespace: String,
    pub identity: String,
    pub lease_duration: Duration,
    pub renew_every: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum LeaderError {
    #[error("lease {0}: {1}")]
    Api(String, #[source] kube::Error),
    #[error("lost the lease {0} to {1}")]
    Lost(String, String),
}

/// Outcome of one attempt to take or keep the lease.
#[derive(Debug, PartialEq, Eq)]
pub enum Attempt {
    Acquired,
    HeldBy(String),
}

pub struct LeaderElector {
    api: Api<Lease>,
    s: LeaseSettings,
}

impl LeaderElector {
    pub fn new(client: Client, s: LeaseSettings) -> Self {
        LeaderElector { api: Api::namespaced(client, &s.namespace), s }
    }

    /// Block until this process holds the lease.
    pub async fn acquire(&self) -> Result<(), LeaderError> {
        loop {
            match self.try_acquire().await? {
                Attempt::Acquired => {
                    tracing::info!(lease = %self.s.name, identity = %self.s.identity, "became leader");
                    return Ok(());
                }
                Attempt::HeldBy(holder) => {
                    tracing::info!(lease = %self.s.name, %holder, "waiting for leadership");
                    tokio::time::sleep(self.s.renew_every).await;
                }
            }
        }
    }

    /// Renew until renewal fails for longer than the lease duration or someone else holds it.
    pub async fn keep(&self) -> LeaderError {
        let mut last_ok = tokio::time::Instant::now();
        loop {
            tokio::time::sleep(self.s.renew_every).await;
            match self.try_acquire().await {
                Ok(Attempt::Acquired) => last_ok = tokio::time::Instant::now(),
                Ok(Attempt::HeldBy(h)) => return LeaderError::Lost(self.s.name.clone(), h),
                Err(e) if last_ok.elapsed() >= self.s.lease_duration => return e,
                Err(e) => tracing::warn!(error = %e, "lease renewal failed; retrying"),
            }
        }
    }

    /// Give the lease up on a clean shutdown, so a follower takes over at once instead of after
    /// the lease expires. Best effort: a failure only delays the follower.
    pub async fn release(&self) {
        let Ok(Some(mut lease)) = self.api.get_opt(&self.s.name).await else { return };
        let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
        if spec.holder_identity.as_deref() != Some(self.s.identity.as_str()) {
            return;
        }
        spec.holder_identity = None;
        spec.renew_time = None;
        if let Err(e) = self.api.replace(&self.s.name, &PostParams::default(), &lease).await {
            tracing::warn!(error = %e, "could not release the lease; a follower takes over when it expires");
        } else {
            tracing::info!(lease = %self.s.name, "released the lease");
        }
    }

    pub async fn try_acquire(&self) -> Result<Attempt, LeaderError> {
        let now = Timestamp::now();
        let err = |e| LeaderError::Api(self.s.name.clone(), e);
        let duration_secs = self.s.lease_duration.as_secs().max(1) as i32;
        match self.api.get_opt(&self.s.name).await.map_err(err)? {
            None => {
                let lease = Lease {
                    metadata: ObjectMeta { name: Some(self.s.name.clone()), ..ObjectMeta::default() },
                    spec: Some(LeaseSpec {
                        holder_identity: Some(self.s.identity.clone()),
                        lease_duration_seconds: Some(duration_secs),
                        acquire_time: Some(MicroTime(now)),
                        renew_time: Some(MicroTime(now)),
                        lease_transitions: Some(0),
                        ..LeaseSpec::default()
                    }),
                };
                match self.api.create(&PostParams::default(), &lease).await {
                    Ok(_) => Ok(Attempt::Acquired),
                    Err(kube::Error::Api(s)) if s.code == 409 => {
                        Ok(Attempt::HeldBy("another candidate".into()))
                    }
                    Err(e) => Err(err(e)),
                }
            }
            Some(mut lease) => {
                let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
                let holder = spec.holder_identity.clone().unwrap_or_default();
                let held_by_us = holder == self.s.identity;
                let expired = match (&spec.renew_time, spec.lease_duration_seconds) {
                    (Some(MicroTime(t)), Some(d)) => *t + SignedDuration::from_secs(d as i64) < now,
                    _ => true,
                };
                if !held_by_us && !holder.is_empty() && !expired {
                    return Ok(Attempt::HeldBy(holder));
                }
                if !held_by_us {
                    spec.acquire_time = Some(MicroTime(now));
                    spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
                }
                spec.holder_identity = Some(self.s.identity.clone());
                spec.lease_duration_seconds = Some(duration_secs);
                spec.renew_time = Some(MicroTime(now));
                match self.api.replace(&self.s.name, &PostParams::default(), &lease).await {
                    Ok(_) => Ok(Attempt::Acquired),
                    Err(kube::Error::Api(s)) if s.code == 409 => Ok(Attempt::HeldBy(holder)),
                    Err(e) => Err(err(e)),
                }
            }
        }
    }
}
