//! The controllers' watches, made to recover from a control-plane restart as client-go's
//! reflector does.
//!
//! kube-runtime's watcher (5.0) relists when the API server says 410 Gone *during* a watch, but
//! not when it says so while a watch is *started*: it then retries the same, expired
//! resourceVersion with growing backoff, forever (`State::InitListed` in its watcher.rs). That is
//! exactly what happens after kube-apiserver or etcd restarts: the new watch cache starts at the
//! current revision, every resume from an older one is answered `410 too old resource version`,
//! and the operator went deaf for minutes. [`relisting`] replaces such a watcher with a fresh one,
//! which lists again; the reflector behind it then swaps its store in one step (`Init` …
//! `InitDone`), so readers never see a half-filled cache.
//!
//! Every watch reports into [`Health`]: synced from its first complete list until its next
//! error. A watch that erred lists again after its backoff (client-go's reflector does the same:
//! `ListAndWatch` starts over with a list), because only a list tells that it is whole again: a
//! resumed watch that sees no change says nothing. The operator's `/readyz` is false while any
//! watch is not synced, and `nflbet_watch_synced{controller,resource}` shows which.

use futures::stream::{BoxStream, Stream, StreamExt};
use kube::Api;
use kube::runtime::utils::Backoff;
use kube::runtime::watcher::{self, Event, watcher};
use kube::runtime::{WatchStreamExt, reflector};
use serde::de::DeserializeOwned;
use std::fmt::Debug;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

type Events<K> = BoxStream<'static, Result<Event<K>, watcher::Error>>;

/// True for 410 Gone when a watch is started: only a new list can resume.
pub fn needs_relist(e: &watcher::Error) -> bool {
    matches!(e, watcher::Error::WatchStartFailed(kube::Error::Api(status)) if status.code == 410)
}

/// True for 410 Gone as a watch event: the watcher lists again by itself.
fn relisting_already(e: &watcher::Error) -> bool {
    matches!(e, watcher::Error::WatchError(status) if status.code == 410)
}

/// The events of the watchers `make` creates: the current one until it fails, then a new one,
/// which lists again. A 410 Gone is no error here and lists again at once (as client-go's
/// reflector does); every other error is passed on and the next list waits for this watch's own
/// [`WatchBackoff`], so one failing watch never delays the others. `synced` follows the watch:
/// true once a list is complete, false from an error or the start of a new list.
pub fn relisting<K: Send + 'static>(
    synced: Synced,
    make: impl Fn() -> Events<K> + Send + 'static,
) -> Events<K> {
    let state = (make(), make, synced, WatchBackoff::default(), None);
    futures::stream::unfold(state, |(mut inner, make, synced, mut backoff, mut wait)| async move {
        loop {
            if let Some(delay) = wait.take() {
                tokio::time::sleep(delay).await;
                inner = make();
            }
            let item = inner.next().await?;
            match &item {
                Err(e) if needs_relist(e) => {
                    tracing::info!(error = %e, "watch resume refused as too old; listing again");
                    synced.set(false);
                    inner = make();
                    continue;
                }
                Err(e) if relisting_already(e) => {
                    tracing::info!(error = %e, "watch expired; listing again");
                    synced.set(false);
                    continue;
                }
                // Not reset by the successful list that may follow: a watch that lists and then
                // fails again keeps backing off.
                Err(_) => {
                    synced.set(false);
                    wait = backoff.next();
                }
                Ok(Event::Init) => synced.set(false),
                Ok(Event::InitDone) => synced.set(true),
                Ok(_) => {}
            }
            return Some((item, (inner, make, synced, backoff, wait)));
        }
    })
    .boxed()
}

/// Which of the controllers' watches are synced; the operator's `/readyz` while it leads.
#[derive(Clone)]
pub struct Health {
    watches: Arc<Mutex<Vec<(String, Synced)>>>,
    gauge: prometheus::IntGaugeVec,
}

/// One watch's flag in [`Health`].
#[derive(Clone)]
pub struct Synced {
    flag: Arc<AtomicBool>,
    gauge: prometheus::IntGauge,
}

impl Synced {
    fn set(&self, synced: bool) {
        self.flag.store(synced, Ordering::Relaxed);
        self.gauge.set(i64::from(synced));
    }

