//! `metav1.Condition` as the three kinds' statuses carry it, with its short words interned.
//!
//! The same fields and JSON as k8s-openapi's `Condition`, except that `type`, `status` and
//! `reason` are [`Word`]s: a handful of distinct values repeated on every object. The operator
//! caches every object it reconciles; 10,000 Sportsbooks carry 40,000 conditions, and as owned
//! strings those three fields were 120,000 small allocations (about 3.8 MB) spelling perhaps
//! thirty words. The message, which differs from object to object, stays a `String`.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;
use std::ops::Deref;
use std::sync::{LazyLock, Mutex};

/// One condition of an object's status (`metav1.Condition`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// When `status` last changed.
    pub last_transition_time: Time,
    /// Human-readable details.
    #[serde(default)]
    pub message: String,
    /// The generation this condition was set for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// CamelCase reason for the last transition.
    #[serde(default)]
    pub reason: Word,
    /// `True`, `False` or `Unknown`.
    #[serde(default)]
    pub status: Word,
    /// The condition's type (`Ready`, …).
    #[serde(default, rename = "type")]
    pub type_: Word,
}

/// A short string from a small vocabulary: a condition's type, status or reason.
///
/// The operator's own words are `&'static str` constants and cost nothing. A word read from the
/// API server is interned: each distinct one is allocated once for the life of the process and
/// shared by every object that carries it. At most 4,096 (`WORDS_MAX`) distinct words are interned, so
/// that a writer inventing a new reason on every update cannot grow the table without bound; past
/// that a word is an owned string like any other.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Word(Cow<'static, str>);

/// The most distinct words interned.
const WORDS_MAX: usize = 4096;

static WORDS: LazyLock<Interner> = LazyLock::new(|| Interner::new(WORDS_MAX));

/// Distinct words, each leaked once, up to `max` of them.
struct Interner {
    words: Mutex<HashSet<&'static str>>,
    max: usize,
}

impl Interner {
    fn new(max: usize) -> Interner {
        Interner { words: Mutex::default(), max }
    }

    fn word(&self, s: &str) -> Word {
        let mut words = self.words.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(w) = words.get(s) {
            return Word(Cow::Borrowed(w));
        }
        if words.len() >= self.max {
            return Word(Cow::Owned(s.to_owned()));
        }
        let w: &'static str = Box::leak(s.to_owned().into_boxed_str());
        words.insert(w);
        Word(Cow::Borrowed(w))
    }
}

impl Word {
    /// The interned word equal to `s` (see [`Word`]).
    pub fn interned(s: &str) -> Word {
        WORDS.word(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<&'static str> for Word {
    fn from(s: &'static str) -> Word {
        Word(Cow::Borrowed(s))
    }
}

impl From<String> for Word {
    fn from(s: String) -> Word {
        Word::interned(&s)
    }
}

impl Deref for Word {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Word {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for Word {
    fn eq(&self, other: &str) -> bool {
        *self.0 == *other
    }
}

impl PartialEq<&str> for Word {
    fn eq(&self, other: &&str) -> bool {
        *self.0 == **other
    }
}

impl PartialEq<Word> for &str {
    fn eq(&self, other: &Word) -> bool {
        **self == *other.0
    }
}

impl fmt::Debug for Word {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for Word {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for Word {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Word {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Word, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Word;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }

            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Word, E> {
                Ok(Word::interned(s))
            }
        }
        d.deserialize_str(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1 as meta;

    #[test]
    fn a_condition_reads_and_writes_the_json_of_metav1_condition() {
        let json = serde_json::json!({
            "lastTransitionTime": "2026-09-10T17:00:00Z",
            "message": "1/1 scraper replicas ready",
            "observedGeneration": 3,
            "reason": "Running",
            "status": "True",
            "type": "Ready",
        });
        let ours: Condition = serde_json::from_value(json.clone()).unwrap();
        let theirs: meta::Condition = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(serde_json::to_value(&ours).unwrap(), json);
        assert_eq!(serde_json::to_value(&theirs).unwrap(), json, "the same JSON as k8s-openapi's");
        assert!(ours.type_ == "Ready" && ours.status == "True" && ours.reason == "Running");

        // Written by someone else with fields left out: read as k8s-openapi reads them.
        let sparse = serde_json::json!({"lastTransitionTime": "2026-09-10T17:00:00Z", "type": "Other"});
        let ours: Condition = serde_json::from_value(sparse.clone()).unwrap();
        let theirs: meta::Condition = serde_json::from_value(sparse).unwrap();
        assert_eq!(serde_json::to_value(&ours).unwrap(), serde_json::to_value(&theirs).unwrap());
        assert!(serde_json::from_value::<Condition>(serde_json::json!({"type": "Ready"})).is_err());
    }

    #[test]
    fn equal_words_read_from_json_share_one_allocation() {
        let a: Word = serde_json::from_str("\"SomeReasonOnlyThisTestUses\"").unwrap();
        let b: Word = serde_json::from_value(serde_json::json!("SomeReasonOnlyThisTestUses")).unwrap();
        assert_eq!(a, b);
        assert!(std::ptr::eq(a.as_str(), b.as_str()), "one copy of the word");
        assert_eq!(Word::from(String::from("SomeReasonOnlyThisTestUses")).as_ptr(), a.as_ptr());
        let ready = Word::from("Ready");
        assert_eq!(ready, "Ready");
        assert_eq!("Ready", ready, "compared either way round");
    }

    #[test]
    fn past_the_bound_words_are_owned_not_interned() {
        let words = Interner::new(2);
        words.word("First");
        words.word("Second");
        let (a, b) = (words.word("Third"), words.word("Third"));
        assert_eq!(a, b);
        assert!(!std::ptr::eq(a.as_str(), b.as_str()), "not interned: two owned copies");
        assert_eq!(words.words.lock().unwrap().len(), 2, "the table stops growing");
        assert!(std::ptr::eq(words.word("First").as_str(), words.word("First").as_str()));
    }
}
