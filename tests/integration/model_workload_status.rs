//! The status report on the real control plane: `nflbet model --once --report-status` (the
//! built binary, KUBECONFIG of the local control plane) writes `status.calibration.stable` and a
//! bounded `status.summary` by server-side apply as `nflbet-model-stable`, next to a
//! `status.calibration.candidate` written by `nflbet-model-candidate`, which it must not clobber.

use crate::support;

use chrono::{Duration, TimeZone, Utc};
use kube::api::{Api, PostParams};
use nflbet::crd::model::{CalibrationScore, Model};
use nflbet::domain::games::load_games;
use nflbet::domain::market::{Market, Selection as DSelection};
use nflbet::feed::quote::{Event, Quote, Selection};
use nflbet::feed::snapshot::{S3Options, Snapshot, SnapshotStore};
use nflbet::workloads::model::Role;
use nflbet::workloads::model::record::{FairEntry, Prediction, RecommendationRecord};
use nflbet::workloads::model::status::{StatusReport, StatusReporter};
use nflbet::workloads::model::store::RecordStore;
use std::process::Command;

fn implied(a: i32) -> f64 {
    let a = f64::from(a);
    if a < 0.0 { -a / (-a + 100.0) } else { 100.0 / (a + 100.0) }
}

fn quote(event: &Event, book: &str, sel: &str, american: i32) -> Quote {
    let decimal = if american > 0 { 1.0 + american as f64 / 100.0 } else { 1.0 + 100.0 / (-american) as f64 };
    Quote {
        event_id: event.id.clone(),
        game_id: None,
        book: book.into(),
        market: Market::Moneyline,
        selection: Selection::Team(sel.into()),
        line: None,
        american,
        decimal,
        observed_at: Utc::now() - Duration::minutes(2),
    }
}

