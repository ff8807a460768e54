//! `make demo` end to end, non-interactively: its own control plane (target/demo-env), the
//! operator, a sample feed, books, a model and a route; snapshots, edges, `nflbet status`, and a
//! book disabled by `kubectl patch`.

use std::process::Command;

#[test]
fn demo_runs_end_to_end() {
    let root = env!("CARGO_MANIFEST_DIR");
    let out = Command::new("bash")
        .arg(format!("{root}/hack/demo.sh"))
        .env("NFLBET_BIN", env!("CARGO_BIN_EXE_nflbet"))
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run hack/demo.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "make demo failed\n--- stdout\n{stdout}\n--- stderr\n{stderr}");

    let bets: u32 = stdout
        .lines()
        .find_map(|l| {
            l.strip_prefix("recommended ")
                .and_then(|r| r.split_whitespace().next())
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or_else(|| panic!("no pricing summary in:\n{stdout}"));
    assert!(bets > 0, "the consensus model finds edges on the generous book:\n{stdout}");
    let snapshots: u32 = stdout
        .lines()
        .find_map(|l| {
            l.strip_prefix("Snapshots: ")
                .and_then(|r| r.split_whitespace().next())
                .and_then(|n| n.parse().ok())
        })
        .expect("snapshot count");
    assert!(snapshots >= 3, "one snapshot per book at least: {snapshots}");
    assert!(stdout.contains("healthy: 5 resources in namespace betting: 5 healthy"), "{stdout}");
    assert!(stdout.contains("scraper replicas: 0"), "{stdout}");
    assert!(stdout.contains("alert rules: removed (nflbet-sportsbook-fanduel)"), "{stdout}");
    assert!(stdout.contains("4 healthy, 0 unhealthy, 1 stopped"), "{stdout}");
}
