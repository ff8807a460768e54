//! `nflbet replay --report report.html`, drawn by headless Chromium: the page is screenshotted
//! (a real picture with the models' colours in it), its DOM dumped after rendering (every chart
//! has one non-empty SVG path per series, as many series as the JSON report has models with that
//! data) and its console checked for errors. Both replay modes: closing lines and stored snapshots.

use super::replay_snapshots::{slate, write_closing_snapshots};
use crate::support;
use nflbet::domain::games::load_games;
use serde_json::Value;
use std::path::Path;
use std::process::Command;

const CHROMIUM: &str = "/usr/bin/chromium";
const WINDOW: (u32, u32) = (1400, 2600);
/// The palette's first three colours: the first three models of the page.
const MODEL_COLOURS: [[u8; 3]; 3] = [[0x00, 0x72, 0xb2], [0xe6, 0x9f, 0x00], [0x00, 0x9e, 0x73]];

/// Run headless Chromium on a local file (no network: DNS maps nowhere and any HTTP goes to a
/// closed loopback port), bounded in time. Returns (stdout, stderr).
async fn chromium(dir: &Path, page: &Path, extra: &[&str]) -> (String, String) {
    assert!(
        Path::new(CHROMIUM).is_file(),
        "{CHROMIUM} is missing: run `bash hack/install-deps.sh` (installs the Debian package chromium)"
    );
    let profile = tempfile::tempdir_in(dir).unwrap();
    let mut cmd = tokio::process::Command::new(CHROMIUM);
    cmd.args(["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--hide-scrollbars"])
        .args(["--disable-background-networking", "--disable-component-update", "--disable-sync"])
        .args(["--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=127.0.0.1:9"])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--window-size={},{}", WINDOW.0, WINDOW.1))
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .current_dir(dir)
        .kill_on_drop(true);
    let out = tokio::time::timeout(std::time::Duration::from_secs(120), cmd.output())
        .await
        .expect("chromium finished within 120 s")
        .expect("chromium starts");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(out.status.success(), "chromium failed: {stderr}");
    (stdout, stderr)
}

/// Console messages Chromium logged (`--enable-logging=stderr`), one per line.
fn console_lines(stderr: &str) -> Vec<&str> {
    stderr.lines().filter(|l| l.contains("CONSOLE")).collect()
}

/// Per `data-chart` figure of the rendered DOM: the number of series paths with a non-empty `d`.
fn series_per_chart(dom: &str) -> Vec<(String, usize)> {
    let mut charts = Vec::new();
    for part in dom.split("<figure data-chart=\"").skip(1) {
        let id = part[..part.find('"').unwrap()].to_string();
        let figure = &part[..part.find("</figure>").expect("figure closed")];
        let drawn = figure
            .split("<path ")
            .skip(1)
            .map(|p| &p[..p.find('>').unwrap()])
            .filter(|tag| tag.contains("class=\"series\""))
            .filter(|tag| tag.split(" d=\"").nth(1).is_some_and(|d| d.starts_with('M') && d.len() > 8))
            .count();
        charts.push((id, drawn));
    }
    charts
}

/// Screenshot the page and check it is a picture of charts: the window's size, many colours, and
/// the colour of each of the first `models` models somewhere on it.
async fn screenshot_shows_models(dir: &Path, page: &Path, models: usize) {
    let png_path = dir.join("report.png");
    chromium(dir, page, &[&format!("--screenshot={}", png_path.display())]).await;
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&png_path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!((info.width, info.height), WINDOW);
    let channels = info.color_type.samples();
    assert!(channels >= 3, "an RGB screenshot: {:?}", info.color_type);
    let pixels: std::collections::HashSet<[u8; 3]> =
        buf[..info.buffer_size()].chunks(channels).map(|p| [p[0], p[1], p[2]]).collect();
    assert!(pixels.len() > 20, "a blank-looking screenshot: {} colours", pixels.len());
    for colour in &MODEL_COLOURS[..models] {
        assert!(pixels.contains(colour), "no pixel of a model's colour {colour:?} in the screenshot");
    }
}

/// Render the page: the DOM after rendering, and the console must be clean.
async fn rendered_dom(dir: &Path, page: &Path) -> String {
    let (dom, stderr) = chromium(dir, page, &["--dump-dom", "--enable-logging=stderr", "--v=0"]).await;
    assert!(console_lines(&stderr).is_empty(), "console messages: {:?}", console_lines(&stderr));
    assert!(dom.contains("<table id=\"headline\">"), "{dom}");
    dom
}

fn replay(args: &[&str], dir: &Path) -> (Value, String) {
    let report = dir.join("report.html");
    let out = Command::new(env!("CARGO_BIN_EXE_nflbet"))
        .arg("replay")
        .args(args)
        .args(["--output", "json", "--games"])
        .arg(support::games_file())
        .arg("--report")
        .arg(&report)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    (serde_json::from_str(&stdout).unwrap(), std::fs::read_to_string(report).unwrap())
}

