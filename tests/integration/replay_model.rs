//! `nflbet replay --model-file`: a Model's live recommendations and its replay over the same
//! stored snapshots agree bet for bet.
//!
//! The live side is the built binary, `nflbet model --once`, with the flags the operator renders
//! into the Model's Deployment (`controller::model::build::model_args`), run twice over two
//! rounds of snapshots written through the real `SnapshotStore`. The replay side is
//! `nflbet replay --model-file` of the same manifest over the same store, keeping its records
//! (`--records`). Both records are read with the workload's own decoder and compared run for run:
//! same selections, books, lines, prices, expected values, stakes and binding caps.

use super::model_workload::quote;
use chrono::{DateTime, Duration, Utc};
use nflbet::controller::config::OperatorConfig;
use nflbet::controller::model::build::model_args;
use nflbet::crd::model::Model;
use nflbet::domain::market::Market;
use nflbet::feed::quote::{Event, Selection};
use nflbet::feed::snapshot::{S3Options, Snapshot, SnapshotStore};
use nflbet::workloads::model::record::RecommendationRecord;
use nflbet::workloads::model::spec::Deployed;
use nflbet::workloads::model::staking::PricedQuote;
use std::path::Path;
use std::process::{Command, Output};

/// A consensus Model as a user writes it: pinnacle as the reference (shin margin removal, the
/// CRD's default), two markets of three, a team cap that binds, a value threshold.
fn manifest(store: &str) -> String {
    format!(
        "apiVersion: betting.nflbet.dev/v1alpha1
kind: Model
metadata:
  name: consensus
  namespace: betting
spec:
  algorithm: marketConsensus
  version: 1.4.0
  sportsbooks:
    names: [sharp-feed, retail-feed]
  markets: [moneyline, spread]
  consensus:
    referenceBooks: [pinnacle]
  staking:
    bankroll: 10000
    kellyFraction: 0.5
    maxStakePerBet: 0.03
    maxEventExposure: 0.05
    exposureCaps: {{team: 0.02, book: 0.04}}
    valueThreshold: 0.01
  storage:
    url: {store}
"
    )
}

/// One round of snapshots of both books at `polled`: three games three days ahead, the sharp
/// book's prices and retail prices `shift` cents longer on the away side, so several bets are
/// worth taking, some cut by the caps. Every price outside the two markets is left unpriced.
async fn write_round(store: &SnapshotStore, polled: DateTime<Utc>, shift: i32) {
    let kickoff = Utc::now() + Duration::days(3);
    let games = [
        ("e-1", "Kansas City Chiefs", "Baltimore Ravens", -150, 130, -3.0),
        ("e-2", "Philadelphia Eagles", "Green Bay Packers", -120, 100, -1.5),
        ("e-3", "Buffalo Bills", "Arizona Cardinals", -280, 230, -6.5),
    ];
    let team = |t: &str| Selection::Team(t.into());
    let mut sharp = Snapshot::new("sharp-feed", "theOddsApi", polled);
    let mut retail = Snapshot::new("retail-feed", "theOddsApi", polled);
    for (id, home, away, ml_home, ml_away, spread) in games {
        let event = Event::new(id, home, away, Some(kickoff));
        let (h, a) = (event.home.clone().unwrap(), event.away.clone().unwrap());
        sharp.quotes.extend([
            quote(&event, "pinnacle", Market::Moneyline, team(&h), None, ml_home, polled),
            quote(&event, "pinnacle", Market::Moneyline, team(&a), None, ml_away, polled),
            quote(&event, "pinnacle", Market::Spread, team(&h), Some(spread), -108, polled),
            quote(&event, "pinnacle", Market::Spread, team(&a), Some(-spread), -102, polled),
            quote(&event, "pinnacle", Market::Total, Selection::Over, Some(45.5), -110, polled),
            quote(&event, "pinnacle", Market::Total, Selection::Under, Some(45.5), -110, polled),
        ]);
        retail.quotes.extend([
            quote(&event, "fanduel", Market::Moneyline, team(&h), None, ml_home - 15, polled),
            quote(&event, "fanduel", Market::Moneyline, team(&a), None, ml_away + shift, polled),
            quote(&event, "fanduel", Market::Spread, team(&a), Some(-spread), 105, polled),
            quote(&event, "fanduel", Market::Total, Selection::Over, Some(45.5), 120, polled),
            quote(&event, "draftkings", Market::Moneyline, team(&a), None, ml_away + shift / 2, polled),
            quote(&event, "draftkings", Market::Spread, team(&h), Some(spread), 102, polled),
        ]);
        sharp.events.push(event.clone());
        retail.events.push(event);
    }
    store.write(&sharp).await.unwrap();
    store.write(&retail).await.unwrap();
}

