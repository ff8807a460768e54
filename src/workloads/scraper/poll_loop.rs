//! The polling loop: fetch with retries, normalise, store, report.
//!
//! One poll is: wait for the request budget, GET (retrying transient failures with full-jitter
//! backoff, or the server's `Retry-After`), parse, validate, write one snapshot. A poll that fails
//! at any stage writes nothing. Shutdown abandons a poll that is still fetching or backing off;
//! once the snapshot write has begun it is allowed to finish, and the write itself is atomic, so
//! there is never a partial object.

use super::backoff::{full_jitter, random_up_to};
use super::config::ScrapeConfig;
use super::error::{ConfigError, ErrorType, PollError};
use super::fetch::{self, FetchLimits, Fetched};
use super::metrics::Metrics;
use crate::crd::sportsbook::IngestionStatus;
use crate::domain::market::Market;
use crate::feed::retention::{MAX_DELETES_PER_PASS, PASS_EVERY, PruneReport};
use crate::feed::snapshot::Snapshot;
use crate::feed::{Quota, normalise};
use chrono::Utc;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// What a successful poll stored.
#[derive(Clone, Debug, PartialEq)]
pub struct PollReport {
    /// Snapshot key, relative to the store URL.
    pub key: String,
    pub quotes: usize,
    pub per_market: Vec<(Market, usize)>,
    pub rejected: BTreeMap<&'static str, u64>,
    pub quota: Option<Quota>,
    /// Requests made, retries included.
    pub attempts: u32,
    pub elapsed: Duration,
}

impl std::fmt::Display for PollReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "stored {}", self.key)?;
        let markets: Vec<String> = self.per_market.iter().map(|(m, n)| format!("{m} {n}")).collect();
        writeln!(f, "quotes {} ({})", self.quotes, markets.join(", "))?;
        let total: u64 = self.rejected.values().sum();
        let reasons: Vec<String> = self.rejected.iter().map(|(r, n)| format!("{r}={n}")).collect();
        writeln!(f, "rejected {total}{}{}", if reasons.is_empty() { "" } else { ": " }, reasons.join(" "))?;
        if let Some(q) = self.quota {
            let show = |v: Option<i64>| v.map(|x| x.to_string()).unwrap_or_else(|| "?".into());
            writeln!(f, "quota remaining {} used {} last {}", show(q.remaining), show(q.used), show(q.last))?;
        }
        write!(f, "took {:.3}s in {} request(s)", self.elapsed.as_secs_f64(), self.attempts)
    }
}

/// One Sportsbook's scraper.
pub struct Scraper {
    config: ScrapeConfig,
    client: reqwest::Client,
    metrics: Arc<Metrics>,
    ready: Arc<AtomicBool>,
    status: IngestionStatus,
    status_tx: watch::Sender<IngestionStatus>,
    last_request: Option<Instant>,
    not_before: Option<Instant>,
    /// When the last retention pass ran, and whether it left older snapshots behind.
    last_prune: Option<(Instant, bool)>,
}

impl Scraper {
    pub fn new(config: ScrapeConfig) -> Result<Scraper, ConfigError> {
        let metrics = Metrics::new(&config.metrics_prefix, &config.sportsbook)
            .map_err(|e| ConfigError::Metrics(e.to_string()))?;
        let client = fetch::client(config.poll.timeout, &config.egress)
            .map_err(|e| ConfigError::Client(e.to_string()))?;
        let (status_tx, _) = watch::channel(IngestionStatus::default());
        Ok(Scraper {
            config,
            client,
            metrics: Arc::new(metrics),
            ready: Arc::new(AtomicBool::new(false)),
            status: IngestionStatus::default(),
            status_tx,
            last_request: None,
            not_before: None,
            last_prune: None,
        })
    }

    pub fn config(&self) -> &ScrapeConfig {
        &self.config
    }

    pub fn metrics(&self) -> Arc<Metrics> {
        self.metrics.clone()
    }

    /// True once a poll has finished (either way); `/readyz`.
    pub fn ready_flag(&self) -> Arc<AtomicBool> {
        self.ready.clone()
    }

    /// The heartbeat state after the last poll.
    pub fn status(&self) -> &IngestionStatus {
        &self.status
    }

    /// Follow the heartbeat state as it changes.
    pub fn subscribe(&self) -> watch::Receiver<IngestionStatus> {
        self.status_tx.subscribe()
    }

