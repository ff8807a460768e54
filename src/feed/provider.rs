//! The provider trait: one per feed format, all producing the same raw quotes.
//!
//! A provider is pure: it says which URL to fetch and turns the bytes that came back into
//! [`RawFeed`]. Fetching (timeouts, retries, size caps) is the scraper's job, and judging each
//! quote is [`super::validate`]'s; so a provider is tested on fixture bytes alone.

use super::loose::Loose;
use super::quote::Event;
use crate::domain::market::Market;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::sync::Arc;
use url::Url;

/// A price as the feed sent it, in the notation the feed declared.
#[derive(Clone, Debug, PartialEq)]
pub enum RawPrice {
    American(Option<Loose>),
    Decimal(Option<Loose>),
}

/// A timestamp as the feed sent it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum RawTime {
    Missing,
    Invalid,
    At(DateTime<Utc>),
}

impl RawTime {
    /// Parse an RFC 3339 timestamp; naive times (no offset) are refused rather than guessed.
    pub fn parse(s: Option<&str>) -> RawTime {
        match s {
            None => RawTime::Missing,
            Some(s) => match DateTime::parse_from_rfc3339(s.trim()) {
                Ok(t) => RawTime::At(t.with_timezone(&Utc)),
                Err(_) => RawTime::Invalid,
            },
        }
    }

    /// This time, or the fallback when this one is missing (not when it is invalid).
    pub fn or(self, fallback: RawTime) -> RawTime {
        match self {
            RawTime::Missing => fallback,
            other => other,
        }
    }
}

/// One outcome of one market at one book, before validation.
#[derive(Clone, Debug, PartialEq)]
pub struct RawQuote {
    /// Index into [`RawFeed::events`].
    pub event: usize,
    /// Shared by every quote of one book (a clone is a reference count, not a copy).
    pub book: Arc<str>,
    pub market: Market,
    /// The selection as sent: a team name or abbreviation, or Over/Under (shared, like `book`).
    pub name: Option<Arc<str>>,
    pub line: Option<Loose>,
    pub price: RawPrice,
    pub observed_at: RawTime,
}

/// What a provider found in one payload.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RawFeed {
    pub events: Vec<Event>,
    pub quotes: Vec<RawQuote>,
    /// Outcomes skipped before validation, by reason (e.g. `unsupported_market`).
    pub skipped: BTreeMap<&'static str, u64>,
}

/// Request quota reported by the provider (The Odds API's `x-requests-*` headers).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Quota {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remaining: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub used: Option<i64>,
    /// Cost of the last request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last: Option<i64>,
}

/// Why a payload as a whole was refused. Each variant is one `error_type` metric label.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FeedError {
    /// The bytes are not JSON (malformed or truncated).
    #[error("payload is not valid JSON: {0}")]
    Parse(String),
    /// Valid JSON in a shape the provider does not understand (a changed schema, an error
    /// object instead of data, an unsupported format version).
    #[error("payload does not match the {provider} schema: {detail}")]
    Schema { provider: &'static str, detail: String },
}

impl FeedError {
    /// The `error_type` label of this failure.
    pub fn error_type(&self) -> &'static str {
        match self {
            FeedError::Parse(_) => "parse",
            FeedError::Schema { .. } => "schema",
        }
    }

    /// Classify a serde_json error: syntax and early end are parse errors, a wrong shape is a
    /// schema error. Messages keep serde's words and position but no value from the payload.
    pub fn from_json(provider: &'static str, e: serde_json::Error) -> FeedError {
        use serde_json::error::Category;
        let detail = truncate(&without_quoted(&e.to_string()), 200);
        match e.classify() {
            Category::Data => FeedError::Schema { provider, detail },
            Category::Syntax | Category::Eof | Category::Io => FeedError::Parse(detail),
        }
    }
}

/// A serde message with every quoted span (`"…"` strings, `` `…` `` values and names) replaced
/// by `…`, except the field name of `missing field`, which is ours. serde quotes what it found
/// in the payload, and a payload may carry a token: status, Events and logs get none of it.
pub fn without_quoted(msg: &str) -> String {
    if let Some(rest) = msg.strip_prefix("missing field `")
        && let Some((field, tail)) = rest.split_once('`')
        && field.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        return format!("missing field `{field}`{}", without_quoted(tail));
    }
    let mut out = String::with_capacity(msg.len());
    let mut chars = msg.chars();
    while let Some(c) = chars.next() {
        if c != '"' && c != '`' {
            out.push(c);
            continue;
        }
        out.push('…');
        while let Some(inner) = chars.next() {
            if inner == '\\' {
                chars.next();
            } else if inner == c {
                break;
            }
        }
    }
    out
}

