//! The human-readable replay report.

use super::engine::ReplayReport;
use crate::domain::calibration::LedgerReport;
use crate::domain::market::Market;
use std::fmt::Write;

pub(super) fn num(value: Option<f64>, digits: usize) -> String {
    value.map_or_else(|| "-".to_string(), |v| format!("{v:.digits$}"))
}

pub(super) fn pct(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_string(), |v| format!("{:+.2}%", v * 100.0))
}

/// One market's settled bets, as a line of the per-model section.
pub(super) fn market_line(market: Market, l: &LedgerReport) -> String {
    format!(
        "  {:<10} bets {:>5} (W {} / L {} / P {})  staked {:.3}  profit {:+.3}  roi {}  clv {}",
        market.to_string(),
        l.bets,
        l.wins,
        l.losses,
        l.pushes,
        l.staked,
        l.profit,
        pct(l.roi),
        pct(l.mean_clv)
    )
}

/// Render a report as plain-text tables.
pub fn render_table(report: &ReplayReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Replay {}: {} settled games, {} with both closing moneylines (scored set)",
        report.window, report.games, report.games_with_moneylines
    );
    let _ = writeln!(
        out,
        "Staking: {:.2} Kelly, max bet {:.1}%, max game {:.1}%, min edge {:.1}%; margin removal {:?}\n",
        report.settings.policy.fraction,
        report.settings.policy.max_bet * 100.0,
        report.settings.policy.max_event * 100.0,
        report.settings.min_edge * 100.0,
        report.settings.margin,
    );
    let _ = writeln!(
        out,
        "{:<18} {:>7} {:>7} {:>6} {:>8} {:>8} {:>6} {:>8} {:>8} {:>8} {:>8}",
        "model", "version", "scored", "ties", "brier", "logloss", "bets", "staked", "profit", "roi", "clv"
    );
    for m in &report.models {
        let _ = writeln!(
            out,
            "{:<18} {:>7} {:>7} {:>6} {:>8} {:>8} {:>6} {:>8.3} {:>8.3} {:>8} {:>8}",
            m.name,
            m.version,
            m.moneyline.samples,
            m.moneyline.pushes,
            num(m.moneyline.brier, 4),
            num(m.moneyline.log_loss, 4),
            m.bets.bets,
            m.bets.staked,
            m.bets.profit,
            pct(m.bets.roi),
            pct(m.bets.mean_clv),
        );
    }
    for m in &report.models {
        let _ = writeln!(out, "\n{} {}", m.name, m.version);
        if m.errors > 0 {
            let _ = writeln!(out, "  games not priced: {}", m.errors);
        }
        for (market, l) in &m.bets_by_market {
            let _ = writeln!(out, "{}", market_line(*market, l));
        }
        for (label, c) in [("spread (home covers)", &m.spread), ("total (over)", &m.total)] {
            let _ = writeln!(
                out,
                "  {label:<21} scored {:>5}  pushes {:>3}  brier {}  logloss {}",
                c.samples,
                c.pushes,
                num(c.brier, 4),
                num(c.log_loss, 4)
            );
        }
        let _ = writeln!(out, "  reliability (home win):  bin        n   predicted  observed");
        for bin in m.moneyline.reliability.iter().filter(|b| b.count > 0) {
            let _ = writeln!(
                out,
                "                           {:.1}-{:.1} {:>6}   {:>9}  {:>8}",
                bin.lower,
                bin.upper,
                bin.count,
                num(bin.mean_predicted, 3),
                num(bin.observed_rate, 3)
            );
        }
        let _ = writeln!(out, "  by season:  season  scored  brier   logloss");
        for s in &m.by_season {
            let _ = writeln!(
                out,
                "              {:>6} {:>7}  {:>6}  {:>7}",
                s.season,
                s.samples,
                num(s.brier, 4),
                num(s.log_loss, 4)
            );
        }
    }
    out
}
