//! The model workload's Prometheus metrics, in a per-process [`Registry`] (never the global one,
//! so tests can run several workloads in one process).
//!
//! Names carry a configurable prefix (default `nflreadpy`); the operator's alert rules rely on
//! them, so they are a contract:
//! - `{p}_model_edge{model,role,market,event,selection,book,which}`: per priced quote,
//!   `which="ev"` expected value per unit stake, `which="kelly"` the Kelly fraction after the
//!   fractional multiplier and before caps. Reset every run, so vanished markets disappear.
//! - `{p}_portfolio_exposure{model,role,team,market,book}`: recommended stake in currency units,
//!   summed; a total counts against both its teams (as the team cap does), so sum this by
//!   `team` only; `{p}_portfolio_stake{model,role,event,market,book}` counts every bet once
//!   (sum it by `event` for the per-event cap, by `market` or `book` for theirs).
//! - `{p}_portfolio_cap{model,role,dimension}`: the caps in currency units (`bet`, `event`,
//!   `team`, `market`, `book`), of the effective bankroll (bankroll × traffic share).
//! - `{p}_model_brier_score`, `{p}_model_log_loss`, `{p}_model_calibration_samples`,
//!   `{p}_model_calibration_pushes` `{model,version,role}`: settled games in the calibration
//!   window; Brier and log loss are absent without samples.
//! - `{p}_model_last_run_timestamp_seconds{model,role}`, `{p}_model_markets_priced{model,role}`
//!   (market lines priced: one per game, market and line), `{p}_model_quotes_priced{model,role}`,
//!   `{p}_model_runs_total{model,role}`, `{p}_model_run_duration_seconds{model,role}`.
//! - `{p}_model_run_errors_total{model,role,error_type}`; `{p}_model_status_report_failures_total
//!   {model,role}`.
//! - `{p}_model_retention_deleted_total{model,role}`, `{p}_model_retention_failures_total
//!   {model,role}`: own recommendation records deleted by retention, and those it could not.

use super::error::ErrorType;
use super::settle::CalibrationScores;
use super::staking::{EventPricing, Portfolio};
use prometheus::{
    Encoder, GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder,
};

pub struct Metrics {
    registry: Registry,
    family_names: Vec<String>,
    model: String,
    role: String,
    edge: GaugeVec,
    exposure: GaugeVec,
    stake: GaugeVec,
    cap: GaugeVec,
    brier: GaugeVec,
    log_loss: GaugeVec,
    samples: IntGaugeVec,
    pushes: IntGaugeVec,
    last_run: GaugeVec,
    markets_priced: IntGaugeVec,
    quotes_priced: IntGaugeVec,
    runs: IntCounterVec,
    duration: HistogramVec,
    errors: IntCounterVec,
    status_failures: IntCounterVec,
    retention_deleted: IntCounterVec,
    retention_failures: IntCounterVec,
}

