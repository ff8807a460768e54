//! Replay and pricing benchmarks (plain timing, `cargo bench --bench replay`).
//!
//! - replay of every season in the nflverse games file (closingLine + elo), wall time;
//! - pricing throughput: quotes priced per second (fair prices + edges) on a large synthetic slate;
//! - peak RSS (VmHWM) at the end.

use chrono::NaiveDate;
use nflbet::domain::consensus::{MarketConsensus, Reference};
use nflbet::domain::elo::Elo;
use nflbet::domain::games::load_games;
use nflbet::domain::kelly::KellyPolicy;
use nflbet::domain::margin::MarginMethod;
use nflbet::domain::market::{BookPrice, Market, Selection};
use nflbet::domain::pricing_model::{Fixture, PricingModel, edges};
use nflbet::replay::{ReplaySettings, Window, model_by_name, replay};
use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

const GAMES: usize = 2_000;
const BOOKS: usize = 12;
const ALT_LINES: i32 = 4;

fn main() {
    let path = std::env::var_os("NFLBET_GAMES")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data/nfl_games.csv"));
    bench_replay(&path);
    bench_pricing();
    println!("peak RSS (VmHWM): {}", peak_rss());
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn bench_replay(path: &std::path::Path) {
    let start = Instant::now();
    let games = match load_games(path) {
        Ok(games) => games,
        Err(err) => {
            eprintln!("skipping the replay benchmark: {err} (set NFLBET_GAMES)");
            return;
        }
    };
    println!("load {} games: {:.1} ms", games.len(), start.elapsed().as_secs_f64() * 1e3);
    let first = games.iter().map(|g| g.season).min().unwrap_or(1999);
    let last = games.iter().map(|g| g.season).max().unwrap_or(2025);
    let settings = ReplaySettings {
        window: Window::parse(&first.to_string(), &last.to_string()).expect("a valid window"),
        margin: MarginMethod::Proportional,
        min_edge: 0.02,
        policy: KellyPolicy::new(0.25, 0.02, 0.05).expect("a valid policy"),
    };
    let mut times = Vec::new();
    let mut settled = 0;
    for _ in 0..10 {
        let models = ["closingLine", "elo"]
            .iter()
            .map(|m| model_by_name(m, MarginMethod::Proportional).expect("a known model"))
            .collect();
        let start = Instant::now();
        let report = replay(&games, models, &settings, |_| {}).expect("replay runs");
        times.push(start.elapsed());
        settled = report.games;
        black_box(report);
    }
    let m = median(times);
    println!(
        "replay seasons {first}-{last} ({settled} settled games, closingLine+elo): median {:.1} ms of 10 runs ({:.0} games/s)",
        m.as_secs_f64() * 1e3,
        settled as f64 / m.as_secs_f64()
    );
}

/// A deterministic synthetic slate: every book quotes the moneyline, a main spread and total and
/// `ALT_LINES` alternative lines of each, with its own margin and noise.
fn slate() -> Vec<(Fixture, Vec<BookPrice>)> {
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut rand = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed >> 11) as f64 / (1u64 << 53) as f64
    };
    let american = |p: f64| -> i32 {
        let p = p.clamp(0.02, 0.98);
        if p > 0.5 { (-100.0 * p / (1.0 - p)).round() as i32 } else { (100.0 * (1.0 - p) / p).round() as i32 }
    };
    let teams = ["KC", "BUF", "PHI", "DAL", "SF", "DET", "BAL", "MIA", "GB", "CIN", "LAC", "NYJ"];
    (0..GAMES)
        .map(|i| {
            let home = teams[i % teams.len()];
            let away = teams[(i + 5) % teams.len()];
            let fixture = Fixture {
                game_id: format!("2030_{:02}_{away}_{home}", i % 18 + 1),
                season: 2030,
                week: (i % 18 + 1) as u8,
                gameday: NaiveDate::from_ymd_opt(2030, 9, 8).expect("a date"),
                home_team: home.into(),
                away_team: away.into(),
                neutral: false,
                playoff: false,
                pre_game: Default::default(),
            };
            let p_home = 0.25 + 0.5 * rand();
            let spread = ((p_home - 0.5) * 28.0 * 2.0).round() / 2.0;
            let total = 40.0 + (rand() * 20.0).round() / 2.0;
            let mut quotes = Vec::new();
            for b in 0..BOOKS {
                let book = format!("book{b}");
                let margin = 1.03 + 0.03 * rand();
                let noise = (rand() - 0.5) * 0.04;
                let mut two = |market, line_home: Option<f64>, p: f64, sel: [Selection; 2]| {
                    let p = (p + noise).clamp(0.03, 0.97);
                    let (a, b2) = (american(p * margin), american((1.0 - p) * margin));
                    let other = line_home.map(|l| if market == Market::Spread { -l } else { l });
                    quotes.push(BookPrice {
                        book: book.clone(),
                        market,
                        selection: sel[0],
                        line: line_home,
                        american: a,
                    });
                    quotes.push(BookPrice {
                        book: book.clone(),
                        market,
                        selection: sel[1],
                        line: other,
                        american: b2,
                    });
                };
                two(Market::Moneyline, None, p_home, [Selection::Home, Selection::Away]);
                for alt in -ALT_LINES / 2..=ALT_LINES / 2 {
                    let shift = f64::from(alt) * 1.5;
                    two(
                        Market::Spread,
                        Some(-spread + shift),
                        0.5 + shift * 0.03,
                        [Selection::Home, Selection::Away],
                    );
                    two(
                        Market::Total,
                        Some(total + shift),
                        0.5 - shift * 0.03,
                        [Selection::Over, Selection::Under],
                    );
                }
            }
            (fixture, quotes)
        })
        .collect()
}

fn bench_pricing() {
    let slate = slate();
    let quotes: usize = slate.iter().map(|(_, q)| q.len()).sum();
    let sharp = vec!["book0".to_string(), "book1".to_string(), "book2".to_string()];
    let consensus = MarketConsensus::new(Reference::Median(sharp.clone()), MarginMethod::Shin);
    let refs: Vec<&str> = sharp.iter().map(String::as_str).collect();
    let elo = Elo::default();
    for (name, model, exclude) in [
        ("marketConsensus (Shin, median of 3 books)", &consensus as &dyn PricingModel, refs.as_slice()),
        ("elo", &elo as &dyn PricingModel, &[][..]),
    ] {
        let mut times = Vec::new();
        let mut priced = 0usize;
        for _ in 0..5 {
            let start = Instant::now();
            priced = 0;
            for (fixture, q) in &slate {
                let fair = model.price(fixture, q).expect("prices");
                let found = edges(&fair, q, exclude).expect("edges");
                priced += found.len();
                black_box(found);
            }
            times.push(start.elapsed());
        }
        let m = median(times);
        println!(
            "pricing {name}: {quotes} quotes ({GAMES} games × {BOOKS} books), {priced} edges evaluated, median {:.1} ms → {:.2} M quotes/s",
            m.as_secs_f64() * 1e3,
            quotes as f64 / m.as_secs_f64() / 1e6
        );
    }
}

fn peak_rss() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).map(|l| l["VmHWM:".len()..].trim().to_string())
        })
        .unwrap_or_else(|| "unavailable".into())
}
