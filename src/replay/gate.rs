//! `nflbet model <flags> --replay-gate-weeks N`: one side of a Model's replay gate.
//!
//! The operator runs the stable and the candidate workload's own flags (`spec::flags`, the one
//! translation of a Model) in the two containers of one Job, each with this flag. Instead of
//! serving, the workload's code path runs again as of each stored snapshot time of the last N
//! weeks, ending at the newest snapshot of its books (the same path as `nflbet replay
//! --model-file --store`, [`replay_store`]); its records go to a scratch store, never the live
//! one; the forecasts are settled with the games file, and the [`GateReport`] is printed and
//! written to the termination log, where the operator reads it. The store is opened under the
//! workload's own egress policy (the flags the operator rendered).

use super::ReplayError;
use super::snapshots::{SnapshotModel, SnapshotModelReport, replay_store, time_range};
use super::window::{Bound, Window};
use crate::domain::margin::MarginMethod;
use crate::workloads::model::ModelArgs;
use crate::workloads::model::config::ModelConfig;
use crate::workloads::model::games_source;
use crate::workloads::model::gate::{GateReport, TERMINATION_LOG};
use chrono::{DateTime, Duration, SecondsFormat, Utc};

/// Replay `args` over the last `weeks` of its books' stored snapshots and report.
pub async fn replay(args: &ModelArgs, weeks: u32) -> Result<GateReport, ReplayError> {
    let invalid = |e: &dyn std::fmt::Display| ReplayError::InvalidModel {
        name: args.model.clone(),
        reason: e.to_string(),
    };
    let config = ModelConfig::from_args(args).map_err(|e| invalid(&e))?;
    if args.sportsbooks.is_empty() {
        return Err(invalid(&"it selects no Sportsbooks, so no snapshots to replay"));
    }
    let games_location = args.games.as_deref().ok_or(ReplayError::NoGamesFile)?;
    let games = games_source::load(games_location, &config.egress)
        .await
        .map_err(|e| ReplayError::Store(format!("games file: {e}")))?;
    let mut newest: Option<DateTime<Utc>> = None;
    for book in &args.sportsbooks {
        let t = config.store.newest(book).await.map_err(|e| ReplayError::Store(e.to_string()))?;
        newest = newest.max(t);
    }
    let empty = |from: Option<String>, to: Option<String>| GateReport {
        version: args.version.clone(),
        parameters: args.parameters.clone(),
        brier: None,
        log_loss: None,
        samples: 0,
        bets: 0,
        roi: None,
        from,
        to,
    };
    let Some(newest) = newest else {
        // Nothing stored yet: no history to judge, which is the operator's to say.
        return Ok(empty(None, None));
    };
    let start = newest - Duration::weeks(i64::from(weeks));
    let window = Window::new(Bound::Date(start.date_naive()), Bound::Date(newest.date_naive()))?;
    let stamp = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Secs, true);
    let (from, _) = time_range(&window);
    let clv_margin = MarginMethod::parse(&args.margin_method).unwrap_or(MarginMethod::Shin);
    let model = SnapshotModel { name: args.model.clone(), args: args.clone(), clv_margin };
    let report = match replay_store(&config.store, None, &args.sportsbooks, &window, games, vec![model]).await
    {
        Ok(r) => r,
        Err(ReplayError::EmptySnapshotWindow(_)) => return Ok(empty(Some(stamp(from)), Some(stamp(newest)))),
        Err(e) => return Err(e),
    };
    let m: &SnapshotModelReport = report.models.first().ok_or_else(|| invalid(&"nothing replayed"))?;
    Ok(GateReport {
        version: args.version.clone(),
        parameters: args.parameters.clone(),
        brier: m.brier,
        log_loss: m.log_loss,
        samples: m.samples,
        bets: m.bets.total.bets,
        roi: m.bets.total.roi,
        from: Some(stamp(from)),
        to: Some(stamp(newest)),
    })
}

/// Run the gate replay: print the report as one JSON line and, in a pod, write it to the
/// termination log (`terminationMessagePolicy: FallbackToLogsOnError` shows the error instead
/// when this fails).
pub async fn run(args: ModelArgs, weeks: u32) -> anyhow::Result<()> {
    let report = replay(&args, weeks).await?;
    let json = serde_json::to_string(&report)?;
    println!("{json}");
    let log = std::path::Path::new(TERMINATION_LOG);
    if log.exists()
        && let Err(e) = std::fs::write(log, &json)
    {
        eprintln!("warning: cannot write the report to {TERMINATION_LOG}: {e}");
    }
    Ok(())
}