fn candidate_score(samples: i64) -> StatusReport {
    StatusReport {
        calibration: Some(CalibrationScore {
            version: "1.1.0".into(),
            parameters: None,
            brier: 0.2,
            log_loss: 0.6,
            samples,
        }),
        summary: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_report_writes_its_role_and_keeps_the_other() {
    let client = support::client().await;
    support::install_nflbet_crds(&client).await;
    let ns = support::namespace(&client, "model-workload-status").await;
    let api: Api<Model> = Api::namespaced(client.clone(), &ns);
    let model: Model = serde_json::from_value(serde_json::json!({
        "apiVersion": "betting.nflbet.dev/v1alpha1",
        "kind": "Model",
        "metadata": { "name": "consensus" },
        "spec": {
            "algorithm": "marketConsensus",
            "version": "1.0.0",
            "sportsbooks": { "names": ["odds-feed"] },
            "staking": { "bankroll": 10000.0, "kellyFraction": 0.25 }
        }
    }))
    .unwrap();
    api.create(&PostParams::default(), &model).await.unwrap();

    // The candidate's workload reports first.
    let candidate = StatusReporter::with_client(client.clone(), &ns, "consensus", Role::Candidate);
    candidate.write(&candidate_score(42)).await.unwrap();

    // Stored predictions of the stable version for week 1 of 2023, made the day before.
    let games_path = support::games_file();
    let games = load_games(&games_path).unwrap();
    let week1: Vec<_> = games
        .iter()
        .filter(|g| {
            g.season == 2023 && g.week == 1 && g.home_moneyline.is_some() && g.away_moneyline.is_some()
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("file://{}", dir.path().display());
    let mut predictions = Vec::new();
    let (mut n, mut brier) = (0i64, 0.0);
    for g in &week1 {
        let (ih, ia) = (implied(g.home_moneyline.unwrap()), implied(g.away_moneyline.unwrap()));
        let p = ih / (ih + ia);
        let entry =
            |selection, win| FairEntry { market: Market::Moneyline, selection, line: None, win, push: 0.0 };
        predictions.push(Prediction {
            event: g.game_id.clone(),
            game_id: Some(g.game_id.clone()),
            event_id: format!("desk-{}", g.game_id),
            home: g.home_team.clone(),
            away: g.away_team.clone(),
            kickoff: None,
            fair: vec![entry(DSelection::Home, p), entry(DSelection::Away, 1.0 - p)],
        });
        let (hs, as_) = (g.home_score.unwrap(), g.away_score.unwrap());
        if hs != as_ {
            let y = if hs > as_ { 1.0 } else { 0.0 };
            n += 1;
            brier += (p - y) * (p - y);
        }
    }
    let brier = brier / n as f64;
    let record = RecommendationRecord {
        format: "nflbet.recommendations".into(),
        version: 1,
        model: "consensus".into(),
        role: "stable".into(),
        model_version: "1.0.0".into(),
        parameters: None,
        algorithm: "marketConsensus".into(),
        run_at: Utc.with_ymd_and_hms(2023, 9, 6, 12, 0, 0).unwrap(),
        effective_bankroll: 10000.0,
        traffic_share: 1.0,
        shadow: false,
        snapshots: Default::default(),
        predictions,
        recommendations: vec![],
    };
    RecordStore::open(&url, &S3Options::default()).unwrap().write(&record).await.unwrap();

    // Today's slate: six games, each with a retail price better than the sharp one on both
    // sides, so there are more positive edges than the summary may carry.
    let store = SnapshotStore::open(&url, &S3Options::default()).unwrap();
    let mut snap = Snapshot::new("odds-feed", "theOddsApi", Utc::now() - Duration::minutes(1));
    for (i, (home, away)) in
        [("KC", "BAL"), ("PHI", "GB"), ("ATL", "PIT"), ("BUF", "ARI"), ("CHI", "TEN"), ("CIN", "NE")]
            .into_iter()
            .enumerate()
    {
        let event = Event {
            id: format!("evt-{i}").into(),
            game_id: None,
            season: None,
            week: None,
            home: Some(home.into()),
            away: Some(away.into()),
            home_name: home.into(),
            away_name: away.into(),
            kickoff: Some(Utc::now() + Duration::days(2)),
        };
        snap.quotes.extend([
            quote(&event, "pinnacle", home, -150),
            quote(&event, "pinnacle", away, 130),
            quote(&event, "fanduel", home, -120),
            quote(&event, "fanduel", away, 160 + 5 * i as i32),
        ]);
        snap.events.push(event);
    }
    store.write(&snap).await.unwrap();

    let out = Command::new(env!("CARGO_BIN_EXE_nflbet"))
        .args(["model", "--once", "--report-status", "--namespace", &ns, "--model", "consensus"])
        .args(["--algorithm", "marketConsensus", "--version", "1.0.0", "--sportsbooks", "odds-feed"])
        .args(["--reference-books", "pinnacle", "--margin-method", "proportional"])
        .args(["--bankroll", "10000", "--kelly-fraction", "0.25", "--store", &url])
        .args(["--games", games_path.to_str().unwrap(), "--calibration-window", "30000h"])
        .env("KUBECONFIG", support::kubeconfig_path())
        .env_remove("NFLBET_STORE")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(!stderr.contains("status report failed"), "{stderr}");

    let m = api.get_status("consensus").await.unwrap();
    let status = m.status.clone().expect("status written");
    let cal = status.calibration.clone().expect("calibration");
    let stable = cal.stable.expect("stable calibration");
    assert_eq!((stable.version.as_str(), stable.samples), ("1.0.0", n));
    assert!((stable.brier - brier).abs() < 1e-12, "{} vs {brier}", stable.brier);
    let kept = cal.candidate.expect("candidate calibration kept");
    assert_eq!((kept.version.as_str(), kept.samples), ("1.1.0", 42));
    let summary = status.summary.expect("summary");
    assert_eq!(summary.top_edges.len(), 10, "12 positive edges, bounded to 10");
    assert_eq!(summary.top_edges[0].book, "fanduel");
    assert_eq!(summary.top_edges[0].selection, "NE", "the longest retail price is the best edge");
    assert!(summary.top_edges.windows(2).all(|w| w[0].expected_value >= w[1].expected_value));
    assert_eq!(summary.markets_priced, Some(6));
    assert!(summary.total_stake.unwrap() > 0.0);
    assert!(summary.last_run_time.is_some());
    let managers: Vec<String> = m
        .metadata
        .managed_fields
        .unwrap_or_default()
        .iter()
        .filter(|f| f.subresource.as_deref() == Some("status"))
        .filter_map(|f| f.manager.clone())
        .collect();
    assert!(managers.contains(&"nflbet-model-stable".to_string()), "{managers:?}");
    assert!(managers.contains(&"nflbet-model-candidate".to_string()), "{managers:?}");

    // The candidate reports again; the stable entry and the summary stay.
    candidate.write(&candidate_score(43)).await.unwrap();
    let status = api.get_status("consensus").await.unwrap().status.unwrap();
    let cal = status.calibration.unwrap();
    assert_eq!(cal.candidate.unwrap().samples, 43);
    assert_eq!(cal.stable.unwrap().samples, n);
    assert_eq!(status.summary.unwrap().top_edges.len(), 10);

    // A candidate without samples any more withdraws its entry instead of inventing one.
    candidate.write(&StatusReport::default()).await.unwrap();
    let status = api.get_status("consensus").await.unwrap().status.unwrap();
    let cal = status.calibration.unwrap();
    assert!(cal.candidate.is_none());
    assert_eq!(cal.stable.unwrap().samples, n);
}
