//! The recommendations object: one per pricing run, in the snapshot store, so later runs (and
//! people) can settle what the model said against what happened. Format in
//! `docs/model-workload.md`.
//!
//! Layout, relative to the store URL:
//! `recommendations/v1/{model}/{role}/{YYYY}/{MM}/{DD}/{HH}/{unix_millis}.json.gz` (UTC run
//! time). Gzip JSON, `format` `nflbet.recommendations`, `version` 1; readers refuse any other
//! format or version, and a change that removes or redefines a field bumps both the version and
//! the `v1/` prefix.

use super::error::RecordError;
use super::staking::PricedQuote;
use crate::domain::market::{Market, Selection};
use crate::feed::stored_object::{self, Limits, ObjectError};
use chrono::{DateTime, Datelike, TimeZone, Timelike, Utc};
use serde::{Deserialize, Serialize};

pub const FORMAT: &str = "nflbet.recommendations";
pub const VERSION: u32 = 1;
/// Top-level prefix of every recommendations object.
pub const PREFIX: &str = "recommendations";
/// Largest decompressed record a reader accepts and a writer stores. A run's record is tens of
/// KiB (a slate's fair prices and its recommendations); calibration reads up to
/// `settle::READ_CONCURRENCY` records at once, so 8 × (2 MiB stored + the decoded record) stays
/// far below the workload's 256 MiB memory limit.
pub const MAX_DECOMPRESSED_BYTES: u64 = 8 * 1024 * 1024;
/// Largest stored (compressed) record read.
pub const MAX_STORED_BYTES: u64 = 2 * 1024 * 1024;
/// The record caps together.
pub const LIMITS: Limits = Limits { stored: MAX_STORED_BYTES, decompressed: MAX_DECOMPRESSED_BYTES };

/// What one run priced and recommended.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecommendationRecord {
    pub format: String,
    pub version: u32,
    pub model: String,
    pub role: String,
    /// Version of the model build (`--version`): calibration scores only its own version.
    pub model_version: String,
    /// Fingerprint of the parameters run (`--parameters`): calibration scores only its own
    /// parameters. Absent in records written without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<String>,
    pub algorithm: String,
    pub run_at: DateTime<Utc>,
    /// Bankroll actually staked from: bankroll × traffic share, 0 in shadow mode.
    pub effective_bankroll: f64,
    pub traffic_share: f64,
    pub shadow: bool,
    /// Snapshot keys priced, by Sportsbook.
    #[serde(default)]
    pub snapshots: std::collections::BTreeMap<String, String>,
    pub predictions: Vec<Prediction>,
    /// Bets whose expected value reached the value threshold, staked or not.
    pub recommendations: Vec<PricedQuote>,
}

/// The model's fair prices for one game.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Prediction {
    pub event: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub game_id: Option<String>,
    pub event_id: String,
    pub home: String,
    pub away: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kickoff: Option<DateTime<Utc>>,
    pub fair: Vec<FairEntry>,
}

impl Prediction {
    /// Probability the home side wins (moneyline, given no tie), if priced.
    pub fn home_win(&self) -> Option<f64> {
        self.fair
            .iter()
            .find(|f| f.market == Market::Moneyline && f.selection == Selection::Home)
            .map(|f| f.win)
    }
}

/// One fair price (the domain's `FairPrice`, readable back).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FairEntry {
    pub market: Market,
    pub selection: Selection,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<f64>,
    pub win: f64,
    pub push: f64,
}

impl RecommendationRecord {
    /// Gzip JSON, refused over [`MAX_DECOMPRESSED_BYTES`] (readers would refuse it).
    pub fn encode(&self) -> Result<Vec<u8>, RecordError> {
        stored_object::encode(self, MAX_DECOMPRESSED_BYTES).map_err(|e| RecordError::Encode(e.to_string()))
    }

