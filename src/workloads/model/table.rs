//! The `--once` output: every priced quote, best expected value first, then a summary. Plain
//! aligned columns, one quote per line, so people read it and tests can split it on whitespace.

use super::workload::RunReport;
use std::fmt::Write;

pub const HEADER: [&str; 11] =
    ["EVENT", "MARKET", "SELECTION", "LINE", "BOOK", "PRICE", "FAIR", "EV", "KELLY", "STAKE", "BOUND"];

/// Render a run as a table and a summary.
pub fn render(report: &RunReport) -> String {
    let mut quotes: Vec<&super::staking::PricedQuote> =
        report.events.iter().flat_map(|e| e.quotes.iter()).collect();
    quotes.sort_by(|a, b| {
        b.expected_value
            .total_cmp(&a.expected_value)
            .then_with(|| (&a.event, &a.book, a.market).cmp(&(&b.event, &b.book, b.market)))
    });
    let rows: Vec<[String; 11]> = quotes
        .iter()
        .map(|q| {
            [
                q.event.clone(),
                q.market.as_str().to_owned(),
                q.selection_label.replace(' ', "_"),
                q.line.map_or("-".into(), |l| format!("{l:+}")),
                q.book.clone(),
                format!("{:+}", q.american),
                format!("{:.4}", q.fair_win),
                format!("{:.4}", q.expected_value),
                format!("{:.6}", q.kelly),
                format!("{:.2}", q.stake),
                if q.bound.is_empty() { "-".into() } else { q.bound.join(",") },
            ]
        })
        .collect();
    let mut widths: Vec<usize> = HEADER.iter().map(|h| h.len()).collect();
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.len());
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, cells: &[&str]| {
        let parts: Vec<String> = cells.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        let _ = writeln!(out, "{}", parts.join("  ").trim_end());
    };
    line(&mut out, &HEADER);
    for r in &rows {
        let cells: Vec<&str> = r.iter().map(String::as_str).collect();
        line(&mut out, &cells);
    }
    let _ = writeln!(
        out,
        "\npriced {} quote(s) in {} market line(s) of {} game(s) from {} snapshot(s)",
        report.quotes_priced,
        report.markets_priced,
        report.events.len(),
        report.snapshots.len()
    );
    if !report.missing.is_empty() {
        let _ = writeln!(out, "no recent snapshot: {}", report.missing.join(", "));
    }
    let _ = writeln!(
        out,
        "recommended {} bet(s), total stake {:.2}",
        report.portfolio.bets, report.portfolio.total
    );
    let c = &report.calibration;
    match (c.brier, c.log_loss) {
        (Some(b), Some(l)) if c.samples > 0 => {
            let _ = writeln!(
                out,
                "calibration: {} game(s), {} push(es), brier {b:.6}, log loss {l:.6}",
                c.samples, c.pushes
            );
        }
        _ => {
            let _ = writeln!(out, "calibration: no settled predictions yet");
        }
    }
    if let Some(k) = &report.record_key {
        let _ = writeln!(out, "stored {k}");
    }
    for (t, e) in &report.errors {
        let _ = writeln!(out, "error ({}): {e}", t.as_str());
    }
    out
}
