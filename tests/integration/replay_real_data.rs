//! Replay checked on real NFL data: the nflverse games file (`../shared/data/nfl_games.csv`,
//! nflverse/nfldata `data/games.csv`, maintained by Lee Sharpe).

use crate::support;
use nflbet::domain::exposure::{ExposureBook, ExposureBound, ExposureLimits, StakeRequest};
use nflbet::domain::games::{Game, load_games};
use nflbet::domain::kelly::{ExclusiveOutcome, KellyBound, KellyPolicy, kelly_single, size_event};
use nflbet::domain::margin::MarginMethod;
use nflbet::domain::market::Market;
use nflbet::replay::{ModelReport, ReplayReport, ReplaySettings, Window, model_by_name, replay};
use std::process::Command;
use std::sync::OnceLock;

fn games() -> &'static [Game] {
    static GAMES: OnceLock<Vec<Game>> = OnceLock::new();
    GAMES.get_or_init(|| load_games(&support::games_file()).expect("the games file loads"))
}

fn settings(from: &str, to: &str) -> ReplaySettings {
    ReplaySettings {
        window: Window::parse(from, to).unwrap(),
        margin: MarginMethod::Proportional,
        min_edge: 0.02,
        policy: KellyPolicy::new(0.25, 0.02, 0.05).unwrap(),
    }
}

fn run(from: &str, to: &str, models: &[&str]) -> ReplayReport {
    let models = models.iter().map(|m| model_by_name(m, MarginMethod::Proportional).unwrap()).collect();
    replay(games(), models, &settings(from, to), |_| {}).unwrap()
}

fn model<'a>(report: &'a ReplayReport, name: &str) -> &'a ModelReport {
    report.models.iter().find(|m| m.name == name).unwrap()
}

/// Implied probability of an American price, written out independently of the library.
fn implied(american: f64) -> f64 {
    if american > 0.0 { 100.0 / (american + 100.0) } else { -american / (-american + 100.0) }
}

#[test]
fn loads_every_game() {
    let games = games();
    assert_eq!(games.len(), 7263);
    assert_eq!(
        games.iter().filter(|g| g.home_moneyline.is_some() && g.away_moneyline.is_some()).count(),
        5234
    );
    let unplayed = games.iter().filter(|g| g.score().is_none()).count();
    assert!(unplayed >= 48, "2025 is in progress in this copy: {unplayed} unplayed");
}

/// (1) The margin-free closing line's Brier score and log loss agree with a computation done here
/// by hand from the raw CSV text (split on commas, no csv crate, no library odds code).
#[test]
fn closing_line_scores_match_an_independent_computation() {
    let text = std::fs::read_to_string(support::games_file()).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (hs, as_, hm, am) =
        (col("home_score"), col("away_score"), col("home_moneyline"), col("away_moneyline"));
    let (mut n, mut brier, mut log_loss) = (0u64, 0.0f64, 0.0f64);
    for line in lines {
        let f: Vec<&str> = line.split(',').collect();
        let (Ok(h), Ok(a), Ok(mh), Ok(ma)) =
            (f[hs].parse::<f64>(), f[as_].parse::<f64>(), f[hm].parse::<f64>(), f[am].parse::<f64>())
        else {
            continue;
        };
        if h == a {
            continue;
        }
        let (ph, pa) = (implied(mh), implied(ma));
        let p = ph / (ph + pa);
        let y = if h > a { 1.0 } else { 0.0 };
        n += 1;
        brier += (p - y) * (p - y);
        log_loss += -(y * p.ln() + (1.0 - y) * (1.0 - p).ln());
    }
    let (brier, log_loss) = (brier / n as f64, log_loss / n as f64);
    assert_eq!(n, 5203, "games with both closing moneylines and a non-tie result (data README)");

    let report = run("1999", "2025", &["closingLine"]);
    let close = model(&report, "closingLine");
    println!("closing line over {n} games: Brier {brier:.6}, log loss {log_loss:.6}");
    assert_eq!(close.moneyline.samples, n);
    assert!((close.moneyline.brier.unwrap() - brier).abs() < 1e-6, "{:?} vs {brier}", close.moneyline.brier);
    assert!((close.moneyline.log_loss.unwrap() - log_loss).abs() < 1e-6);
    // Ties among the scored set are counted as pushes, not scored as half a win.
    assert!(close.moneyline.pushes > 0);
    // The closing line is well calibrated: each populated bin's observed rate is near its forecast.
    for bin in close.moneyline.reliability.iter().filter(|b| b.count >= 300) {
        let gap = (bin.observed_rate.unwrap() - bin.mean_predicted.unwrap()).abs();
        assert!(gap < 0.05, "closing line bin {:.1}: gap {gap}", bin.lower);
    }
    // Betting the margin-free close against itself finds nothing.
    assert_eq!(close.bets.bets, 0);
}

