//! YAML read the way kubectl reads it, so `validate-config` judges the JSON the API server will
//! actually receive.
//!
//! kubectl (v1.36: `k8s.io/apimachinery` → `sigs.k8s.io/yaml` v1.6 → `go.yaml.in/yaml/v2`)
//! converts each YAML document to JSON before sending it, and go-yaml v2 resolves plain
//! (unquoted) scalars by YAML 1.1 rules, not the YAML 1.2 core schema most Rust crates use:
//!
//! | unquoted | kubectl sends | YAML 1.2 core |
//! |---|---|---|
//! | `y Y yes Yes YES on On ON` | `true` | the string |
//! | `n N no No NO off Off OFF` | `false` | the string |
//! | `0755` (leading zero) | `493` (octal) | `755` |
//! | `0o17`, `0x1F`, `0b101`, `1_000`, `+5` | `15`, `31`, `5`, `1000`, `5` | partly strings |
//! | `1e3`, `08` | `1000`, `8` (floats that JSON prints as integers) | `1000.0` / `8` |
//! | `~`, `null`, `Null`, `NULL`, empty | `null` | `null` |
//! | `2024-01-01` | the string (go-yaml keeps timestamps as text in untyped data) | the string |
//!
//! Spellings in other cases (`yEs`, `tRUE`) are strings. Quoted and block scalars are always
//! strings unless an explicit tag (`!!int "12"`) says otherwise. Map keys become strings: `1` →
//! `"1"`, `yes` → `"true"`; a null key is refused. `<<` merge keys are applied (earlier merged
//! maps win over later ones; keys written in the mapping win over merged ones written before
//! them). `.inf` and `.nan` cannot be sent: JSON has no such numbers, and kubectl refuses them.
//!
//! The parser is `granit-parser`, the event parser under `serde-saphyr` (see docs/cli.md for why
//! these crates); this module only resolves scalars and builds `serde_json::Value`s.

use serde_json::{Map, Number, Value};
use serde_saphyr::granit_parser::{Event, Parser, ScalarStyle, Tag};
use std::collections::HashMap;

/// A plain scalar that kubectl does not send as text: where it is, what was written, and what
/// it became. `validate-config` uses these to explain type errors ("quote it") and to note
/// octal numbers.
#[derive(Clone, Debug, PartialEq)]
pub struct Reading {
    /// Field path as the schema check writes it, e.g. `spec.markets[1].name`.
    pub path: String,
    /// The scalar as written.
    pub text: String,
    pub value: Value,
}

impl Reading {
    /// Why this scalar is not a string, for a schema error at its path.
    pub fn hint(&self) -> String {
        let t = &self.text;
        let what = match &self.value {
            Value::Bool(b) if !matches!(t.to_ascii_lowercase().as_str(), "true" | "false") => {
                return format!(
                    "kubectl reads YAML 1.1, where the unquoted {t} is the boolean {b}, as are y, yes, \
                     on (true) and n, no, off (false) in lower, Title or UPPER case: quote it, \"{t}\", \
                     to keep the text"
                );
            }
            Value::Bool(b) => format!("the boolean {b}"),
            Value::Null => "null".to_string(),
            Value::Number(n) => format!("the number {n}"),
            _ => return String::new(),
        };
        format!("kubectl reads the unquoted {t} as {what}: quote it, \"{t}\", to keep the text")
    }

    /// An integer written with a leading zero, which kubectl (YAML 1.1) reads as octal.
    pub fn is_octal(&self) -> bool {
        let digits = self.text.trim_start_matches(['+', '-']).replace('_', "");
        digits.len() > 1
            && digits.starts_with('0')
            && digits.bytes().all(|b| b.is_ascii_digit())
            && self.value.is_i64()
            && digits.parse::<i64>().ok() != self.value.as_i64().map(i64::abs)
    }
}

/// One YAML document as kubectl would send it.
#[derive(Debug)]
pub struct Decoded {
    pub value: Value,
    /// Plain scalars that became booleans, numbers or null, by path.
    pub readings: Vec<Reading>,
}

