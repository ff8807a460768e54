//! Calibration of what the model said against what happened.
//!
//! The forecast scored is the one replay scores and the calibration baselines are quoted in:
//! the probability that the home side wins (moneyline), one sample per game, matched to the
//! games file on the nflverse game id. Per game it is the last prediction of this model version
//! made before kickoff (the earlier of the record's kickoff and the games file's, or the start of
//! the game's Eastern day when neither is known), so a forecast made after the result is never
//! scored. Games count when their kickoff falls inside the calibration window and their result is
//! known at the scoring instant (kickoff + [`RESULT_DELAY`]: a rerun as of a past instant does not
//! score a game that was still being played then); ties are excluded from scoring and counted as
//! pushes.
//!
//! [`RESULT_DELAY`]: crate::domain::games::RESULT_DELAY With no stored prediction (a fresh install) there are no
//! samples and no scores: nothing is invented.
//!
//! Records are read once per process: a cache keeps each record's compact forecasts, new keys
//! are read on each refresh, and keys that fall out of the listing range are dropped.

use super::error::RecordError;
use super::store::RecordStore;
use crate::domain::calibration::Calibration;
use crate::domain::games::Game;
use crate::domain::market::{Market, Selection, settle};
use chrono::{DateTime, Duration, Utc};
use futures::StreamExt;
use std::collections::{BTreeMap, HashMap};

/// Predictions are made up to this long before a game; the listing reaches this far before
/// the window's start.
pub const LEAD: Duration = Duration::days(14);

/// Reads at once when catching up with the store. Each read holds at most
/// `record::MAX_STORED_BYTES` plus its decoded record, so this bounds calibration's memory.
pub const READ_CONCURRENCY: usize = 8;

#[derive(Clone, Debug, PartialEq)]
struct Forecast {
    game_id: String,
    cutoff: DateTime<Utc>,
    home_win: f64,
}

/// The scores of one model version and role.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CalibrationScores {
    pub samples: u64,
    pub pushes: u64,
    /// None without samples.
    pub brier: Option<f64>,
    pub log_loss: Option<f64>,
}

/// Cache of stored forecasts for one model, role, version and parameters.
#[derive(Debug)]
pub struct Settler {
    model: String,
    role: String,
    version: String,
    /// Fingerprint of the parameters scored; a record of other parameters is not this
    /// workload's forecast. Unknown on either side (a record written without one, a run
    /// without `--parameters`): the version decides.
    parameters: Option<String>,
    /// key → (run time, forecasts of this version).
    cache: BTreeMap<String, (DateTime<Utc>, Vec<Forecast>)>,
}

impl Settler {
    pub fn new(model: &str, role: &str, version: &str, parameters: Option<&str>) -> Settler {
        Settler {
            model: model.to_owned(),
            role: role.to_owned(),
            version: version.to_owned(),
            parameters: parameters.map(str::to_owned),
            cache: BTreeMap::new(),
        }
    }

    /// Records held in the cache.
    pub fn records(&self) -> usize {
        self.cache.len()
    }

    /// Read the records of `[now − window − LEAD, now]` not yet cached and forget older ones.
    /// Returns the failures (each record that could not be read); the rest is cached.
    pub async fn refresh(
        &mut self,
        store: &RecordStore,
        now: DateTime<Utc>,
        window: std::time::Duration,
    ) -> Result<Vec<RecordError>, RecordError> {
        let window = Duration::from_std(window).unwrap_or(Duration::days(3650));
        let from = now - window - LEAD;
        let to = now + Duration::milliseconds(1);
        let listed = store.list(&self.model, &self.role, from, to).await?;
        let keep: std::collections::HashSet<&str> = listed.iter().map(|(k, _)| k.as_str()).collect();
        self.cache.retain(|k, _| keep.contains(k.as_str()));
        let missing: Vec<(String, DateTime<Utc>)> =
            listed.iter().filter(|(k, _)| !self.cache.contains_key(k)).cloned().collect();
        let mut reads = futures::stream::iter(missing.into_iter().map(|(key, at)| async move {
            let rec = store.read(&key).await;
            (key, at, rec)
        }))
        .buffer_unordered(READ_CONCURRENCY);
        let mut failures = Vec::new();
        while let Some((key, at, rec)) = reads.next().await {
            match rec {
                Ok(rec) => {
                    let same_parameters = match (&rec.parameters, &self.parameters) {
                        (Some(theirs), Some(ours)) => theirs == ours,
                        _ => true,
                    };
                    let forecasts = if rec.model_version == self.version && same_parameters {
                        rec.predictions
                            .iter()
                            .filter_map(|p| {
                                Some(Forecast {
                                    game_id: p.game_id.clone()?,
                                    cutoff: p.kickoff.unwrap_or(DateTime::<Utc>::MAX_UTC),
                                    home_win: p.home_win()?,
                                })
                            })
                            .collect()
                    } else {
                        Vec::new()
                    };
                    self.cache.insert(key, (at, forecasts));
                }
                Err(e) => failures.push(e),
            }
        }
        Ok(failures)
    }

    /// Score the cached forecasts against `games` for games inside `[now − window, now]`.
    pub fn score(
        &self,
        games: &HashMap<String, Game>,
        now: DateTime<Utc>,
        window: std::time::Duration,
    ) -> CalibrationScores {
        let window = Duration::from_std(window).unwrap_or(Duration::days(3650));
        let first = now - window;
        // game id → (run time, probability) of the latest forecast before the cutoff.
        let mut latest: HashMap<&str, (DateTime<Utc>, f64)> = HashMap::new();
        for (at, forecasts) in self.cache.values() {
            for f in forecasts {
                let Some(game) = games.get(&f.game_id) else {
                    continue;
                };
                let cutoff = f.cutoff.min(game.forecast_deadline());
                if *at >= cutoff {
                    continue;
                }
                let slot = latest.entry(f.game_id.as_str()).or_insert((*at, f.home_win));
                if *at >= slot.0 {
                    *slot = (*at, f.home_win);
                }
            }
        }
        let mut calibration = Calibration::new();
        let mut ids: Vec<&&str> = latest.keys().collect();
        ids.sort();
        for id in ids {
            let Some(game) = games.get(*id) else { continue };
            if game.forecast_deadline() < first || !game.result_known_by(now) {
                continue;
            }
            let Some((home, away)) = game.score() else {
                continue;
            };
            let Some(outcome) = settle(Market::Moneyline, Selection::Home, None, home, away) else {
                continue;
            };
            calibration.add(latest[*id].1, outcome);
        }
        let r = calibration.report();
        CalibrationScores { samples: r.samples, pushes: r.pushes, brier: r.brier, log_loss: r.log_loss }
    }
}
