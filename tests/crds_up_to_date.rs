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
