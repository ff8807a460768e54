//! The one reconcile pipeline every controller runs: **read → validate and build → apply →
//! status**.
//!
//! A resource kind plugs in by implementing [`Reconciled`]: its read step (the only part besides
//! the apply and status writes that may talk to the API server; it reads caches first), its
//! pure build step (validation included) ending in a [`ChildSet`], and its pure status step.
//! This module does the rest the same way for every kind: it applies the children (writing only
//! what changed, see [`super::children`]), writes the status at most once and only when it
//! changed, publishes the Warning Events, counts metrics, and chooses when to run again.
//!
//! Errors come in one type per step ([`Error`]); the metric label and Event reason of each is
//! derived from its variant's name, never written by hand.

use super::apply::{self, ApplyError};
use super::children::{ChildSet, ChildStore, Recreated};
use super::conditions::{self, Desired, Refusal};
use super::config::OperatorConfig;
use super::context::Context;
use super::pod_policy::Violations;
use crate::crd::condition::Condition;
use crate::egress::EgressError;
use crate::monitoring::Capabilities;
use k8s_openapi::jiff::Timestamp;
use kube::Resource;
use kube::core::{DeserializeGuard, NamespaceResourceScope};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt::Debug;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often every object is reconciled anyway (drift in what no watch covers, e.g. a named
/// ServiceAccount's labels): one pass over the controller's cache per period, spread evenly over
/// it (`watch::resync`). A reconcile that needs nothing sooner returns `await_change`, so kube's
/// scheduler holds no timer per object (about 0.5 KB each at 10,000 books).
pub const RESYNC: Duration = Duration::from_secs(300);

/// Why a spec cannot be turned into children. Only a change of the spec (or of what it names,
/// or of the operator's policy) fixes it, so it is not retried with backoff.
#[derive(Debug, PartialEq, thiserror::Error, strum::IntoStaticStr)]
pub enum SpecError {
    /// The object lacks what the API server always sets (namespace, uid): not yet persisted.
    #[error("the object has no {0} yet")]
    InvalidObject(&'static str),
    /// The spec contradicts itself or leaves out what it needs.
    #[error("{0}")]
    InvalidSpec(String),
    /// The operator's egress policy refuses where the spec would send credentials or connect.
    #[error("{field}: {source}")]
    EgressRefused {
        field: &'static str,
        #[source]
        source: EgressError,
    },
    /// The operator's pod policy refuses what the spec asks for in its pods.
    #[error(transparent)]
    PolicyViolation(#[from] Violations),
    /// The generated configuration fails the checks of the program that will read it.
    #[error("{0}")]
    InvalidConfig(String),
}

impl SpecError {
    /// Condition and Event reason, and metric label. An egress refusal is an invalid spec to the
    /// user: the spec names the host.
    pub fn reason(&self) -> &'static str {
        match self {
            SpecError::EgressRefused { .. } => "InvalidSpec",
            other => other.into(),
        }
    }
}

/// A failed reconcile, one variant per step.
#[derive(Debug, thiserror::Error, strum::IntoStaticStr)]
pub enum Error {
    /// The object cannot be decoded as its kind (see `super::invalid`).
    #[error("the object cannot be read as its kind: {0}")]
    InvalidObject(String),
    #[error("reading what the spec refers to: {0}")]
    ReadFailed(#[source] ApplyError),
    #[error("invalid spec: {0}")]
    Spec(#[source] SpecError),
    #[error(transparent)]
    ApplyFailed(ApplyError),
    #[error("monitoring objects refused (the workload was applied): {0}")]
    MonitoringFailed(#[source] ApplyError),
    #[error("writing status: {0}")]
    StatusFailed(#[source] ApplyError),
}

impl Error {
    /// Bounded label for `controller_runtime_reconcile_errors_total{error}`: the step's name, or
    /// the spec problem's.
    pub fn category(&self) -> &'static str {
        match self {
            Error::Spec(e) => e.reason(),
            other => other.into(),
        }
    }
}

/// What happened to the children in this reconcile; the status step's input besides the object
/// and the store.
#[derive(Debug)]
pub enum Outcome {
    /// `spec.suspend`: nothing was written; the status reports the children as they are.
    Suspended,
    /// The build step refused the spec; nothing was written (children of an earlier spec stay).
    Invalid(SpecError),
    /// Every child is as wanted, except monitoring objects the API server refused; `recreated`
    /// were deleted and created again, since they could not change in place (a Job's template).
    Applied { refused: Option<Refusal>, first_refusal: Option<ApplyError>, recreated: Vec<Recreated> },
    /// A write failed (the workload may be partly written).
    ApplyFailed(ApplyError),
}

/// What the status step sees.
pub struct Observed<'a> {
    pub outcome: &'a Outcome,
    pub caps: Capabilities,
    /// The children as the operator last saw or wrote them.
    pub children: &'a ChildStore,
}

/// The status a kind's status step wants: conditions (merged with the previous ones by the
/// driver) and the other fields this operator owns.
pub struct StatusUpdate<F> {
    pub conditions: Vec<Desired>,
    pub fields: F,
}

/// A kind the operator reconciles: the steps that differ between kinds.
pub trait Reconciled:
    Resource<DynamicType = (), Scope = NamespaceResourceScope>
    + Clone
    + Debug
    + Serialize
    + DeserializeOwned
    + Send
    + Sync
    + 'static
{
    /// Name of the controller in metrics and logs.
    const CONTROLLER: &'static str;
    /// Condition types the controller owns: one it no longer sets is removed.
    const CONDITIONS: &'static [&'static str];
    /// What the read step gathers for the build and status steps.
    type Inputs: Send + Sync;
    /// Status fields the operator owns besides `observedGeneration` and `conditions`,
    /// serialised as they are written (an omitted field is given up).
    type Fields: Serialize + PartialEq + Send + Sync;

    /// Read step: what the spec refers to, from caches where the operator has them.
    fn read(&self, ctx: &Context) -> impl Future<Output = Result<Self::Inputs, ApplyError>> + Send;

    /// `spec.suspend`: write nothing to the children.
    fn suspended(&self) -> bool;

    /// Validate and build step, pure: the children as they must be.
    fn build(
        &self,
        inputs: &Self::Inputs,
        cfg: &OperatorConfig,
        caps: Capabilities,
    ) -> Result<ChildSet, SpecError>;

    /// Status step, pure.
    fn status(&self, inputs: &Self::Inputs, observed: &Observed<'_>) -> StatusUpdate<Self::Fields>;

    /// The status as it is now: generation observed, conditions, the operator's other fields.
    fn current_status(&self) -> (Option<i64>, &[Condition], Self::Fields);

    /// Reconcile again this soon after a successful reconcile, instead of the periodic resync
    /// (a Model polls its replay gate's Job).
    fn requeue(&self, _inputs: &Self::Inputs) -> Option<std::time::Duration> {
        None
    }

    /// Events and notifications for what changed between the previous and the new status
    /// (e.g. stopped, rolled back). Sent once per change.
    fn announce(
        &self,
        _ctx: &Context,
        _inputs: &Self::Inputs,
        _before: &[Condition],
        _after: &[Condition],
    ) -> impl Future<Output = ()> + Send {
        async {}
    }
}

/// `namespace/name` of an object, for logs and backoff.
fn key<K: Resource>(kind: &str, obj: &K) -> String {
    format!(
        "{kind}:{}/{}",
        obj.meta().namespace.as_deref().unwrap_or(""),
        obj.meta().name.as_deref().unwrap_or("")
    )
}

/// The reconcile of every controller.
pub async fn reconcile<K: Reconciled>(
    obj: Arc<DeserializeGuard<K>>,
    ctx: Arc<Context>,
) -> Result<Action, Error> {
    let _timer = ctx.metrics.start(K::CONTROLLER);
    let result = match &obj.0 {
        Ok(o) => run(o, &ctx).await,
        Err(invalid) => {
            super::invalid::report::<K>(&ctx, invalid).await;
            Err(Error::InvalidObject(invalid.error.clone()))
        }
    };
    match &result {
        Ok(_) => {
            ctx.metrics.success(K::CONTROLLER);
            if let Ok(o) = &obj.0 {
                ctx.backoff.reset(&key(K::CONTROLLER, o));
            }
        }
        Err(e) => ctx.metrics.failure(K::CONTROLLER, e.category()),
    }
    result
}

/// How soon a reconcile skipped on a stale cache runs again, should the watch event it waits for
/// not trigger one first.
pub const STALE_RETRY: Duration = Duration::from_secs(1);

async fn run<K: Reconciled>(obj: &K, ctx: &Context) -> Result<Action, Error> {
    // The cache has not caught up with the operator's own last status write to this object
    // (the watch event of that write is on its way). A reconcile of the older object would
    // decide on the status as it was and write it back: a Model's replay gate result, read from
    // a Job deleted in the same reconcile, would be undone and the gate run again. Wait for it.
    let cached_version = obj.meta().resource_version.as_deref().and_then(|rv| rv.parse::<u64>().ok());
    if ctx.status_memo.written_after(&key(K::CONTROLLER, obj), cached_version, Instant::now()) {
        return Ok(Action::requeue(STALE_RETRY));
    }
    let caps = ctx.capabilities();
    let caches = ctx.caches();
    // Read (end 1).
    let inputs = obj.read(ctx).await.map_err(Error::ReadFailed)?;
    // Validate and build (pure), apply (end 2).
    let outcome = if obj.suspended() {
        Outcome::Suspended
    } else {
        match obj.build(&inputs, &ctx.config, caps) {
            Err(e) => Outcome::Invalid(e),
            Ok(children) => match children.apply(&ctx.client, &caches.children).await {
                Ok(applied) => Outcome::Applied {
                    refused: apply::refusal(&applied.monitoring),
                    first_refusal: applied.monitoring.into_iter().next(),
                    recreated: applied.recreated,
                },
                Err(e) => Outcome::ApplyFailed(e),
            },
        }
    };
    // Status (pure), then its write (end 2).
    let observed = Observed { outcome: &outcome, caps, children: &caches.children };
    let update = obj.status(&inputs, &observed);
    write_status(obj, ctx, &inputs, update).await?;
    if let Outcome::Applied { recreated, .. } = &outcome {
        for r in recreated {
            ctx.publish(obj, EventType::Normal, "Recreated", "Apply", r.note()).await;
        }
    }

    match outcome {
        Outcome::Suspended => Ok(Action::await_change()),
        Outcome::Invalid(e) => {
            ctx.publish(obj, EventType::Warning, e.reason(), "Reconcile", e.to_string()).await;
            Err(Error::Spec(e))
        }
        Outcome::Applied { refused: Some(r), first_refusal: Some(first), .. } => {
            ctx.publish(obj, EventType::Warning, "MonitoringFailed", "Apply", r.message).await;
            Err(Error::MonitoringFailed(first))
        }
        Outcome::Applied { .. } => {
            Ok(obj.requeue(&inputs).map_or_else(Action::await_change, |d| Action::requeue(d.min(RESYNC))))
        }
        Outcome::ApplyFailed(e) => {
            ctx.publish(obj, EventType::Warning, "ReconcileFailed", "Apply", e.to_string()).await;
            Err(Error::ApplyFailed(e))
        }
    }
}

/// Merge the conditions, and write the status with server-side apply when it differs from what
/// the object shows (never an object older than the operator's own last status write: `run`
/// waits for it). One write at most.
async fn write_status<K: Reconciled>(
    obj: &K,
    ctx: &Context,
    inputs: &K::Inputs,
    update: StatusUpdate<K::Fields>,
) -> Result<(), Error> {
    let (observed_generation, previous, fields) = obj.current_status();
    let generation = obj.meta().generation;
    let merged = conditions::merge(previous, &update.conditions, K::CONDITIONS, generation, Timestamp::now());
    if observed_generation == generation && merged == previous && fields == update.fields {
        return Ok(());
    }
    let mut body = serde_json::to_value(&update.fields).expect("status serialises");
    body["observedGeneration"] = serde_json::json!(generation);
    body["conditions"] = serde_json::to_value(&merged).expect("conditions serialise");
    obj.announce(ctx, inputs, previous, &merged).await;
    let written = apply::apply_status(&ctx.client, obj, body).await.map_err(Error::StatusFailed)?;
    ctx.status_memo.wrote(key(K::CONTROLLER, obj), written);
    Ok(())
}

/// Requeue with exponential backoff per object (5 s doubling to 5 minutes; at most one minute
/// while only monitoring objects are refused). A spec that cannot be built waits for a change of
/// the spec (or the periodic resync), except a pod-policy violation, which a change no watch
/// sees can fix (the labels of the ServiceAccount the spec names): that one backs off. An object
/// that cannot be read waits for a change.
pub fn error_policy<K: Reconciled>(obj: Arc<DeserializeGuard<K>>, err: &Error, ctx: Arc<Context>) -> Action {
    let object = match &obj.0 {
        Ok(o) => key(K::CONTROLLER, o),
        Err(invalid) => format!(
            "{}:{}/{}",
            K::CONTROLLER,
            invalid.metadata.namespace.as_deref().unwrap_or(""),
            invalid.metadata.name.as_deref().unwrap_or("")
        ),
    };
    tracing::warn!(controller = K::CONTROLLER, object = %object, error = %err, "reconcile failed");
    match err {
        Error::InvalidObject(_) => Action::await_change(),
        Error::Spec(SpecError::PolicyViolation(_)) => Action::requeue(ctx.backoff.next(&object)),
        Error::Spec(_) => Action::await_change(),
        Error::MonitoringFailed(_) => {
            Action::requeue(ctx.backoff.next(&object).min(apply::MONITORING_RETRY_MAX))
        }
        _ => Action::requeue(ctx.backoff.next(&object)),
    }
}

/// The resource version of the operator's own last status write per object, until the watch
/// brings it back: a reconcile of a cached object older than that waits for it (`run`). Small:
/// an entry lives from a status write until the next reconcile sees the write (milliseconds),
/// or [`STALE_WAIT_MAX`] at most.
#[derive(Default)]
pub struct StatusMemo {
    written: std::sync::Mutex<std::collections::HashMap<String, (u64, Instant)>>,
}

/// How long a reconcile waits for the watch to bring back the operator's own status write. The
/// watch takes milliseconds; past this the cache is trusted again whatever its version says (an
/// etcd restored from a backup can number its objects lower than the write the operator saw).
pub const STALE_WAIT_MAX: Duration = Duration::from_secs(30);

/// Above this many entries, a status write first drops those past [`STALE_WAIT_MAX`].
const MEMO_PRUNE_ABOVE: usize = 1024;

impl StatusMemo {
    /// True when the operator's last status write to `key`, less than [`STALE_WAIT_MAX`] before
    /// `now`, produced a resource version newer than the cached object's. Otherwise the write
    /// is forgotten: the cache shows it, or it is no longer waited for.
    fn written_after(&self, key: &str, cached_version: Option<u64>, now: Instant) -> bool {
        let mut written = self.written.lock().expect("status memo lock");
        let Some(&(version, at)) = written.get(key) else { return false };
        let waiting =
            cached_version.is_some_and(|cached| cached < version) && now.duration_since(at) < STALE_WAIT_MAX;
        if !waiting {
            written.remove(key);
        }
        waiting
    }

    fn wrote(&self, key: String, resource_version: Option<u64>) {
        let mut written = self.written.lock().expect("status memo lock");
        if written.len() > MEMO_PRUNE_ABOVE {
            // Writes no reconcile came back for (the object was deleted, or nothing changed).
            written.retain(|_, (_, at)| at.elapsed() < STALE_WAIT_MAX);
        }
        match resource_version {
            Some(v) => written.insert(key, (v, Instant::now())),
            None => written.remove(&key),
        };
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.written.lock().unwrap().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn categories_are_the_variant_names() {
        let e = Error::InvalidObject("x".into());
        assert_eq!(e.category(), "InvalidObject");
        assert_eq!(Error::Spec(SpecError::InvalidSpec("no market".into())).category(), "InvalidSpec");
        assert_eq!(Error::Spec(SpecError::InvalidConfig("bad".into())).category(), "InvalidConfig");
        assert_eq!(Error::Spec(SpecError::InvalidObject("uid")).category(), "InvalidObject");
    }

    #[test]
    fn the_memo_knows_a_cache_older_than_the_operators_own_status_write() {
        let memo = StatusMemo::default();
        let now = Instant::now();
        assert!(!memo.written_after("k", Some(5), now), "nothing written yet");
        memo.wrote("k".into(), Some(10));
        let now = Instant::now();
        assert!(memo.written_after("k", Some(9), now), "cache older than the write");
        assert!(!memo.written_after("k", Some(10), now) && !memo.written_after("k", Some(11), now));
        assert!(!memo.written_after("other", Some(1), now));
        assert_eq!(memo.len(), 0, "forgotten once the cache showed the write");
        // A watch that never brings the write back (etcd restored, versions lower) is not
        // waited for beyond the limit.
        memo.wrote("k".into(), Some(10));
        let now = Instant::now();
        assert!(memo.written_after("k", Some(9), now), "waiting again after a new write");
        assert!(!memo.written_after("k", Some(9), now + STALE_WAIT_MAX), "trusted again");
        assert_eq!(memo.len(), 0);
    }

    #[test]
    fn the_memo_drops_writes_no_reconcile_came_back_for() {
        let memo = StatusMemo::default();
        let long_ago = Instant::now() - STALE_WAIT_MAX;
        for i in 0..=MEMO_PRUNE_ABOVE {
            memo.written.lock().unwrap().insert(format!("gone-{i}"), (1, long_ago));
        }
        memo.wrote("k".into(), Some(2));
        assert_eq!(memo.len(), 1, "only the fresh write is kept");
        assert!(memo.written_after("k", Some(1), Instant::now()));
    }
}
