//! Go-style durations (`1h30m`, `90s`, `250ms`): the syntax of every duration field of the
//! resources and of the workloads' flags, and the one Prometheus rules accept.
//!
//! Parsing uses `kube::core::Duration`, the parser of the Go syntax CEL's `duration()` and the
//! API server accept; nothing here talks to a cluster.

use std::time::Duration;

/// The one syntax of every duration field of the three kinds (Sportsbook, Model, AlertRoute):
/// numbers (fractions allowed) with the units `h`, `m`, `s` and `ms`, e.g. `90s`, `1h30m`,
/// `1.5h`. Exactly what CEL's `duration()` (the CRDs' rules) and Go accept, and every value
/// converts to a Prometheus and Alertmanager duration ([`format_duration`]). Days and weeks are
/// not units: `d` means nothing to CEL, and a duration that passed admission must also compare
/// in the CRDs' rules.
/// (`[.]`, not a backslash: the pattern is also a CEL string literal, where `\.` is no escape.)
pub const PATTERN: &str = r"^([0-9]+([.][0-9]+)?(ms|s|m|h))+$";

/// What admission and `nflbet validate-config` say about a value not in [`PATTERN`]; the same
/// words for every field of every kind.
pub const MESSAGE: &str =
    "must be a duration of h, m, s and ms, e.g. 90s, 15m, 1h30m or 672h (no d or w: write 28d as 672h)";

/// A value that is not a duration of [`PATTERN`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} {MESSAGE}")]
pub struct DurationError {
    pub value: String,
}

/// Parse a duration of the resources' syntax ([`PATTERN`]), with an error naming the value.
pub fn parse(s: &str) -> Result<Duration, DurationError> {
    let err = || DurationError { value: s.to_string() };
    if !pattern().is_match(s) {
        return Err(err());
    }
    parse_duration(s).ok_or_else(err)
}

fn pattern() -> &'static regex::Regex {
    static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    RE.get_or_init(|| regex::Regex::new(PATTERN).expect("PATTERN is a valid regex"))
}

/// Parse a Go-style duration (`1h30m`, `90s`, `250ms`). None when it is not one, or
/// negative. A resource's schema already guarantees the syntax of its fields.
pub fn parse_duration(s: &str) -> Option<Duration> {
    s.parse::<kube::core::Duration>().ok().and_then(|d| if d.is_negative() { None } else { Some(d.into()) })
}

/// Format a duration the way Prometheus and Go accept it (`90s`, `5m`, `1h30m`).
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if !ms.is_multiple_of(1000) {
        return format!("{ms}ms");
    }
    let mut s = (ms / 1000) as u64;
    let mut out = String::new();
    if s >= 3600 {
        out.push_str(&format!("{}h", s / 3600));
        s %= 3600;
    }
    if s >= 60 {
        out.push_str(&format!("{}m", s / 60));
        s %= 60;
    }
    if s > 0 || out.is_empty() {
        out.push_str(&format!("{s}s"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_round_trip() {
        for (s, secs) in [("90s", 90), ("5m", 300), ("1h30m", 5400), ("0s", 0)] {
            let d = parse_duration(s).unwrap();
            assert_eq!(d.as_secs(), secs, "{s}");
        }
        assert_eq!(format_duration(Duration::from_secs(5400)), "1h30m");
        assert_eq!(format_duration(Duration::from_secs(300)), "5m");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1500ms");
        assert_eq!(format_duration(Duration::ZERO), "0s");
        assert!(parse_duration("-5s").is_none());
        assert!(parse_duration("five").is_none());
    }

    #[test]
    fn the_resources_syntax_is_go_durations_of_h_m_s_ms() {
        for (s, ms) in [
            ("90s", 90_000),
            ("1h30m", 5_400_000),
            ("1.5h", 5_400_000),
            ("250ms", 250),
            ("672h", 2_419_200_000),
        ] {
            assert_eq!(parse(s).unwrap().as_millis(), ms, "{s}");
        }
        for bad in ["28d", "1w", "1y", "", "5", "-5s", "1h 30m", "5us", "1.5"] {
            let e = parse(bad).unwrap_err();
            assert_eq!(e.to_string(), format!("{bad:?} {MESSAGE}"));
        }
    }

    #[test]
    fn every_accepted_duration_is_one_prometheus_and_alertmanager_accept() {
        // Prometheus/Alertmanager (model.ParseDuration): integer units in descending order, once each.
        let prom = regex::Regex::new(r"^(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?$").unwrap();
        for s in ["90s", "1.5h", "0.5s", "1h90m", "30m1h", "0s", "4392h"] {
            let formatted = format_duration(parse(s).unwrap());
            assert!(prom.is_match(&formatted) && !formatted.is_empty(), "{s} -> {formatted}");
            assert_eq!(parse(&formatted).unwrap(), parse(s).unwrap(), "{s} round-trips");
        }
    }
}
