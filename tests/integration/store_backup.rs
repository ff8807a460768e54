//! `nflbet store backup|restore|verify`, the built binary, between a file:// store and the local
//! S3 server (moto): incremental copies verified by SHA-256, an interruption half way through a
//! backup (a loopback proxy that stops passing bytes), a damaged backup caught on verify and
//! restore, and the restore drill: a week of snapshots and recommendation records backed up,
//! the primary wiped and restored, and the replay over the restored store identical bet for bet.

use crate::replay_snapshots::{american, decimal, quote, slate};
use crate::support;
use crate::support::proxy::Proxy;
use crate::support::s3::S3Server;
use chrono::{DateTime, Duration, NaiveTime, TimeZone, Utc};
use futures::TryStreamExt;
use nflbet::domain::games::load_games;
use nflbet::feed::quote::Event;
use nflbet::feed::snapshot::{S3Options, Snapshot, SnapshotStore, open_object_store};
use nflbet::store_backup::plan::{is_manifest, sha256};
use nflbet::workloads::model::record::{FORMAT, FairEntry, Prediction, RecommendationRecord, VERSION};
use nflbet::workloads::model::store::RecordStore;
use object_store::ObjectStoreExt;
use object_store::path::Path;
use rand::Rng;
use std::collections::BTreeMap;
use std::process::{Command, Output};

/// Run `nflbet store ...` with the local S3 server's test credentials and nothing else from the
/// environment's AWS settings.
fn store_cmd(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nflbet"))
        .arg("store")
        .args(args)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        // The local S3 server is on loopback over plain http, which the default policy refuses.
        .env("NFLBET_S3_CREDENTIAL_HOSTS", "http://127.0.0.1")
        .env("NFLBET_ALLOW_ADDRESSES", "127.0.0.0/8")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_ENDPOINT")
        .output()
        .unwrap()
}