/// (1b) Spreads and totals: the closing line's cover and over forecasts, scored at the closing
/// number with pushes excluded, agree with a computation from the raw CSV text; the market is a
/// near coin flip there (that is what a balanced line is), and Elo's are reported beside it.
#[test]
fn spread_and_total_scores_match_an_independent_computation() {
    let text = std::fs::read_to_string(support::games_file()).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let cols = [
        col("home_score"),
        col("away_score"),
        col("spread_line"),
        col("home_spread_odds"),
        col("away_spread_odds"),
        col("total_line"),
        col("over_odds"),
        col("under_odds"),
    ];
    // (samples, pushes, brier sum) for spread (home covers) and total (over).
    let mut spread = (0u64, 0u64, 0.0f64);
    let mut total = (0u64, 0u64, 0.0f64);
    let score = |acc: &mut (u64, u64, f64), value: f64, this: f64, other: f64| {
        if value == 0.0 {
            acc.1 += 1;
            return;
        }
        let p = implied(this) / (implied(this) + implied(other));
        let y = if value > 0.0 { 1.0 } else { 0.0 };
        acc.0 += 1;
        acc.2 += (p - y) * (p - y);
    };
    for line in lines {
        let f: Vec<&str> = line.split(',').collect();
        let v: Vec<Option<f64>> = cols.iter().map(|&c| f[c].parse::<f64>().ok()).collect();
        let (Some(h), Some(a)) = (v[0], v[1]) else { continue };
        // nflverse: spread_line > 0 means the home team is favoured by that many points.
        if let (Some(line), Some(ho), Some(ao)) = (v[2], v[3], v[4]) {
            score(&mut spread, h - a - line, ho, ao);
        }
        if let (Some(line), Some(o), Some(u)) = (v[5], v[6], v[7]) {
            score(&mut total, h + a - line, o, u);
        }
    }
    let report = run("1999", "2025", &["closingLine", "elo"]);
    let (close, elo) = (model(&report, "closingLine"), model(&report, "elo"));
    for (name, ours, (n, pushes, sum)) in [("spread", &close.spread, spread), ("total", &close.total, total)]
    {
        println!(
            "closing {name}: {n} scored, {pushes} pushes, Brier {:.4}; Elo {:?}",
            sum / n as f64,
            if name == "spread" { elo.spread.brier } else { elo.total.brier }
        );
        assert_eq!((ours.samples, ours.pushes), (n, pushes), "{name}");
        assert!((ours.brier.unwrap() - sum / n as f64).abs() < 1e-9, "{name}: {:?}", ours.brier);
        assert!((ours.brier.unwrap() - 0.25).abs() < 0.005, "a balanced line is a near coin flip: {name}");
    }
    assert_eq!(elo.spread.samples, close.spread.samples, "Elo is scored on the same games");
    // The spread and total odds start in 2006 (docs/models.md): nothing before is scored.
    let early = run("1999", "2005", &["closingLine"]);
    let early = model(&early, "closingLine");
    assert_eq!((early.spread.samples, early.total.samples), (0, 0));
    // Elo centres spreads and totals on the line (as a median, with the key numbers learned
    // walk-forward around the same centres it priced each game with), moved toward its own
    // number by the share of its disagreement the games so far show to come true beyond their
    // noise (the slope's 95% lower bound): 2.2.0 measured 0.250004 and 0.250000, below the
    // closing line's own 0.25017 and 0.25011 (Elo 1.0.0, a rounded normal around its own numbers:
    // 0.2571 and 0.2591; 2.1.0, priors chosen on 2006-2015: 0.25005 and 0.25000). The issue asks
    // for no worse than 0.2500, at its four decimals (docs/models.md).
    for (name, e, c) in [("spread", &elo.spread, &close.spread), ("total", &elo.total, &close.total)] {
        let (eb, cb) = (e.brier.unwrap(), c.brier.unwrap());
        println!("{name}: Elo Brier {eb:.6}, closing line {cb:.5}");
        assert!((eb * 1e4).round() <= 2500.0, "Elo {name} Brier {eb:.6} is worse than 0.2500");
        assert!(eb < cb, "Elo {name} Brier {eb:.5} against the closing line's {cb:.5}");
    }
}

