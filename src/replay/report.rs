//! `nflbet replay --report report.html`: the replay as one self-contained HTML page with inline
//! SVG charts (no script, no network: a Content-Security-Policy forbids any fetch).
//!
//! The page shows the headline table, a reliability diagram per model, Brier score and log loss
//! by season, and the cumulative profit and running mean closing-line value of the bets. Both
//! replay modes fill it as far as their data goes: a replay over stored snapshots has no
//! reliability bins or per-season scores (the workload keeps only overall scores), and the page
//! says so instead of drawing an empty axis.

mod chart;

use super::engine::{BetDay, ReplayReport, SeasonScore};
use super::output::{num, pct};
use super::snapshots::SnapshotReplayReport;
use crate::domain::calibration::ReliabilityBin;
use chart::{Axis, LineChart, Series, TickFormat, escape};
use std::fmt::Write;

/// What the page shows for one model.
#[derive(Debug, Clone, PartialEq)]
pub struct PageModel {
    pub name: String,
    /// The model's colour in every chart (its position on the page).
    pub colour: usize,
    /// Home-win reliability bins; empty when the replay mode has none.
    pub reliability: Vec<ReliabilityBin>,
    pub seasons: Vec<SeasonScore>,
    /// Settled bets per day, in date order.
    pub bet_days: Vec<BetDay>,
}

/// The page's content, built from either replay mode's report.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub title: String,
    pub summary: Vec<String>,
    pub headers: Vec<&'static str>,
    pub rows: Vec<Vec<String>>,
    pub models: Vec<PageModel>,
    /// Why reliability and per-season scores are missing, when the mode cannot have them.
    pub no_calibration_detail: Option<&'static str>,
}

/// The page of a replay over the closing lines of the games file.
pub fn closing_lines_page(report: &ReplayReport) -> Page {
    let s = &report.settings;
    Page {
        title: format!("nflbet replay {}", report.window),
        summary: vec![
            format!(
                "{} settled games, {} with both closing moneylines (the scored set).",
                report.games, report.games_with_moneylines
            ),
            format!(
                "Staking: {:.2} Kelly, max bet {:.1}%, max game {:.1}%, min edge {:.1}%; margin removal {:?}.",
                s.policy.fraction,
                s.policy.max_bet * 100.0,
                s.policy.max_event * 100.0,
                s.min_edge * 100.0,
                s.margin
            ),
        ],
        headers: vec![
            "model", "version", "scored", "brier", "log loss", "bets", "staked", "profit", "roi", "clv",
        ],
        rows: report
            .models
            .iter()
            .map(|m| {
                vec![
                    m.name.clone(),
                    m.version.clone(),
                    m.moneyline.samples.to_string(),
                    num(m.moneyline.brier, 4),
                    num(m.moneyline.log_loss, 4),
                    m.bets.bets.to_string(),
                    format!("{:.3}", m.bets.staked),
                    format!("{:+.3}", m.bets.profit),
                    pct(m.bets.roi),
                    pct(m.bets.mean_clv),
                ]
            })
            .collect(),
        models: report
            .models
            .iter()
            .enumerate()
            .map(|(colour, m)| PageModel {
                name: m.name.clone(),
                colour,
                reliability: m.moneyline.reliability.clone(),
                seasons: m.by_season.clone(),
                bet_days: m.bets_by_day.clone(),
            })
            .collect(),
        no_calibration_detail: None,
    }
}

