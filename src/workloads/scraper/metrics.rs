//! The scraper's Prometheus metrics, in a per-process [`Registry`] (never the global one, so
//! tests can run several scrapers in one process and read each one's numbers).
//!
//! Names carry a configurable prefix (default `nflreadpy`, the operations guide's):
//! - `{p}_ingestion_latency_seconds{sportsbook,market}`: histogram of the wall time of a
//!   successful poll, from the first request to the stored snapshot, once per market ingested;
//! - `{p}_ingestion_errors_total{sportsbook,error_type}`: every failed request or poll stage,
//!   per attempt, so retried faults are visible too;
//! - `{p}_ingestion_last_success_timestamp_seconds{sportsbook}`: Unix time of the last snapshot;
//! - `{p}_ingestion_quotes{sportsbook,market}`: quotes kept in the last snapshot;
//! - `{p}_ingestion_quotes_per_poll{sportsbook}`: histogram of quotes kept per successful poll;
//! - `{p}_ingestion_rejected_quotes_total{sportsbook,reason}`: quotes dropped by validation;
//! - `{p}_ingestion_polls_total{sportsbook,outcome}`: polls by outcome (success, failure);
//! - `{p}_ingestion_consecutive_failures{sportsbook}`: failed polls since the last success;
//! - `{p}_ingestion_quota_remaining{sportsbook}`: provider quota left, when reported;
//! - `{p}_ingestion_heartbeat_failures_total{sportsbook}`: status heartbeats that failed;
//! - `{p}_ingestion_retention_deleted_total{sportsbook}`: own snapshots deleted by retention;
//! - `{p}_ingestion_retention_failures_total{sportsbook}`: snapshots retention could not delete
//!   (and listings that failed); never fatal, the next pass tries again.

use super::error::ErrorType;
use crate::domain::market::Market;
use crate::feed::RejectReason;
use prometheus::{
    Encoder, GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder,
};

pub struct Metrics {
    registry: Registry,
    family_names: Vec<String>,
    sportsbook: String,
    latency: HistogramVec,
    errors: IntCounterVec,
    last_success: GaugeVec,
    quotes: IntGaugeVec,
    quotes_per_poll: HistogramVec,
    rejected: IntCounterVec,
    polls: IntCounterVec,
    consecutive_failures: IntGaugeVec,
    quota_remaining: IntGaugeVec,
    heartbeat_failures: IntCounterVec,
    retention_deleted: IntCounterVec,
    retention_failures: IntCounterVec,
}