fn text(out: &Output) -> (String, String) {
    (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// `copied N objects (X MiB), skipped M unchanged, F failed in T s` → (N, M, F).
fn summary(stdout: &str) -> (usize, usize, usize) {
    let re = regex::Regex::new(
        r"copied (\d+) objects \([0-9.]+ MiB\), skipped (\d+) unchanged, (\d+) failed in [0-9.]+ s",
    )
    .unwrap();
    let c = re.captures(stdout).unwrap_or_else(|| panic!("no summary line in {stdout:?}"));
    (c[1].parse().unwrap(), c[2].parse().unwrap(), c[3].parse().unwrap())
}

/// Every object of a store: key → its bytes.
async fn contents(url: &str, s3: &S3Options) -> BTreeMap<String, Vec<u8>> {
    let (store, base) = open_object_store(url, s3).unwrap();
    let prefix = (!base.as_ref().is_empty()).then_some(&base);
    let metas: Vec<_> = store.list(prefix).try_collect().await.unwrap();
    let mut out = BTreeMap::new();
    for m in metas {
        let bytes = store.get(&m.location).await.unwrap().bytes().await.unwrap();
        let key = m.location.as_ref().strip_prefix(base.as_ref()).unwrap().trim_start_matches('/');
        out.insert(key.to_string(), bytes.to_vec());
    }
    out
}

fn without_manifest(mut m: BTreeMap<String, Vec<u8>>) -> BTreeMap<String, Vec<u8>> {
    m.retain(|k, _| !is_manifest(k));
    m
}

/// A recommendations record of `model` at `at` with one prediction per game.
fn record(model: &str, at: DateTime<Utc>, games: &[(String, f64)]) -> RecommendationRecord {
    RecommendationRecord {
        format: FORMAT.into(),
        version: VERSION,
        model: model.into(),
        role: "stable".into(),
        model_version: "1.0.0".into(),
        parameters: None,
        algorithm: "elo".into(),
        run_at: at,
        effective_bankroll: 10_000.0,
        traffic_share: 1.0,
        shadow: false,
        snapshots: Default::default(),
        predictions: games
            .iter()
            .map(|(id, p)| Prediction {
                event: id.clone(),
                game_id: Some(id.clone()),
                event_id: id.clone(),
                home: "KC".into(),
                away: "BAL".into(),
                kickoff: None,
                fair: vec![FairEntry {
                    market: nflbet::domain::market::Market::Moneyline,
                    selection: nflbet::domain::market::Selection::Home,
                    line: None,
                    win: *p,
                    push: 0.0,
                }],
            })
            .collect(),
        recommendations: vec![],
    }
}

/// 30 snapshots of ~100 games with random prices (so they do not compress to nothing) and 6
/// recommendation records, in a file:// store.
async fn fill_primary(url: &str) -> usize {
    let store = SnapshotStore::open(url, &S3Options::default()).unwrap();
    let records = RecordStore::open(url, &S3Options::default()).unwrap();
    let mut rng = rand::rng();
    let start = Utc.with_ymd_and_hms(2025, 9, 7, 12, 0, 0).unwrap();
    for i in 0..30 {
        let polled = start + Duration::minutes(10 * i);
        let mut snap = Snapshot::new("sharp", "theOddsApi", polled);
        for _ in 0..100 {
            let event = Event::new(
                &format!("{:032x}", rng.random::<u128>()),
                "Kansas City Chiefs",
                "Baltimore Ravens",
                None,
            );
            snap.quotes.push(quote(&event, "KC", rng.random_range(-400..-101), polled));
            snap.quotes.push(quote(&event, "BAL", rng.random_range(101..400), polled));
            snap.events.push(event);
        }
        store.write(&snap).await.unwrap();
    }
    for i in 0..6 {
        let games: Vec<(String, f64)> =
            (0..20).map(|g| (format!("2025_01_G{g}"), rng.random_range(0.2..0.8))).collect();
        records.write(&record("elo", start + Duration::hours(i), &games)).await.unwrap();
    }
    36
}

/// The backup is cut half way (the proxy lets through half the bytes, then holds the rest): the
/// run fails within its timeout with a clear error, leaves only whole objects, and the next run
/// copies only the rest. Then: nothing left to copy, one new object, a restore, a damaged backup.
#[test]
fn backup_to_s3_resumes_after_an_interruption_and_restores_verified() {
    support::install_crypto();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let primary = tempfile::tempdir().unwrap();
    let primary_url = format!("file://{}", primary.path().display());
    let total = rt.block_on(fill_primary(&primary_url));
    let server = rt.block_on(async {
        let server = S3Server::start();
        server.create_bucket("backup").await;
        server.create_bucket("empty").await;
        server
    });
    let s3 = support::s3::options(&server.endpoint);
    let original = rt.block_on(contents(&primary_url, &S3Options::default()));
    assert_eq!(original.len(), total);
    let bytes: u64 = original.values().map(|b| b.len() as u64).sum();

    // Interrupted: half the objects' bytes pass, then the proxy holds everything.
    let proxy = rt.block_on(Proxy::start(format!("127.0.0.1:{}", server.port).parse().unwrap()));
    proxy.pass_only(bytes / 2);
    let through_proxy = format!("http://{}", proxy.addr());
    let backup = ["backup", "--from", &primary_url, "--to", "s3://backup/nfl"];
    let mut args = backup.to_vec();
    args.extend(["--to-s3-endpoint", &through_proxy, "--timeout", "3s", "--concurrency", "1"]);
    let out = store_cmd(&args);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("did not answer within 3s")
            && stderr.contains("run the same command again to resume")
            && !stderr.contains("testing"),
        "{stderr}"
    );
    let (copied_before, _, _) = summary(&stdout);
    drop(proxy);

    // Only whole objects at the target, and no manifest: it is written last.
    let partial = rt.block_on(contents("s3://backup/nfl", &s3));
    assert!(!partial.keys().any(|k| is_manifest(k)));
    assert!(
        partial.len() >= copied_before && !partial.is_empty() && partial.len() < total,
        "{} of {total}",
        partial.len()
    );
    for (key, body) in &partial {
        assert_eq!(sha256(body), sha256(&original[key]), "{key} at the target is not the source's");
    }

    // Resumed, straight to the server: only the rest is copied.
    let mut args = backup.to_vec();
    args.extend(["--to-s3-endpoint", &server.endpoint]);
    let out = store_cmd(&args);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert_eq!(summary(&stdout), (total - partial.len(), partial.len(), 0), "{stdout}");
    assert_eq!(without_manifest(rt.block_on(contents("s3://backup/nfl", &s3))), original);

    // Nothing changed: nothing read or copied. One new snapshot: one copied.
    let out = store_cmd(&args);
    assert_eq!(summary(&text(&out).0), (0, total, 0));
    rt.block_on(async {
        let store = SnapshotStore::open(&primary_url, &S3Options::default()).unwrap();
        store.write(&Snapshot::new("sharp", "theOddsApi", Utc::now())).await.unwrap();
    });
    let out = store_cmd(&args);
    assert!(out.status.success());
    assert_eq!(summary(&text(&out).0), (1, total, 0));
    let original = rt.block_on(contents(&primary_url, &S3Options::default()));

    let out = store_cmd(&["verify", "s3://backup/nfl", "--s3-endpoint", &server.endpoint]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!(
            "verified 31 snapshots and 6 recommendation records ({} checked against the manifest), 0 bad",
            total + 1
        )),
        "{stdout}"
    );

    // Restore into an empty file:// store: the primary, byte for byte.
    let restored = tempfile::tempdir().unwrap();
    let restored_url = format!("file://{}/store", restored.path().display());
    let restore = |to: &str| {
        store_cmd(&[
            "restore",
            "--from",
            "s3://backup/nfl",
            "--from-s3-endpoint",
            &server.endpoint,
            "--to",
            to,
        ])
    };
    let out = restore(&restored_url);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert_eq!(summary(&stdout), (total + 1, 0, 0));
    assert_eq!(without_manifest(rt.block_on(contents(&restored_url, &S3Options::default()))), original);
    let out = store_cmd(&["verify", &restored_url]);
    assert!(out.status.success(), "{:?}", text(&out));

    // A damaged object in the backup: verify names it, a restore refuses to copy it.
    let damaged = original.keys().find(|k| k.starts_with("v1/")).unwrap().clone();
    rt.block_on(async {
        let (store, _) = open_object_store("s3://backup", &s3).unwrap();
        let mut body = original[&damaged].clone();
        let last = body.len() - 1;
        body[last] ^= 0xff;
        store.put(&Path::from(format!("nfl/{damaged}")), body.into()).await.unwrap();
    });
    let out = store_cmd(&["verify", "s3://backup/nfl", "--s3-endpoint", &server.endpoint]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(stderr.contains(&format!("bad: {damaged}: SHA-256")), "{stderr}");
    assert!(stdout.contains(", 1 bad in"), "{stdout}");
    let again = tempfile::tempdir().unwrap();
    let out = restore(&format!("file://{}", again.path().display()));
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert_eq!(summary(&stdout), (total, 0, 1));
    assert!(stderr.contains(&format!("failed: {damaged}: ")) && stderr.contains("damaged"), "{stderr}");
    assert!(!again.path().join(&damaged).exists());

    // A bucket that holds no finished backup is not restored from.
    let out = store_cmd(&[
        "restore",
        "--from",
        "s3://empty",
        "--from-s3-endpoint",
        &server.endpoint,
        "--to",
        &restored_url,
    ]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr.contains("holds no backup manifest"), "{stderr}");
}

#[test]
fn verify_names_every_bad_object() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("file://{}", dir.path().display());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let at = Utc.with_ymd_and_hms(2025, 9, 7, 12, 0, 0).unwrap();
    let torn = rt.block_on(async {
        let store = SnapshotStore::open(&url, &S3Options::default()).unwrap();
        store.write(&Snapshot::new("sharp", "theOddsApi", at)).await.unwrap();
        let key =
            store.write(&Snapshot::new("sharp", "theOddsApi", at + Duration::minutes(1))).await.unwrap();
        RecordStore::open(&url, &S3Options::default()).unwrap().write(&record("elo", at, &[])).await.unwrap();
        key
    });
    let torn_path = dir.path().join(&torn);
    let body = std::fs::read(&torn_path).unwrap();
    std::fs::write(&torn_path, &body[..body.len() / 2]).unwrap();
    std::fs::write(dir.path().join("notes.txt"), "hello").unwrap();
    // A snapshot under another book's key.
    let elsewhere = SnapshotStore::key_for("retail", at).unwrap();
    std::fs::create_dir_all(dir.path().join(&elsewhere).parent().unwrap()).unwrap();
    std::fs::copy(dir.path().join(SnapshotStore::key_for("sharp", at).unwrap()), dir.path().join(&elsewhere))
        .unwrap();

    let out = store_cmd(&["verify", &url]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(stderr.contains(&format!("bad: {torn}: cannot decode the snapshot")), "{stderr}");
    assert!(stderr.contains("bad: notes.txt: not a key nflbet writes"), "{stderr}");
    assert!(stderr.contains(&format!("bad: {elsewhere}: holds the snapshot of sharp")), "{stderr}");
    assert!(
        stdout.contains(
            "verified 1 snapshots and 1 recommendation records (0 checked against the manifest), 3 bad"
        ),
        "{stdout}"
    );

    let missing = dir.path().join("typo");
    let out = store_cmd(&["backup", "--from", &format!("file://{}", missing.display()), "--to", &url]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).1.contains("typo is not a directory"), "{:?}", text(&out));
    assert!(!missing.exists(), "a source is never created");

    let out = store_cmd(&["verify", "ftp://example/x"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).1.contains("expected file:///path or s3://bucket[/prefix]"), "{:?}", text(&out));
}

