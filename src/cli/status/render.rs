//! The table `nflbet status` prints for people: one section per kind, then the problems.
//! Colour only when asked for (the caller decides: a terminal, and no NO_COLOR).

use super::report::{BookRow, Common, ModelRow, RouteRow, State, StatusReport, human_age};
use comfy_table::{Cell, Color, ContentArrangement, Table, presets};

pub struct Style {
    pub colour: bool,
    /// Show a NAMESPACE column (`-A`).
    pub namespaces: bool,
    /// Draw the freshness bar with block characters (a UTF-8 terminal), else ASCII.
    pub unicode: bool,
}

/// Cells of the freshness bar.
const BAR_WIDTH: u64 = 5;

/// Time since the last snapshot against the stale threshold, e.g. `▇▇▁▁▁ 4m/10m`: one cell per
/// fifth of the threshold used up, full when stale. ASCII (`##... 4m/10m`) when `unicode` is
/// false. `never` without a snapshot; `-` without a threshold (an unreadable object).
pub fn freshness_bar(age_seconds: Option<i64>, stale_after_seconds: u64, unicode: bool) -> String {
    if stale_after_seconds == 0 {
        return "-".into();
    }
    let Some(age) = age_seconds else {
        return "never".into();
    };
    let age = age.max(0) as u64;
    let filled = (age * BAR_WIDTH).div_ceil(stale_after_seconds).min(BAR_WIDTH) as usize;
    let (full, empty) = if unicode { ('▇', '▁') } else { ('#', '.') };
    let bar: String = std::iter::repeat_n(full, filled)
        .chain(std::iter::repeat_n(empty, BAR_WIDTH as usize - filled))
        .collect();
    format!("{bar} {}/{}", human_age(age as i64), human_age(stale_after_seconds as i64))
}

/// Whether the locale's character set is UTF-8, from `LC_ALL`, `LC_CTYPE` and `LANG` (the first
/// one set wins, as in POSIX).
pub fn utf8_locale(lc_all: Option<&str>, lc_ctype: Option<&str>, lang: Option<&str>) -> bool {
    [lc_all, lc_ctype, lang].into_iter().flatten().find(|v| !v.is_empty()).is_some_and(|v| {
        let v = v.to_ascii_lowercase();
        v.contains("utf-8") || v.contains("utf8")
    })
}

fn table(style: &Style, header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_style(presets::NOTHING).set_content_arrangement(ContentArrangement::Disabled);
    if style.colour {
        t.enforce_styling();
    } else {
        t.force_no_tty();
    }
    let mut h: Vec<&str> = Vec::new();
    if style.namespaces {
        h.push("NAMESPACE");
    }
    h.extend_from_slice(header);
    t.set_header(h);
    t
}

fn paint(style: &Style, text: impl Into<String>, colour: Option<Color>) -> Cell {
    let cell = Cell::new(text.into());
    match (style.colour, colour) {
        (true, Some(c)) => cell.fg(c),
        _ => cell,
    }
}

fn ready_cell(style: &Style, c: &Common) -> Cell {
    let colour = match (c.state, c.ready.status.as_str()) {
        (State::Stopped, _) => None,
        (_, "True") => Some(Color::Green),
        (State::Suspended, _) => Some(Color::Yellow),
        _ => Some(Color::Red),
    };
    paint(style, c.ready.status.clone(), colour)
}

fn state_cell(style: &Style, c: &Common) -> Cell {
    let colour = match c.state {
        State::Running => None,
        State::Stopped | State::Suspended => Some(Color::Yellow),
        State::Unreadable => Some(Color::Red),
    };
    paint(style, c.state.as_str(), colour)
}

fn leading(style: &Style, c: &Common) -> Vec<Cell> {
    let mut cells = Vec::new();
    if style.namespaces {
        cells.push(Cell::new(&c.namespace));
    }
    cells.push(Cell::new(&c.name));
    cells.push(ready_cell(style, c));
    cells.push(state_cell(style, c));
    cells
}

fn dash(v: Option<String>) -> String {
    v.filter(|s| !s.is_empty()).unwrap_or_else(|| "-".into())
}

/// At most `max` characters on one line, so a long error does not wreck the table.
fn clip(s: &str, max: usize) -> String {
    let one_line = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= max {
        one_line
    } else {
        format!("{}…", one_line.chars().take(max - 1).collect::<String>())
    }
}

fn books(style: &Style, rows: &[BookRow]) -> Table {
    let mut t = table(
        style,
        &["NAME", "READY", "STATE", "LAST SNAPSHOT", "FRESHNESS", "QUOTES", "FAILURES", "LAST ERROR"],
    );
    for r in rows {
        let mut cells = leading(style, &r.common);
        let snapshot = match r.last_snapshot_age_seconds {
            Some(a) => format!("{} ago", human_age(a)),
            None => "never".into(),
        };
        cells.push(paint(style, snapshot, r.stale.then_some(Color::Red)));
        let bar = freshness_bar(r.last_snapshot_age_seconds, r.stale_after_seconds, style.unicode);
        cells.push(paint(style, bar, r.stale.then_some(Color::Red)));
        cells.push(Cell::new(dash(r.quotes.map(|q| q.to_string()))));
        let failures = r.consecutive_failures;
        cells.push(paint(style, failures.to_string(), (failures > 0).then_some(Color::Red)));
        cells.push(Cell::new(dash(r.last_error.as_deref().map(|e| clip(e, 60)))));
        t.add_row(cells);
    }
    t
}