impl Metrics {
    pub fn new(prefix: &str, sportsbook: &str) -> Result<Metrics, prometheus::Error> {
        let mut families = crate::workloads::Families::default();
        let opts = |name: &str, help: &str| Opts::new(name, help).namespace(prefix);
        let hopts = |name: &str, help: &str, buckets: Vec<f64>| {
            HistogramOpts::new(name, help).namespace(prefix).buckets(buckets)
        };
        let latency = HistogramVec::new(
            hopts(
                "ingestion_latency_seconds",
                "Wall time of a successful poll, first request to stored snapshot, per market ingested",
                vec![0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0],
            ),
            &["sportsbook", "market"],
        )?;
        let errors = IntCounterVec::new(
            opts("ingestion_errors_total", "Failed requests and poll stages by error type"),
            &["sportsbook", "error_type"],
        )?;
        let last_success = GaugeVec::new(
            opts("ingestion_last_success_timestamp_seconds", "Unix time of the last snapshot written"),
            &["sportsbook"],
        )?;
        let quotes = IntGaugeVec::new(
            opts("ingestion_quotes", "Quotes kept in the last snapshot, per market"),
            &["sportsbook", "market"],
        )?;
        let quotes_per_poll = HistogramVec::new(
            hopts(
                "ingestion_quotes_per_poll",
                "Quotes kept per successful poll",
                vec![0.0, 10.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0, 25000.0],
            ),
            &["sportsbook"],
        )?;
        let rejected = IntCounterVec::new(
            opts("ingestion_rejected_quotes_total", "Quotes dropped by validation, by reason"),
            &["sportsbook", "reason"],
        )?;
        let polls = IntCounterVec::new(
            opts("ingestion_polls_total", "Polls by outcome"),
            &["sportsbook", "outcome"],
        )?;
        let consecutive_failures = IntGaugeVec::new(
            opts("ingestion_consecutive_failures", "Failed polls since the last success"),
            &["sportsbook"],
        )?;
        let quota_remaining = IntGaugeVec::new(
            opts("ingestion_quota_remaining", "Requests left in the provider quota, when reported"),
            &["sportsbook"],
        )?;
        let heartbeat_failures = IntCounterVec::new(
            opts("ingestion_heartbeat_failures_total", "Status heartbeats that could not be written"),
            &["sportsbook"],
        )?;
        families.register(Box::new(latency.clone()))?;
        families.register(Box::new(errors.clone()))?;
        families.register(Box::new(last_success.clone()))?;
        families.register(Box::new(quotes.clone()))?;
        families.register(Box::new(quotes_per_poll.clone()))?;
        families.register(Box::new(rejected.clone()))?;
        families.register(Box::new(polls.clone()))?;
        families.register(Box::new(consecutive_failures.clone()))?;
        families.register(Box::new(quota_remaining.clone()))?;
        families.register(Box::new(heartbeat_failures.clone()))?;
        let retention_deleted = IntCounterVec::new(
            opts(
                "ingestion_retention_deleted_total",
                "Own snapshots deleted for being older than the retention",
            ),
            &["sportsbook"],
        )?;
        let retention_failures = IntCounterVec::new(
            opts(
                "ingestion_retention_failures_total",
                "Snapshots the retention pass could not delete, and listings that failed",
            ),
            &["sportsbook"],
        )?;
        families.register(Box::new(retention_deleted.clone()))?;
        families.register(Box::new(retention_failures.clone()))?;
        retention_deleted.with_label_values(&[sportsbook]);
        retention_failures.with_label_values(&[sportsbook]);
        // Every series exists from the start at zero, so `rate()` and `increase()` see the first
        // error instead of a series appearing from nowhere.
        for t in ErrorType::ALL {
            errors.with_label_values(&[sportsbook, t.as_str()]);
        }
        for r in RejectReason::ALL {
            rejected.with_label_values(&[sportsbook, r.as_str()]);
        }
        for o in ["success", "failure"] {
            polls.with_label_values(&[sportsbook, o]);
        }
        consecutive_failures.with_label_values(&[sportsbook]);
        heartbeat_failures.with_label_values(&[sportsbook]);
        let crate::workloads::Families { registry, names: family_names } = families;
        Ok(Metrics {
            registry,
            family_names,
            sportsbook: sportsbook.to_owned(),
            latency,
            errors,
            last_success,
            quotes,
            quotes_per_poll,
            rejected,
            polls,
            consecutive_failures,
            quota_remaining,
            heartbeat_failures,
            retention_deleted,
            retention_failures,
        })
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The name of every family registered, with series or not.
    pub fn family_names(&self) -> &[String] {
        &self.family_names
    }

    pub fn error(&self, t: ErrorType) {
        self.errors.with_label_values(&[&self.sportsbook, t.as_str()]).inc();
    }

    /// Current count of one error type (tests and `--once` output).
    pub fn errors(&self, t: ErrorType) -> u64 {
        self.errors.with_label_values(&[&self.sportsbook, t.as_str()]).get()
    }

    pub fn rejected(&self, reason: &str, n: u64) {
        self.rejected.with_label_values(&[&self.sportsbook, reason]).inc_by(n);
    }

    pub fn rejected_count(&self, reason: &str) -> u64 {
        self.rejected.with_label_values(&[&self.sportsbook, reason]).get()
    }

    pub fn poll(&self, success: bool, consecutive_failures: i64) {
        let outcome = if success { "success" } else { "failure" };
        self.polls.with_label_values(&[&self.sportsbook, outcome]).inc();
        self.consecutive_failures.with_label_values(&[&self.sportsbook]).set(consecutive_failures);
    }

    pub fn polls(&self, success: bool) -> u64 {
        let outcome = if success { "success" } else { "failure" };
        self.polls.with_label_values(&[&self.sportsbook, outcome]).get()
    }

    /// Record a stored snapshot.
    pub fn success(&self, at_unix_seconds: f64, seconds: f64, per_market: &[(Market, usize)]) {
        self.last_success.with_label_values(&[&self.sportsbook]).set(at_unix_seconds);
        let mut total = 0;
        for (m, n) in per_market {
            self.quotes.with_label_values(&[&self.sportsbook, m.as_str()]).set(*n as i64);
            if *n > 0 {
                self.latency.with_label_values(&[&self.sportsbook, m.as_str()]).observe(seconds);
            }
            total += n;
        }
        self.quotes_per_poll.with_label_values(&[&self.sportsbook]).observe(total as f64);
    }

    pub fn last_success(&self) -> f64 {
        self.last_success.with_label_values(&[&self.sportsbook]).get()
    }

    pub fn quota_remaining(&self, remaining: i64) {
        self.quota_remaining.with_label_values(&[&self.sportsbook]).set(remaining);
    }

    pub fn heartbeat_failed(&self) {
        self.heartbeat_failures.with_label_values(&[&self.sportsbook]).inc();
    }

    pub fn heartbeat_failures(&self) -> u64 {
        self.heartbeat_failures.with_label_values(&[&self.sportsbook]).get()
    }

    /// Record a retention pass.
    pub fn retention(&self, deleted: u64, failed: u64) {
        self.retention_deleted.with_label_values(&[&self.sportsbook]).inc_by(deleted);
        self.retention_failures.with_label_values(&[&self.sportsbook]).inc_by(failed);
    }

    /// (deleted, failed) so far.
    pub fn retention_counts(&self) -> (u64, u64) {
        (
            self.retention_deleted.with_label_values(&[&self.sportsbook]).get(),
            self.retention_failures.with_label_values(&[&self.sportsbook]).get(),
        )
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut buf) {
            tracing::warn!(error = %e, "cannot encode metrics");
        }
        String::from_utf8(buf).unwrap_or_default()
    }
}

impl crate::http::Exposition for Metrics {
    fn render(&self) -> String {
        Metrics::render(self)
    }
}