/// (2) Walk-forward Elo vs the closing line on the seasons with moneylines (2006 on). Elo's
/// parameters were chosen on 2001-2005 only (docs/models.md) and 1999-2005 are its burn-in, so
/// every scored season is out of sample. The market should win; Elo must still be far better than
/// a coin flip, and 2.2.0 (the moneyline read off the anchored margin distribution) must stay
/// within the 0.005 of the closing line (measured 0.2109 against 0.2111; Elo's own
/// numbers, 2.0.0's moneyline, 0.2182).
#[test]
fn elo_walk_forward_against_the_closing_line() {
    let report = run("2006", "2025", &["closingLine", "elo"]);
    let (close, elo) = (model(&report, "closingLine"), model(&report, "elo"));
    println!("season  games  close_brier  elo_brier  close_logloss  elo_logloss");
    for (c, e) in close.by_season.iter().zip(&elo.by_season) {
        assert_eq!((c.season, c.samples), (e.season, e.samples));
        println!(
            "{}  {:>5}  {:>11.4}  {:>9.4}  {:>13.4}  {:>11.4}",
            c.season,
            c.samples,
            c.brier.unwrap(),
            e.brier.unwrap(),
            c.log_loss.unwrap(),
            e.log_loss.unwrap()
        );
        assert!(e.brier.unwrap() < 0.25, "elo {} worse than a coin flip", e.season);
    }
    let (cb, eb) = (close.moneyline.brier.unwrap(), elo.moneyline.brier.unwrap());
    let (cl, el) = (close.moneyline.log_loss.unwrap(), elo.moneyline.log_loss.unwrap());
    println!("overall {:>5}  {cb:>11.4}  {eb:>9.4}  {cl:>13.4}  {el:>11.4}", close.moneyline.samples);
    println!(
        "elo bets {} staked {:.3} profit {:+.3} roi {:+.2}% clv {:+.2}%",
        elo.bets.bets,
        elo.bets.staked,
        elo.bets.profit,
        elo.bets.roi.unwrap() * 100.0,
        elo.bets.mean_clv.unwrap() * 100.0
    );
    assert_eq!(close.moneyline.samples, elo.moneyline.samples);
    assert!(eb < 0.25, "elo overall Brier {eb} is no better than a coin flip");
    assert!(eb > cb - 0.02, "elo Brier {eb} beats the closing line {cb} by an implausible margin: leakage?");
    assert!(eb <= cb + 0.005, "elo Brier {eb:.4} against the closing line's {cb:.4}");
    assert!(el < std::f64::consts::LN_2 && el > cl - 0.05);
    // The model bets all three markets and every bet is settled, pushes included.
    for market in Market::ALL {
        let l = &elo.bets_by_market[&market];
        assert!(l.bets > 100, "{market}: {} bets", l.bets);
        assert_eq!(l.wins + l.losses + l.pushes, l.bets);
    }
    assert!(elo.bets_by_market[&Market::Spread].pushes > 0, "spreads on 3 and 7 push");
    // Stakes respect the per-bet cap.
    assert!(elo.bets.staked <= elo.bets.bets as f64 * 0.02 + 1e-9);
}

/// Key numbers on real data: walking 1999-2025 forward, Elo's push probability at closing spreads
/// of ±3 and ±7 is close to how often those games pushed (a rounded normal said about 3% at 3).
#[test]
fn elo_prices_pushes_at_key_numbers_from_the_data() {
    use nflbet::domain::elo::Elo;
    use nflbet::domain::market::Selection;
    use nflbet::domain::pricing_model::PricingModel;
    let mut order: Vec<&Game> = games().iter().filter(|g| g.score().is_some()).collect();
    order.sort_by_key(|g| (g.forecast_deadline(), g.game_id.clone()));
    let mut results = order.clone();
    results.sort_by_key(|g| (g.result_known_at(), g.game_id.clone()));
    let mut elo = Elo::default();
    let mut learned = 0;
    // Per key number: (games, pushes, Σ predicted push).
    let mut at = [(0u32, 0u32, 0.0f64); 2];
    for game in order {
        while learned < results.len() && results[learned].result_known_by(game.forecast_deadline()) {
            elo.observe(results[learned]);
            learned += 1;
        }
        let (Some(line), Some(margin)) = (game.spread_line, game.home_margin()) else { continue };
        let Some(k) = [3.0, 7.0].iter().position(|&key| line.abs() == key) else { continue };
        if game.season < 2006 {
            continue;
        }
        let fair = elo.price(&game.fixture(), &game.closing_prices()).unwrap();
        let Some(home) = fair.iter().find(|f| f.market == Market::Spread && f.selection == Selection::Home)
        else {
            continue;
        };
        at[k].0 += 1;
        at[k].1 += u32::from(f64::from(margin) == line);
        at[k].2 += home.push;
    }
    for (key, (n, pushes, predicted)) in [3, 7].into_iter().zip(at) {
        let (rate, predicted) = (f64::from(pushes) / f64::from(n), predicted / f64::from(n));
        println!("line ±{key}: {n} games, pushed {rate:.3}, Elo's mean push probability {predicted:.3}");
        assert!(n > 300 && (rate - predicted).abs() < 0.02, "±{key}: {rate:.3} against {predicted:.3}");
    }
}