/// Split a YAML stream into documents and convert each as kubectl does. A syntax error ends the
/// stream (the parser cannot resynchronise after it), so it is the last item.
pub fn documents(text: &str) -> Vec<Result<Decoded, String>> {
    let mut out = Vec::new();
    let mut builder = Builder::default();
    for event in Parser::new_from_str(text) {
        let event = match event {
            Ok((event, _span)) => event,
            Err(e) => {
                out.push(Err(e.to_string()));
                return out;
            }
        };
        match builder.event(event) {
            Ok(Some(doc)) => out.push(Ok(doc)),
            Ok(None) => {}
            Err(e) => {
                out.push(Err(e));
                // Skip to the next document: the error is this document's, not the stream's.
                builder = Builder { skipping: true, ..Builder::default() };
            }
        }
    }
    out
}

/// A node under construction.
enum Frame {
    Seq { items: Vec<Value>, anchor: usize },
    Map { map: Map<String, Value>, key: Option<Key>, anchor: usize },
}

/// A mapping key once read: a string, or the merge key `<<`.
enum Key {
    Str(String),
    Merge,
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    /// Path segments of the frames on the stack (a key or an index per frame).
    anchors: HashMap<usize, Value>,
    root: Option<Value>,
    readings: Vec<Reading>,
    /// After an error inside a document: ignore events until the next document starts.
    skipping: bool,
}

impl Builder {
    fn event(&mut self, event: Event<'_>) -> Result<Option<Decoded>, String> {
        if self.skipping {
            if matches!(event, Event::DocumentStart(..)) {
                self.skipping = false;
            } else {
                return Ok(None);
            }
        }
        match event {
            Event::DocumentStart(..) => {
                self.stack.clear();
                self.anchors.clear();
                self.root = None;
                self.readings.clear();
            }
            Event::DocumentEnd => {
                let value = self.root.take().unwrap_or(Value::Null);
                return Ok(Some(Decoded { value, readings: std::mem::take(&mut self.readings) }));
            }
            Event::Scalar(text, style, anchor, tag) => {
                let plain = style == ScalarStyle::Plain;
                let tag = tag.as_deref().map(tag_name);
                let path = self.path();
                // A key position: keep the key as kubectl would turn it into a string.
                if let Some(Frame::Map { key: key @ None, .. }) = self.stack.last_mut() {
                    if text == "<<" && (plain && tag.is_none() || tag.as_deref() == Some("!!merge")) {
                        *key = Some(Key::Merge);
                        return Ok(None);
                    }
                    let value = scalar(&text, plain, tag.as_deref())?;
                    let k = key_string(&value, &text)?;
                    if let Some(Frame::Map { key, .. }) = self.stack.last_mut() {
                        *key = Some(Key::Str(k));
                    }
                    if anchor != 0 {
                        self.anchors.insert(anchor, value);
                    }
                    return Ok(None);
                }
                let value = scalar(&text, plain, tag.as_deref())?;
                if plain && !value.is_string() && !text.is_empty() {
                    self.readings.push(Reading { path, text: text.to_string(), value: value.clone() });
                }
                if anchor != 0 {
                    self.anchors.insert(anchor, value.clone());
                }
                self.add(value)?;
            }
            Event::Alias(id) => {
                let value = self.anchors.get(&id).cloned().ok_or("an alias to an unknown anchor")?;
                if let Some(Frame::Map { key: key @ None, .. }) = self.stack.last_mut() {
                    *key = Some(Key::Str(key_string(&value, "")?));
                    return Ok(None);
                }
                self.add(value)?;
            }
            Event::SequenceStart(_, anchor, tag) => {
                self.check_collection_key("a sequence")?;
                check_collection_tag(tag.as_deref(), "seq")?;
                self.stack.push(Frame::Seq { items: Vec::new(), anchor });
            }
            Event::MappingStart(_, anchor, tag) => {
                self.check_collection_key("a mapping")?;
                check_collection_tag(tag.as_deref(), "map")?;
                self.stack.push(Frame::Map { map: Map::new(), key: None, anchor });
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (value, anchor) = match self.stack.pop() {
                    Some(Frame::Seq { items, anchor }) => (Value::Array(items), anchor),
                    Some(Frame::Map { map, anchor, .. }) => (Value::Object(map), anchor),
                    None => return Err("unbalanced YAML events".into()),
                };
                if anchor != 0 {
                    self.anchors.insert(anchor, value.clone());
                }
                self.add(value)?;
            }
            _ => {}
        }
        Ok(None)
    }