/// The page of a replay over stored snapshots.
pub fn snapshots_page(report: &SnapshotReplayReport) -> Page {
    Page {
        title: format!("nflbet replay {} over stored snapshots", report.window),
        summary: vec![format!(
            "{} stored snapshot(s) of {}.",
            report.snapshots,
            report.sportsbooks.join(", ")
        )],
        headers: vec![
            "model", "runs", "markets", "scored", "brier", "log loss", "bets", "staked", "profit", "roi",
            "clv",
        ],
        rows: report
            .models
            .iter()
            .map(|m| {
                let b = &m.bets.total;
                vec![
                    m.model.clone(),
                    m.runs.to_string(),
                    m.markets_priced.to_string(),
                    m.samples.to_string(),
                    num(m.brier, 4),
                    num(m.log_loss, 4),
                    b.bets.to_string(),
                    format!("{:.3}", b.staked),
                    format!("{:+.3}", b.profit),
                    pct(b.roi),
                    pct(b.mean_clv),
                ]
            })
            .collect(),
        models: report
            .models
            .iter()
            .enumerate()
            .map(|(colour, m)| {
                let mut bet_days = Vec::new();
                let mut settled: Vec<_> =
                    m.bets.placed.iter().filter_map(|b| Some((b.placed_at, b.profit?, b.clv))).collect();
                settled.sort_by_key(|b| b.0);
                for (at, profit, clv) in settled {
                    BetDay::add(&mut bet_days, at.date_naive(), profit, clv);
                }
                PageModel {
                    name: m.model.clone(),
                    colour,
                    reliability: Vec::new(),
                    seasons: Vec::new(),
                    bet_days,
                }
            })
            .collect(),
        no_calibration_detail: Some(
            "A replay over stored snapshots scores the model workload's own forecasts, which keep overall \
             Brier score and log loss only (in the table above): no reliability bins or per-season scores.",
        ),
    }
}

fn probability_axis(label: &str) -> Axis {
    Axis { label: label.into(), format: TickFormat::Number(1), bounds: Some((0.0, 1.0)) }
}

/// The model's reliability diagram; None without a forecast.
pub fn reliability_chart(model: &PageModel) -> Option<LineChart> {
    let points: Vec<(f64, f64)> = model
        .reliability
        .iter()
        .filter(|b| b.count > 0)
        .filter_map(|b| Some((b.mean_predicted?, b.observed_rate?)))
        .collect();
    (!points.is_empty()).then(|| LineChart {
        title: format!("Reliability of {}", model.name),
        x: probability_axis("forecast probability of a home win"),
        y: probability_axis("observed home-win rate"),
        series: vec![Series { name: model.name.clone(), colour: model.colour, points }],
        diagonal: true,
        markers: true,
    })
}

/// One series per model with per-season scores; None when no model has any.
pub fn season_chart(
    models: &[PageModel],
    label: &str,
    score: fn(&SeasonScore) -> Option<f64>,
) -> Option<LineChart> {
    let series: Vec<Series> = models
        .iter()
        .map(|m| Series {
            name: m.name.clone(),
            colour: m.colour,
            points: m.seasons.iter().filter_map(|s| Some((f64::from(s.season), score(s)?))).collect(),
        })
        .filter(|s| !s.points.is_empty())
        .collect();
    (!series.is_empty()).then(|| LineChart {
        title: format!("{label} by season"),
        x: Axis { label: "season".into(), format: TickFormat::Number(0), bounds: None },
        y: Axis { label: label.into(), format: TickFormat::Number(3), bounds: None },
        series,
        diagonal: false,
        markers: true,
    })
}

/// A chart over betting days: per model, `step` folds each day into a running value (None
/// leaves the day out); models without a point are left out, and None when none is left.
fn bet_day_chart(
    models: &[PageModel],
    title: &str,
    y: Axis,
    step: impl Fn(&mut (f64, u64), &BetDay) -> Option<f64>,
) -> Option<LineChart> {
    let series: Vec<Series> = models
        .iter()
        .map(|m| {
            let mut acc = (0.0, 0u64);
            let points = m
                .bet_days
                .iter()
                .filter_map(|d| Some((chart::days_of(d.date), step(&mut acc, d)?)))
                .collect();
            Series { name: m.name.clone(), colour: m.colour, points }
        })
        .filter(|s| !s.points.is_empty())
        .collect();
    (!series.is_empty()).then(|| LineChart {
        title: title.into(),
        x: Axis { label: "date".into(), format: TickFormat::Date, bounds: None },
        y,
        series,
        diagonal: false,
        markers: false,
    })
}

/// Cumulative profit per model with bets, a point per betting day; None when nobody bet.
pub fn profit_chart(models: &[PageModel]) -> Option<LineChart> {
    let y =
        Axis { label: "profit (fraction of bankroll)".into(), format: TickFormat::Number(2), bounds: None };
    bet_day_chart(models, "Cumulative profit", y, |(total, _), d| {
        *total += d.profit;
        Some(*total)
    })
}

