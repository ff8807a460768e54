//! Line charts as inline SVG: axis scaling, readable ticks, one `<path>` per series, and text
//! escaped for HTML. Pure functions; the page ([`super`]) decides what to draw.

use std::fmt::Write;

/// Colours of the series, in order (distinguishable for the common colour-vision deficiencies).
const PALETTE: [&str; 8] =
    ["#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#f0e442", "#000000"];

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 360.0;
/// Plot area inside the SVG: left, right, top, bottom.
const PLOT: (f64, f64, f64, f64) = (64.0, 624.0, 16.0, 312.0);

/// Escape text for HTML element content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A linear map from a data interval onto a pixel interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scale {
    domain: (f64, f64),
    range: (f64, f64),
}

impl Scale {
    /// A degenerate domain (one value) is widened by one unit each way so the value lands in the
    /// middle rather than dividing by zero.
    pub fn new(domain: (f64, f64), range: (f64, f64)) -> Scale {
        let domain = if domain.1 > domain.0 { domain } else { (domain.0 - 1.0, domain.0 + 1.0) };
        Scale { domain, range }
    }

    pub fn map(&self, value: f64) -> f64 {
        let (d0, d1) = self.domain;
        let (r0, r1) = self.range;
        r0 + (value - d0) / (d1 - d0) * (r1 - r0)
    }
}

/// Round step sizes (1, 2 or 5 times a power of ten) covering `[min, max]` with about `count`
/// ticks; returns the ticks, the first at or below `min` and the last at or above `max`.
pub fn nice_ticks(min: f64, max: f64, count: usize) -> Vec<f64> {
    let (min, max) = if max > min { (min, max) } else { (min - 1.0, min + 1.0) };
    let raw = (max - min) / count.max(1) as f64;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step =
        [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * magnitude).find(|s| *s >= raw).unwrap_or(10.0 * magnitude);
    let first = (min / step).floor() as i64;
    let last = (max / step).ceil() as i64;
    (first..=last).map(|i| i as f64 * step).collect()
}

/// How an axis labels its ticks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TickFormat {
    /// Fixed decimals.
    Number(usize),
    /// Fraction shown as a percentage with these decimals.
    Percent(usize),
    /// Days since 1970-01-01: ticks on the first of a year (YYYY), or of a month (YYYY-MM) when
    /// the data spans less than two years.
    Date,
}

