//! `hack/shared-data.sh`, the way a fresh clone without `../shared` gets its test data: downloads
//! from the pinned URLs into a cache outside the clone, verified by SHA-256. Here the "upstream"
//! is a real HTTP server on 127.0.0.1 serving copies of the shared files from a temporary
//! directory (`NFLBET_SHARED_MIRROR`), and the cache is a temporary directory
//! (`NFLBET_CACHE_DIR`). No test here needs the control plane, so it is a binary of its own.

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The files the script provides, relative to the shared layout.
const FILES: [&str; 6] = [
    "third_party/prometheus-operator-crds/monitoring.coreos.com_alertmanagerconfigs.yaml",
    "third_party/prometheus-operator-crds/monitoring.coreos.com_podmonitors.yaml",
    "third_party/prometheus-operator-crds/monitoring.coreos.com_prometheusrules.yaml",
    "third_party/prometheus-operator-crds/monitoring.coreos.com_servicemonitors.yaml",
    "third_party/prometheus-operator-crds/LICENSE",
    "data/nfl_games.csv",
];

/// The shared files as the developers have them (`NFLBET_SHARED_DIR`, which `make test` sets, or
/// `../shared`): the originals the mirror serves copies of.
fn originals() -> PathBuf {
    let dir = std::env::var_os("NFLBET_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared"));
    for f in FILES {
        assert!(
            dir.join(f).is_file(),
            "{} missing: set NFLBET_SHARED_DIR (see README, 'Test data')",
            dir.join(f).display()
        );
    }
    dir
}

/// A copy of the shared layout in a temporary directory, served on 127.0.0.1; counts requests.
struct Mirror {
    root: tempfile::TempDir,
    url: String,
    requests: Arc<AtomicUsize>,
}

async fn mirror() -> Mirror {
    let root = tempfile::tempdir().unwrap();
    let from = originals();
    for f in FILES {
        let to = root.path().join(f);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(from.join(f), &to).unwrap();
    }
    let requests = Arc::new(AtomicUsize::new(0));
    let state = (root.path().to_path_buf(), requests.clone());
    let app = axum::Router::new().fallback(serve).with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Mirror { root, url, requests }
}

async fn serve(
    State((root, requests)): State<(PathBuf, Arc<AtomicUsize>)>,
    req: Request,
) -> impl IntoResponse {
    requests.fetch_add(1, Ordering::SeqCst);
    let rel = req.uri().path().trim_start_matches('/');
    if rel.split('/').any(|c| c == ".." || c.is_empty()) {
        return (StatusCode::BAD_REQUEST, Vec::new());
    }
    match std::fs::read(root.join(rel)) {
        Ok(body) => (StatusCode::OK, body),
        Err(_) => (StatusCode::NOT_FOUND, Vec::new()),
    }
}

/// `bash hack/shared-data.sh ARGS` with the mirror and cache given, and no shared directory of
/// the caller's leaking in.
async fn script(args: &[&str], mirror_url: &str, cache: &Path) -> Output {
    let mut cmd = Command::new("bash");
    cmd.arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("hack/shared-data.sh"))
        .args(args)
        .env("NFLBET_SHARED_MIRROR", mirror_url)
        .env("NFLBET_CACHE_DIR", cache)
        .env_remove("NFLBET_SHARED_DIR");
    tokio::task::spawn_blocking(move || cmd.output().expect("bash runs")).await.unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The directory printed on standard output.
fn printed_dir(o: &Output) -> PathBuf {
    assert!(o.status.success(), "shared-data.sh failed: {}", stderr(o));
    let out = String::from_utf8(o.stdout.clone()).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 1, "one line, the directory: {out:?}");
    PathBuf::from(lines[0])
}