#[tokio::test]
async fn chromium_reports_console_messages() {
    // The console check is only worth something if Chromium's log shows a console error.
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("noisy.html");
    std::fs::write(&page, "<!DOCTYPE html><html><body><script>console.error('boom')</script></body></html>")
        .unwrap();
    let (_, stderr) = chromium(dir.path(), &page, &["--dump-dom", "--enable-logging=stderr", "--v=0"]).await;
    assert!(console_lines(&stderr).iter().any(|l| l.contains("boom")), "{stderr}");
}

#[tokio::test]
async fn closing_line_report_draws_every_chart() {
    let dir = tempfile::tempdir().unwrap();
    // closingLine is added to the report's models when not asked for.
    let (json, html) =
        replay(&["--from", "2022", "--to", "2023", "--models", "elo,marketConsensus"], dir.path());
    // Self-contained: no address but the SVG namespace's name, no script.
    let addresses = html.replace("xmlns=\"http://www.w3.org/2000/svg\"", "");
    assert!(!addresses.contains("http://") && !addresses.contains("https://") && !html.contains("<script"));
    let models = json["models"].as_array().unwrap();
    let names: Vec<&str> = models.iter().map(|m| m["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["elo", "marketConsensus", "closingLine"]);

    let page = dir.path().join("report.html");
    screenshot_shows_models(dir.path(), &page, 3).await;
    let dom = rendered_dom(dir.path(), &page).await;
    let charts = series_per_chart(&dom);
    let count = |id: &str| charts.iter().find(|c| c.0 == id).map(|c| c.1);
    for name in &names {
        assert_eq!(count(&format!("reliability-{name}")), Some(1), "{charts:?}");
    }
    let with_seasons = models.iter().filter(|m| m["bySeason"].as_array().unwrap().len() == 2).count();
    assert_eq!(with_seasons, 3);
    assert_eq!(count("brier-by-season"), Some(with_seasons), "{charts:?}");
    assert_eq!(count("log-loss-by-season"), Some(with_seasons), "{charts:?}");
    let with_bets = models.iter().filter(|m| m["bets"]["bets"].as_u64().unwrap() > 0).count();
    assert!(with_bets >= 1, "elo bets against the closing line: {json}");
    assert_eq!(count("cumulative-profit"), Some(with_bets), "{charts:?}");
    let with_clv = models.iter().filter(|m| m["bets"]["meanClv"].is_number()).count();
    assert_eq!(count("mean-clv"), Some(with_clv), "{charts:?}");
    // Models without bets are named, not drawn as empty series.
    for m in models.iter().filter(|m| m["bets"]["bets"] == 0) {
        let name = m["name"].as_str().unwrap();
        assert!(dom.contains(name) && dom.contains("placed no settled bet"), "{name}");
    }
    // The last point of elo's cumulative profit is its total profit (y axis of the JSON figure).
    let elo_days = models[0]["betsByDay"].as_array().unwrap();
    let total: f64 = elo_days.iter().map(|d| d["profit"].as_f64().unwrap()).sum();
    assert!((total - models[0]["bets"]["profit"].as_f64().unwrap()).abs() < 1e-9);
}

#[tokio::test]
async fn snapshot_report_draws_bets_and_says_what_it_cannot_show() {
    let path = support::games_file();
    let games = load_games(&path).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store_dir = dir.path().join("store");
    let url = format!("file://{}", store_dir.display());
    write_closing_snapshots(&url, &slate(&games)).await;

    let args = ["--from", "2023-09-01", "--to", "2023-09-25", "--models", "elo,marketConsensus"];
    let (json, _) =
        replay(&[&args[..], &["--store", url.as_str(), "--sportsbooks", "sharp"]].concat(), dir.path());
    let models = json["models"].as_array().unwrap();
    let page = dir.path().join("report.html");
    let dom = rendered_dom(dir.path(), &page).await;
    let charts = series_per_chart(&dom);
    let with_bets = models.iter().filter(|m| m["bets"]["bets"].as_u64().unwrap() > 0).count();
    assert!(with_bets >= 1, "elo disagrees with the market somewhere: {json}");
    screenshot_shows_models(dir.path(), &page, 1).await;
    let count = |id: &str| charts.iter().find(|c| c.0 == id).map(|c| c.1);
    assert_eq!(count("cumulative-profit"), Some(with_bets), "{charts:?}");
    let with_clv = models.iter().filter(|m| m["bets"]["meanClv"].is_number()).count();
    assert_eq!(count("mean-clv"), if with_clv > 0 { Some(with_clv) } else { None }, "{charts:?}");
    // No reliability bins or per-season scores in this mode: said in words, no empty axes.
    for id in ["reliability-elo", "reliability-marketConsensus", "brier-by-season", "log-loss-by-season"] {
        assert_eq!(count(id), None, "{charts:?}");
        assert!(dom.contains(&format!("<p class=\"no-data\" data-chart=\"{id}\">")), "{id}: {dom}");
    }
    assert!(dom.contains("no reliability bins or per-season scores"), "{dom}");
}

#[test]
fn an_unwritable_report_path_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("missing-dir/report.html");
    let out = Command::new(env!("CARGO_BIN_EXE_nflbet"))
        .args(["replay", "--from", "2023", "--to", "2023", "--models", "elo", "--games"])
        .arg(support::games_file())
        .arg("--report")
        .arg(&target)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&format!("cannot write the report to {}", target.display())), "{stderr}");
}