    /// Earliest time the next poll should start, when the server asked for more patience than
    /// one poll's backoff allows (a long `Retry-After`). [`Scraper::run`] honours it.
    pub fn not_before(&self) -> Option<Instant> {
        self.not_before
    }

    /// One poll. Errors are counted in the metrics and recorded in the heartbeat state before
    /// being returned.
    pub async fn poll_once(&mut self, cancel: &CancellationToken) -> Result<PollReport, PollError> {
        let started = Instant::now();
        let result = self.poll_inner(cancel, started).await;
        match &result {
            Ok(report) => {
                self.status.consecutive_failures = Some(0);
                self.status.last_snapshot = Some(report.key.clone());
                self.status.last_snapshot_time = Some(now_time());
                self.status.quotes = Some(report.quotes as i64);
                self.status.rejected_quotes = Some(report.rejected.values().sum::<u64>() as i64);
                if let Some(r) = report.quota.and_then(|q| q.remaining) {
                    self.status.quota_remaining = Some(r);
                }
                self.metrics.poll(true, 0);
                tracing::info!(key = %report.key, quotes = report.quotes, rejected = ?report.rejected, "snapshot stored");
            }
            Err(PollError::Cancelled) => {}
            Err(e) => {
                let failures = self.status.consecutive_failures.unwrap_or(0) + 1;
                self.status.consecutive_failures = Some(failures);
                self.status.last_error = Some(crate::feed::provider::truncate(&e.to_string(), 500));
                self.status.last_error_time = Some(now_time());
                self.metrics.poll(false, failures);
                tracing::warn!(error = %e, error_type = e.error_type().map(|t| t.as_str()), consecutive_failures = failures, "poll failed");
            }
        }
        if !matches!(result, Err(PollError::Cancelled)) {
            self.ready.store(true, Ordering::Relaxed);
            self.status_tx.send_replace(self.status.clone());
        }
        result
    }

    async fn poll_inner(
        &mut self,
        cancel: &CancellationToken,
        started: Instant,
    ) -> Result<PollReport, PollError> {
        let (fetched, attempts) = self.fetch_with_retries(cancel).await?;
        if let Some(r) = fetched.quota.and_then(|q| q.remaining) {
            self.metrics.quota_remaining(r);
        }
        let provider = self.config.provider.clone();
        let raw = provider.parse(&fetched.body).inspect_err(|e| {
            self.metrics.error(if e.error_type() == "schema" { ErrorType::Schema } else { ErrorType::Parse });
        })?;
        drop(fetched.body);
        let polled_at = Utc::now();
        let norm = normalise(raw, &self.config.validation, polled_at);
        for (reason, n) in &norm.rejected {
            self.metrics.rejected(reason, *n);
        }
        if norm.quotes.is_empty() && norm.rejected_total() > 0 {
            self.metrics.error(ErrorType::Validation);
            let reasons: Vec<String> = norm.rejected.iter().map(|(r, n)| format!("{r}={n}")).collect();
            return Err(PollError::Validation {
                rejected: norm.rejected_total(),
                reasons: reasons.join(" "),
            });
        }
        let per_market: Vec<(Market, usize)> = self
            .config
            .markets
            .iter()
            .map(|m| (*m, norm.quotes.iter().filter(|q| q.market == *m).count()))
            .collect();
        let rejected = norm.rejected.clone();
        let mut snap = Snapshot::new(&self.config.sportsbook, provider.kind(), polled_at);
        snap.rejected = norm.rejected.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect();
        snap.quota = fetched.quota;
        snap.quotes = norm.quotes;
        snap.events = norm.events;
        // Not cancellable: once begun, the (atomic) write completes.
        let key =
            self.config.store.write(&snap).await.inspect_err(|_| self.metrics.error(ErrorType::Storage))?;
        let elapsed = started.elapsed();
        self.metrics.success(
            polled_at.timestamp_millis() as f64 / 1000.0,
            elapsed.as_secs_f64(),
            &per_market,
        );
        Ok(PollReport {
            key,
            quotes: snap.quotes.len(),
            per_market,
            rejected,
            quota: fetched.quota,
            attempts,
            elapsed,
        })
    }

