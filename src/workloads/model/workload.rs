//! One pricing run, and the loop of runs.
//!
//! A run: reload the games file when due → read the latest snapshot of each sportsbook (no
//! older than `--snapshot-max-age`) → group quotes by game → price every game → size the slate
//! → export metrics → store the record → settle stored predictions (at most every
//! [`CALIBRATION_REFRESH`]) → publish the status report. Each failure is counted by type and
//! the run carries on with what it has.

use super::config::{ModelConfig, Role};
use super::error::{ConfigError, ErrorType, RunError};
use super::games_source::GamesSource;
use super::inputs::{self, Skipped};
use super::metrics::Metrics;
use super::pricing::Pricer;
use super::record::{self, FairEntry, Prediction, RecommendationRecord};
use super::settle::{CalibrationScores, Settler};
use super::staking::{self, EventPricing, Portfolio};
use super::status::{self, StatusReport};
use super::store::RecordStore;
use crate::crd::model::{CalibrationScore, PricingSummary};
use crate::domain::games::Game;
use crate::domain::pricing_model::pair_key;
use crate::feed::retention::{self, PruneReport};
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// Calibration changes only when results arrive; reading the stored predictions more often than
/// this would only load the store.
pub const CALIBRATION_REFRESH: Duration = Duration::from_secs(300);

/// What one run did.
#[derive(Clone, Debug)]
pub struct RunReport {
    pub run_at: DateTime<Utc>,
    pub events: Vec<EventPricing>,
    pub portfolio: Portfolio,
    /// Market lines priced (game, market, line).
    pub markets_priced: usize,
    pub quotes_priced: usize,
    /// Snapshot key priced per sportsbook.
    pub snapshots: BTreeMap<String, String>,
    /// Sportsbooks without a snapshot young enough to price.
    pub missing: Vec<String>,
    pub skipped: Skipped,
    /// Key of the stored record, when written.
    pub record_key: Option<String>,
    pub calibration: CalibrationScores,
    /// Failures of this run, as (type, message).
    pub errors: Vec<(ErrorType, String)>,
    pub elapsed: Duration,
}

/// One Model's workload, for one role.
pub struct Workload {
    config: ModelConfig,
    records: RecordStore,
    games: GamesSource,
    /// The model and how many results it learned ([`super::pricing::known_results`]).
    pricer: Option<(Pricer, usize)>,
    settler: Settler,
    calibration: CalibrationScores,
    calibrated_at: Option<DateTime<Utc>>,
    metrics: Arc<Metrics>,
    ready: Arc<AtomicBool>,
    status_tx: watch::Sender<Option<StatusReport>>,
    /// When the last retention pass ran, and whether it left older records behind.
    last_prune: Option<(Instant, bool)>,
}

impl Workload {
    pub fn new(config: ModelConfig) -> Result<Workload, ConfigError> {
        let role = config.role.as_str();
        let metrics = Metrics::new(&config.metrics_prefix, &config.model, role)
            .map_err(|e| ConfigError::Metrics(e.to_string()))?;
        let records = RecordStore::open(&config.records_url, &config.s3)?;
        let s = &config.staking;
        let bankroll = s.effective_bankroll();
        metrics.set_caps(&[
            ("bet", s.policy.max_bet * bankroll),
            ("event", s.policy.max_event * bankroll),
            ("team", s.cap_team * bankroll),
            ("market", s.cap_market * bankroll),
            ("book", s.cap_book * bankroll),
        ]);
        let (status_tx, _) = watch::channel(None);
        Ok(Workload {
            games: GamesSource::new(config.games.clone(), config.games_refresh, config.egress.clone()),
            settler: Settler::new(&config.model, role, &config.version, config.parameters.as_deref()),
            config,
            records,
            pricer: None,
            calibration: CalibrationScores::default(),
            calibrated_at: None,
            metrics: Arc::new(metrics),
            ready: Arc::new(AtomicBool::new(false)),
            status_tx,
            last_prune: None,
        })
    }