impl TickFormat {
    fn label(self, value: f64) -> String {
        match self {
            TickFormat::Number(digits) => format!("{value:.digits$}"),
            TickFormat::Percent(digits) => format!("{:.digits$}%", value * 100.0),
            TickFormat::Date => date_of(value).map(|d| d.format("%Y-%m").to_string()).unwrap_or_default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Axis {
    pub label: String,
    pub format: TickFormat,
    /// Fixed bounds (e.g. 0..1 for probabilities); None fits the data.
    pub bounds: Option<(f64, f64)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub name: String,
    /// Index into the palette: a model keeps its colour in every chart.
    pub colour: usize,
    pub points: Vec<(f64, f64)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LineChart {
    /// Accessible title of the SVG.
    pub title: String,
    pub x: Axis,
    pub y: Axis,
    pub series: Vec<Series>,
    /// Draw the line y = x (a reliability diagram's perfect calibration).
    pub diagonal: bool,
    /// Draw a dot on every point (for short series).
    pub markers: bool,
}

/// The `d` attribute of a polyline through `points`; empty without points.
pub fn path_d(points: &[(f64, f64)], x: &Scale, y: &Scale) -> String {
    let mut d = String::new();
    for (i, (px, py)) in points.iter().enumerate() {
        let _ = write!(d, "{}{:.1},{:.1}", if i == 0 { "M" } else { " L" }, x.map(*px), y.map(*py));
    }
    d
}

fn date_of(days: f64) -> Option<chrono::NaiveDate> {
    chrono::NaiveDate::default().checked_add_signed(chrono::Duration::days(days.round() as i64))
}

pub fn days_of(date: chrono::NaiveDate) -> f64 {
    (date - chrono::NaiveDate::default()).num_days() as f64
}

/// First days of years (or of months, for less than two years of data) inside `[lo, hi]`.
pub fn date_ticks(lo: f64, hi: f64) -> Vec<f64> {
    use chrono::Datelike;
    let (Some(start), Some(end)) = (date_of(lo), date_of(hi)) else {
        return Vec::new();
    };
    let yearly = end.year() - start.year() >= 2;
    let mut ticks = Vec::new();
    let (mut year, mut month) = (start.year(), if yearly { 1 } else { start.month() });
    while let Some(d) = chrono::NaiveDate::from_ymd_opt(year, month, 1) {
        if d > end {
            break;
        }
        if d >= start {
            ticks.push(days_of(d));
        }
        if yearly || month == 12 {
            (year, month) = (year + 1, 1);
        } else {
            month += 1;
        }
    }
    ticks
}

fn extent(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    values.filter(|v| v.is_finite()).fold(None, |acc, v| match acc {
        None => Some((v, v)),
        Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
    })
}

/// Ticks of one axis, and its domain.
fn axis_ticks(axis: &Axis, values: impl Iterator<Item = f64>) -> (Vec<f64>, (f64, f64)) {
    if axis.format == TickFormat::Date {
        let (lo, hi) = extent(values).unwrap_or((0.0, 1.0));
        return (date_ticks(lo, hi), (lo, hi));
    }
    let ticks = match axis.bounds {
        Some((lo, hi)) => {
            nice_ticks(lo, hi, 5).into_iter().filter(|t| *t >= lo - 1e-9 && *t <= hi + 1e-9).collect()
        }
        None => {
            let (lo, hi) = extent(values).unwrap_or((0.0, 1.0));
            match axis.format {
                // Whole units (seasons): a tick per unit when there are few.
                TickFormat::Number(0) if hi - lo <= 10.0 => {
                    ((lo.floor() as i64)..=(hi.ceil() as i64)).map(|v| v as f64).collect()
                }
                _ => nice_ticks(lo, hi, 5),
            }
        }
    };
    let domain = axis
        .bounds
        .unwrap_or_else(|| (ticks.first().copied().unwrap_or(0.0), ticks.last().copied().unwrap_or(1.0)));
    (ticks, domain)
}

/// The chart as an `<svg>` element. Each series is one `<path class="series">`; the legend names
/// the series in the same colours.
pub fn render(chart: &LineChart) -> String {
    let (left, right, top, bottom) = PLOT;
    let (xs, x_domain) = axis_ticks(&chart.x, chart.series.iter().flat_map(|s| s.points.iter().map(|p| p.0)));
    let (ys, y_domain) = axis_ticks(&chart.y, chart.series.iter().flat_map(|s| s.points.iter().map(|p| p.1)));
    let x = Scale::new(x_domain, (left, right));
    let y = Scale::new(y_domain, (bottom, top));
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img"><title>{}</title>"#,
        escape(&chart.title)
    );
    svg.push_str(r##"<g class="grid" stroke="#e0e0e0" stroke-width="1">"##);
    for t in &ys {
        let _ = write!(svg, r#"<line x1="{left}" x2="{right}" y1="{0:.1}" y2="{0:.1}"/>"#, y.map(*t));
    }
    svg.push_str("</g>");
    let _ = write!(
        svg,
        r##"<g class="axes" stroke="#444" stroke-width="1"><line x1="{left}" x2="{right}" y1="{bottom}" y2="{bottom}"/><line x1="{left}" x2="{left}" y1="{top}" y2="{bottom}"/></g>"##
    );
    svg.push_str(r##"<g class="ticks" font-size="11" fill="#444">"##);
    for t in &xs {
        let _ = write!(
            svg,
            r#"<text x="{:.1}" y="{}" text-anchor="middle">{}</text>"#,
            x.map(*t),
            bottom + 16.0,
            escape(&chart.x.format.label(*t))
        );
    }
    for t in &ys {
        let _ = write!(
            svg,
            r#"<text x="{}" y="{:.1}" text-anchor="end" dominant-baseline="middle">{}</text>"#,
            left - 6.0,
            y.map(*t),
            escape(&chart.y.format.label(*t))
        );
    }
    let _ = write!(
        svg,
        r#"<text x="{:.1}" y="{}" text-anchor="middle">{}</text><text transform="translate(14 {:.1}) rotate(-90)" text-anchor="middle">{}</text></g>"#,
        (left + right) / 2.0,
        HEIGHT - 6.0,
        escape(&chart.x.label),
        (top + bottom) / 2.0,
        escape(&chart.y.label)
    );
    if chart.diagonal {
        let (lo, hi) = x_domain;
        let _ = write!(
            svg,
            r##"<path class="diagonal" d="{}" stroke="#999" stroke-dasharray="4 4" fill="none"/>"##,
            path_d(&[(lo, lo), (hi, hi)], &x, &y)
        );
    }
    for series in &chart.series {
        let colour = PALETTE[series.colour % PALETTE.len()];
        let _ = write!(
            svg,
            r#"<path class="series" data-series="{}" d="{}" stroke="{colour}" stroke-width="2" fill="none"/>"#,
            escape(&series.name),
            path_d(&series.points, &x, &y)
        );
        if chart.markers {
            for (px, py) in &series.points {
                let _ = write!(
                    svg,
                    r#"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{colour}"/>"#,
                    x.map(*px),
                    y.map(*py)
                );
            }
        }
    }
    svg.push_str(r#"<g class="legend" font-size="12">"#);
    for (i, series) in chart.series.iter().enumerate() {
        let (lx, ly) = (left + 10.0, top + 14.0 + 16.0 * i as f64);
        let _ = write!(
            svg,
            r#"<rect x="{lx}" y="{}" width="12" height="4" fill="{}"/><text x="{}" y="{ly}">{}</text>"#,
            ly - 5.0,
            PALETTE[series.colour % PALETTE.len()],
            lx + 18.0,
            escape(&series.name)
        );
    }
    svg.push_str("</g></svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart(series: Vec<Series>) -> LineChart {
        LineChart {
            title: "t".into(),
            x: Axis { label: "x".into(), format: TickFormat::Number(1), bounds: None },
            y: Axis { label: "y".into(), format: TickFormat::Number(1), bounds: None },
            series,
            diagonal: false,
            markers: false,
        }
    }

    #[test]
    fn scale_maps_ends_and_middle_and_survives_one_value() {
        let s = Scale::new((0.0, 10.0), (100.0, 300.0));
        assert_eq!((s.map(0.0), s.map(5.0), s.map(10.0)), (100.0, 200.0, 300.0));
        // Inverted pixel range (SVG y grows downwards).
        let s = Scale::new((0.0, 1.0), (312.0, 16.0));
        assert_eq!((s.map(0.0), s.map(1.0)), (312.0, 16.0));
        let s = Scale::new((3.0, 3.0), (0.0, 100.0));
        assert_eq!(s.map(3.0), 50.0);
    }

    #[test]
    fn ticks_are_round_and_cover_the_data() {
        assert_eq!(nice_ticks(0.0, 1.0, 5), vec![0.0, 0.2, 0.4, 0.6000000000000001, 0.8, 1.0]);
        let t = nice_ticks(-0.37, 1.42, 5);
        assert!(t[0] <= -0.37 && *t.last().unwrap() >= 1.42, "{t:?}");
        let steps: Vec<f64> = t.windows(2).map(|w| ((w[1] - w[0]) * 1e6).round() / 1e6).collect();
        assert!(steps.iter().all(|s| *s == 0.5), "{t:?}");
        assert_eq!(nice_ticks(2.0, 2.0, 5).first(), Some(&1.0));
    }

    #[test]
    fn a_path_per_series_with_one_point_per_vertex() {
        let svg = render(&chart(vec![
            Series { name: "a".into(), colour: 0, points: vec![(0.0, 0.0), (1.0, 1.0), (2.0, 0.5)] },
            Series { name: "b".into(), colour: 1, points: vec![(0.0, 1.0)] },
        ]));
        assert_eq!(svg.matches(r#"<path class="series""#).count(), 2);
        let x = Scale::new((0.0, 2.0), (PLOT.0, PLOT.1));
        let y = Scale::new((0.0, 1.0), (PLOT.3, PLOT.2));
        assert_eq!(path_d(&[(0.0, 0.0), (2.0, 1.0)], &x, &y), "M64.0,312.0 L624.0,16.0");
        assert!(svg.contains(r#"data-series="a" d="M64.0,312.0 L344.0,16.0 L624.0,164.0""#), "{svg}");
        assert!(path_d(&[], &x, &y).is_empty());
        assert!(!svg.contains("diagonal"));
    }

    #[test]
    fn diagonal_spans_the_fixed_bounds() {
        let mut c = chart(vec![Series { name: "m".into(), colour: 0, points: vec![(0.3, 0.4)] }]);
        c.x.bounds = Some((0.0, 1.0));
        c.y.bounds = Some((0.0, 1.0));
        c.diagonal = true;
        let svg = render(&c);
        assert!(svg.contains(r#"class="diagonal" d="M64.0,312.0 L624.0,16.0""#), "{svg}");
    }

    #[test]
    fn text_is_escaped_everywhere() {
        assert_eq!(escape(r#"<a href="x">&'</a>"#), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;");
        let mut c = chart(vec![Series { name: "<script>".into(), colour: 0, points: vec![(0.0, 0.0)] }]);
        c.title = "a & b".into();
        let svg = render(&c);
        assert!(!svg.contains("<script>"), "{svg}");
        assert!(svg.contains("&lt;script&gt;") && svg.contains("a &amp; b"));
    }

    #[test]
    fn tick_labels() {
        assert_eq!(TickFormat::Percent(1).label(0.025), "2.5%");
        assert_eq!(TickFormat::Number(2).label(0.5), "0.50");
        // 2023-09-10 is day 19610 since the epoch.
        assert_eq!(TickFormat::Date.label(19610.0), "2023-09");
    }

    #[test]
    fn date_ticks_fall_on_years_or_months() {
        let day = |y, m, d| days_of(chrono::NaiveDate::from_ymd_opt(y, m, d).unwrap());
        let years = date_ticks(day(2019, 9, 5), day(2024, 2, 11));
        assert_eq!(years, (2020..=2024).map(|y| day(y, 1, 1)).collect::<Vec<_>>());
        let months = date_ticks(day(2023, 9, 7), day(2024, 1, 7));
        assert_eq!(months, vec![day(2023, 10, 1), day(2023, 11, 1), day(2023, 12, 1), day(2024, 1, 1)]);
        assert!(date_ticks(day(2023, 9, 7), day(2023, 9, 20)).is_empty());
    }
}
