//! A JSON string read in place: borrowed from the payload bytes when it has no escape sequence,
//! owned only when serde_json had to unescape it (`"Caf\u00e9"`, `"A \"B\""`).
//!
//! The providers' payloads are mostly strings (ids, keys, team names, timestamps); reading them as
//! `String` cost one allocation and one copy each. A bare `&str` cannot hold an unescaped string,
//! and serde's own `Cow<str>` is always owned inside an `Option`, hence this type.

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use std::borrow::Cow;
use std::fmt;
use std::ops::Deref;

/// A JSON string, borrowed from the payload where it can be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JsonStr<'a>(pub Cow<'a, str>);

impl Deref for JsonStr<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for JsonStr<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = JsonStr<'de>;
            // The same words as `String`'s, so schema errors read as before.
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(JsonStr(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(JsonStr(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(JsonStr(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn borrows_plain_strings_and_unescapes_the_rest() {
        let body = br#"["Kansas City Chiefs", "Caf\u00e9 \"Bills\"", null]"#;
        let v: Vec<Option<JsonStr>> = serde_json::from_slice(body).unwrap();
        assert!(matches!(&v[0], Some(JsonStr(Cow::Borrowed("Kansas City Chiefs")))));
        assert!(matches!(&v[1], Some(JsonStr(Cow::Owned(s))) if s == "Café \"Bills\""));
        assert_eq!(v[2], None);
    }

    #[test]
    fn a_non_string_is_refused_like_a_string_field() {
        let e = serde_json::from_str::<JsonStr>("5").unwrap_err().to_string();
        let want = serde_json::from_str::<String>("5").unwrap_err().to_string();
        assert_eq!(e, want);
    }
}
