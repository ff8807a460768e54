//! `crds/` is generated from the Rust types (`make crds`); this fails when it is stale.

use std::path::Path;

#[test]
fn committed_crds_match_the_rust_types() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("crds");
    let mut stale = Vec::new();
    for (file, crd) in nflbet::crd::all() {
        let want = nflbet::crd::to_yaml(&crd);
        let have = std::fs::read_to_string(dir.join(file)).unwrap_or_default();
        if have != want {
            stale.push(file);
        }
    }
    let mut committed: Vec<String> = std::fs::read_dir(&dir)
        .expect("crds/ exists")
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    committed.sort();
    let mut expected: Vec<String> = nflbet::crd::all().into_iter().map(|(f, _)| f.to_string()).collect();
    expected.sort();
    assert_eq!(committed, expected, "crds/ holds exactly one file per CRD; run `make crds`");
    assert!(stale.is_empty(), "crds/{stale:?} differ from the Rust types; run `make crds` and commit");
}

#[test]
fn api_reference_matches_the_rust_types() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/api.md");
    let crds: Vec<_> = nflbet::crd::all().into_iter().map(|(_, c)| c).collect();
    let want = nflbet::crd::api_doc::render(&crds);
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(have == want, "docs/api.md is stale; run `make crds` and commit");
    // It documents what users hit most: the CEL messages.
    assert!(want.contains("polling.interval must be at least 5s"));
    assert!(want.contains("staking.kellyFraction must be in (0, 1]"));
}
