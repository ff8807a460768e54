//! One HTTP request to the feed, with every limit enforced while the bytes arrive.
//!
//! The timeout covers the whole exchange (connect, headers and body), so a server that trickles
//! bytes cannot hold a poll open. The body is streamed with a running count and abandoned as
//! soon as the count passes the cap, whatever `Content-Length` said; a declared length over the
//! cap is refused before reading. Memory is never reserved from the declared length: the buffer
//! starts at [`INITIAL_CAPACITY`] at most and grows with the bytes that actually arrive. A
//! declared content type other than JSON (an HTML error page from a proxy, say) is refused
//! without parsing.

use super::backoff::parse_retry_after;
use super::error::FetchError;
use crate::egress::Egress;
use crate::feed::{FeedProvider, Quota};
use reqwest::header::{ACCEPT, CONTENT_LENGTH, CONTENT_TYPE};
use std::time::{Duration, SystemTime};

/// Largest buffer reserved before any body byte arrives.
pub const INITIAL_CAPACITY: usize = 64 * 1024;

/// Limits of one request.
#[derive(Clone, Copy, Debug)]
pub struct FetchLimits {
    pub timeout: Duration,
    pub max_bytes: u64,
}

/// An accepted response.
#[derive(Debug)]
pub struct Fetched {
    pub body: Vec<u8>,
    pub quota: Option<Quota>,
}

/// An HTTP client for feeds: no redirects (a redirect could carry the key to another host), no
/// automatic decompression, identifying user agent, and every name resolved under the egress
/// policy (a refused address is never connected to, whatever DNS answers later).
pub fn client(timeout: Duration, egress: &Egress) -> Result<reqwest::Client, reqwest::Error> {
    egress
        .client_builder()
        .user_agent(concat!("nflbet-scraper/", env!("CARGO_PKG_VERSION")))
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(timeout)
        .build()
}

/// GET the provider's URL within the limits, if the egress policy allows it.
pub async fn fetch(
    client: &reqwest::Client,
    provider: &dyn FeedProvider,
    egress: &Egress,
    limits: FetchLimits,
) -> Result<Fetched, FetchError> {
    super::config::check_feed(provider, egress).map_err(|e| FetchError::Refused(e.to_string()))?;
    match tokio::time::timeout(limits.timeout, exchange(client, provider, limits)).await {
        Ok(r) => r,
        Err(_) => Err(FetchError::Timeout(limits.timeout)),
    }
}

async fn exchange(
    client: &reqwest::Client,
    provider: &dyn FeedProvider,
    limits: FetchLimits,
) -> Result<Fetched, FetchError> {
    let mut req = client.get(provider.url().clone()).header(ACCEPT, "application/json");
    for (name, value) in provider.headers() {
        req = req.header(name, value);
    }
    let mut resp = req.send().await.map_err(|e| FetchError::from_reqwest(e, limits.timeout))?;
    let status = resp.status();
    let header = |name: &str| -> Option<String> {
        resp.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
    };
    let quota = provider.quota(&header);
    let retry_after = header("retry-after").and_then(|v| parse_retry_after(&v, SystemTime::now()));
    if status.as_u16() == 429 {
        return Err(FetchError::RateLimited { retry_after });
    }
    if !status.is_success() {
        return Err(FetchError::Status { status: status.as_u16(), retry_after });
    }
    if let Some(ct) = header(CONTENT_TYPE.as_str())
        && !is_json(&ct)
    {
        return Err(FetchError::ContentType(known_type(&ct)));
    }
    let declared = header(CONTENT_LENGTH.as_str()).and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limits.max_bytes) {
        return Err(FetchError::TooLarge { limit: limits.max_bytes });
    }
    let mut body = Vec::with_capacity(initial_capacity(limits.max_bytes));
    while let Some(chunk) = resp.chunk().await.map_err(|e| FetchError::from_reqwest(e, limits.timeout))? {
        if (body.len() + chunk.len()) as u64 > limits.max_bytes {
            return Err(FetchError::TooLarge { limit: limits.max_bytes });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Fetched { body, quota })
}

/// Bytes reserved for a body before it arrives: never derived from what the server declares.
fn initial_capacity(max_bytes: u64) -> usize {
    usize::try_from(max_bytes).unwrap_or(usize::MAX).min(INITIAL_CAPACITY)
}

/// `application/json`, or any `+json` type, with parameters.
fn is_json(content_type: &str) -> bool {
    let mime = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
}

/// A refused content type, named only when it is a common one: the header is the server's text
/// and must not carry anything into status or logs.
fn known_type(content_type: &str) -> String {
    const KNOWN: [&str; 6] =
        ["text/html", "text/plain", "text/xml", "application/xml", "application/octet-stream", "text/csv"];
    let mime = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    match KNOWN.iter().find(|k| **k == mime) {
        Some(k) => (*k).to_owned(),
        None => "(another type)".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_buffer_is_never_sized_from_the_cap_or_the_declared_length() {
        assert_eq!(super::initial_capacity(16 * 1024 * 1024), super::INITIAL_CAPACITY);
        assert_eq!(super::initial_capacity(u64::MAX), super::INITIAL_CAPACITY);
        assert_eq!(super::initial_capacity(1000), 1000);
    }

    #[test]
    fn refused_content_types_are_named_only_when_common() {
        assert_eq!(super::known_type("text/html; charset=utf-8"), "text/html");
        assert_eq!(super::known_type("x-token/sk_live_123"), "(another type)");
    }

    #[test]
    fn json_content_types() {
        assert!(super::is_json("application/json"));
        assert!(super::is_json("application/json; charset=utf-8"));
        assert!(super::is_json("Application/JSON"));
        assert!(super::is_json("application/vnd.nflbet.feed+json"));
        assert!(!super::is_json("text/html; charset=utf-8"));
        assert!(!super::is_json("text/plain"));
    }
}