    /// Use these games instead of reading `--games` (tests, benchmarks).
    pub fn with_games(mut self, games: Vec<Game>) -> Workload {
        self.games = GamesSource::fixed(games);
        self.pricer = None;
        self
    }

    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    pub fn metrics(&self) -> Arc<Metrics> {
        self.metrics.clone()
    }

    /// True once a run has finished; `/readyz`.
    pub fn ready_flag(&self) -> Arc<AtomicBool> {
        self.ready.clone()
    }

    /// Follow the status report as runs publish it.
    pub fn subscribe(&self) -> watch::Receiver<Option<StatusReport>> {
        self.status_tx.subscribe()
    }

    /// The report of the last run (None before the first).
    pub fn status_report(&self) -> Option<StatusReport> {
        self.status_tx.borrow().clone()
    }

    /// One run now.
    pub async fn run_once(&mut self) -> RunReport {
        self.run_at(Utc::now()).await
    }

    /// One run as of `now` (tests and replays of a past day pass their own clock).
    pub async fn run_at(&mut self, now: DateTime<Utc>) -> RunReport {
        let started = Instant::now();
        let mut errors: Vec<RunError> = Vec::new();

        let reloaded = match self.games.refresh().await {
            Ok(r) => r,
            Err(e) => {
                errors.push(e.into());
                false
            }
        };
        // Results are learned by instant (kickoff + RESULT_DELAY), not by date: the model is
        // rebuilt whenever another result has become known (or the file changed).
        let known = super::pricing::known_results(&self.games.games().list, now);
        if reloaded || self.pricer.as_ref().is_none_or(|(_, learned)| *learned != known) {
            let pricer = Pricer::new(&self.config.algorithm, &self.games.games().list, now);
            self.pricer = Some((pricer, known));
        }

        let (events, skipped, keys, missing) = self.read_snapshots(now, &mut errors).await;

        let mut priced: Vec<EventPricing> = Vec::with_capacity(events.len());
        let mut markets_priced = 0usize;
        if let Some((pricer, _)) = &self.pricer {
            let games = self.games.games().by_id.clone();
            for event in events {
                let fair = match pricer.price(&event, &games, now) {
                    Ok(Some(fair)) => fair,
                    Ok(None) => continue,
                    Err(source) => {
                        errors.push(RunError::Pricing { event: event.key.clone(), source });
                        continue;
                    }
                };
                let edges = match pricer.edges(&fair, &event) {
                    Ok(e) => e,
                    Err(source) => {
                        errors.push(RunError::Pricing { event: event.key.clone(), source });
                        continue;
                    }
                };
                markets_priced += fair
                    .iter()
                    .map(|f| {
                        let price = crate::domain::market::BookPrice {
                            book: String::new(),
                            market: f.market,
                            selection: f.selection,
                            line: f.line,
                            american: 100,
                        };
                        (f.market, pair_key(&price))
                    })
                    .collect::<BTreeSet<_>>()
                    .len();
                let quotes = staking::priced_quotes(&event, &edges, self.config.staking.policy.fraction);
                priced.push(EventPricing { event, fair, quotes });
            }
        }
        let portfolio = match staking::size_slate(&mut priced, &self.config.staking) {
            Ok(p) => p,
            Err(e) => {
                errors.push(RunError::Staking { event: "(slate)".into(), reason: e.to_string() });
                Portfolio::default()
            }
        };
        let quotes_priced = priced.iter().map(|e| e.quotes.len()).sum();
        let elapsed = started.elapsed();
        self.metrics.record_run(
            &priced,
            &portfolio,
            markets_priced,
            now.timestamp_millis() as f64 / 1000.0,
            elapsed.as_secs_f64(),
        );

        let record = self.record(now, &priced, &keys);
        let record_key = match self.records.write(&record).await {
            Ok(k) => Some(k),
            Err(e) => {
                errors.push(RunError::Store(e));
                None
            }
        };
        drop(record);

        self.calibrate(now, &mut errors).await;
        if self.config.retention.is_some()
            && self.last_prune.is_none_or(|(at, more)| more || at.elapsed() >= retention::PASS_EVERY)
        {
            self.prune_at(now).await;
        }

        for e in &errors {
            self.metrics.error(e.error_type());
            tracing::warn!(error = %e, error_type = e.error_type().as_str(), "pricing run problem");
        }
        let report = RunReport {
            run_at: now,
            portfolio,
            markets_priced,
            quotes_priced,
            snapshots: keys,
            missing,
            skipped,
            record_key,
            calibration: self.calibration.clone(),
            errors: errors.iter().map(|e| (e.error_type(), e.to_string())).collect(),
            elapsed: started.elapsed(),
            events: priced,
        };
        self.status_tx.send_replace(Some(self.build_status(&report)));
        self.ready.store(true, Ordering::Relaxed);
        tracing::info!(
            events = report.events.len(),
            quotes = report.quotes_priced,
            markets = report.markets_priced,
            bets = report.portfolio.bets,
            stake = report.portfolio.total,
            errors = report.errors.len(),
            "pricing run done"
        );
        report
    }

