//! Which objects a copy has to move: pure, from two listings and the target's manifest.
//!
//! A store's listing gives each object's size and a change token (its ETag and modification
//! time); the token is used only to notice that an object is *unchanged since the last verified
//! copy*, never as a content hash. Content is compared by SHA-256, recorded in the target's
//! [`Manifest`] when an object was copied or compared.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Prefix of the manifest's shards, relative to the store URL. The manifest is kept in one shard
/// per day of keys ([`shard_of`]), so a season of snapshots never makes one huge object and an
/// hourly run rewrites one or two small ones. Each shard is written after the objects it
/// describes, in one PUT (S3) or one staged file renamed into place (file://): complete or absent.
pub const MANIFEST_PREFIX: &str = "nflbet-backup/manifest-v1/";
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

/// Whether `key` is one of the manifest's shards (never copied as data).
pub fn is_manifest(key: &str) -> bool {
    key.starts_with(MANIFEST_PREFIX)
}

/// Key of the shard that records `key`: its directory without the last level, i.e. one shard per
/// day of snapshots (`v1/{book}/{YYYY}/{MM}/{DD}/{HH}/…` → `…/{DD}`) or of records; keys with
/// fewer levels share the root shard.
pub fn shard_of(key: &str) -> String {
    let dirs: Vec<&str> = key.split('/').collect();
    let keep = dirs.len().saturating_sub(2);
    if keep == 0 {
        format!("{MANIFEST_PREFIX}root.json")
    } else {
        format!("{MANIFEST_PREFIX}{}.json", dirs[..keep].join("/"))
    }
}

impl Manifest {
    pub fn new(objects: BTreeMap<String, Entry>) -> Manifest {
        Manifest { format: MANIFEST_FORMAT.into(), version: MANIFEST_VERSION, objects }
    }

    /// The shards of this manifest, by shard key.
    pub fn shards(&self) -> BTreeMap<String, Manifest> {
        let mut out: BTreeMap<String, Manifest> = BTreeMap::new();
        for (k, e) in &self.objects {
            out.entry(shard_of(k)).or_default().objects.insert(k.clone(), e.clone());
        }
        out.into_iter().map(|(k, m)| (k, Manifest::new(m.objects))).collect()
    }

    /// The shards of `self` that differ from those of `old` (an emptied shard included, empty).
    pub fn changed_shards(&self, old: &Manifest) -> Vec<(String, Manifest)> {
        let (new, old) = (self.shards(), old.shards());
        let mut out: Vec<(String, Manifest)> =
            new.iter().filter(|(k, m)| old.get(*k) != Some(m)).map(|(k, m)| (k.clone(), m.clone())).collect();
        out.extend(
            old.keys().filter(|k| !new.contains_key(*k)).map(|k| (k.clone(), Manifest::new(BTreeMap::new()))),
        );
        out
    }

    /// Parse one stored shard, refusing another format or version and entries of keys that do
    /// not belong to it (`shard`: its key).
    pub fn parse_shard(shard: &str, bytes: &[u8]) -> Result<Manifest, String> {
        let m = Manifest::parse(bytes)?;
        match m.objects.keys().find(|k| shard_of(k) != shard) {
            Some(k) => Err(format!("records {k}, which belongs to shard {}", shard_of(k))),
            None => Ok(m),
        }
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
        .filter(|l| !is_manifest(&l.key))
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
        let source = vec![listed(&shard_of("x"), 5, "t"), listed("x", 1, "t")];
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
    fn the_manifest_is_sharded_by_day_and_only_changed_shards_are_rewritten() {
        let day = "v1/sharp/2025/09/07";
        assert_eq!(shard_of(&format!("{day}/12/1.json.gz")), format!("{MANIFEST_PREFIX}{day}.json"));
        assert_eq!(
            shard_of("recommendations/v1/elo/stable/2025/09/07/12/1.json.gz"),
            format!("{MANIFEST_PREFIX}recommendations/v1/elo/stable/2025/09/07.json")
        );
        assert_eq!(shard_of("notes.txt"), format!("{MANIFEST_PREFIX}root.json"));
        assert_eq!(shard_of("a/b"), format!("{MANIFEST_PREFIX}root.json"));
        assert!(is_manifest(&shard_of("notes.txt")) && !is_manifest("notes.txt"));

        let keys = [
            format!("{day}/12/1.json.gz"),
            format!("{day}/13/2.json.gz"),
            "v1/sharp/2025/09/08/00/3.json.gz".into(),
        ];
        let old = Manifest::new(keys.iter().map(|k| (k.clone(), entry(1, "t"))).collect());
        let mut new = old.clone();
        new.objects.insert(format!("{day}/14/4.json.gz"), entry(1, "t"));
        new.objects.remove("v1/sharp/2025/09/08/00/3.json.gz");
        let changed = new.changed_shards(&old);
        let names: Vec<&str> = changed.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            names,
            [format!("{MANIFEST_PREFIX}{day}.json"), format!("{MANIFEST_PREFIX}v1/sharp/2025/09/08.json")]
        );
        assert_eq!(changed[0].1.objects.len(), 3);
        assert!(changed[1].1.objects.is_empty());
        assert!(new.changed_shards(&new).is_empty());

        let shard = &changed[0].0;
        let bytes = serde_json::to_vec(&changed[0].1).unwrap();
        assert_eq!(Manifest::parse_shard(shard, &bytes).unwrap(), changed[0].1);
        assert!(
            Manifest::parse_shard(&shard_of("notes.txt"), &bytes).unwrap_err().contains("belongs to shard")
        );
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