#[tokio::test]
async fn downloads_verifies_and_then_serves_from_the_cache() {
    let m = mirror().await;
    let cache = tempfile::tempdir().unwrap();

    let first = script(&["--fetch"], &m.url, cache.path()).await;
    let dir = printed_dir(&first);
    assert!(dir.starts_with(cache.path()), "{} is in the cache {}", dir.display(), cache.path().display());
    for f in FILES {
        assert_eq!(
            std::fs::read(dir.join(f)).unwrap(),
            std::fs::read(m.root.path().join(f)).unwrap(),
            "{f} downloaded byte for byte"
        );
    }
    assert_eq!(m.requests.load(Ordering::SeqCst), FILES.len(), "one request per file");
    assert!(stderr(&first).contains("6 file(s) downloaded and verified"), "{}", stderr(&first));
    let leftovers: Vec<_> =
        walk(&dir).into_iter().filter(|p| p.to_string_lossy().ends_with(".part")).collect();
    assert!(leftovers.is_empty(), "no partial downloads left: {leftovers:?}");

    // A second run is a cache hit: the same directory, not one request more.
    let second = script(&["--fetch"], &m.url, cache.path()).await;
    assert_eq!(printed_dir(&second), dir);
    assert_eq!(m.requests.load(Ordering::SeqCst), FILES.len(), "the cache answered: {}", stderr(&second));
    assert!(stderr(&second).contains("using the cached, verified copy"), "{}", stderr(&second));

    // A cached file that no longer matches its checksum is fetched again, alone.
    std::fs::write(dir.join("data/nfl_games.csv"), "game_id\n").unwrap();
    let third = script(&["--fetch"], &m.url, cache.path()).await;
    assert_eq!(printed_dir(&third), dir);
    assert_eq!(m.requests.load(Ordering::SeqCst), FILES.len() + 1, "{}", stderr(&third));
    assert_eq!(
        std::fs::read(dir.join("data/nfl_games.csv")).unwrap(),
        std::fs::read(m.root.path().join("data/nfl_games.csv")).unwrap()
    );
}

#[tokio::test]
async fn a_download_that_does_not_match_its_checksum_is_refused_and_not_cached() {
    let m = mirror().await;
    // One changed byte in the served games file.
    let served = m.root.path().join("data/nfl_games.csv");
    let mut bytes = std::fs::read(&served).unwrap();
    let last = bytes.len() - 2;
    bytes[last] ^= 1;
    std::fs::write(&served, bytes).unwrap();
    let cache = tempfile::tempdir().unwrap();

    let out = script(&["--fetch"], &m.url, cache.path()).await;
    assert!(!out.status.success(), "a tampered file is refused");
    assert!(out.stdout.is_empty(), "no directory printed: {:?}", String::from_utf8_lossy(&out.stdout));
    let err = stderr(&out);
    assert!(err.contains("refusing") && err.contains("data/nfl_games.csv"), "{err}");
    assert!(
        err.contains("expected 1001c69e362c29f2c11ba4b0bde11279d694f02a9817f8d5e3ef7920a338541d"),
        "{err}"
    );
    let cached: Vec<PathBuf> = walk(cache.path())
        .into_iter()
        .filter(|p| p.ends_with("nfl_games.csv") || p.to_string_lossy().contains(".part"))
        .collect();
    assert!(cached.is_empty(), "the refused file is not in the cache: {cached:?}");
}

#[tokio::test]
async fn offline_says_what_to_do() {
    // A port nothing listens on: bind one, then close it.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let cache = tempfile::tempdir().unwrap();
    let out = script(&["--fetch"], &format!("http://127.0.0.1:{port}"), cache.path()).await;
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("cannot download http://127.0.0.1:"), "{err}");
    assert!(
        err.contains("offline?") && err.contains("NFLBET_SHARED_DIR") && err.contains("NFLBET_SHARED_MIRROR"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_directory_named_by_the_user_is_used_as_it_is_or_refused() {
    let m = mirror().await;
    let cache = tempfile::tempdir().unwrap();
    let run = |dir: PathBuf| {
        let mut cmd = Command::new("bash");
        cmd.arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("hack/shared-data.sh"))
            .env("NFLBET_SHARED_DIR", dir)
            .env("NFLBET_SHARED_MIRROR", &m.url)
            .env("NFLBET_CACHE_DIR", cache.path());
        cmd.output().unwrap()
    };
    let out = run(m.root.path().to_path_buf());
    assert_eq!(printed_dir(&out), m.root.path());
    let empty = tempfile::tempdir().unwrap();
    let out = run(empty.path().to_path_buf());
    assert!(!out.status.success());
    assert!(stderr(&out).contains("lacks the test data"), "{}", stderr(&out));
    assert_eq!(m.requests.load(Ordering::SeqCst), 0, "nothing downloaded for a directory named by the user");
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