    /// The latest snapshot of each book, read one at a time and folded into the games at once,
    /// so at most one decoded snapshot is in memory. An oversized or unreadable snapshot is
    /// counted (`error_type="snapshot"`) and that book skipped.
    async fn read_snapshots(
        &self,
        now: DateTime<Utc>,
        errors: &mut Vec<RunError>,
    ) -> (Vec<inputs::EventPrices>, Skipped, BTreeMap<String, String>, Vec<String>) {
        let lookback =
            ChronoDuration::from_std(self.config.snapshot_max_age).unwrap_or(ChronoDuration::minutes(10));
        let mut collector = inputs::Collector::new(&self.config.markets, now);
        let mut keys = BTreeMap::new();
        let mut missing = Vec::new();
        for sb in &self.config.sportsbooks {
            let latest = match self.config.store.latest(sb, now, lookback).await {
                Ok(Some(r)) => r,
                Ok(None) => {
                    missing.push(sb.clone());
                    continue;
                }
                Err(source) => {
                    errors.push(RunError::Snapshot { sportsbook: sb.clone(), source });
                    continue;
                }
            };
            match self.config.store.read_listed(&latest).await {
                Ok(snap) => {
                    keys.insert(sb.clone(), latest.key);
                    collector.add(&snap);
                }
                Err(source) => errors.push(RunError::Snapshot { sportsbook: sb.clone(), source }),
            }
        }
        let (events, skipped) = collector.finish();
        (events, skipped, keys, missing)
    }

    fn record(
        &self,
        now: DateTime<Utc>,
        priced: &[EventPricing],
        keys: &BTreeMap<String, String>,
    ) -> RecommendationRecord {
        let s = &self.config.staking;
        RecommendationRecord {
            format: record::FORMAT.into(),
            version: record::VERSION,
            model: self.config.model.clone(),
            role: self.config.role.as_str().into(),
            model_version: self.config.version.clone(),
            parameters: self.config.parameters.clone(),
            algorithm: self.config.algorithm.name().into(),
            run_at: now,
            effective_bankroll: s.effective_bankroll(),
            traffic_share: s.traffic_share,
            shadow: s.shadow,
            snapshots: keys.clone(),
            predictions: priced
                .iter()
                .map(|e| Prediction {
                    event: e.event.key.clone(),
                    game_id: e.event.game_id.clone(),
                    event_id: e.event.event_id.clone(),
                    home: e.event.home.clone(),
                    away: e.event.away.clone(),
                    kickoff: e.event.kickoff,
                    fair: e
                        .fair
                        .iter()
                        .map(|f| FairEntry {
                            market: f.market,
                            selection: f.selection,
                            line: f.line,
                            win: f.win,
                            push: f.push,
                        })
                        .collect(),
                })
                .collect(),
            recommendations: priced
                .iter()
                .flat_map(|e| e.quotes.iter())
                .filter(|q| q.stake > 0.0 || q.expected_value >= s.value_threshold)
                .cloned()
                .collect(),
        }
    }