    /// True while the watch has listed completely and not failed since.
    pub fn get(&self) -> bool {
        self.flag.load(Ordering::Relaxed)
    }
}

impl Health {
    /// Registers `nflbet_watch_synced{controller,resource}` in `registry`.
    pub fn new(registry: &prometheus::Registry) -> Health {
        let gauge = prometheus::IntGaugeVec::new(
            prometheus::Opts::new(
                "nflbet_watch_synced",
                "1 while a controller's watch has listed completely and not failed since",
            ),
            &["controller", "resource"],
        )
        .expect("valid metric");
        registry.register(Box::new(gauge.clone())).expect("unique metric");
        Health { watches: Arc::default(), gauge }
    }

    /// A new, not yet synced watch of `resource` for `controller`.
    pub fn watch(&self, controller: &str, resource: &str) -> Synced {
        let synced = Synced {
            flag: Arc::new(AtomicBool::new(false)),
            gauge: self.gauge.with_label_values(&[controller, resource]),
        };
        synced.set(false);
        self.watches
            .lock()
            .expect("watch health lock")
            .push((format!("{controller}/{resource}"), synced.clone()));
        synced
    }

    /// Forget every watch (the controllers stopped).
    pub fn clear(&self) {
        self.watches.lock().expect("watch health lock").clear();
        self.gauge.reset();
    }

    /// True while no watch is registered (the controllers are not running yet, or restarting).
    pub fn is_empty(&self) -> bool {
        self.watches.lock().expect("watch health lock").is_empty()
    }

    /// The watches not synced, by `controller/resource`; empty when every one is.
    pub fn unsynced(&self) -> Vec<String> {
        let watches = self.watches.lock().expect("watch health lock");
        watches.iter().filter(|(_, s)| !s.get()).map(|(name, _)| name.clone()).collect()
    }
}

/// One watch's backoff on errors: 250 ms doubling up to 1 s, and back to 250 ms once 30 s pass
/// without an error. Short, because a control plane that is back must be heard within seconds
/// (the disable lever); a dead one costs one request per watch a second.
#[derive(Debug)]
pub struct WatchBackoff {
    next: Duration,
    last: Option<tokio::time::Instant>,
}

const BACKOFF_MIN: Duration = Duration::from_millis(250);
const BACKOFF_MAX: Duration = Duration::from_secs(1);
const BACKOFF_RESET: Duration = Duration::from_secs(30);

impl Default for WatchBackoff {
    fn default() -> Self {
        WatchBackoff { next: BACKOFF_MIN, last: None }
    }
}

impl Iterator for WatchBackoff {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let now = tokio::time::Instant::now();
        if self.last.is_some_and(|last| now - last > BACKOFF_RESET) {
            self.next = BACKOFF_MIN;
        }
        self.last = Some(now);
        let delay = self.next;
        self.next = (self.next * 2).min(BACKOFF_MAX);
        Some(delay)
    }
}

/// The controllers' backoff over all their watches together: none. kube-runtime's default
/// (800 ms doubling to 30 s, reset only after 2 quiet minutes) pauses *every* watch of a
/// controller when any one of them errs; after a control-plane restart each of a dozen watches
/// errs once or twice, and the controller stopped listening for minutes. Each watch backs off
/// on its own instead ([`relisting`]).
#[derive(Debug, Default)]
pub struct NoTriggerBackoff;

impl Iterator for NoTriggerBackoff {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        Some(Duration::ZERO)
    }
}

impl Backoff for NoTriggerBackoff {
    fn reset(&mut self) {}
}

/// Whole objects of `api`, reflected into `writer`: a controller's main resource. Cached without
/// `managedFields` and kubectl's `last-applied-configuration` annotation (a second copy of the
/// object when it was applied client-side), which no step reads and which are most of a small
/// object's bytes (a cache of 10,000 Sportsbooks holds them all).
pub fn reflected<K>(
    api: Api<K>,
    wc: watcher::Config,
    writer: reflector::store::Writer<K>,
    synced: Synced,
) -> impl Stream<Item = Result<K, watcher::Error>> + Send + 'static
where
    K: kube::Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    relisting(synced, move || watcher(api.clone(), wc.clone()).boxed())
        .modify(|o| {
            let meta = o.meta_mut();
            meta.managed_fields = None;
            if let Some(a) = meta.annotations.as_mut() {
                a.remove(LAST_APPLIED);
            }
        })
        .reflect(writer)
        .applied_objects()
}

