//! Go-style durations (`1h30m`, `90s`, `250ms`): the syntax of every duration field of the
//! resources and of the workloads' flags, and the one Prometheus rules accept.
//!
//! Parsing uses `kube::core::Duration`, the parser of the Go syntax CEL's `duration()` and the
//! API server accept; nothing here talks to a cluster.

use std::time::Duration;

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
}