    async fn fetch_with_retries(&mut self, cancel: &CancellationToken) -> Result<(Fetched, u32), PollError> {
        let p = self.config.poll.clone();
        let limits = FetchLimits { timeout: p.timeout, max_bytes: p.max_response_bytes };
        let provider = self.config.provider.clone();
        let mut attempt = 0u32;
        loop {
            if let (Some(gap), Some(last)) = (p.min_request_gap, self.last_request) {
                sleep_or_cancel(gap.saturating_sub(last.elapsed()), cancel).await?;
            }
            self.last_request = Some(Instant::now());
            let result = tokio::select! {
                r = fetch::fetch(&self.client, provider.as_ref(), &self.config.egress, limits) => r,
                _ = cancel.cancelled() => return Err(PollError::Cancelled),
            };
            let err = match result {
                Ok(f) => return Ok((f, attempt + 1)),
                Err(e) => e,
            };
            self.metrics.error(err.error_type());
            let last_try = attempt >= p.max_retries;
            if !err.retryable() || last_try {
                if let Some(ra) = err.retry_after() {
                    self.not_before = Some(Instant::now() + ra);
                }
                return Err(err.into());
            }
            let delay = match err.retry_after() {
                Some(ra) if ra <= p.backoff_max => ra,
                Some(ra) => {
                    // The server wants more patience than a retry within this poll may take:
                    // give up the poll and start the next one no earlier than it asked.
                    self.not_before = Some(Instant::now() + ra);
                    return Err(err.into());
                }
                None => full_jitter(p.backoff_base, p.backoff_max, attempt),
            };
            tracing::info!(error = %err, retry_in = ?delay, attempt = attempt + 1, "request failed; retrying");
            sleep_or_cancel(delay, cancel).await?;
            attempt += 1;
        }
    }

    /// One retention pass as of `now`: delete this book's own snapshots polled before
    /// `now - retention`, at most [`MAX_DELETES_PER_PASS`], oldest first. Counted in the
    /// retention metrics; a failure is logged and never stops the scraper. None without a
    /// retention.
    pub async fn prune_at(&mut self, now: chrono::DateTime<Utc>) -> Option<PruneReport> {
        let retention = chrono::Duration::from_std(self.config.retention?).ok()?;
        let result =
            self.config.store.prune(&self.config.sportsbook, now - retention, MAX_DELETES_PER_PASS).await;
        let report = match result {
            Ok(r) => r,
            Err(e) => PruneReport { failed: 1, first_error: Some(e.to_string()), ..PruneReport::default() },
        };
        self.metrics.retention(report.deleted, report.failed);
        self.last_prune = Some((Instant::now(), report.more));
        match &report.first_error {
            Some(e) => {
                tracing::warn!(deleted = report.deleted, failed = report.failed, error = %e, "retention pass could not delete every expired snapshot")
            }
            None if report.deleted > 0 => tracing::info!(
                deleted = report.deleted,
                more = report.more,
                "retention pass deleted expired snapshots"
            ),
            None => {}
        }
        Some(report)
    }

    fn prune_due(&self) -> bool {
        self.config.retention.is_some()
            && self.last_prune.is_none_or(|(at, more)| more || at.elapsed() >= PASS_EVERY)
    }

    /// Poll until cancelled: interval plus random jitter between poll starts, never sooner than
    /// a `Retry-After` allows. Retention passes run between polls.
    pub async fn run(mut self, cancel: CancellationToken) {
        loop {
            let started = Instant::now();
            let _ = self.poll_once(&cancel).await;
            if cancel.is_cancelled() {
                break;
            }
            if self.prune_due() {
                tokio::select! {
                    _ = self.prune_at(Utc::now()) => {}
                    _ = cancel.cancelled() => break,
                }
            }
            let p = &self.config.poll;
            let mut next = started + p.interval + random_up_to(p.jitter);
            if let Some(nb) = self.not_before.take() {
                next = next.max(nb);
            }
            tokio::select! {
                _ = tokio::time::sleep_until(next.into()) => {}
                _ = cancel.cancelled() => break,
            }
        }
        tracing::info!("scraper stopped");
    }
}

async fn sleep_or_cancel(d: Duration, cancel: &CancellationToken) -> Result<(), PollError> {
    if d.is_zero() {
        return Ok(());
    }
    tokio::select! {
        _ = tokio::time::sleep(d) => Ok(()),
        _ = cancel.cancelled() => Err(PollError::Cancelled),
    }
}

fn now_time() -> Time {
    let ms = Utc::now().timestamp_millis();
    // Kubernetes serialises seconds; keep the heartbeat at second precision.
    Time(
        k8s_openapi::jiff::Timestamp::from_second(ms / 1000)
            .unwrap_or(k8s_openapi::jiff::Timestamp::UNIX_EPOCH),
    )
}