    /// go-yaml v2 refuses a sequence or mapping as a map key ("invalid map key").
    fn check_collection_key(&self, what: &str) -> Result<(), String> {
        match self.stack.last() {
            Some(Frame::Map { key: None, .. }) => Err(format!("invalid map key: {what}")),
            _ => Ok(()),
        }
    }

    /// Put a finished value where it belongs: the root, the current sequence, or the current
    /// mapping under its key (merging for `<<`).
    fn add(&mut self, value: Value) -> Result<(), String> {
        match self.stack.last_mut() {
            None => self.root = Some(value),
            Some(Frame::Seq { items, .. }) => items.push(value),
            Some(Frame::Map { map, key, .. }) => match key.take() {
                Some(Key::Str(k)) => {
                    map.insert(k, value);
                }
                Some(Key::Merge) => merge(map, value)?,
                None => unreachable!("keys are handled before values"),
            },
        }
        Ok(())
    }

    /// The field path of the value about to be added, as the schema check writes paths.
    fn path(&self) -> String {
        let mut path = String::new();
        for frame in &self.stack {
            match frame {
                Frame::Seq { items, .. } => path.push_str(&format!("[{}]", items.len())),
                Frame::Map { key: Some(Key::Str(k)), .. } => {
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(k);
                }
                Frame::Map { .. } => {}
            }
        }
        path
    }
}

/// `<<: map` or `<<: [map, …]`: set the merged keys; earlier maps of a list win.
fn merge(map: &mut Map<String, Value>, value: Value) -> Result<(), String> {
    let want_map = || "map merge requires map or sequence of maps as the value".to_string();
    match value {
        Value::Object(m) => {
            for (k, v) in m {
                map.insert(k, v);
            }
        }
        Value::Array(items) => {
            for item in items.into_iter().rev() {
                match item {
                    Value::Object(_) => merge(map, item)?,
                    _ => return Err(want_map()),
                }
            }
        }
        _ => return Err(want_map()),
    }
    Ok(())
}

/// A tag as go-yaml names it: `!!int` for the core schema's, the tag as written otherwise.
fn tag_name(tag: &Tag) -> String {
    match tag.handle() {
        "tag:yaml.org,2002:" => format!("!!{}", tag.suffix()),
        handle => format!("{handle}{}", tag.suffix()),
    }
}

fn check_collection_tag(tag: Option<&Tag>, expected: &str) -> Result<(), String> {
    match tag.map(tag_name) {
        Some(t) if t.starts_with("!!") && t != format!("!!{expected}") && t != "!!omap" => {
            Err(format!("cannot decode a {expected} as {t}"))
        }
        _ => Ok(()),
    }
}

/// A map key as `sigs.k8s.io/yaml` turns it into a JSON object key.
fn key_string(value: &Value, text: &str) -> Result<String, String> {
    Ok(match value {
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) if n.is_i64() => n.to_string(),
        // Floats are printed as Go's FormatFloat(v, 'g', -1, 32) would; integral ones and the
        // unsigned integers go-yaml returns as uint64 are rarer still than float keys.
        Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() => go_float32_g(f),
            _ => return Err(format!("unsupported map key {text}: an unsigned 64-bit integer")),
        },
        Value::Null => return Err(format!("unsupported map key of type <nil>: {text:?}")),
        Value::Array(_) | Value::Object(_) => return Err("invalid map key: a collection".into()),
    })
}

