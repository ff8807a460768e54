//! Lenient scalars: feeds send numbers as numbers, as strings ("+120", "-3.5", "EVEN", "PK",
//! "3½"), or not at all. Deserialising into [`Loose`] never fails on such a value, so one odd
//! outcome becomes one rejected quote instead of a failed payload.

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A JSON number or string, kept as sent until validation interprets it.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Loose {
    Number(f64),
    Text(String),
    /// A boolean, array or object where a scalar was expected.
    Other,
}

impl<'de> Deserialize<'de> for Loose {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Loose;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number or a string")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Loose, E> {
                Ok(Loose::Number(v as f64))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Loose, E> {
                Ok(Loose::Number(v as f64))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Loose, E> {
                Ok(Loose::Number(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Loose, E> {
                Ok(Loose::Text(v.to_owned()))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Loose, E> {
                Ok(Loose::Other)
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut s: A) -> Result<Loose, A::Error> {
                while s.next_element::<de::IgnoredAny>()?.is_some() {}
                Ok(Loose::Other)
            }
            fn visit_map<A: de::MapAccess<'de>>(self, mut m: A) -> Result<Loose, A::Error> {
                while m.next_entry::<de::IgnoredAny, de::IgnoredAny>()?.is_some() {}
                Ok(Loose::Other)
            }
        }
        d.deserialize_any(V)
    }
}

impl Loose {
    /// Interpret as a point line: numbers as they are; strings with an optional sign, a `½`
    /// for .5, and `PK`/`pick`/`pick'em`/`EVEN` for a pick'em line of 0. Non-finite values are
    /// returned as such so validation can name them.
    pub fn as_line(&self) -> Option<f64> {
        match self {
            Loose::Number(x) => Some(*x),
            Loose::Text(t) => {
                let t = t.trim();
                let lower = t.to_ascii_lowercase();
                if matches!(lower.as_str(), "pk" | "pick" | "pick'em" | "pickem" | "even" | "ev") {
                    return Some(0.0);
                }
                let t = t.replace('½', ".5").replace("..5", ".5");
                let t = t.strip_prefix('+').unwrap_or(&t);
                t.parse::<f64>().ok()
            }
            Loose::Other => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines() {
        let p = |s: &str| serde_json::from_str::<Loose>(s).unwrap().as_line();
        assert_eq!(p("-3.5"), Some(-3.5));
        assert_eq!(p("0"), Some(0.0));
        assert_eq!(p("\"+3\""), Some(3.0));
        assert_eq!(p("\"3½\""), Some(3.5));
        assert_eq!(p("\"-6½\""), Some(-6.5));
        assert_eq!(p("\"PK\""), Some(0.0));
        assert_eq!(p("\"pick'em\""), Some(0.0));
        assert!(p("\"NaN\"").unwrap().is_nan());
        assert!(p("\"inf\"").unwrap().is_infinite());
        assert_eq!(p("\"abc\""), None);
        assert_eq!(p("true"), None);
        assert_eq!(p("[1]"), None);
    }
}
