//! Replay over stored snapshots: `nflbet replay --store URL --sportsbooks a,b ...`.
//!
//! The model workload's own code path runs again as of each snapshot time in the window (the
//! workload reads "the latest snapshot as of t", so a replay sees exactly what the live model
//! saw), its predictions go to a scratch record store (never the live one), and the forecasts
//! made before kickoff are settled against the results in the games file. The bets a bettor
//! following the model would have placed are settled too, with ROI and closing-line value
//! ([`super::snapshot_bets`]).

use super::output::{market_line, num, pct};
use super::snapshot_bets::{BetsReport, SnapshotBets};
use super::{ReplayArgs, ReplayError, Window};
use crate::domain::games::Game;
use crate::domain::margin::MarginMethod;
use crate::domain::market::Market;
use crate::egress::EgressArgs;
use crate::feed::snapshot::{S3Options, SnapshotStore};
use crate::workloads::model::ModelArgs;
use crate::workloads::model::config::ModelConfig;
use crate::workloads::model::workload::Workload;
use chrono::{DateTime, Duration as ChronoDuration, NaiveTime, Utc};
use serde::Serialize;
use std::net::SocketAddr;

/// Models the workload can run (the closing-line baseline needs closing lines, not snapshots).
pub const SNAPSHOT_MODELS: [&str; 2] = ["marketConsensus", "elo"];

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotModelReport {
    pub model: String,
    /// Pricing runs, one per distinct snapshot time.
    pub runs: u64,
    /// Market lines priced, summed over runs.
    pub markets_priced: u64,
    /// Stakes recommended over all runs (a bet recommended by several runs counts in each).
    pub recommendations: u64,
    /// Settled games with a pre-kickoff forecast (pushes excluded).
    pub samples: u64,
    pub pushes: u64,
    pub brier: Option<f64>,
    pub log_loss: Option<f64>,
    /// Bets placed at their first recommendation, settled; ROI and closing-line value.
    pub bets: BetsReport,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotReplayReport {
    pub window: String,
    pub sportsbooks: Vec<String>,
    pub snapshots: u64,
    pub models: Vec<SnapshotModelReport>,
}

/// The window as a time range: from the first day's midnight to the day after the last.
pub fn time_range(window: &Window) -> (DateTime<Utc>, DateTime<Utc>) {
    let start = window.from.earliest().and_time(NaiveTime::MIN).and_utc();
    let end = (window.to.latest() + ChronoDuration::days(1)).and_time(NaiveTime::MIN).and_utc();
    (start, end)
}

/// The `nflbet model` settings of one replayed model, built directly; every setting not named
/// here is the flag's default (the test `model_args_are_the_flag_defaults` holds them to it).
fn model_args(args: &ReplayArgs, algorithm: &str, store: &str) -> ModelArgs {
    ModelArgs {
        model: format!("replay-{}", algorithm.to_lowercase()),
        namespace: "default".into(),
        algorithm: algorithm.into(),
        version: "0.0.0-replay".into(),
        role: "stable".into(),
        traffic_share: 1.0,
        shadow: false,
        parameters: None,
        sportsbooks: args.sportsbooks.clone(),
        markets: Market::ALL.iter().map(|m| m.as_str().to_owned()).collect(),
        reference_books: Vec::new(),
        margin_method: args.margin.as_str().into(),
        elo_k_factor: 20.0,
        elo_home_field_advantage: 48.0,
        elo_season_regression: 0.5,
        elo_quarterback_change_penalty: 70.0,
        elo_rest_day_value: 3.0,
        elo_anchor_to_market: true,
        bankroll: 1.0,
        kelly_fraction: args.kelly_fraction,
        max_stake_per_bet: args.max_bet,
        max_event_exposure: args.max_event,
        cap_team: None,
        cap_market: None,
        cap_book: None,
        value_threshold: args.min_edge.max(0.0),
        calibration_window: "672h".into(),
        interval: "60s".into(),
        store: store.into(),
        retention: None,
        games: args.games.as_ref().map(|g| g.display().to_string()),
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        metrics_namespace: "nflreadpy".into(),
        report_status: false,
        once: false,
        replay_gate_weeks: None,
        snapshot_max_age: "10m".into(),
        games_refresh: "1h".into(),
        status_interval: "30s".into(),
        s3_endpoint: None,
        s3_region: None,
        // A person runs the replay with their own credentials against a store they chose: no
        // egress restriction (the policy guards workloads steered by resource specs).
        egress: EgressArgs {
            s3_credential_hosts: vec!["http://*".into()],
            allow_addresses: vec!["0.0.0.0/0".into(), "::/0".into()],
            ..EgressArgs::default()
        },
        api_server_dns_name: String::new(),
    }
}

/// One model a snapshot replay runs: the `nflbet model` settings it runs with, the name the
/// report shows, and the margin removal its bets' closing-line value uses.
pub struct SnapshotModel {
    pub name: String,
    pub args: ModelArgs,
    pub clv_margin: MarginMethod,
}

/// Run the snapshot replay for every model named by `--models`.
pub async fn replay_snapshots(
    args: &ReplayArgs,
    window: &Window,
    games: Vec<Game>,
) -> Result<SnapshotReplayReport, ReplayError> {
    let store_url = args.store.clone().ok_or(ReplayError::NoStore)?;
    if args.sportsbooks.is_empty() {
        return Err(ReplayError::NoSportsbooks);
    }
    // Names first: a typo is refused before any store is read.
    let names: Vec<&str> = args.models.iter().map(|m| m.trim()).filter(|m| !m.is_empty()).collect();
    if let Some(name) = names.iter().find(|m| !SNAPSHOT_MODELS.contains(m)) {
        return Err(ReplayError::unknown_model(name, &SNAPSHOT_MODELS));
    }
    let models = names
        .into_iter()
        .map(|name| SnapshotModel {
            name: name.into(),
            args: model_args(args, name, &store_url),
            clv_margin: args.margin,
        })
        .collect();
    replay_models(&store_url, args.records.as_deref(), &args.sportsbooks, window, games, models).await
}

/// Run the model workload over the snapshots of `sportsbooks` in `store_url` within `window`,
/// once per distinct snapshot time, for every one of `models`; their records go to
/// `records_url`, or to a scratch store removed afterwards.
pub async fn replay_models(
    store_url: &str,
    records_url: Option<&str>,
    sportsbooks: &[String],
    window: &Window,
    games: Vec<Game>,
    models: Vec<SnapshotModel>,
) -> Result<SnapshotReplayReport, ReplayError> {
    let same = |a: &str, b: &str| a.trim_end_matches('/') == b.trim_end_matches('/');
    if records_url.is_some_and(|r| same(r, store_url)) {
        return Err(ReplayError::RecordsInStore);
    }
    let s3 = S3Options { egress: crate::egress::Egress::unrestricted(), ..S3Options::default() };
    let store = SnapshotStore::open(store_url, &s3).map_err(|e| ReplayError::Store(e.to_string()))?;
    replay_store(&store, records_url, sportsbooks, window, games, models).await
}

/// [`replay_models`] over an open store (the replay gate's, opened under its workload's egress
/// policy).
pub async fn replay_store(
    store: &SnapshotStore,
    records_url: Option<&str>,
    sportsbooks: &[String],
    window: &Window,
    games: Vec<Game>,
    models: Vec<SnapshotModel>,
) -> Result<SnapshotReplayReport, ReplayError> {
    let (from, to) = time_range(window);
    let mut times: Vec<DateTime<Utc>> = Vec::new();
    for book in sportsbooks {
        let refs = store.list(book, from, to).await.map_err(|e| ReplayError::Store(e.to_string()))?;
        times.extend(refs.into_iter().map(|r| r.polled_at));
    }
    times.sort();
    let snapshots = times.len() as u64;
    times.dedup();
    if times.is_empty() {
        return Err(ReplayError::EmptySnapshotWindow(window.to_string()));
    }

    let scratch = tempfile::tempdir().map_err(|e| ReplayError::Store(e.to_string()))?;
    let records_url =
        records_url.map_or_else(|| format!("file://{}", scratch.path().display()), str::to_owned);
    let mut reports = Vec::new();
    for model in models {
        let mut config =
            ModelConfig::from_args(&model.args).map_err(|e| ReplayError::Store(e.to_string()))?;
        config.records_url = records_url.clone();
        // Settle every game the window's forecasts are about.
        config.calibration_window = (to - from + ChronoDuration::days(30)).to_std().unwrap_or_default();
        let mut workload =
            Workload::new(config).map_err(|e| ReplayError::Store(e.to_string()))?.with_games(games.clone());
        let (mut runs, mut markets_priced, mut recommendations) = (0, 0, 0);
        let mut bets = SnapshotBets::new();
        for t in &times {
            let run = workload.run_at(*t).await;
            runs += 1;
            markets_priced += run.markets_priced as u64;
            recommendations +=
                run.events.iter().flat_map(|e| e.quotes.iter()).filter(|q| q.stake > 0.0).count() as u64;
            bets.record(*t, &run.events);
        }
        let scores = workload.calibrate_at(to + ChronoDuration::days(30)).await;
        reports.push(SnapshotModelReport {
            model: model.name,
            runs,
            markets_priced,
            recommendations,
            samples: scores.samples,
            pushes: scores.pushes,
            brier: scores.brier,
            log_loss: scores.log_loss,
            bets: bets.settle(&games, model.clv_margin),
        });
    }
    Ok(SnapshotReplayReport {
        window: window.to_string(),
        sportsbooks: sportsbooks.to_vec(),
        snapshots,
        models: reports,
    })
}

pub fn render_table(r: &SnapshotReplayReport) -> String {
    let f = |v: Option<f64>| num(v, 4);
    let mut out = format!(
        "Replay over {} stored snapshot(s) of {} in {}\n\n\
         {:<16} {:>5} {:>8} {:>7} {:>7} {:>8} {:>5} {:>8} {:>8} {:>8} {:>8}\n",
        r.snapshots,
        r.sportsbooks.join(", "),
        r.window,
        "MODEL",
        "RUNS",
        "MARKETS",
        "SCORED",
        "BRIER",
        "LOG LOSS",
        "BETS",
        "STAKED",
        "PROFIT",
        "ROI",
        "CLV"
    );
    for m in &r.models {
        let b = &m.bets.total;
        out.push_str(&format!(
            "{:<16} {:>5} {:>8} {:>7} {:>7} {:>8} {:>5} {:>8.3} {:>+8.3} {:>8} {:>8}\n",
            m.model,
            m.runs,
            m.markets_priced,
            m.samples,
            f(m.brier),
            f(m.log_loss),
            b.bets,
            b.staked,
            b.profit,
            pct(b.roi),
            pct(b.mean_clv)
        ));
    }
    for m in r.models.iter().filter(|m| !m.bets.by_market.is_empty() || m.bets.unsettled > 0) {
        out.push_str(&format!("\n{}\n", m.model));
        for (market, l) in &m.bets.by_market {
            out.push_str(&market_line(*market, l));
            out.push('\n');
        }
        if m.bets.unsettled > 0 {
            out.push_str(&format!("  {} bet(s) on games without a result yet\n", m.bets.unsettled));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Flags {
        #[command(flatten)]
        args: ModelArgs,
    }

    /// The settings the replay names, given as flags, and clap's defaults for the rest: what
    /// `model_args` must build without any flag being printed or parsed.
    #[test]
    fn model_args_are_the_flag_defaults() {
        let replay = ReplayArgs {
            from: "2024".into(),
            to: "2024".into(),
            models: vec!["elo".into()],
            games: Some("/data/games.csv".into()),
            output: super::super::OutputFormat::Table,
            margin: MarginMethod::Power,
            min_edge: -0.5,
            kelly_fraction: 0.3,
            max_bet: 0.01,
            max_event: 0.04,
            store: Some("file:///snapshots".into()),
            sportsbooks: vec!["pinnacle".into(), "fanduel".into()],
            records: None,
            report: None,
        };
        let dir = tempfile::tempdir().expect("scratch dir");
        let store = format!("file://{}", dir.path().display());
        let built = model_args(&replay, "marketConsensus", &store);
        let store_flag = format!("--store={store}");
        let argv = [
            "replay",
            "--model=replay-marketconsensus",
            "--algorithm=marketConsensus",
            "--version=0.0.0-replay",
            "--sportsbooks=pinnacle,fanduel",
            "--bankroll=1",
            "--kelly-fraction=0.3",
            "--max-stake-per-bet=0.01",
            "--max-event-exposure=0.04",
            "--value-threshold=0",
            "--margin-method=power",
            &store_flag,
            "--games=/data/games.csv",
            "--listen=127.0.0.1:0",
            "--s3-credential-hosts=http://*",
            "--allow-addresses=0.0.0.0/0,::/0",
            "--api-server-dns-name=",
        ];
        let parsed = Flags::try_parse_from(argv).expect("valid flags").args;
        assert_eq!(format!("{built:?}"), format!("{parsed:?}"));
        // And the workload accepts them.
        ModelConfig::from_args(&built).expect("replay model settings are valid");
    }
}