/// Go's `strconv.FormatFloat(f, 'g', -1, 32)` for ordinary values.
fn go_float32_g(f: f64) -> String {
    let f = f as f32;
    let plain = format!("{f}");
    let exp = if f == 0.0 { 0 } else { f.abs().log10().floor() as i32 };
    if !(-4..21).contains(&exp) {
        // %e with the shortest digits, Go style: 1e+21, 1.5e-05
        let s = format!("{f:e}");
        let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
        let e: i32 = e.parse().unwrap_or(0);
        return format!("{m}e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs());
    }
    plain
}

/// Resolve one scalar as go-yaml v2 does and convert it to what `sigs.k8s.io/yaml` puts into
/// JSON. `plain`: unquoted, not a block scalar. `tag`: an explicit tag, if any.
fn scalar(text: &str, plain: bool, tag: Option<&str>) -> Result<Value, String> {
    if !plain && tag.is_none() {
        return Ok(Value::String(text.to_string()));
    }
    let tag = tag.unwrap_or("");
    match tag {
        "" | "!!str" | "!!bool" | "!!int" | "!!float" | "!!null" | "!!timestamp" | "!!binary" => {}
        // Tags go-yaml does not resolve keep the text.
        _ => return Ok(Value::String(text.to_string())),
    }
    if tag == "!!str" {
        return Ok(Value::String(text.to_string()));
    }
    if tag == "!!binary" {
        use base64::Engine;
        let clean: String = text.split_whitespace().collect();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(clean)
            .map_err(|_| "!!binary value contains invalid base64 data".to_string())?;
        return Ok(Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    }
    let resolved = resolve(text);
    let (rtag, value) = match resolved {
        Resolved::Str => ("!!str", Value::String(text.to_string())),
        Resolved::Timestamp => ("!!timestamp", Value::String(text.to_string())),
        Resolved::Null => ("!!null", Value::Null),
        Resolved::Bool(b) => ("!!bool", Value::Bool(b)),
        Resolved::Int(i) => ("!!int", Value::from(i)),
        Resolved::Uint(u) => ("!!int", Value::from(u)),
        Resolved::Float(f) => ("!!float", json_float(f, text)?),
    };
    if tag.is_empty() || tag == rtag {
        return Ok(value);
    }
    if tag == "!!float" && rtag == "!!int" {
        let f = value.as_f64().unwrap_or_default();
        return json_float(f, text);
    }
    Err(format!("cannot decode {rtag} `{text}` as a {tag}"))
}

/// A float as Go's encoding/json writes it and the API server reads it back: integral values
/// below 1e21 are plain integers in the JSON text; infinities and NaN cannot be written.
fn json_float(f: f64, text: &str) -> Result<Value, String> {
    if !f.is_finite() {
        return Err(format!("{text}: JSON has no {f} (kubectl: json: unsupported value)"));
    }
    if f.fract() == 0.0 && f.abs() < 1e21 {
        if f >= i64::MIN as f64 && f < i64::MAX as f64 {
            return Ok(Value::from(f as i64));
        }
        if f >= 0.0 && f < u64::MAX as f64 {
            return Ok(Value::from(f as u64));
        }
    }
    Ok(Number::from_f64(f).map(Value::Number).unwrap_or(Value::Null))
}

enum Resolved {
    Str,
    Timestamp,
    Null,
    Bool(bool),
    Int(i64),
    Uint(u64),
    Float(f64),
}

/// go-yaml v2's `resolve` for an untagged plain scalar (resolve.go).
fn resolve(s: &str) -> Resolved {
    match s {
        "y" | "Y" | "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => {
            return Resolved::Bool(true);
        }
        "n" | "N" | "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => {
            return Resolved::Bool(false);
        }
        "" | "~" | "null" | "Null" | "NULL" => return Resolved::Null,
        ".nan" | ".NaN" | ".NAN" => return Resolved::Float(f64::NAN),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => return Resolved::Float(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => return Resolved::Float(f64::NEG_INFINITY),
        _ => {}
    }
    match s.as_bytes()[0] {
        b'.' => match go_parse_float(s) {
            Some(f) => Resolved::Float(f),
            None => Resolved::Str,
        },
        b'+' | b'-' | b'0'..=b'9' => {
            if is_timestamp(s) {
                return Resolved::Timestamp;
            }
            let plain = s.replace('_', "");
            if let Some(i) = go_parse_int(&plain) {
                return Resolved::Int(i);
            }
            if let Some(u) = go_parse_uint(&plain) {
                return Resolved::Uint(u);
            }
            if is_yaml_style_float(&plain)
                && let Some(f) = go_parse_float(&plain)
            {
                return Resolved::Float(f);
            }
            Resolved::Str
        }
        _ => Resolved::Str,
    }
}

/// Go's `strconv.ParseInt(s, 0, 64)`: optional sign, then `0x`, `0o`, `0b` or a leading `0`
/// (octal) prefix, or decimal.
fn go_parse_int(s: &str) -> Option<i64> {
    let (neg, rest) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let u = go_parse_uint(rest)?;
    if neg {
        if u <= i64::MAX as u64 + 1 { Some((u as i128).wrapping_neg() as i64) } else { None }
    } else {
        i64::try_from(u).ok()
    }
}

/// Go's `strconv.ParseUint(s, 0, 64)` (no sign).
fn go_parse_uint(s: &str) -> Option<u64> {
    let lower = s.to_ascii_lowercase();
    let (radix, digits) = if let Some(d) = lower.strip_prefix("0x") {
        (16, d)
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d)
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, &lower[1..])
    } else {
        (10, lower.as_str())
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    u64::from_str_radix(digits, radix).ok()
}