fn replay(url: &str, games: &std::path::Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nflbet"))
        .args(["replay", "--from", "2023-09-05", "--to", "2023-09-13", "--models", "elo,marketConsensus"])
        .args(["--store", url, "--sportsbooks", "sharp", "--output", "json", "--games"])
        .arg(games)
        .output()
        .unwrap()
}

/// The restore drill (docs/operations.md): a week of snapshots every three hours and the
/// model's records, backed up to S3; the primary wiped and restored; the replay over the
/// restored store is the replay over the original, bet for bet.
#[test]
fn restore_drill_replays_identically_bet_for_bet() {
    support::install_crypto();
    let games_path = support::games_file();
    let games = load_games(&games_path).unwrap();
    let week: Vec<_> = slate(&games).into_iter().filter(|g| g.week == 1).collect();
    assert!(week.len() >= 14, "{} games in week 1", week.len());
    let kickoff_of = |g: &nflbet::domain::games::Game| {
        g.gameday.and_time(NaiveTime::from_hms_opt(17, 0, 0).unwrap()).and_utc()
    };
    let primary = tempfile::tempdir().unwrap();
    let url = format!("file://{}", primary.path().display());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (snapshots, records) = rt.block_on(async {
        let store = SnapshotStore::open(&url, &S3Options::default()).unwrap();
        let recs = RecordStore::open(&url, &S3Options::default()).unwrap();
        let (mut snapshots, mut records) = (0, 0);
        let mut polled = Utc.with_ymd_and_hms(2023, 9, 5, 0, 0, 0).unwrap();
        while polled < Utc.with_ymd_and_hms(2023, 9, 12, 0, 0, 0).unwrap() {
            let mut snap = Snapshot::new("sharp", "theOddsApi", polled);
            let mut forecasts = Vec::new();
            for g in week.iter().filter(|g| kickoff_of(g) > polled) {
                let kickoff = kickoff_of(g);
                let (home, away) = (g.home_moneyline.unwrap(), g.away_moneyline.unwrap());
                // Opening prices (5% longer at home) until six hours before kickoff.
                let (home, away) = if polled < kickoff - Duration::hours(6) {
                    (american(decimal(home) * 1.05), american(decimal(away) / 1.05))
                } else {
                    (home, away)
                };
                let event = Event::new(&g.game_id, &g.home_team, &g.away_team, Some(kickoff));
                snap.quotes.push(quote(&event, &g.home_team, home, polled));
                snap.quotes.push(quote(&event, &g.away_team, away, polled));
                snap.events.push(event);
                let (h, a) = (1.0 / decimal(home), 1.0 / decimal(away));
                forecasts.push((g.game_id.clone(), h / (h + a)));
            }
            if !snap.events.is_empty() {
                store.write(&snap).await.unwrap();
                recs.write(&record("consensus", polled, &forecasts)).await.unwrap();
                snapshots += 1;
                records += 1;
            }
            polled += Duration::hours(3);
        }
        (snapshots, records)
    });
    assert!(snapshots >= 40, "{snapshots} snapshots");
    let before = replay(&url, &games_path);
    let (report_before, stderr) = text(&before);
    assert!(before.status.success(), "{report_before}\n{stderr}");
    let report_before: serde_json::Value = serde_json::from_str(&report_before).unwrap();
    let original = rt.block_on(contents(&url, &S3Options::default()));

    let server = S3Server::start();
    rt.block_on(server.create_bucket("drill"));
    let out = store_cmd(&[
        "backup",
        "--from",
        &url,
        "--to",
        "s3://drill/nfl",
        "--to-s3-endpoint",
        &server.endpoint,
    ]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert_eq!(summary(&stdout), (snapshots + records, 0, 0));

    // The primary is lost.
    std::fs::remove_dir_all(primary.path()).unwrap();
    std::fs::create_dir(primary.path()).unwrap();
    let lost = replay(&url, &games_path);
    assert!(!lost.status.success(), "nothing to replay in a wiped store");

    let out = store_cmd(&[
        "restore",
        "--from",
        "s3://drill/nfl",
        "--from-s3-endpoint",
        &server.endpoint,
        "--to",
        &url,
    ]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert_eq!(summary(&stdout), (snapshots + records, 0, 0));
    let out = store_cmd(&["verify", &url]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!("verified {snapshots} snapshots and {records} recommendation records")),
        "{stdout}"
    );
    assert_eq!(without_manifest(rt.block_on(contents(&url, &S3Options::default()))), original);

    let after = replay(&url, &games_path);
    let (report_after, stderr) = text(&after);
    assert!(after.status.success(), "{report_after}\n{stderr}");
    let report_after: serde_json::Value = serde_json::from_str(&report_after).unwrap();
    let models = report_before["models"].as_array().unwrap();
    assert_eq!(models.len(), 2);
    for (b, a) in models.iter().zip(report_after["models"].as_array().unwrap()) {
        let (placed_b, placed_a) =
            (b["bets"]["placed"].as_array().unwrap(), a["bets"]["placed"].as_array().unwrap());
        assert_eq!(placed_b.len(), placed_a.len(), "{}", b["model"]);
        for (bb, ba) in placed_b.iter().zip(placed_a) {
            assert_eq!(bb, ba, "bet for bet");
        }
    }
    let placed = |r: &serde_json::Value| -> usize {
        r["models"].as_array().unwrap().iter().map(|m| m["bets"]["placed"].as_array().unwrap().len()).sum()
    };
    assert!(placed(&report_before) >= 3, "the drill compares real bets: {report_before}");
    assert_eq!(report_after, report_before);
}
