//! Helpers for writing PromQL safely from user-controlled names.

/// A PromQL selector body `{k1="v1", k2="v2"}` with every value escaped, so that a resource name
/// or namespace can never break out of its string.
pub fn selector(matchers: &[(&str, &str)]) -> String {
    let parts: Vec<String> = matchers.iter().map(|(k, v)| format!("{k}=\"{}\"", escape(v))).collect();
    format!("{{{}}}", parts.join(", "))
}

/// Escape a PromQL double-quoted string literal.
pub fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped() {
        assert_eq!(selector(&[("a", "b"), ("c", "d\"e")]), r#"{a="b", c="d\"e"}"#);
    }
}