    /// One retention pass as of `now`: delete this model's own records (of its role) from runs
    /// before `now - retention`, at most [`retention::MAX_DELETES_PER_PASS`], oldest first.
    /// Counted in the retention metrics, never fatal. None without a retention.
    pub async fn prune_at(&mut self, now: DateTime<Utc>) -> Option<PruneReport> {
        let keep = ChronoDuration::from_std(self.config.retention?).ok()?;
        let (model, role) = (&self.config.model, self.config.role.as_str());
        let result = self.records.prune(model, role, now - keep, retention::MAX_DELETES_PER_PASS).await;
        let report = result.unwrap_or_else(|e| PruneReport {
            failed: 1,
            first_error: Some(e.to_string()),
            ..PruneReport::default()
        });
        self.metrics.retention(report.deleted, report.failed);
        self.last_prune = Some((Instant::now(), report.more));
        if let Some(e) = &report.first_error {
            tracing::warn!(deleted = report.deleted, failed = report.failed, error = %e, "retention pass could not delete every expired record");
        } else if report.deleted > 0 {
            tracing::info!(
                deleted = report.deleted,
                more = report.more,
                "retention pass deleted expired records"
            );
        }
        Some(report)
    }

    /// Settle stored predictions now, whatever the refresh period.
    pub async fn calibrate_at(&mut self, now: DateTime<Utc>) -> CalibrationScores {
        let mut errors = Vec::new();
        self.calibrated_at = None;
        self.calibrate(now, &mut errors).await;
        for e in &errors {
            self.metrics.error(e.error_type());
            tracing::warn!(error = %e, "calibration problem");
        }
        self.calibration.clone()
    }

    async fn calibrate(&mut self, now: DateTime<Utc>, errors: &mut Vec<RunError>) {
        let due = self.calibrated_at.is_none_or(|at| {
            now < at || (now - at).to_std().unwrap_or(Duration::ZERO) >= CALIBRATION_REFRESH
        });
        if !due {
            return;
        }
        self.calibrated_at = Some(now);
        let window = self.config.calibration_window;
        match self.settler.refresh(&self.records, now, window).await {
            Ok(failures) => errors.extend(failures.into_iter().map(RunError::Calibration)),
            Err(e) => errors.push(RunError::Calibration(e)),
        }
        self.calibration = self.settler.score(&self.games.games().by_id, now, window);
        self.metrics.set_calibration(&self.config.version, &self.calibration);
    }

    fn build_status(&self, report: &RunReport) -> StatusReport {
        let calibration = (report.calibration.samples > 0)
            .then(|| {
                Some(CalibrationScore {
                    version: self.config.version.clone(),
                    parameters: self.config.parameters.clone(),
                    brier: report.calibration.brier?,
                    log_loss: report.calibration.log_loss?,
                    samples: report.calibration.samples as i64,
                })
            })
            .flatten();
        let summary = (self.config.role == Role::Stable).then(|| {
            let mut top: Vec<&staking::PricedQuote> = report
                .events
                .iter()
                .flat_map(|e| e.quotes.iter())
                .filter(|q| q.expected_value > 0.0)
                .collect();
            top.sort_by(|a, b| {
                b.expected_value
                    .total_cmp(&a.expected_value)
                    .then_with(|| (&a.event, &a.book).cmp(&(&b.event, &b.book)))
            });
            PricingSummary {
                top_edges: top.into_iter().take(status::MAX_TOP_EDGES).map(status::edge_summary).collect(),
                total_stake: Some(report.portfolio.total),
                markets_priced: Some(report.markets_priced as i64),
                last_run_time: Some(Time(
                    k8s_openapi::jiff::Timestamp::from_second(report.run_at.timestamp())
                        .unwrap_or(k8s_openapi::jiff::Timestamp::UNIX_EPOCH),
                )),
            }
        });
        StatusReport { calibration, summary }
    }

    /// Run every `--interval` until cancelled.
    pub async fn run(mut self, cancel: CancellationToken) {
        loop {
            let started = Instant::now();
            let work = self.run_once();
            tokio::select! {
                _ = work => {}
                _ = cancel.cancelled() => break,
            }
            let next = started + self.config.interval;
            tokio::select! {
                _ = tokio::time::sleep_until(next.into()) => {}
                _ = cancel.cancelled() => break,
            }
        }
        tracing::info!("model workload stopped");
    }
}
