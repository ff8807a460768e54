//! Which objects a copy has to move: pure, from two listings and the target's manifest.
//!
//! A store's listing gives each object's size and a change token (its ETag and modification
//! time); the token is used only to notice that an object is *unchanged since the last verified
//! copy*, never as a content hash. Content is compared by SHA-256, recorded in the target's
//! [`Manifest`] when an object was copied or compared.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Key of the manifest, relative to the store URL. It is written last, in one PUT (S3) or one
/// staged file renamed into place (file://), so it is complete or absent.
pub const MANIFEST_KEY: &str = "nflbet-backup/manifest-v1.json";
pub const MANIFEST_FORMAT: &str = "nflbet.backup-manifest";
pub const MANIFEST_VERSION: u32 = 1;

/// One object in a listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listed {
    /// Key relative to the store URL.
    pub key: String,
    pub size: u64,
    /// ETag and modification time as the store reports them: changes when the object is rewritten.
    pub token: String,
}

/// What the manifest knows of one object at the target.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    pub size: u64,
    /// Lowercase hex SHA-256 of the stored bytes.
    pub sha256: String,
    /// The source's change token when this entry was verified.
    pub source_token: String,
}

/// SHA-256 of every object a copy verified at the target, written last by every run.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub format: String,
    pub version: u32,
    pub objects: BTreeMap<String, Entry>,
}

impl Manifest {
    pub fn new(objects: BTreeMap<String, Entry>) -> Manifest {
        Manifest { format: MANIFEST_FORMAT.into(), version: MANIFEST_VERSION, objects }
    }

    /// Parse a stored manifest, refusing another format or version.
    pub fn parse(bytes: &[u8]) -> Result<Manifest, String> {
        let m: Manifest = serde_json::from_slice(bytes).map_err(|e| format!("not a backup manifest: {e}"))?;
        if m.format != MANIFEST_FORMAT || m.version != MANIFEST_VERSION {
            return Err(format!("unsupported manifest format {:?} version {}", m.format, m.version));
        }
        Ok(m)
    }
}

/// What to do with one source object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Absent at the target, or of another size there: copy.
    Copy,
    /// Same size at the target and not verified since the source last changed (an interrupted
    /// run left no manifest, or the source was rewritten): hash both sides, copy if they differ.
    Compare,
    /// Verified equal by an earlier run and unchanged at the source since: nothing to read.
    Skip(Entry),
}

/// The plan of one copy, source order kept.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    pub steps: Vec<(Listed, Action)>,
}

impl Plan {
    pub fn count(&self, f: impl Fn(&Action) -> bool) -> usize {
        self.steps.iter().filter(|(_, a)| f(a)).count()
    }
}

/// Decide every source object's action. `target` holds the target's listing (key → size);
/// `manifest` the target's manifest, empty when there is none.
pub fn plan(source: &[Listed], target: &BTreeMap<String, u64>, manifest: &Manifest) -> Plan {
    let steps = source
        .iter()
        .filter(|l| l.key != MANIFEST_KEY)
        .map(|l| {
            let action = match target.get(&l.key) {
                None => Action::Copy,
                Some(size) if *size != l.size => Action::Copy,
                Some(_) => match manifest.objects.get(&l.key) {
                    Some(e) if e.size == l.size && e.source_token == l.token => Action::Skip(e.clone()),
                    _ => Action::Compare,
                },
            };
            (l.clone(), action)
        })
        .collect();
    Plan { steps }
}

/// The manifest a run leaves: entries this run verified, plus earlier entries of objects still
/// at the target that this run did not touch (a backup keeps what the source has since pruned).
pub fn next_manifest(
    old: &Manifest,
    target: &BTreeMap<String, u64>,
    verified: BTreeMap<String, Entry>,
) -> Manifest {
    let mut objects: BTreeMap<String, Entry> = old
        .objects
        .iter()
        .filter(|(k, e)| target.get(*k) == Some(&e.size))
        .map(|(k, e)| (k.clone(), e.clone()))
        .collect();
    objects.extend(verified);
    Manifest::new(objects)
}

/// Lowercase hex SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed(key: &str, size: u64, token: &str) -> Listed {
        Listed { key: key.into(), size, token: token.into() }
    }

    fn entry(size: u64, token: &str) -> Entry {
        Entry { size, sha256: "ab".repeat(32), source_token: token.into() }
    }

    #[test]
    fn missing_or_resized_objects_are_copied_verified_ones_skipped_the_rest_compared() {
        let source = vec![
            listed("a", 10, "t1"),
            listed("b", 10, "t1"),
            listed("c", 10, "t1"),
            listed("d", 10, "t2"),
            listed("e", 10, "t1"),
        ];
        let target: BTreeMap<String, u64> =
            [("b", 11), ("c", 10), ("d", 10), ("e", 10)].map(|(k, s)| (k.to_string(), s)).into();
        let manifest = Manifest::new(
            [("c", entry(10, "t1")), ("d", entry(10, "t1")), ("b", entry(10, "t1"))]
                .map(|(k, e)| (k.to_string(), e))
                .into(),
        );
        let p = plan(&source, &target, &manifest);
        let actions: Vec<(&str, &Action)> = p.steps.iter().map(|(l, a)| (l.key.as_str(), a)).collect();
        assert_eq!(
            actions,
            vec![
                ("a", &Action::Copy),
                // Another size at the target, whatever the manifest says.
                ("b", &Action::Copy),
                ("c", &Action::Skip(entry(10, "t1"))),
                // Rewritten at the source since it was verified.
                ("d", &Action::Compare),
                // At the target with no manifest entry: an interrupted run copied it.
                ("e", &Action::Compare),
            ]
        );
        assert_eq!(p.count(|a| matches!(a, Action::Copy)), 2);
    }

    #[test]
    fn the_manifest_itself_is_never_copied() {
        let source = vec![listed(MANIFEST_KEY, 5, "t"), listed("x", 1, "t")];
        let p = plan(&source, &BTreeMap::new(), &Manifest::default());
        assert_eq!(p.steps.len(), 1);
        assert_eq!(p.steps[0].0.key, "x");
    }

    #[test]
    fn the_next_manifest_keeps_entries_of_objects_still_at_the_target() {
        let old = Manifest::new(
            [("kept", entry(3, "t")), ("gone", entry(3, "t")), ("resized", entry(3, "t"))]
                .map(|(k, e)| (k.to_string(), e))
                .into(),
        );
        let target: BTreeMap<String, u64> =
            [("kept", 3), ("resized", 4), ("new", 5)].map(|(k, s)| (k.to_string(), s)).into();
        let verified = [("new".to_string(), entry(5, "u"))].into();
        let next = next_manifest(&old, &target, verified);
        assert_eq!(next.objects.keys().collect::<Vec<_>>(), vec!["kept", "new"]);
        let parsed = Manifest::parse(&serde_json::to_vec(&next).unwrap()).unwrap();
        assert_eq!(parsed, next);
    }

    #[test]
    fn manifests_of_another_format_are_refused() {
        assert!(
            Manifest::parse(br#"{"format":"x","version":1,"objects":{}}"#)
                .unwrap_err()
                .contains("unsupported")
        );
        assert!(Manifest::parse(b"[]").unwrap_err().contains("not a backup manifest"));
    }

    #[test]
    fn sha256_is_the_standard_digest() {
        assert_eq!(sha256(b"abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