/// The annotation `kubectl apply` (client-side) keeps its last request in.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Children of `kind` that changed, fed into `store` on the way: they trigger their owner's
/// reconcile, and the store tells the apply step what is already as wanted.
pub fn children<K>(
    api: Api<K>,
    wc: watcher::Config,
    synced: Synced,
    kind: super::children::ChildKind,
    store: super::children::ChildStore,
) -> impl Stream<Item = Result<K, watcher::Error>> + Send + 'static
where
    K: super::children::ChildView + Clone + DeserializeOwned + Debug + Send + 'static,
{
    relisting(synced, move || watcher(api.clone(), wc.clone()).boxed())
        .inspect(move |event| {
            if let Ok(event) = event {
                store.observe(kind, event);
            }
        })
        .touched_objects()
}

/// Objects of `api` that changed: a related resource that triggers reconciles.
pub fn touched<K>(
    api: Api<K>,
    wc: watcher::Config,
    synced: Synced,
) -> impl Stream<Item = Result<K, watcher::Error>> + Send + 'static
where
    K: kube::Resource + Clone + DeserializeOwned + Debug + Send + 'static,
{
    relisting(synced, move || watcher(api.clone(), wc.clone()).boxed()).touched_objects()
}

/// The periodic resync of a controller: every object of `store`, one at a time, spread evenly
/// over each `period`. A pass takes the cache as it is when the pass starts; the first starts
/// one period after the controller (its initial list reconciles everything). One timer for the
/// whole controller instead of one per object in kube's scheduler, and no burst of reconciles
/// once a period.
pub fn resync<K>(
    store: reflector::Store<K>,
    period: Duration,
) -> impl Stream<Item = reflector::ObjectRef<K>> + Send + 'static
where
    K: kube::Resource<DynamicType = ()> + Clone + Send + Sync + 'static,
{
    // The first pass one period in; then (objects left in this pass, the gap between two).
    let passes = futures::stream::unfold((Vec::<Arc<K>>::new(), period), move |(mut pass, mut gap)| {
        let store = store.clone();
        async move {
            loop {
                if let Some(obj) = pass.pop() {
                    tokio::time::sleep(gap).await;
                    return Some((reflector::ObjectRef::from_obj(&*obj), (pass, gap)));
                }
                pass = store.state();
                if pass.is_empty() {
                    tokio::time::sleep(period).await;
                    continue;
                }
                gap = period / u32::try_from(pass.len()).unwrap_or(u32::MAX);
            }
        }
    });
    futures::stream::once(async move {
        tokio::time::sleep(period).await;
        passes
    })
    .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ConfigMap;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn status(code: u16) -> kube::Error {
        let mut s = kube::core::Status::failure("too old resource version: 250 (811)", "Expired");
        s.code = code;
        kube::Error::Api(s.boxed())
    }

    fn cm(name: &str) -> ConfigMap {
        ConfigMap {
            metadata: kube::api::ObjectMeta { name: Some(name.into()), ..Default::default() },
            ..Default::default()
        }
    }

    /// A watcher that lists `name`, then fails to resume with `code` on every poll.
    fn fake(made: Arc<AtomicUsize>, code: u16) -> Events<ConfigMap> {
        let n = made.fetch_add(1, Ordering::SeqCst);
        let list = vec![Ok(Event::Init), Ok(Event::InitApply(cm(&format!("list-{n}")))), Ok(Event::InitDone)];
        futures::stream::iter(list)
            .chain(futures::stream::repeat_with(move || Err(watcher::Error::WatchStartFailed(status(code)))))
            .boxed()
    }

    fn synced() -> (Health, Synced) {
        let health = Health::new(&prometheus::Registry::new());
        let synced = health.watch("test", "ConfigMap");
        (health, synced)
    }

    #[tokio::test(start_paused = true)]
    async fn the_resync_spreads_each_pass_over_the_period() {
        let (store, mut writer) = reflector::store::<ConfigMap>();
        for name in ["a", "b", "c", "d"] {
            writer.apply_watcher_event(&Event::Apply(cm(name)));
        }
        let period = Duration::from_secs(300);
        let start = tokio::time::Instant::now();
        let mut refs = std::pin::pin!(resync(store, period));
        let mut seen = Vec::new();
        for _ in 0..8 {
            let r = refs.next().await.unwrap();
            seen.push((r.name, start.elapsed().as_secs()));
        }
        // Nothing in the first period; then one object every 75 s, each once a pass.
        let times: Vec<u64> = seen.iter().map(|(_, t)| *t).collect();
        assert_eq!(times, [375, 450, 525, 600, 675, 750, 825, 900]);
        let mut first: Vec<&str> = seen[..4].iter().map(|(n, _)| n.as_str()).collect();
        let mut second: Vec<&str> = seen[4..].iter().map(|(n, _)| n.as_str()).collect();
        first.sort();
        second.sort();
        assert_eq!((first, second), (vec!["a", "b", "c", "d"], vec!["a", "b", "c", "d"]));
    }

    #[tokio::test(start_paused = true)]
    async fn gone_at_watch_start_lists_again_at_once() {
        let made = Arc::new(AtomicUsize::new(0));
        let m = made.clone();
        let (health, synced) = synced();
        let started = tokio::time::Instant::now();
        let events: Vec<_> = relisting(synced, move || fake(m.clone(), 410)).take(6).collect().await;
        let names: Vec<String> = events
            .iter()
            .filter_map(|e| match e {
                Ok(Event::InitApply(o)) => o.metadata.name.clone(),
                _ => None,
            })
            .collect();
        assert_eq!(names, ["list-0", "list-1"], "a fresh watcher lists again after the 410");
        assert!(events.iter().all(|e| e.is_ok()), "a 410 is no error to back off from");
        assert_eq!(started.elapsed(), Duration::ZERO, "no backoff before listing again");
        assert!(made.load(Ordering::SeqCst) >= 2);
        assert!(health.unsynced().is_empty(), "the second list completed");
    }

    #[tokio::test(start_paused = true)]
    async fn other_errors_list_again_after_the_watch_backoff() {
        let made = Arc::new(AtomicUsize::new(0));
        let m = made.clone();
        let (health, synced) = synced();
        let started = tokio::time::Instant::now();
        let mut events = relisting(synced, move || fake(m.clone(), 500));
        let mut seen = Vec::new();
        for _ in 0..10 {
            let e = events.next().await.expect("endless");
            // The flag follows the events: true after a complete list, false from an error
            // until the next list is complete.
            let unsynced = !health.unsynced().is_empty();
            match &e {
                Ok(Event::InitDone) => assert!(!unsynced, "synced after a complete list"),
                Err(_) | Ok(Event::Init) | Ok(Event::InitApply(_)) => {
                    assert!(unsynced, "not synced during a list or after an error")
                }
                Ok(_) => {}
            }
            seen.push(e.is_err());
        }
        // Init, Apply, Done, 500; (250 ms) Init, Apply, Done, 500; (500 ms) Init, Apply.
        assert_eq!(seen.iter().filter(|e| **e).count(), 2);
        assert_eq!(made.load(Ordering::SeqCst), 3, "each error is followed by a new list");
        assert_eq!(started.elapsed(), Duration::from_millis(750), "the watch's own backoff");
    }

    #[test]
    fn health_lists_the_watches_not_synced_and_forgets_them_on_clear() {
        let health = Health::new(&prometheus::Registry::new());
        let a = health.watch("sportsbook", "Sportsbook");
        let _b = health.watch("sportsbook", "Deployment");
        assert_eq!(health.unsynced(), ["sportsbook/Sportsbook", "sportsbook/Deployment"]);
        a.set(true);
        assert_eq!(health.unsynced(), ["sportsbook/Deployment"]);
        health.clear();
        assert!(health.unsynced().is_empty() && health.is_empty());
    }

    #[test]
    fn watch_backoff_resets_after_a_quiet_spell() {
        let mut b = WatchBackoff::default();
        let first: Vec<_> = (&mut b).take(5).collect();
        assert_eq!(first, [250, 500, 1000, 1000, 1000].map(Duration::from_millis));
        b.last = b.last.map(|t| t - BACKOFF_RESET - Duration::from_millis(1));
        assert_eq!(b.next(), Some(BACKOFF_MIN), "30 s without an error start it over");
    }
}
