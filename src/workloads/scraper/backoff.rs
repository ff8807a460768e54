//! Timing: exponential backoff with full jitter, `Retry-After`, and poll-interval jitter.
//!
//! Full jitter (a uniform delay in `[0, min(max, base·2^n)]`) spreads retries of many scrapers
//! hitting the same provider instead of synchronising them, which linear backoff (the Python
//! toolkit's) does.

use rand::Rng;
use std::time::{Duration, SystemTime};

/// Delay before retry number `attempt` (0 for the first retry).
pub fn full_jitter(base: Duration, max: Duration, attempt: u32) -> Duration {
    let cap = base.saturating_mul(2u32.saturating_pow(attempt.min(31))).min(max);
    random_up_to(cap)
}

/// A uniformly random duration in `[0, cap]`.
pub fn random_up_to(cap: Duration) -> Duration {
    if cap.is_zero() {
        return Duration::ZERO;
    }
    let nanos = u64::try_from(cap.as_nanos()).unwrap_or(u64::MAX);
    Duration::from_nanos(rand::rng().random_range(0..=nanos))
}

/// Parse a `Retry-After` value: delay-seconds or an HTTP-date. A date in the past means "now".
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        // Bound absurd values to a day: a typo on the server must not silence a scraper forever.
        return Some(Duration::from_secs(secs.min(86_400)));
    }
    let at = httpdate::parse_http_date(v).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO).min(Duration::from_secs(86_400)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_under_the_cap() {
        let base = Duration::from_millis(100);
        let max = Duration::from_millis(350);
        for attempt in 0..40 {
            let cap = (base * 2u32.saturating_pow(attempt.min(31))).min(max);
            for _ in 0..50 {
                assert!(full_jitter(base, max, attempt) <= cap);
            }
        }
        assert_eq!(full_jitter(Duration::ZERO, max, 3), Duration::ZERO);
    }

    #[test]
    fn retry_after_forms() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(42));
        assert_eq!(parse_retry_after(&later, now), Some(Duration::from_secs(42)));
        let earlier = httpdate::fmt_http_date(now - Duration::from_secs(42));
        assert_eq!(parse_retry_after(&earlier, now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-3", now), None);
        assert_eq!(parse_retry_after("99999999", now), Some(Duration::from_secs(86_400)));
    }
}