/// go-yaml's `yamlStyleFloat`: `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`.
fn is_yaml_style_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if matches!(b.first(), Some(b'+' | b'-')) {
        i += 1;
    }
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - start
    };
    if b.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    } else {
        if digits(&mut i) == 0 {
            return false;
        }
        if b.get(i) == Some(&b'.') {
            i += 1;
            digits(&mut i);
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// Go's `strconv.ParseFloat(s, 64)` for the decimal spellings go-yaml hands it; out of range
/// is an error there (and the scalar stays a string).
fn go_parse_float(s: &str) -> Option<f64> {
    if s.contains('_') || s.to_ascii_lowercase().contains("inf") || s.to_ascii_lowercase().contains("nan") {
        return None;
    }
    s.parse::<f64>().ok().filter(|f| f.is_finite())
}

/// go-yaml v2's `parseTimestamp` accepts `YYYY-M-D` with an optional time; such scalars stay
/// text in untyped data, so only whether it is one matters.
fn is_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() > 5 && b[..4].iter().all(u8::is_ascii_digit) && b[4] == b'-' && {
        let rest = &s[5..];
        let mut parts = rest.splitn(2, '-');
        let month = parts.next().unwrap_or("");
        let tail = parts.next().unwrap_or("");
        let day: String = tail.chars().take_while(char::is_ascii_digit).collect();
        !month.is_empty()
            && month.len() <= 2
            && month.bytes().all(|c| c.is_ascii_digit())
            && (1..=2).contains(&day.len())
            && (tail.len() == day.len() || matches!(tail.as_bytes()[day.len()], b'T' | b't' | b' '))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn one(text: &str) -> Value {
        let mut docs = documents(text);
        assert_eq!(docs.len(), 1, "{text}");
        docs.remove(0).expect("YAML").value
    }

    /// Every row was checked against `kubectl create --dry-run=client -o json` of kubectl v1.36.3
    /// (the test control plane's) on a ConfigMap-shaped document; the `kubectl_reads_yaml_1_1`
    /// integration test runs the same table through the real kubectl.
    pub(crate) const TABLE: &[(&str, &str)] = &[
        ("yes", "true"),
        ("Yes", "true"),
        ("YES", "true"),
        ("y", "true"),
        ("Y", "true"),
        ("on", "true"),
        ("On", "true"),
        ("ON", "true"),
        ("true", "true"),
        ("True", "true"),
        ("no", "false"),
        ("No", "false"),
        ("NO", "false"),
        ("n", "false"),
        ("N", "false"),
        ("off", "false"),
        ("Off", "false"),
        ("OFF", "false"),
        ("FALSE", "false"),
        ("yEs", "\"yEs\""),
        ("nO", "\"nO\""),
        ("tRUE", "\"tRUE\""),
        ("'yes'", "\"yes\""),
        ("\"NO\"", "\"NO\""),
        ("~", "null"),
        ("null", "null"),
        ("Null", "null"),
        ("NULL", "null"),
        ("", "null"),
        ("0755", "493"),
        ("-010", "-8"),
        ("0o17", "15"),
        ("0x1F", "31"),
        ("0b101", "5"),
        ("1_000", "1000"),
        ("+5", "5"),
        ("08", "8"),
        ("1e3", "1000"),
        ("1.5", "1.5"),
        (".5", "0.5"),
        ("'0755'", "\"0755\""),
        ("2024-01-01", "\"2024-01-01\""),
        ("1.10", "1.1"),
        ("12:30", "\"12:30\""),
        ("0x", "\"0x\""),
        ("1e400", "\"1e400\""),
        ("!!str 123", "\"123\""),
        ("!!int \"12\"", "12"),
        ("!!float 3", "3"),
        ("!custom yes", "\"yes\""),
        ("|\n  yes", "\"yes\\n\""),
    ];

    #[test]
    fn plain_scalars_resolve_as_go_yaml_v2_does() {
        for (written, json) in TABLE {
            let v = one(&format!("v: {written}\n"));
            let expected: Value = serde_json::from_str(json).unwrap();
            assert_eq!(v["v"], expected, "v: {written}");
        }
    }

    #[test]
    fn keys_become_strings_as_sigs_k8s_io_yaml_makes_them() {
        assert_eq!(one("yes: 1\n1: 2\n0x10: 3\nNO: 4\n"), json!({"true": 1, "1": 2, "16": 3, "false": 4}));
        assert!(documents("~: 1\n")[0].as_ref().is_err_and(|e| e.contains("<nil>")));
    }

    #[test]
    fn infinities_cannot_be_sent_as_json() {
        let e = documents("v: .inf\n").remove(0).unwrap_err();
        assert!(e.contains("JSON has no inf"), "{e}");
    }

    #[test]
    fn anchors_aliases_and_merge_keys() {
        // (Not `y:` as a key: it is the boolean true, so the key "true".)
        let v = one(
            "base: &b {a: 1, b: 2}\nx:\n  <<: *b\n  b: 3\nm:\n  c: 0\n  <<: [{c: 9, d: 1}, {d: 2, e: 5}]\n\
                     k:\n  <<: [{c: 9, d: 1}, {d: 2, e: 5}]\n  c: 0\nz: *b\ny: 1\n",
        );
        assert_eq!(v["x"], json!({"a": 1, "b": 3}));
        assert_eq!(
            v["m"],
            json!({"c": 9, "d": 1, "e": 5}),
            "merged maps override earlier keys, earlier maps win"
        );
        assert_eq!(v["k"], json!({"c": 0, "d": 1, "e": 5}), "later keys override merged ones");
        assert_eq!(v["z"], json!({"a": 1, "b": 2}));
        assert_eq!(v["true"], json!(1));
    }

    #[test]
    fn readings_record_the_paths_of_plain_non_strings() {
        let docs = documents(
            "spec:\n  country: NO\n  markets:\n  - name: moneyline\n    on: 0755\n  quoted: 'no'\n",
        );
        let readings = &docs[0].as_ref().unwrap().readings;
        let paths: Vec<(&str, &str)> = readings.iter().map(|r| (r.path.as_str(), r.text.as_str())).collect();
        assert_eq!(paths, [("spec.country", "NO"), ("spec.markets[0].true", "0755")]);
        assert!(readings[0].hint().contains("quote it, \"NO\""), "{}", readings[0].hint());
        assert!(readings[1].is_octal());
        assert!(!readings[0].is_octal());
    }

    #[test]
    fn documents_are_split_and_a_syntax_error_ends_the_stream() {
        let docs = documents("a: 1\n---\nb: [1, 2\n---\nc: 3\n");
        assert_eq!(docs.len(), 2);
        assert!(docs[1].as_ref().is_err_and(|e| e.contains("line")), "{:?}", docs[1]);
        // A document kubectl cannot convert does not hide the next one.
        let docs = documents("~: 1\n---\nc: 3\n");
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[1].as_ref().unwrap().value, json!({"c": 3}));
    }
}