/// Walk-forward means a model's forecasts for a window do not depend on where the window starts.
#[test]
fn elo_forecasts_do_not_depend_on_the_window() {
    let long = run("2006", "2025", &["elo"]);
    let short = run("2019", "2019", &["elo"]);
    let long_2019 = model(&long, "elo").by_season.iter().find(|s| s.season == 2019).unwrap().clone();
    let short_2019 = &model(&short, "elo").by_season[0];
    assert_eq!(&long_2019, short_2019);
}

/// (3) Kelly on a constructed slate reproduces stakes computed by hand, and each cap binds exactly
/// where it should.
#[test]
fn kelly_slate_matches_hand_computation() {
    let policy = KellyPolicy::new(0.1, 0.02, 0.03).unwrap();
    let bet = |probability: f64, decimal: f64| ExclusiveOutcome { probability, decimal: Some(decimal) };
    let none = |probability: f64| ExclusiveOutcome { probability, decimal: None };

    // A: p = .65 at 2.0. f* = (1·.65 − .35)/1 = .30; ×.1 = .03 > max bet .02 → .02 (per-bet cap).
    let a = size_event(&[bet(0.65, 2.0), none(0.35)], 0.0, &policy).unwrap();
    assert!((a.full[0] - 0.30).abs() < 1e-12);
    assert_eq!(a.stakes[0], 0.02);
    assert_eq!(a.bound[0], Some(KellyBound::PerBet));

    // B: a spread on 3 at −110 (d = 1.909091, b = .909091): win .50, push .06, loss .44.
    // f* = (b·.5 − .44)/(b·.94) = .0145455/.8545455 = .0170213; ×.1 = .00170213, no cap.
    let b = size_event(&[bet(0.50, 1.0 + 100.0 / 110.0), none(0.44)], 0.06, &policy).unwrap();
    assert!((b.full[0] - 0.0170213).abs() < 1e-6, "{:?}", b.full);
    assert!((b.stakes[0] - 0.00170213).abs() < 1e-7);
    assert_eq!(b.bound[0], None);
    assert!((kelly_single(0.5, 0.06, 1.0 + 100.0 / 110.0).unwrap() - b.full[0]).abs() < 1e-12);

    // C: three exclusive outcomes, two backed. R = .2/(1 − 1/2.3 − 1/3.6) = .6957983;
    // f1 = .5 − R/2.3 = .1974790, f2 = .3 − R/3.6 = .1067227. ×.1 = .0197479 and .0106723: each under
    // the per-bet cap, but together .0304202 > .03, so both scale by .03/.0304202 (per-event cap).
    let c = size_event(&[bet(0.5, 2.3), bet(0.3, 3.6), bet(0.2, 3.0)], 0.0, &policy).unwrap();
    assert!((c.full[0] - 0.1974790).abs() < 1e-6 && (c.full[1] - 0.1067227).abs() < 1e-6);
    assert_eq!(c.full[2], 0.0);
    let scale = 0.03 / 0.0304202;
    assert!((c.stakes[0] - 0.0197479 * scale).abs() < 1e-6, "{:?}", c.stakes);
    assert!((c.stakes[1] - 0.0106723 * scale).abs() < 1e-6);
    assert!((c.total() - 0.03).abs() < 1e-12);
    assert_eq!(c.bound, vec![Some(KellyBound::PerEvent), Some(KellyBound::PerEvent), None]);
    // Summing single-bet Kelly would give .1153846 + .0307692: not the exclusive-outcome answer.
    let singles = kelly_single(0.5, 0.0, 2.3).unwrap() + kelly_single(0.3, 0.0, 3.6).unwrap();
    assert!((singles - 0.1461538).abs() < 1e-6);
    assert!((c.full[0] + c.full[1] - singles).abs() > 0.1);

    // D: no edge anywhere (both sides at −110 on a fair coin): nothing.
    let d = size_event(&[bet(0.5, 1.909091), bet(0.5, 1.909091)], 0.0, &policy).unwrap();
    assert_eq!(d.stakes, vec![0.0, 0.0]);

    // Exposure on a 10,000 bankroll with at most 3% on a team: A (KC) gets 200, C's home side (KC
    // again, 197.48·scale) is cut to the 100 left, and the team cap is named as the bound.
    let mut book = ExposureBook::new(ExposureLimits::new(10_000.0, 0.03, 0.10, 0.10).unwrap());
    let req = |team: &str, stake: f64| StakeRequest {
        teams: vec![team.to_string()],
        market: Market::Moneyline,
        book: "dk".into(),
        stake,
    };
    let first = book.allocate(&req("KC", a.stakes[0] * 10_000.0)).unwrap();
    assert_eq!((first.stake, first.bound.len()), (200.0, 0));
    let second = book.allocate(&req("KC", c.stakes[0] * 10_000.0)).unwrap();
    assert!((second.stake - 100.0).abs() < 1e-9);
    assert_eq!(second.bound, vec![ExposureBound::Team("KC".into())]);
    let third = book.allocate(&req("BUF", c.stakes[1] * 10_000.0)).unwrap();
    assert!(third.bound.is_empty() && (third.stake - c.stakes[1] * 10_000.0).abs() < 1e-9);
}

