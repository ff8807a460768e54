//! State shared by every reconcile: the client, settings, metrics, events, and caches.

use super::children::ChildStore;
use super::config::OperatorConfig;
use super::driver::StatusMemo;
use super::metrics::Metrics;
use crate::crd::Sportsbook;
use crate::monitoring::Capabilities;
use crate::notify::{Notifier, NotifierSettings};
use kube::core::DeserializeGuard;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::reflector::Store;
use kube::{Client, Resource};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

pub struct Context {
    pub client: Client,
    pub config: OperatorConfig,
    pub metrics: Arc<Metrics>,
    pub recorder: Recorder,
    pub backoff: Backoff,
    pub notifier: Notifier,
    announced: Mutex<std::collections::HashSet<String>>,
    /// Which monitoring kinds the cluster serves, as last discovered by the controllers'
    /// supervisor (`super::run_until_stopped`), which restarts the watches when it changes.
    capabilities: RwLock<Capabilities>,
    /// The watch caches of the running controllers (new for every start of the controllers).
    caches: RwLock<Arc<Caches>>,
    /// The operator's own last status write per object.
    pub status_memo: StatusMemo,
}

/// What the controllers' watches know, shared between them: the children, and the Sportsbooks
/// (which a Model reads to find the books it prices).
#[derive(Clone)]
pub struct Caches {
    pub children: ChildStore,
    pub sportsbooks: Store<DeserializeGuard<Sportsbook>>,
    /// Whether the Sportsbook watch has listed completely (`None`: no watch, as in tests).
    pub sportsbooks_synced: Option<super::watch::Synced>,
}

impl Default for Caches {
    fn default() -> Self {
        let (sportsbooks, _writer) = kube::runtime::reflector::store();
        Caches { children: ChildStore::default(), sportsbooks, sportsbooks_synced: None }
    }
}

impl Caches {
    /// Wait (at most 30 s) until the Sportsbook cache has listed. Not `Store::wait_until_ready`:
    /// its one-shot channel keeps only the last waiter's waker, and the controller that owns the
    /// store waits on it too, so a second waiter may never wake.
    pub async fn sportsbooks_listed(&self) {
        let Some(synced) = &self.sportsbooks_synced else { return };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while !synced.get() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Context {
    pub fn new(
        client: Client,
        config: OperatorConfig,
        metrics: Arc<Metrics>,
        instance: Option<String>,
        notifier: NotifierSettings,
    ) -> Context {
        let reporter = Reporter { controller: "nflbet-operator".into(), instance };
        Context {
            recorder: Recorder::new(client.clone(), reporter),
            notifier: Notifier::new(client.clone(), notifier),
            client,
            config,
            metrics,
            backoff: Backoff::default(),
            announced: Mutex::new(Default::default()),
            capabilities: RwLock::new(Capabilities::default()),
            caches: RwLock::new(Arc::default()),
            status_memo: StatusMemo::default(),
        }
    }

    /// The caches of the controllers running now.
    pub fn caches(&self) -> Arc<Caches> {
        self.caches.read().expect("caches lock").clone()
    }

    pub fn set_caches(&self, caches: Caches) {
        *self.caches.write().expect("caches lock") = Arc::new(caches);
    }

    /// Which prometheus-operator kinds exist, as last discovered.
    pub fn capabilities(&self) -> Capabilities {
        *self.capabilities.read().expect("capabilities lock")
    }

    pub fn set_capabilities(&self, caps: Capabilities) {
        *self.capabilities.write().expect("capabilities lock") = caps;
    }

    /// True the first time it is called with `key`. A reconcile can run on a cached object that
    /// does not show the status the previous reconcile wrote yet; keying announcements (Events,
    /// notifications) by what happened, e.g. uid + generation + reason, sends each one once.
    pub fn first_time(&self, key: String) -> bool {
        let mut seen = self.announced.lock().expect("announced lock");
        if seen.len() > 10_000 {
            // Bounded memory; a repeat after this is harmless (one duplicate notice).
            seen.clear();
        }
        seen.insert(key)
    }

    /// Publish an Event about `obj`. Failure to publish is logged, never fatal: Events are
    /// best-effort by design.
    pub async fn publish<K: Resource<DynamicType = ()>>(
        &self,
        obj: &K,
        type_: EventType,
        reason: &str,
        action: &str,
        note: String,
    ) {
        self.publish_ref(&obj.object_ref(&()), type_, reason, action, note).await
    }

    /// Publish an Event about the object `reference` points at.
    pub async fn publish_ref(
        &self,
        reference: &k8s_openapi::api::core::v1::ObjectReference,
        type_: EventType,
        reason: &str,
        action: &str,
        note: String,
    ) {
        let ev =
            Event { type_, reason: reason.into(), note: Some(note), action: action.into(), secondary: None };
        if let Err(e) = self.recorder.publish(&ev, reference).await {
            tracing::warn!(error = %e, reason, "could not publish event");
        }
    }
}

/// Per-object exponential backoff for failed reconciles: 5s, 10s, 20s … capped at 5 minutes,
/// reset by the next success.
#[derive(Default)]
pub struct Backoff {
    failures: Mutex<HashMap<String, u32>>,
}

impl Backoff {
    pub fn next(&self, key: &str) -> Duration {
        let mut map = self.failures.lock().expect("backoff lock");
        let n = map.entry(key.to_string()).or_insert(0);
        *n = n.saturating_add(1);
        let secs = 5u64.saturating_mul(1u64 << (*n - 1).min(6));
        Duration::from_secs(secs.min(300))
    }

    pub fn reset(&self, key: &str) {
        self.failures.lock().expect("backoff lock").remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_caps_and_resets() {
        let b = Backoff::default();
        let delays: Vec<u64> = (0..9).map(|_| b.next("ns/a").as_secs()).collect();
        assert_eq!(delays, [5, 10, 20, 40, 80, 160, 300, 300, 300]);
        assert_eq!(b.next("ns/b").as_secs(), 5, "keys are independent");
        b.reset("ns/a");
        assert_eq!(b.next("ns/a").as_secs(), 5);
    }
}