/// `nflbet model --once` with the flags the operator renders for `model` (its status report
/// left out: no cluster here).
fn live_run(model: &Model) -> Output {
    let books = ["retail-feed".to_string(), "sharp-feed".to_string()];
    let args = model_args(model, &books, Deployed::stable(model), false, &OperatorConfig::default());
    assert!(args.contains(&"--cap-team".to_string()), "{args:?}");
    let out = Command::new(env!("CARGO_BIN_EXE_nflbet"))
        .args(args.iter().filter(|a| *a != "--report-status"))
        .arg("--once")
        .env_remove("NFLBET_STORE")
        .env_remove("NFLBET_GAMES")
        .env_remove("NFLBET_MODEL")
        .env_remove("NFLBET_NAMESPACE")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn records(dir: &Path) -> Vec<RecommendationRecord> {
    let mut out = Vec::new();
    let mut stack = vec![dir.join("recommendations/v1/consensus/stable")];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.to_string_lossy().ends_with(".json.gz") {
                let key = path.to_string_lossy().to_string();
                out.push(RecommendationRecord::decode(&key, &std::fs::read(&path).unwrap()).unwrap());
            }
        }
    }
    out.sort_by_key(|r| r.run_at);
    out
}

fn sorted(quotes: &[PricedQuote]) -> Vec<PricedQuote> {
    let mut q = quotes.to_vec();
    q.sort_by(|a, b| {
        (&a.event, a.market, a.selection, &a.book)
            .cmp(&(&b.event, b.market, b.selection, &b.book))
            .then(a.line.partial_cmp(&b.line).unwrap())
    });
    q
}

fn replay(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nflbet"))
        .arg("replay")
        .args(args)
        .env_remove("NFLBET_GAMES")
        .output()
        .unwrap()
}

#[test]
fn a_models_replay_over_its_snapshots_recommends_what_it_recommended_live() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("file://{}", dir.path().display());
    let manifest_path = dir.path().join("model.yaml");
    std::fs::write(&manifest_path, manifest(&url)).unwrap();
    let model: Model = serde_saphyr::from_str(&manifest(&url)).unwrap();

    // Two live runs, each after a round of snapshots (within the workload's 10-minute look-back).
    let store = SnapshotStore::open(&url, &S3Options::default()).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let first = Utc::now() - Duration::minutes(6);
    rt.block_on(write_round(&store, first, 40));
    live_run(&model);
    rt.block_on(write_round(&store, first + Duration::minutes(3), 25));
    live_run(&model);
    let live = records(dir.path());
    assert_eq!(live.len(), 2, "one record per live run");

    let replayed = tempfile::tempdir().unwrap();
    let records_url = format!("file://{}", replayed.path().display());
    let day = |t: DateTime<Utc>| t.date_naive().to_string();
    let out = replay(&[
        "--from",
        &day(first - Duration::days(1)),
        "--to",
        &day(Utc::now()),
        "--model-file",
        manifest_path.to_str().unwrap(),
        "--store",
        &url,
        "--records",
        &records_url,
        "--games",
        crate::support::games_file().to_str().unwrap(),
        "--output",
        "json",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["models"][0]["model"], "consensus", "{report}");
    assert_eq!(report["sportsbooks"], serde_json::json!(["retail-feed", "sharp-feed"]));
    let replay_records = records(replayed.path());

    let (mut staked, mut capped) = (0, 0);
    for l in &live {
        // The replay's run over exactly the snapshots the live run priced.
        let r = replay_records
            .iter()
            .find(|r| r.snapshots == l.snapshots)
            .unwrap_or_else(|| panic!("no replayed run over {:?}", l.snapshots));
        assert_eq!((r.model_version.as_str(), r.algorithm.as_str()), ("1.4.0", "marketConsensus"));
        assert_eq!(r.effective_bankroll, l.effective_bankroll);
        let (lq, rq) = (sorted(&l.recommendations), sorted(&r.recommendations));
        assert_eq!(lq.len(), rq.len(), "live {lq:#?}\nreplay {rq:#?}");
        for (a, b) in lq.iter().zip(&rq) {
            assert_eq!(
                (&a.event, a.market, a.selection, &a.book, a.line, a.american),
                (&b.event, b.market, b.selection, &b.book, b.line, b.american)
            );
            assert!((a.expected_value - b.expected_value).abs() < 1e-12, "{a:?}\n{b:?}");
            assert!((a.stake - b.stake).abs() < 1e-6, "{a:?}\n{b:?}");
            assert_eq!(a.bound, b.bound);
            assert_ne!(a.market, Market::Total, "the Model prices two markets");
            assert_ne!(a.book, "pinnacle", "never against the reference");
            staked += usize::from(a.stake > 0.0);
            capped += usize::from(a.bound.iter().any(|c| c.starts_with("team:") || c.starts_with("book:")));
        }
        // The predictions too: same games, same fair prices.
        assert_eq!(l.predictions.len(), r.predictions.len());
        for (a, b) in l.predictions.iter().zip(&r.predictions) {
            assert_eq!(a.event, b.event);
            for (fa, fb) in a.fair.iter().zip(&b.fair) {
                assert!((fa.win - fb.win).abs() < 1e-12 && fa.line == fb.line, "{fa:?} {fb:?}");
            }
        }
    }
    assert!(staked >= 4, "both runs recommend stakes: {staked}");
    assert!(capped >= 1, "the Model's exposure caps bind somewhere");
}

