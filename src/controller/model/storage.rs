//! Does every book a Model prices write its snapshots where the model reads them? Pure; the
//! Model controller reports the answer in the `StorageShared` condition (and in `Ready`), and
//! `nflbet validate-config` as findings. What "the same store" means is in
//! [`crate::controller::snapshot_store`].

use crate::controller::snapshot_store::StoreLocation;
use crate::crd::sportsbook::StorageSettings;

/// A book the model prices, and where it writes (`None`: not found, or unreadable).
#[derive(Clone, Debug, PartialEq)]
pub struct BookStore {
    pub name: String,
    pub writes: Option<StoreLocation>,
}

/// The answer, with what a person needs to fix it.
#[derive(Clone, Debug, PartialEq)]
pub enum StorageCheck {
    /// Every book writes where the model reads.
    Shared { reads: StoreLocation },
    /// These books write elsewhere: the model prices nothing from them.
    Mismatch { reads: StoreLocation, elsewhere: Vec<(String, StoreLocation)> },
    /// No book found writes elsewhere, but these could not be read (missing or unreadable).
    Unknown { reads: StoreLocation, unknown: Vec<String> },
    /// The model has no book to read.
    NoBooks,
}

/// Check the model's store (`model`) against the books it prices.
pub fn check(model: Option<&StorageSettings>, books: &[BookStore]) -> StorageCheck {
    let reads = StoreLocation::of(model);
    if books.is_empty() {
        return StorageCheck::NoBooks;
    }
    let elsewhere: Vec<(String, StoreLocation)> = books
        .iter()
        .filter_map(|b| b.writes.as_ref().filter(|w| !reads.sees(w)).map(|w| (b.name.clone(), w.clone())))
        .collect();
    let unknown: Vec<String> = books.iter().filter(|b| b.writes.is_none()).map(|b| b.name.clone()).collect();
    if !elsewhere.is_empty() {
        StorageCheck::Mismatch { reads, elsewhere }
    } else if !unknown.is_empty() {
        StorageCheck::Unknown { reads, unknown }
    } else {
        StorageCheck::Shared { reads }
    }
}

/// What to do about a mismatch, said once wherever one is reported.
pub const FIX: &str = "give every book the model's storage: the same url and persistentVolumeClaim, \
                       or the same S3 bucket, prefix and endpoint";

/// One book writing elsewhere, in a sentence.
pub fn book_writes_elsewhere(book: &str, writes: &StoreLocation, reads: &StoreLocation) -> String {
    format!("Sportsbook {book:?} writes its snapshots to {writes}, but the model reads {reads}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(v: serde_json::Value) -> StorageSettings {
        serde_json::from_value(v).unwrap()
    }

    fn book(name: &str, storage: Option<serde_json::Value>) -> BookStore {
        let s = storage.map(settings);
        BookStore { name: name.into(), writes: Some(StoreLocation::of(s.as_ref())) }
    }

    fn shared() -> serde_json::Value {
        serde_json::json!({"url": "file:///var/lib/nflbet/snapshots", "persistentVolumeClaim": "nflbet-snapshots"})
    }

    #[test]
    fn books_on_the_models_claim_are_shared() {
        let model = settings(shared());
        let c = check(Some(&model), &[book("fanduel", Some(shared())), book("inhouse", Some(shared()))]);
        assert!(matches!(c, StorageCheck::Shared { .. }), "{c:?}");
    }

    #[test]
    fn a_book_on_its_own_empty_dir_is_a_mismatch_naming_both_stores() {
        // examples/model-consensus.yaml with examples/sportsbook-inhouse-feed.yaml before the fix.
        let model = settings(shared());
        let c = check(Some(&model), &[book("fanduel", Some(shared())), book("inhouse-consensus", None)]);
        let StorageCheck::Mismatch { reads, elsewhere } = c else { panic!("{c:?}") };
        assert_eq!(elsewhere.len(), 1);
        let (name, writes) = &elsewhere[0];
        assert_eq!(
            book_writes_elsewhere(name, writes, &reads),
            "Sportsbook \"inhouse-consensus\" writes its snapshots to file:///var/lib/nflbet/snapshots on \
             the pod's own emptyDir (no persistentVolumeClaim), but the model reads \
             file:///var/lib/nflbet/snapshots on PersistentVolumeClaim nflbet-snapshots"
        );
    }

    #[test]
    fn a_model_on_its_own_empty_dir_reads_nobody() {
        let c = check(None, &[book("fanduel", None)]);
        assert!(matches!(&c, StorageCheck::Mismatch { elsewhere, .. } if elsewhere.len() == 1), "{c:?}");
    }

    #[test]
    fn s3_books_must_use_the_models_bucket_and_prefix() {
        let model = settings(serde_json::json!({"url": "s3://snaps/nfl"}));
        let c = check(
            Some(&model),
            &[
                book("fanduel", Some(serde_json::json!({"url": "s3://snaps/nfl/"}))),
                book("draftkings", Some(serde_json::json!({"url": "s3://snaps/nfl/draftkings"}))),
            ],
        );
        let StorageCheck::Mismatch { elsewhere, .. } = c else { panic!("{c:?}") };
        let names: Vec<&str> = elsewhere.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["draftkings"]);
    }

    #[test]
    fn unreadable_books_are_unknown_unless_another_mismatches_and_no_books_is_its_own_case() {
        let model = settings(shared());
        let missing = BookStore { name: "caesars".into(), writes: None };
        let c = check(Some(&model), &[book("fanduel", Some(shared())), missing.clone()]);
        assert!(matches!(&c, StorageCheck::Unknown { unknown, .. } if unknown == &["caesars"]), "{c:?}");
        let c = check(Some(&model), &[book("fanduel", None), missing]);
        assert!(matches!(c, StorageCheck::Mismatch { .. }), "{c:?}");
        assert_eq!(check(Some(&model), &[]), StorageCheck::NoBooks);
    }
}