    /// Decode, streaming at most [`MAX_DECOMPRESSED_BYTES`] out of the gzip stream.
    pub fn decode(key: &str, bytes: &[u8]) -> Result<RecommendationRecord, RecordError> {
        let decode = |e: ObjectError| RecordError::Decode { key: key.to_owned(), reason: e.to_string() };
        #[derive(Deserialize)]
        struct Head {
            format: String,
            version: u32,
        }
        let unsupported = |format: String, version: u32| RecordError::UnsupportedVersion {
            key: key.to_owned(),
            format,
            version,
        };
        match stored_object::decode::<RecommendationRecord>(bytes, MAX_DECOMPRESSED_BYTES) {
            Ok(r) if r.format == FORMAT && r.version == VERSION => Ok(r),
            Ok(r) => Err(unsupported(r.format, r.version)),
            Err(e) if e.is_too_large() => Err(decode(e)),
            Err(e) => match stored_object::decode::<Head>(bytes, MAX_DECOMPRESSED_BYTES) {
                Ok(h) if h.format != FORMAT || h.version != VERSION => Err(unsupported(h.format, h.version)),
                _ => Err(decode(e)),
            },
        }
    }
}

/// `model` and `role` become path segments: lowercase DNS labels only.
pub fn check_segment(s: &str) -> Result<(), RecordError> {
    let ok = !s.is_empty()
        && s.len() <= 253
        && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && !s.starts_with(['-', '.']);
    if ok { Ok(()) } else { Err(RecordError::InvalidSegment(s.to_owned())) }
}

/// `recommendations/v1/{model}/{role}/`.
pub fn role_prefix(model: &str, role: &str) -> String {
    format!("{PREFIX}/v{VERSION}/{model}/{role}/")
}

/// The month prefix that lists one month of runs.
pub fn month_prefix(model: &str, role: &str, year: i32, month: u32) -> String {
    format!("{}{year:04}/{month:02}/", role_prefix(model, role))
}

/// Key of the run of `model`/`role` at `at`.
pub fn key_for(model: &str, role: &str, at: DateTime<Utc>) -> Result<String, RecordError> {
    check_segment(model)?;
    check_segment(role)?;
    Ok(format!(
        "{}{:04}/{:02}/{:02}/{:02}/{}.json.gz",
        role_prefix(model, role),
        at.year(),
        at.month(),
        at.day(),
        at.hour(),
        at.timestamp_millis()
    ))
}

/// The run time encoded in a key of this layout (None for anything else, staging files
/// included).
pub fn parse_key(key: &str) -> Option<DateTime<Utc>> {
    let file = key.rsplit('/').next()?;
    let millis: i64 = file.strip_suffix(".json.gz")?.parse().ok()?;
    let at = Utc.timestamp_millis_opt(millis).single()?;
    let mut parts = key.split('/');
    let (p, v, model, role) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if p != PREFIX || v != format!("v{VERSION}") {
        return None;
    }
    (key_for(model, role, at).ok()? == key).then_some(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_refuse_strangers() {
        let at = Utc.with_ymd_and_hms(2025, 9, 7, 17, 4, 5).unwrap();
        let key = key_for("consensus", "stable", at).unwrap();
        assert_eq!(
            key,
            format!("recommendations/v1/consensus/stable/2025/09/07/17/{}.json.gz", at.timestamp_millis())
        );
        assert_eq!(parse_key(&key), Some(at));
        assert_eq!(parse_key(&format!("{key}#1")), None);
        assert_eq!(
            parse_key("recommendations/v1/consensus/stable/2025/09/07/18/1757264645000.json.gz"),
            None
        );
        assert!(key_for("../x", "stable", at).is_err());
    }

    #[test]
    fn encode_decode_checks_the_version() {
        let r = RecommendationRecord {
            format: FORMAT.into(),
            version: VERSION,
            model: "m".into(),
            role: "stable".into(),
            model_version: "1.0.0".into(),
            parameters: Some("0a1b2c3d4e".into()),
            algorithm: "elo".into(),
            run_at: Utc::now(),
            effective_bankroll: 1.0,
            traffic_share: 1.0,
            shadow: false,
            snapshots: Default::default(),
            predictions: vec![],
            recommendations: vec![],
        };
        let bytes = r.encode().unwrap();
        assert_eq!(RecommendationRecord::decode("k", &bytes).unwrap(), r);
        let mut v2 = r.clone();
        v2.version = 2;
        assert!(matches!(
            RecommendationRecord::decode("k", &v2.encode().unwrap()),
            Err(RecordError::UnsupportedVersion { .. })
        ));
    }
}