fn models(style: &Style, rows: &[ModelRow]) -> Table {
    let mut t = table(
        style,
        &["NAME", "READY", "STATE", "VERSION", "ROLLOUT", "TOP EDGE", "TOTAL STAKE", "BRIER (STABLE)"],
    );
    for r in rows {
        let mut cells = leading(style, &r.common);
        let version = match (&r.version, &r.candidate_version) {
            (Some(v), Some(c)) => format!("{v} (candidate {c})"),
            (v, _) => dash(v.clone()),
        };
        cells.push(Cell::new(version));
        cells.push(Cell::new(dash(r.rollout_phase.clone())));
        let edge = r.top_edge.as_ref().map(|e| {
            format!(
                "{:+.1}% {} {} {:+} @{} ({})",
                e.expected_value * 100.0,
                e.selection,
                e.market,
                e.american,
                e.book,
                clip(&e.event, 24)
            )
        });
        cells.push(Cell::new(dash(edge)));
        cells.push(Cell::new(dash(r.total_stake.map(|s| format!("{s:.2}")))));
        let brier = r
            .calibration
            .as_ref()
            .and_then(|c| c.stable.as_ref())
            .map(|s| format!("{:.3} (n={})", s.brier, s.samples));
        cells.push(Cell::new(dash(brier)));
        t.add_row(cells);
    }
    t
}

fn routes(style: &Style, rows: &[RouteRow]) -> Table {
    let mut t = table(style, &["NAME", "READY", "STATE", "MIN SEVERITY", "RECEIVERS"]);
    for r in rows {
        let mut cells = leading(style, &r.common);
        cells.push(Cell::new(dash(r.min_severity.clone())));
        cells.push(Cell::new(dash(r.receivers.clone())));
        t.add_row(cells);
    }
    t
}

/// The whole human-readable report.
pub fn render(report: &StatusReport, style: &Style) -> String {
    let mut out = String::new();
    let scope = match &report.namespace {
        Some(ns) => format!("namespace {ns}"),
        None => "all namespaces".into(),
    };
    if report.counts.total == 0 {
        return format!("No Sportsbooks, Models or AlertRoutes in {scope}.\n");
    }
    let mut section = |title: &str, t: Option<Table>| {
        if let Some(t) = t {
            out.push_str(title);
            out.push('\n');
            for line in t.to_string().lines() {
                // The borderless preset still pads the first column on the left.
                let line = line.strip_prefix(' ').unwrap_or(line);
                out.push_str(line.trim_end());
                out.push('\n');
            }
            out.push('\n');
        }
    };
    section("SPORTSBOOKS", (!report.sportsbooks.is_empty()).then(|| books(style, &report.sportsbooks)));
    section("MODELS", (!report.models.is_empty()).then(|| models(style, &report.models)));
    section("ALERT ROUTES", (!report.alert_routes.is_empty()).then(|| routes(style, &report.alert_routes)));

    let problems = report.problems();
    if !problems.is_empty() {
        out.push_str("PROBLEMS\n");
        for (kind, c) in problems {
            let who = if style.namespaces {
                format!("{kind} {}/{}", c.namespace, c.name)
            } else {
                format!("{kind} {}", c.name)
            };
            let note = if c.state == State::Suspended { " (suspended, not counted)" } else { "" };
            for p in &c.problems {
                out.push_str(&format!("  {who}{note}: {p}\n"));
            }
        }
        out.push('\n');
    }
    let n = &report.counts;
    let verdict = if report.healthy { "healthy" } else { "UNHEALTHY" };
    let verdict = if style.colour {
        let code = if report.healthy { "32" } else { "31" };
        format!("\x1b[{code}m{verdict}\x1b[0m")
    } else {
        verdict.to_string()
    };
    out.push_str(&format!(
        "{verdict}: {} resources in {scope}: {} healthy, {} unhealthy, {} stopped, {} suspended\n",
        n.total, n.healthy, n.unhealthy, n.stopped, n.suspended
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn freshness_bar_fresh_partly_used_stale_and_never() {
        assert_eq!(freshness_bar(Some(0), 600, true), "▁▁▁▁▁ 0s/10m");
        assert_eq!(freshness_bar(Some(30), 600, true), "▇▁▁▁▁ 30s/10m");
        assert_eq!(freshness_bar(Some(240), 600, true), "▇▇▁▁▁ 4m/10m");
        assert_eq!(freshness_bar(Some(600), 600, true), "▇▇▇▇▇ 10m/10m");
        assert_eq!(freshness_bar(Some(7200), 600, true), "▇▇▇▇▇ 2h/10m");
        assert_eq!(freshness_bar(Some(240), 600, false), "##... 4m/10m");
        // A clock skewed into the future counts as fresh.
        assert_eq!(freshness_bar(Some(-5), 300, false), "..... 0s/5m");
        assert_eq!(freshness_bar(None, 600, true), "never");
        assert_eq!(freshness_bar(Some(10), 0, true), "-");
    }

    #[test]
    fn utf8_locale_follows_posix_precedence() {
        assert!(utf8_locale(None, None, Some("en_US.UTF-8")));
        assert!(utf8_locale(Some("C.utf8"), None, Some("C")));
        assert!(!utf8_locale(Some("C"), Some("en_US.UTF-8"), None));
        assert!(utf8_locale(Some(""), Some("de_DE.UTF-8"), None));
        assert!(!utf8_locale(None, None, None));
    }
}