#[test]
fn model_flags_are_refused_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let games = crate::support::games_file();
    let games = games.to_str().unwrap();
    let base = ["--from", "2023", "--to", "2023", "--games", games];
    let path = dir.path().join("model.yaml");
    let text = manifest("file:///tmp/unused");
    std::fs::write(&path, &text).unwrap();
    let path = path.to_str().unwrap();
    let fails = |extra: &[&str], expect: &str| {
        let out = replay(&[&base[..], extra].concat());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{extra:?} succeeded");
        assert!(stderr.contains(expect), "{extra:?}: {stderr}");
    };
    fails(
        &["--model-file", path, "--model", "consensus"],
        "'--model-file <FILE>' cannot be used with '--model <NAME>'",
    );
    fails(&["--model-file", path, "--models", "elo"], "cannot be used with");
    fails(&["--model-file", path, "--kelly-fraction", "0.5"], "cannot be used with");
    fails(&["--model-file", "/nonexistent/model.yaml"], "cannot read --model-file /nonexistent/model.yaml");
    fails(&["--models", "consensus"], "use --model-file FILE or --model NAME");
    fails(&[], "--models");
    let book = dir.path().join("book.yaml");
    std::fs::write(
        &book,
        "apiVersion: betting.nflbet.dev/v1alpha1\nkind: Sportsbook\nmetadata: {name: fanduel}\nspec:\n  provider: genericJson\n  endpoint: https://feed.example/odds\n  markets: [{name: moneyline}]\n",
    )
    .unwrap();
    fails(&["--model-file", book.to_str().unwrap()], "holds no Model (it holds Sportsbook fanduel)");
    let invalid = dir.path().join("invalid.yaml");
    std::fs::write(&invalid, text.replace("kellyFraction: 0.5", "kellyFraction: 1.5")).unwrap();
    fails(&["--model-file", invalid.to_str().unwrap()], "is not valid:\n  error:");
    fails(&["-n", "betting", "--models", "elo"], "give --model");
}

