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

use futures::stream::{BoxStream, Stream, StreamExt};
use kube::Api;
use kube::runtime::utils::Backoff;
use kube::runtime::watcher::{self, Event, watcher};
use kube::runtime::{WatchStreamExt, reflector};
use serde::de::DeserializeOwned;
use std::fmt::Debug;
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

/// The events of the watchers `make` creates: the current one until it fails with
/// [`needs_relist`], then a new one. A 410 is not an error here (client-go's reflector lists
/// again at once too); every other error is passed on after this watch's own [`WatchBackoff`],
/// so one failing watch never delays the others.
pub fn relisting<K: Send + 'static>(make: impl Fn() -> Events<K> + Send + 'static) -> Events<K> {
    futures::stream::unfold((make(), make), |(mut inner, make)| async move {
        loop {
            let item = inner.next().await?;
            match &item {
                Err(e) if needs_relist(e) => {
                    tracing::info!(error = %e, "watch resume refused as too old; listing again");
                    inner = make();
                }
                Err(e) if relisting_already(e) => tracing::info!(error = %e, "watch expired; listing again"),
                _ => return Some((item, (inner, make))),
            }
        }
    })
    .backoff(WatchBackoff::default())
    .boxed()
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

impl Backoff for WatchBackoff {
    fn reset(&mut self) {
        self.next = BACKOFF_MIN;
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

/// Whole objects of `api`, reflected into `writer`: a controller's main resource.
pub fn reflected<K>(
    api: Api<K>,
    wc: watcher::Config,
    writer: reflector::store::Writer<K>,
) -> impl Stream<Item = Result<K, watcher::Error>> + Send + 'static
where
    K: kube::Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    relisting(move || watcher(api.clone(), wc.clone()).boxed()).reflect(writer).applied_objects()
}

/// Objects of `api` that changed: a related resource or a child that triggers reconciles (for
/// children, an `Api<PartialObjectMeta<_>>`: owner references are all a controller needs).
pub fn touched<K>(
    api: Api<K>,
    wc: watcher::Config,
) -> impl Stream<Item = Result<K, watcher::Error>> + Send + 'static
where
    K: kube::Resource + Clone + DeserializeOwned + Debug + Send + 'static,
{
    relisting(move || watcher(api.clone(), wc.clone()).boxed()).touched_objects()
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

    #[tokio::test(start_paused = true)]
    async fn gone_at_watch_start_lists_again_at_once() {
        let made = Arc::new(AtomicUsize::new(0));
        let m = made.clone();
        let started = tokio::time::Instant::now();
        let events: Vec<_> = relisting(move || fake(m.clone(), 410)).take(6).collect().await;
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
    }

    #[tokio::test(start_paused = true)]
    async fn other_errors_keep_the_watcher_and_back_off_up_to_a_second() {
        let made = Arc::new(AtomicUsize::new(0));
        let m = made.clone();
        let started = tokio::time::Instant::now();
        let events: Vec<_> = relisting(move || fake(m.clone(), 500)).take(10).collect().await;
        assert_eq!(made.load(Ordering::SeqCst), 1, "a 500 is retried by the same watcher (it resumes)");
        assert!(events[3..].iter().all(|e| e.as_ref().is_err_and(|e| !needs_relist(e))));
        // 7 errors: 0.25 + 0.5 + 1 + 1 + 1 + 1 (the backoff waits before the next poll).
        let waited = started.elapsed();
        assert!(waited >= Duration::from_millis(4750) && waited <= Duration::from_millis(5750), "{waited:?}");
    }

    #[test]
    fn watch_backoff_resets_after_a_quiet_spell() {
        let mut b = WatchBackoff::default();
        let first: Vec<_> = (&mut b).take(5).collect();
        assert_eq!(first, [250, 500, 1000, 1000, 1000].map(Duration::from_millis));
        b.reset();
        assert_eq!(b.next(), Some(BACKOFF_MIN));
    }
}