impl Metrics {
    pub fn new(prefix: &str, model: &str, role: &str) -> Result<Metrics, prometheus::Error> {
        let mut families = crate::workloads::Families::default();
        let opts = |name: &str, help: &str| Opts::new(name, help).namespace(prefix);
        let gauge = |name: &str, help: &str, labels: &[&str]| GaugeVec::new(opts(name, help), labels);
        let edge = gauge(
            "model_edge",
            "Edge of a priced quote: which=ev expected value per unit stake, which=kelly Kelly fraction after the multiplier, before caps",
            &["model", "role", "market", "event", "selection", "book", "which"],
        )?;
        let exposure = gauge(
            "portfolio_exposure",
            "Recommended stake in currency units by team, market and book (a total counts against both teams)",
            &["model", "role", "team", "market", "book"],
        )?;
        let stake = gauge(
            "portfolio_stake",
            "Recommended stake in currency units by event, market and book, every bet once",
            &["model", "role", "event", "market", "book"],
        )?;
        let cap = gauge(
            "portfolio_cap",
            "Staking caps in currency units of the effective bankroll",
            &["model", "role", "dimension"],
        )?;
        let cal = ["model", "version", "role"];
        let brier = gauge(
            "model_brier_score",
            "Brier score of the home-win forecasts of settled games in the calibration window",
            &cal,
        )?;
        let log_loss = gauge(
            "model_log_loss",
            "Log loss of the home-win forecasts of settled games in the calibration window",
            &cal,
        )?;
        let samples = IntGaugeVec::new(
            opts(
                "model_calibration_samples",
                "Settled games scored in the calibration window (ties excluded)",
            ),
            &cal,
        )?;
        let pushes = IntGaugeVec::new(
            opts(
                "model_calibration_pushes",
                "Settled games in the calibration window that tied (not scored)",
            ),
            &cal,
        )?;
        let last_run = gauge(
            "model_last_run_timestamp_seconds",
            "Unix time of the last completed pricing run",
            &["model", "role"],
        )?;
        let markets_priced = IntGaugeVec::new(
            opts("model_markets_priced", "Market lines priced in the last run (game, market, line)"),
            &["model", "role"],
        )?;
        let quotes_priced = IntGaugeVec::new(
            opts("model_quotes_priced", "Book prices priced in the last run"),
            &["model", "role"],
        )?;
        let runs =
            IntCounterVec::new(opts("model_runs_total", "Completed pricing runs"), &["model", "role"])?;
        let duration = HistogramVec::new(
            HistogramOpts::new("model_run_duration_seconds", "Wall time of a pricing run")
                .namespace(prefix)
                .buckets(vec![0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0]),
            &["model", "role"],
        )?;
        let errors = IntCounterVec::new(
            opts("model_run_errors_total", "Failures inside pricing runs by error type"),
            &["model", "role", "error_type"],
        )?;
        let status_failures = IntCounterVec::new(
            opts("model_status_report_failures_total", "Model status reports that could not be written"),
            &["model", "role"],
        )?;
        for c in [&edge, &exposure, &stake, &cap, &brier, &log_loss, &last_run] {
            families.register(Box::new(c.clone()))?;
        }
        for c in [&samples, &pushes, &markets_priced, &quotes_priced] {
            families.register(Box::new(c.clone()))?;
        }
        let retention_deleted = IntCounterVec::new(
            opts("model_retention_deleted_total", "Own recommendation records deleted by retention"),
            &["model", "role"],
        )?;
        let retention_failures = IntCounterVec::new(
            opts(
                "model_retention_failures_total",
                "Recommendation records retention could not delete, and listings that failed",
            ),
            &["model", "role"],
        )?;
        for c in [&runs, &errors, &status_failures, &retention_deleted, &retention_failures] {
            families.register(Box::new(c.clone()))?;
        }
        families.register(Box::new(duration.clone()))?;
        // Series that exist from the start at zero, so rate() sees the first increment.
        for t in ErrorType::ALL {
            errors.with_label_values(&[model, role, t.as_str()]);
        }
        for c in [&runs, &status_failures, &retention_deleted, &retention_failures] {
            c.with_label_values(&[model, role]);
        }
        let crate::workloads::Families { registry, names: family_names } = families;
        Ok(Metrics {
            registry,
            family_names,
            model: model.to_owned(),
            role: role.to_owned(),
            edge,
            exposure,
            stake,
            cap,
            brier,
            log_loss,
            samples,
            pushes,
            last_run,
            markets_priced,
            quotes_priced,
            runs,
            duration,
            errors,
            status_failures,
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
        self.errors.with_label_values(&[&self.model, &self.role, t.as_str()]).inc();
    }

    pub fn errors(&self, t: ErrorType) -> u64 {
        self.errors.with_label_values(&[&self.model, &self.role, t.as_str()]).get()
    }

    /// Record a retention pass.
    pub fn retention(&self, deleted: u64, failed: u64) {
        self.retention_deleted.with_label_values(&[&self.model, &self.role]).inc_by(deleted);
        self.retention_failures.with_label_values(&[&self.model, &self.role]).inc_by(failed);
    }

    /// (deleted, failed) so far.
    pub fn retention_counts(&self) -> (u64, u64) {
        (
            self.retention_deleted.with_label_values(&[&self.model, &self.role]).get(),
            self.retention_failures.with_label_values(&[&self.model, &self.role]).get(),
        )
    }

    pub fn status_failed(&self) {
        self.status_failures.with_label_values(&[&self.model, &self.role]).inc();
    }

    pub fn status_failures(&self) -> u64 {
        self.status_failures.with_label_values(&[&self.model, &self.role]).get()
    }

    /// Replace the edge, exposure and stake families with this run's, and record the run.
    pub fn record_run(
        &self,
        events: &[EventPricing],
        portfolio: &Portfolio,
        markets_priced: usize,
        at_unix_seconds: f64,
        seconds: f64,
    ) {
        let (m, r) = (self.model.as_str(), self.role.as_str());
        self.edge.reset();
        let mut quotes = 0i64;
        for ev in events {
            for q in &ev.quotes {
                quotes += 1;
                let labels = |which| {
                    [
                        m,
                        r,
                        q.market.as_str(),
                        q.event.as_str(),
                        q.selection_label.as_str(),
                        q.book.as_str(),
                        which,
                    ]
                };
                self.edge.with_label_values(&labels("ev")).set(q.expected_value);
                self.edge.with_label_values(&labels("kelly")).set(q.kelly);
            }
        }
        self.exposure.reset();
        for ((team, market, book), v) in &portfolio.by_team {
            self.exposure.with_label_values(&[m, r, team, market.as_str(), book]).set(*v);
        }
        self.stake.reset();
        for ((event, market, book), v) in &portfolio.by_event_market_book {
            self.stake.with_label_values(&[m, r, event, market.as_str(), book]).set(*v);
        }
        self.markets_priced.with_label_values(&[m, r]).set(markets_priced as i64);
        self.quotes_priced.with_label_values(&[m, r]).set(quotes);
        self.last_run.with_label_values(&[m, r]).set(at_unix_seconds);
        self.runs.with_label_values(&[m, r]).inc();
        self.duration.with_label_values(&[m, r]).observe(seconds);
    }

    /// The caps in currency units.
    pub fn set_caps(&self, caps: &[(&str, f64)]) {
        for (dimension, v) in caps {
            self.cap.with_label_values(&[self.model.as_str(), self.role.as_str(), dimension]).set(*v);
        }
    }

    /// Calibration of `version`; Brier and log loss only when there are samples.
    pub fn set_calibration(&self, version: &str, scores: &CalibrationScores) {
        let labels = [self.model.as_str(), version, self.role.as_str()];
        self.samples.with_label_values(&labels).set(scores.samples as i64);
        self.pushes.with_label_values(&labels).set(scores.pushes as i64);
        match (scores.brier, scores.log_loss) {
            (Some(b), Some(l)) if scores.samples > 0 => {
                self.brier.with_label_values(&labels).set(b);
                self.log_loss.with_label_values(&labels).set(l);
            }
            _ => {
                let _ = self.brier.remove_label_values(&labels);
                let _ = self.log_loss.remove_label_values(&labels);
            }
        }
    }

    pub fn last_run(&self) -> f64 {
        self.last_run.with_label_values(&[&self.model, &self.role]).get()
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