/// Over closing lines an Elo Model replays with its own parameters and staking: changing the
/// K factor in the manifest changes the forecasts, and its value threshold and caps its bets.
#[test]
fn an_elo_model_replays_over_closing_lines_with_its_parameters() {
    let dir = tempfile::tempdir().unwrap();
    let games = crate::support::games_file();
    let elo = |k: f64, threshold: f64| {
        let path = dir.path().join(format!("elo-{k}-{threshold}.yaml"));
        std::fs::write(
            &path,
            format!(
                "apiVersion: betting.nflbet.dev/v1alpha1\nkind: Model\nmetadata: {{name: ratings}}\nspec:\n  algorithm: elo\n  version: 2.0.0\n  sportsbooks: {{names: [sharp]}}\n  markets: [moneyline]\n  elo: {{kFactor: {k}}}\n  staking: {{bankroll: 1000, kellyFraction: 0.25, maxStakePerBet: 0.01, valueThreshold: {threshold}}}\n"
            ),
        )
        .unwrap();
        let out = replay(&[
            "--from",
            "2022",
            "--to",
            "2022",
            "--model-file",
            path.to_str().unwrap(),
            "--games",
            games.to_str().unwrap(),
            "--output",
            "json",
        ]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
        let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        assert_eq!(report["settings"]["minEdge"].as_f64(), Some(threshold));
        assert_eq!(report["settings"]["policy"]["maxBet"].as_f64(), Some(0.01), "{}", report["settings"]);
        report["models"][0].clone()
    };
    let base = elo(20.0, 0.02);
    assert_eq!((base["name"].as_str(), base["version"].as_str()), (Some("ratings"), Some("2.0.0")));
    // One market: nothing scored or bet on spreads and totals.
    assert_eq!(base["spread"]["samples"], 0);
    assert_eq!(base["total"]["samples"], 0);
    assert!(base["betsByMarket"].as_object().unwrap().keys().all(|m| m == "moneyline"), "{base}");
    assert!(base["bets"]["bets"].as_u64().unwrap() > 10);
    let hot = elo(40.0, 0.02);
    assert_ne!(hot["moneyline"]["brier"], base["moneyline"]["brier"], "the K factor reaches the model");
    let picky = elo(20.0, 0.10);
    assert!(picky["bets"]["bets"].as_u64() < base["bets"]["bets"].as_u64(), "the threshold reaches the bets");
}

/// `--model NAME -n NAMESPACE` reads the Model from the cluster with the user's kubeconfig and
/// resolves its Sportsbook selector against the Sportsbooks there, as the operator does: the
/// replay prices the same books, and recommends what the same Model from a file does.
#[tokio::test]
async fn a_model_from_the_cluster_replays_the_books_its_selector_picks() {
    use kube::api::{Api, PostParams};
    use nflbet::crd::Sportsbook;
    let client = crate::support::client().await;
    crate::support::install_nflbet_crds(&client).await;
    let ns = crate::support::namespace(&client, "replay-model-cluster").await;
    let books: Api<Sportsbook> = Api::namespaced(client.clone(), &ns);
    for (name, tier) in [("sharp-feed", "sharp"), ("retail-feed", "retail"), ("other-feed", "retail")] {
        let book: Sportsbook = serde_json::from_value(serde_json::json!({
            "apiVersion": "betting.nflbet.dev/v1alpha1", "kind": "Sportsbook",
            "metadata": {"name": name, "labels": {"tier": tier}},
            "spec": {"provider": "genericJson", "endpoint": "http://127.0.0.1:9/odds", "markets": [{"name": "moneyline"}]}
        }))
        .unwrap();
        books.create(&PostParams::default(), &book).await.unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let url = format!("file://{}", dir.path().display());
    // By name and by label: retail-feed by name, sharp-feed by its label; other-feed by neither.
    let text = manifest(&url).replace("namespace: betting", &format!("namespace: {ns}")).replace(
        "names: [sharp-feed, retail-feed]",
        "names: [retail-feed]\n    selector: {matchLabels: {tier: sharp}}",
    );
    let model: Model = serde_saphyr::from_str(&text).unwrap();
    let models: Api<Model> = Api::namespaced(client.clone(), &ns);
    models.create(&PostParams::default(), &model).await.unwrap();

    let store = SnapshotStore::open(&url, &S3Options::default()).unwrap();
    write_round(&store, Utc::now() - Duration::minutes(5), 40).await;
    let kubeconfig = crate::support::kubeconfig_path();
    let games = crate::support::games_file();
    let day = |t: DateTime<Utc>| t.date_naive().to_string();
    let (from, to) = (day(Utc::now() - Duration::days(1)), day(Utc::now()));
    let common = [
        "--from",
        &from,
        "--to",
        &to,
        "--store",
        &url,
        "--games",
        games.to_str().unwrap(),
        "--output",
        "json",
    ];
    let json = |out: Output| -> serde_json::Value {
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_str(&stdout).unwrap()
    };
    let cluster_args = ["--model", "consensus", "-n", &ns, "--kubeconfig", kubeconfig.to_str().unwrap()];
    let from_cluster = json(
        tokio::task::spawn_blocking({
            let args: Vec<String> =
                [&common[..], &cluster_args[..]].concat().iter().map(|s| s.to_string()).collect();
            move || {
                Command::new(env!("CARGO_BIN_EXE_nflbet"))
                    .arg("replay")
                    .args(args)
                    .env_remove("KUBECONFIG")
                    .output()
                    .unwrap()
            }
        })
        .await
        .unwrap(),
    );
    assert_eq!(
        from_cluster["sportsbooks"],
        serde_json::json!(["retail-feed", "sharp-feed"]),
        "{from_cluster}"
    );

    // The same Model from a file, its books by name: the same report.
    let file = dir.path().join("model.yaml");
    std::fs::write(&file, manifest(&url)).unwrap();
    let from_file = json(replay(&[&common[..], &["--model-file", file.to_str().unwrap()]].concat()));
    let m = |r: &serde_json::Value| r["models"][0].clone();
    assert!(m(&from_cluster)["recommendations"].as_u64().unwrap() > 0, "{from_cluster}");
    assert_eq!(m(&from_cluster), m(&from_file));

    // A Model that is not there is named with its namespace.
    let out = Command::new(env!("CARGO_BIN_EXE_nflbet"))
        .arg("replay")
        .args(common)
        .args(["--model", "absent", "-n", &ns, "--kubeconfig", kubeconfig.to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains(&format!("no Model absent in namespace {ns}")),
        "{stderr}"
    );
    crate::support::delete_namespace(&client, &ns).await;
}
