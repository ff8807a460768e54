//! Errors of the model workload, one enum per concern. Start-up problems ([`ConfigError`]) are
//! fatal and exit non-zero; problems of one pricing run ([`RunError`]) are counted by
//! `error_type` in `{prefix}_model_run_errors_total` and the run carries on with what it has, so
//! one unreadable snapshot never hides the other books' prices.

use crate::domain::exposure::ExposureError;
use crate::domain::games::GamesError;
use crate::domain::kelly::KellyError;
use crate::domain::pricing_model::ModelError;
use crate::feed::snapshot::SnapshotError;
use std::net::SocketAddr;

/// Invalid flags or an unusable environment at start-up.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("--{flag} {value:?} is invalid: {reason}")]
    Flag { flag: &'static str, value: String, reason: String },
    #[error("--algorithm elo needs --games (the nflverse games file its ratings come from)")]
    EloWithoutGames,
    #[error(transparent)]
    Store(#[from] SnapshotError),
    #[error(transparent)]
    Kelly(#[from] KellyError),
    #[error(transparent)]
    Exposure(#[from] ExposureError),
    #[error("cannot register metrics: {0}")]
    Metrics(String),
    #[error("cannot listen on {addr}: {source}")]
    Listen { addr: SocketAddr, source: std::io::Error },
    #[error("cannot load the games file: {0}")]
    Games(#[from] GamesSourceError),
    #[error(transparent)]
    Egress(#[from] crate::egress::EgressError),
}

impl ConfigError {
    pub fn flag(flag: &'static str, value: impl ToString, reason: impl ToString) -> ConfigError {
        ConfigError::Flag { flag, value: value.to_string(), reason: reason.to_string() }
    }
}

/// The games file could not be read (from disk or over HTTP).
#[derive(Debug, thiserror::Error)]
pub enum GamesSourceError {
    #[error(transparent)]
    Parse(#[from] GamesError),
    #[error("cannot fetch the games file: {0}")]
    Fetch(String),
    #[error("games file URL answered HTTP {0}")]
    Status(u16),
    #[error("games file is larger than {0} bytes")]
    TooLarge(u64),
    /// The egress policy refused the games URL (or a redirect) before connecting.
    #[error("games file request refused: {0}")]
    Refused(String),
}

/// Reading or writing the recommendation records in the store.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("cannot encode the recommendations: {0}")]
    Encode(String),
    #[error("cannot decode {key}: {reason}")]
    Decode { key: String, reason: String },
    #[error("unsupported recommendations format {format:?} version {version} in {key}")]
    UnsupportedVersion { key: String, format: String, version: u32 },
    #[error("model and role must be lowercase path segments, got {0:?}")]
    InvalidSegment(String),
    #[error("cannot write {key}: {source}")]
    Write { key: String, source: object_store::Error },
    #[error("cannot read {key}: {source}")]
    Read { key: String, source: object_store::Error },
    #[error("cannot list recommendations: {0}")]
    List(object_store::Error),
}

/// The `error_type` label values of `{prefix}_model_run_errors_total`. Closed set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ErrorType {
    /// A snapshot could not be listed, read or decoded.
    Snapshot,
    /// The games file could not be (re)loaded.
    Games,
    /// A model could not price an event.
    Pricing,
    /// Staking maths refused its inputs.
    Staking,
    /// The run's recommendations could not be written.
    Store,
    /// Stored predictions could not be read for calibration.
    Calibration,
}

impl ErrorType {
    pub const ALL: [ErrorType; 6] = [
        ErrorType::Snapshot,
        ErrorType::Games,
        ErrorType::Pricing,
        ErrorType::Staking,
        ErrorType::Store,
        ErrorType::Calibration,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorType::Snapshot => "snapshot",
            ErrorType::Games => "games",
            ErrorType::Pricing => "pricing",
            ErrorType::Staking => "staking",
            ErrorType::Store => "store",
            ErrorType::Calibration => "calibration",
        }
    }
}

/// One failure inside a pricing run; not fatal to the run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("sportsbook {sportsbook}: {source}")]
    Snapshot { sportsbook: String, source: SnapshotError },
    #[error(transparent)]
    Games(#[from] GamesSourceError),
    #[error("event {event}: {source}")]
    Pricing { event: String, source: ModelError },
    #[error("event {event}: {reason}")]
    Staking { event: String, reason: String },
    #[error("recommendations: {0}")]
    Store(RecordError),
    #[error("calibration: {0}")]
    Calibration(RecordError),
}

impl RunError {
    pub fn error_type(&self) -> ErrorType {
        match self {
            RunError::Snapshot { .. } => ErrorType::Snapshot,
            RunError::Games(_) => ErrorType::Games,
            RunError::Pricing { .. } => ErrorType::Pricing,
            RunError::Staking { .. } => ErrorType::Staking,
            RunError::Store(_) => ErrorType::Store,
            RunError::Calibration(_) => ErrorType::Calibration,
        }
    }
}