/// Running mean closing-line value per model with bets that have one; None when none has.
pub fn clv_chart(models: &[PageModel]) -> Option<LineChart> {
    let y = Axis { label: "mean CLV per bet".into(), format: TickFormat::Percent(1), bounds: None };
    bet_day_chart(models, "Mean closing-line value so far", y, |(sum, n), d| {
        (d.clv_bets > 0).then(|| {
            *sum += d.clv_sum;
            *n += d.clv_bets;
            *sum / *n as f64
        })
    })
}

/// A chart in a `<figure data-chart=id>`, or a sentence saying why there is none.
fn figure(out: &mut String, id: &str, chart: Option<LineChart>, missing: &str) {
    match chart {
        Some(chart) => {
            let _ = write!(out, r#"<figure data-chart="{}">{}</figure>"#, escape(id), chart::render(&chart));
        }
        None => {
            let _ = write!(out, r#"<p class="no-data" data-chart="{}">{}</p>"#, escape(id), escape(missing));
        }
    }
}

/// Models left out of a bets chart, named under it.
fn without_bets(out: &mut String, models: &[PageModel], has: fn(&PageModel) -> bool, what: &str) {
    let names: Vec<&str> = models.iter().filter(|m| !has(m)).map(|m| m.name.as_str()).collect();
    if !names.is_empty() {
        let _ = write!(out, r#"<p class="note">{} {}.</p>"#, escape(&names.join(", ")), escape(what));
    }
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1400px}\
table{border-collapse:collapse}th,td{padding:.3em .8em;border-bottom:1px solid #ddd;text-align:right}\
th:first-child,td:first-child{text-align:left}figure{display:inline-block;margin:.5em}\
.no-data{color:#8a5a00;background:#fff6e0;padding:.6em;display:inline-block}.note{color:#666}";

/// The whole page.
pub fn render_html(page: &Page) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\
         <title>{0}</title><style>{STYLE}</style></head><body><h1>{0}</h1>",
        escape(&page.title)
    );
    for line in &page.summary {
        let _ = write!(out, "<p>{}</p>", escape(line));
    }
    out.push_str(r#"<table id="headline"><thead><tr>"#);
    for h in &page.headers {
        let _ = write!(out, "<th>{}</th>", escape(h));
    }
    out.push_str("</tr></thead><tbody>");
    for row in &page.rows {
        out.push_str("<tr>");
        for cell in row {
            let _ = write!(out, "<td>{}</td>", escape(cell));
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>");

    let no_calibration = page.no_calibration_detail.unwrap_or("No home-win forecast was scored.");
    out.push_str(
        "<h2>Reliability (home win)</h2><p class=\"note\">Dots are forecasts grouped in tenths; \
                  on the dashed diagonal, forecasts come true as often as they say.</p>",
    );
    for model in &page.models {
        figure(
            &mut out,
            &format!("reliability-{}", model.name),
            reliability_chart(model),
            &format!("{}: {no_calibration}", model.name),
        );
    }
    out.push_str("<h2>Brier score and log loss by season</h2><p class=\"note\">Lower is better.</p>");
    figure(
        &mut out,
        "brier-by-season",
        season_chart(&page.models, "Brier score", |s| s.brier),
        no_calibration,
    );
    figure(
        &mut out,
        "log-loss-by-season",
        season_chart(&page.models, "log loss", |s| s.log_loss),
        no_calibration,
    );

    out.push_str("<h2>Bets</h2>");
    let has_bets = |m: &PageModel| !m.bet_days.is_empty();
    figure(
        &mut out,
        "cumulative-profit",
        profit_chart(&page.models),
        "No settled bets: there is no profit to draw.",
    );
    without_bets(&mut out, &page.models, has_bets, "placed no settled bet");
    let has_clv = |m: &PageModel| m.bet_days.iter().any(|d| d.clv_bets > 0);
    figure(
        &mut out,
        "mean-clv",
        clv_chart(&page.models),
        "No bet has a closing-line value (no bets, or no closing price for their lines).",
    );
    without_bets(&mut out, &page.models, has_clv, "has no bet with a closing-line value");
    out.push_str("</body></html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn day(d: u32, profit: f64, clv: Option<f64>) -> Vec<BetDay> {
        let mut days = Vec::new();
        BetDay::add(&mut days, NaiveDate::from_ymd_opt(2023, 9, d).unwrap(), profit, clv);
        days
    }

    fn model(name: &str, bet_days: Vec<BetDay>) -> PageModel {
        PageModel {
            name: name.into(),
            colour: 0,
            reliability: vec![
                ReliabilityBin {
                    lower: 0.0,
                    upper: 0.1,
                    count: 0,
                    mean_predicted: None,
                    observed_rate: None,
                },
                ReliabilityBin {
                    lower: 0.5,
                    upper: 0.6,
                    count: 3,
                    mean_predicted: Some(0.55),
                    observed_rate: Some(0.66),
                },
            ],
            seasons: vec![SeasonScore {
                season: 2023,
                samples: 3,
                pushes: 0,
                brier: Some(0.2),
                log_loss: Some(0.6),
            }],
            bet_days,
        }
    }

    #[test]
    fn bet_days_group_by_date_and_count_clv_only_where_known() {
        let mut days = day(10, 0.02, Some(0.05));
        BetDay::add(&mut days, NaiveDate::from_ymd_opt(2023, 9, 10).unwrap(), -0.01, None);
        BetDay::add(&mut days, NaiveDate::from_ymd_opt(2023, 9, 17).unwrap(), -0.02, Some(-0.01));
        assert_eq!(days.len(), 2);
        assert_eq!((days[0].bets, days[0].clv_bets), (2, 1));
        assert!((days[0].profit - 0.01).abs() < 1e-12);
        let chart = profit_chart(&[model("m", days.clone())]).unwrap();
        let ys: Vec<f64> = chart.series[0].points.iter().map(|p| p.1).collect();
        assert!((ys[0] - 0.01).abs() < 1e-12 && (ys[1] + 0.01).abs() < 1e-12, "{ys:?}");
        let clv = clv_chart(&[model("m", days)]).unwrap();
        let ys: Vec<f64> = clv.series[0].points.iter().map(|p| p.1).collect();
        assert!((ys[0] - 0.05).abs() < 1e-12 && (ys[1] - 0.02).abs() < 1e-12, "{ys:?}");
    }

    #[test]
    fn charts_have_a_series_per_model_with_data_and_say_when_there_is_none() {
        let models = [model("elo", day(10, 0.02, Some(0.01))), model("closingLine", Vec::new())];
        assert_eq!(season_chart(&models, "Brier", |s| s.brier).unwrap().series.len(), 2);
        assert_eq!(profit_chart(&models).unwrap().series.len(), 1);
        let rel = reliability_chart(&models[0]).unwrap();
        assert_eq!(rel.series[0].points, vec![(0.55, 0.66)]);
        assert!(rel.diagonal);

        let page = Page {
            title: "t".into(),
            summary: vec![],
            headers: vec!["model"],
            rows: vec![vec!["elo".into()], vec!["closingLine".into()]],
            models: models.to_vec(),
            no_calibration_detail: None,
        };
        let html = render_html(&page);
        assert_eq!(html.matches(r#"<path class="series""#).count(), 2 + 2 + 2 + 1 + 1, "{html}");
        assert!(html.contains("closingLine placed no settled bet."), "{html}");

        let empty = [model("elo", Vec::new())];
        let html =
            render_html(&Page { models: empty.to_vec(), no_calibration_detail: Some("none here"), ..page });
        assert!(
            html.contains(r#"<p class="no-data" data-chart="cumulative-profit">No settled bets"#),
            "{html}"
        );
        assert!(html.contains(r#"<p class="no-data" data-chart="mean-clv">"#), "{html}");
    }

    #[test]
    fn snapshot_mode_says_why_it_has_no_calibration_charts() {
        let page = Page {
            title: "<t>".into(),
            summary: vec!["a & b".into()],
            headers: vec!["model"],
            rows: vec![vec!["<m>".into()]],
            models: vec![PageModel {
                name: "elo".into(),
                colour: 0,
                reliability: vec![],
                seasons: vec![],
                bet_days: vec![],
            }],
            no_calibration_detail: Some("no bins"),
        };
        let html = render_html(&page);
        assert!(html.contains(r#"data-chart="reliability-elo">elo: no bins</p>"#), "{html}");
        assert!(html.contains(r#"data-chart="brier-by-season">no bins</p>"#), "{html}");
        assert!(!html.contains("<svg"), "{html}");
        assert!(html.contains("<title>&lt;t&gt;</title>") && html.contains("<td>&lt;m&gt;</td>"));
        assert!(html.contains("a &amp; b"));
    }
}
