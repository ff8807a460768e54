//! Errors of the scraper, one enum per concern. Every failure maps to exactly one
//! `error_type` label of `{prefix}_ingestion_errors_total`, so the alert that fires says which
//! stage broke: transport (`timeout`, `connect`), the server's answer (`http_status`,
//! `rate_limited`), the payload (`parse`, `schema`), the quotes (`validation`) or the snapshot
//! (`storage`). Messages never contain the request URL: The Odds API key lives in its query.

use crate::egress::EgressError;
use crate::feed::FeedError;
use crate::feed::provider::SetupError;
use crate::feed::snapshot::SnapshotError;
use std::time::Duration;

/// The `error_type` label values. Closed set: alerts and dashboards may rely on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ErrorType {
    Timeout,
    Connect,
    HttpStatus,
    RateLimited,
    Parse,
    Schema,
    Validation,
    Storage,
}

impl ErrorType {
    pub const ALL: [ErrorType; 8] = [
        ErrorType::Timeout,
        ErrorType::Connect,
        ErrorType::HttpStatus,
        ErrorType::RateLimited,
        ErrorType::Parse,
        ErrorType::Schema,
        ErrorType::Validation,
        ErrorType::Storage,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorType::Timeout => "timeout",
            ErrorType::Connect => "connect",
            ErrorType::HttpStatus => "http_status",
            ErrorType::RateLimited => "rate_limited",
            ErrorType::Parse => "parse",
            ErrorType::Schema => "schema",
            ErrorType::Validation => "validation",
            ErrorType::Storage => "storage",
        }
    }

    fn from_label(s: &str) -> ErrorType {
        ErrorType::ALL.into_iter().find(|t| t.as_str() == s).unwrap_or(ErrorType::Parse)
    }
}

/// One HTTP request that did not yield an acceptable body.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FetchError {
    #[error("request timed out after {0:?}")]
    Timeout(Duration),
    #[error("connection failed: {0}")]
    Connect(String),
    #[error("response body interrupted: {0}")]
    Body(String),
    #[error("feed answered HTTP {status}")]
    Status { status: u16, retry_after: Option<Duration> },
    #[error("feed rate-limited the scraper (HTTP 429){}", retry_after.map(|d| format!(", retry after {d:?}")).unwrap_or_default())]
    RateLimited { retry_after: Option<Duration> },
    #[error("response body larger than the {limit}-byte cap")]
    TooLarge { limit: u64 },
    #[error("unexpected content type {0}; expected application/json")]
    ContentType(String),
    /// The operator's egress policy refused the request before any byte was sent.
    #[error("request refused: {0}")]
    Refused(String),
}

impl FetchError {
    /// Interrupted bodies count as `connect` (the connection failed mid-response); an oversized
    /// body or a non-JSON content type as `parse` (a body the scraper refuses to parse).
    pub fn error_type(&self) -> ErrorType {
        match self {
            FetchError::Timeout(_) => ErrorType::Timeout,
            FetchError::Connect(_) | FetchError::Body(_) | FetchError::Refused(_) => ErrorType::Connect,
            FetchError::Status { .. } => ErrorType::HttpStatus,
            FetchError::RateLimited { .. } => ErrorType::RateLimited,
            FetchError::TooLarge { .. } | FetchError::ContentType(_) => ErrorType::Parse,
        }
    }

    /// Worth another try within the same poll: transient transport failures, 5xx, 408 and 429.
    /// A 4xx (bad key, bad sport) or a refused body would only fail again.
    pub fn retryable(&self) -> bool {
        match self {
            FetchError::Timeout(_) | FetchError::Connect(_) | FetchError::Body(_) => true,
            FetchError::RateLimited { .. } => true,
            FetchError::Status { status, .. } => *status >= 500 || *status == 408,
            FetchError::TooLarge { .. } | FetchError::ContentType(_) | FetchError::Refused(_) => false,
        }
    }

    /// The server's `Retry-After`, when it sent one (429 or 503).
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            FetchError::RateLimited { retry_after } | FetchError::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// Classify a reqwest error without its URL (which may carry the API key).
    pub fn from_reqwest(e: reqwest::Error, timeout: Duration) -> FetchError {
        if let Some(refused) = crate::egress::refusal_in(&e) {
            return FetchError::Refused(refused.to_string());
        }
        let detail = describe(&e);
        if e.is_timeout() {
            FetchError::Timeout(timeout)
        } else if e.is_body() || e.is_decode() {
            FetchError::Body(detail)
        } else {
            FetchError::Connect(detail)
        }
    }
}

/// A reqwest error and its causes, without the URL.
fn describe(e: &reqwest::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        parts.push(s.to_string());
        source = s.source();
    }
    let kind = if e.is_connect() {
        "connect"
    } else if e.is_body() {
        "body"
    } else if e.is_request() {
        "request"
    } else {
        "transport"
    };
    let text = if parts.is_empty() { kind.to_owned() } else { format!("{kind}: {}", parts.join(": ")) };
    crate::feed::provider::truncate(&text, 300)
}

/// Why one poll failed.
#[derive(Debug, thiserror::Error)]
pub enum PollError {
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error(transparent)]
    Feed(#[from] FeedError),
    #[error("every quote was rejected ({rejected} rejected: {reasons})")]
    Validation { rejected: u64, reasons: String },
    #[error(transparent)]
    Storage(#[from] SnapshotError),
    /// Shutdown began while the poll was fetching; nothing was written.
    #[error("poll abandoned for shutdown")]
    Cancelled,
}

impl PollError {
    /// The `error_type` label, or None for an abandoned poll (not a feed failure).
    pub fn error_type(&self) -> Option<ErrorType> {
        match self {
            PollError::Fetch(e) => Some(e.error_type()),
            PollError::Feed(e) => Some(ErrorType::from_label(e.error_type())),
            PollError::Validation { .. } => Some(ErrorType::Validation),
            PollError::Storage(_) => Some(ErrorType::Storage),
            PollError::Cancelled => None,
        }
    }
}

/// Why the scraper could not start.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("--{flag} {value:?} is not a duration (Go syntax: 500ms, 10s, 5m, 1h30m)")]
    Duration { flag: &'static str, value: String },
    #[error("--markets: unknown market {0:?} (expected moneyline, spread, total)")]
    Market(String),
    #[error(transparent)]
    Provider(#[from] SetupError),
    #[error(transparent)]
    Store(#[from] SnapshotError),
    #[error(transparent)]
    Egress(#[from] EgressError),
    #[error("metrics: {0}")]
    Metrics(String),
    #[error("HTTP client: {0}")]
    Client(String),
    #[error("cannot listen on {addr}: {source}")]
    Listen { addr: std::net::SocketAddr, source: std::io::Error },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_complete_and_distinct() {
        let mut labels: Vec<&str> = ErrorType::ALL.iter().map(|t| t.as_str()).collect();
        labels.sort();
        labels.dedup();
        assert_eq!(labels.len(), 8);
        assert_eq!(ErrorType::from_label("schema"), ErrorType::Schema);
    }

    #[test]
    fn retry_policy() {
        assert!(FetchError::Status { status: 503, retry_after: None }.retryable());
        assert!(!FetchError::Status { status: 401, retry_after: None }.retryable());
        assert!(FetchError::RateLimited { retry_after: None }.retryable());
        assert!(!FetchError::TooLarge { limit: 1 }.retryable());
        assert!(!FetchError::ContentType("text/html".into()).retryable());
    }
}