pub(crate) fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// Why a provider could not be set up from its configuration.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SetupError {
    #[error("invalid feed endpoint {0:?}: must be an http:// or https:// URL")]
    Endpoint(String),
    #[error("provider {0} needs an API key in the environment variable NFLBET_API_KEY")]
    MissingApiKey(&'static str),
    #[error("provider {0} needs --endpoint")]
    MissingEndpoint(&'static str),
    #[error("unknown provider {0:?}: expected theOddsApi or genericJson")]
    UnknownProvider(String),
    #[error("no market enabled")]
    NoMarkets,
}

/// Parse and check an http(s) endpoint URL.
pub fn parse_endpoint(s: &str) -> Result<Url, SetupError> {
    match Url::parse(s.trim()) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(u),
        // Never echo a URL that failed to parse in full: it might carry a key.
        _ => Err(SetupError::Endpoint(truncate(s.split('?').next().unwrap_or(""), 100))),
    }
}

/// A feed format.
pub trait FeedProvider: Send + Sync {
    /// Provider name as in `Sportsbook.spec.provider` (`theOddsApi`, `genericJson`).
    fn kind(&self) -> &'static str;

    /// The URL to GET. May carry a secret (an API key in the query): never log or display it.
    fn url(&self) -> &Url;

    /// Extra request headers (e.g. an `Authorization` header). Values may be secrets: never
    /// log them.
    fn headers(&self) -> Vec<(&'static str, String)> {
        Vec::new()
    }

    /// Whether requests carry a credential (an API key in the URL or a header): such a request
    /// goes only where the egress policy allows credentials (`crate::egress`).
    fn has_credentials(&self) -> bool;

    /// The URL with every secret replaced by `REDACTED`: safe for logs and errors.
    fn redacted_url(&self) -> String {
        redact(self.url())
    }

    /// Parse one response body.
    fn parse(&self, body: &[u8]) -> Result<RawFeed, FeedError>;

    /// Read the provider's quota headers, if it has any. `header` returns a header's value.
    fn quota(&self, _header: &dyn Fn(&str) -> Option<String>) -> Option<Quota> {
        None
    }
}

/// Query parameter names whose values are secrets.
const SECRET_PARAMS: [&str; 5] = ["apikey", "api_key", "key", "token", "access_token"];

/// A URL with secret query values and any userinfo replaced.
pub fn redact(url: &Url) -> String {
    let mut u = url.clone();
    if !u.username().is_empty() || u.password().is_some() {
        let _ = u.set_username("REDACTED");
        let _ = u.set_password(None);
    }
    if u.query().is_some() {
        let pairs: Vec<(String, String)> = u
            .query_pairs()
            .map(|(k, v)| {
                let secret = SECRET_PARAMS.contains(&k.to_ascii_lowercase().as_str());
                (k.into_owned(), if secret { "REDACTED".to_owned() } else { v.into_owned() })
            })
            .collect();
        u.query_pairs_mut().clear().extend_pairs(pairs);
    }
    u.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_hides_keys() {
        let u = Url::parse("https://x.test/v4/odds?apiKey=s3cr3t&regions=us").unwrap();
        let r = redact(&u);
        assert!(!r.contains("s3cr3t"), "{r}");
        assert!(r.contains("regions=us") && r.contains("apiKey=REDACTED"), "{r}");
        let u = Url::parse("https://user:pw@x.test/feed").unwrap();
        assert!(!redact(&u).contains("pw"));
    }

    #[test]
    fn json_errors_quote_nothing_from_the_payload() {
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Q {
            price: f64,
            side: Side,
        }
        #[derive(Debug, serde::Deserialize)]
        enum Side {
            Home,
        }
        let token = "sk_live_T0KEN";
        for body in [
            format!(r#"{{"price": "{token}", "side": "Home"}}"#),
            format!(r#"{{"price": 1.5, "side": "{token}"}}"#),
            format!(r#"{{"price": "a\"{token}", "side": "Home"}}"#),
            format!(r#"{{"price": 1, "side": "Home"}} {token}"#),
        ] {
            let e = serde_json::from_str::<Q>(&body).unwrap_err();
            let detail = FeedError::from_json("t", e).to_string();
            assert!(!detail.contains("T0KEN"), "{detail}");
            assert!(detail.contains("line 1 column"), "{detail}");
        }
        let e = serde_json::from_str::<Q>(r#"{"side": "Home"}"#).unwrap_err();
        assert!(FeedError::from_json("t", e).to_string().contains("missing field `price`"));
    }

    #[test]
    fn json_errors_are_classified() {
        let e = serde_json::from_str::<Vec<u32>>("[1, 2").unwrap_err();
        assert_eq!(FeedError::from_json("t", e).error_type(), "parse");
        let e = serde_json::from_str::<Vec<u32>>("{\"a\":1}").unwrap_err();
        assert_eq!(FeedError::from_json("t", e).error_type(), "schema");
    }
}