/// (4) The command line: good arguments succeed, bad ones fail with a clear message.
#[test]
fn cli_replay_exit_codes_and_messages() {
    let bin = env!("CARGO_BIN_EXE_nflbet");
    let games = support::games_file();
    let nflbet = |args: &[&str]| {
        let out = Command::new(bin).arg("replay").args(args).env_remove("NFLBET_GAMES").output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let g = games.to_str().unwrap();

    let (code, stdout, _) =
        nflbet(&["--from", "2019", "--to", "2020", "--models", "closingLine,elo", "--games", g]);
    assert_eq!(code, Some(0));
    assert!(
        stdout.contains("closingLine") && stdout.contains("elo") && stdout.contains("reliability"),
        "{stdout}"
    );

    let (code, stdout, _) = nflbet(&[
        "--from",
        "2023-09-01",
        "--to",
        "2023-12-31",
        "--models",
        "elo",
        "--games",
        g,
        "--output",
        "json",
    ]);
    assert_eq!(code, Some(0));
    let json: serde_json::Value = serde_json::from_str(&stdout).expect("replay --output json prints JSON");
    assert_eq!(json["models"][0]["name"], "elo");
    assert!(json["models"][0]["moneyline"]["brier"].as_f64().unwrap() < 0.25);
    assert_eq!(json["models"][0]["moneyline"]["reliability"].as_array().unwrap().len(), 10);

    // The games file from the environment.
    let out = Command::new(bin)
        .args(["replay", "--from", "2024", "--to", "2024", "--models", "closingLine"])
        .env("NFLBET_GAMES", g)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));

    let failures: [(&[&str], &str); 7] = [
        (&["--from", "2020", "--to", "2019", "--models", "elo", "--games", g], "is after --to"),
        (
            &["--from", "2019", "--to", "2020", "--models", "elo,psychic", "--games", g],
            "unknown model \"psychic\"",
        ),
        (&["--from", "2030", "--to", "2031", "--models", "elo", "--games", g], "no settled games"),
        (
            &["--from", "2019", "--to", "2020", "--models", "elo", "--games", "/nonexistent/games.csv"],
            "cannot open games file",
        ),
        (&["--from", "2019", "--to", "2020", "--models", "elo"], "NFLBET_GAMES"),
        (&["--from", "last-week", "--to", "2020", "--models", "elo", "--games", g], "neither a date"),
        (
            &["--from", "2019", "--to", "2020", "--models", "elo", "--games", g, "--kelly-fraction", "2"],
            "fraction",
        ),
    ];
    for (args, message) in failures {
        let (code, _, stderr) = nflbet(args);
        assert_eq!(code, Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains(message), "{args:?}: expected {message:?} in {stderr:?}");
    }
    // clap's own usage errors exit 2.
    let (code, _, stderr) = nflbet(&["--from", "2019", "--to", "2020"]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("--models"), "{stderr}");
}
