//! Canonical JSON and the artifact's sha256.
//!
//! The hash is sha256 of the RFC 8785 (JSON Canonicalization Scheme) form of the document
//! without its `sha256` key: the Python exporter uses the `rfc8785` package, Rust
//! `serde_json_canonicalizer`. Numbers are IEEE doubles written as ECMAScript does, so `-0.0`,
//! `1e16`, integers beyond 2^53 and jsonb's rewriting of number text never change the hash.
//!
//! Format 1 artifacts written before RFC 8785 carry the old rule's hash (`legacy_sha256`):
//! keys sorted, no white space, integers in decimal, other numbers as the shortest round-trip
//! mantissa in `1.2345e3` form. Loading accepts either rule for format 1.

use super::checked_json::Checked;
use super::error::{PipelineError, Result};
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// The RFC 8785 sha256 of a top-level object without `skip_key`.
pub fn jcs_sha256(top: &Map<String, Value>, skip_key: &str) -> Result<String> {
    let text = serde_json_canonicalizer::to_vec(&Without(top, skip_key)).map_err(|e| {
        PipelineError::artifact("(document)", format!("cannot be canonicalized: {e}"))
    })?;
    Ok(Sha256::digest(&text)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// The old (format 1) hash of a document without its `sha256` key.
pub fn legacy_sha256(doc: &Value) -> String {
    sha256_hex(&canonical_json(doc, Some("sha256")))
}

/// An object serialised without one key, so the hash needs no copy of the document.
struct Without<'a>(&'a Map<String, Value>, &'a str);

impl Serialize for Without<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        for (k, v) in self.0.iter().filter(|(k, _)| k.as_str() != self.1) {
            map.serialize_entry(k, &Checked(v))?;
        }
        map.end()
    }
}

/// Writes `v` in the old canonical form; at the top level, `skip_key` is left out (the hash field itself).
pub fn canonical_json(v: &Value, skip_key: Option<&str>) -> String {
    let mut out = String::new();
    write_value(v, skip_key, &mut out);
    out
}

pub fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn write_value(v: &Value, skip_key: Option<&str>, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                out.push_str(&i.to_string());
            } else if let Some(u) = n.as_u64() {
                out.push_str(&u.to_string());
            } else {
                out.push_str(&format!("{:e}", n.as_f64().unwrap_or(f64::NAN)));
            }
        }
        Value::String(s) => out.push_str(&Value::String(s.clone()).to_string()),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(item, None, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map
                .keys()
                .filter(|k| Some(k.as_str()) != skip_key)
                .collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String((*k).clone()).to_string());
                out.push(':');
                write_value(&map[*k], None, out);
            }
            out.push('}');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sorted_compact_and_numbers_in_shortest_exponent_form() {
        let v = json!({"b": [1, 2.5, 100.0, -0.001, 0.1], "a": "é\n", "sha256": "x", "c": null});
        assert_eq!(
            canonical_json(&v, Some("sha256")),
            r#"{"a":"é\n","b":[1,2.5e0,1e2,-1e-3,1e-1],"c":null}"#
        );
    }

    #[test]
    fn rfc8785_hash_ignores_number_spelling_and_the_hash_key() {
        // -0.0, a whole-number float, an integer >= 2^64 and jsonb's respelling of each.
        let a: Value = serde_json::from_str(
            r#"{"z": [-0.0, 1e16, 18446744073709551616, 1e-05], "sha256": "x"}"#,
        )
        .unwrap();
        let b: Value = serde_json::from_str(
            r#"{"z": [0, 10000000000000000, 18446744073709551616.0, 0.00001]}"#,
        )
        .unwrap();
        let (a, b) = (a.as_object().unwrap(), b.as_object().unwrap());
        assert_eq!(
            jcs_sha256(a, "sha256").unwrap(),
            jcs_sha256(b, "sha256").unwrap()
        );
        // The same bytes Python's rfc8785.dumps gives (checked in tests/byom too).
        let text = serde_json_canonicalizer::to_string(&Without(a, "sha256")).unwrap();
        assert_eq!(
            text,
            r#"{"z":[0,10000000000000000,18446744073709552000,0.00001]}"#
        );
    }

    #[test]
    fn number_text_does_not_change_the_hash() {
        // jsonb may print 1e-05 as 0.00001; the canonical form is the same.
        let a: Value = serde_json::from_str(r#"{"x": 1e-05, "y": 1.50}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{"y": 1.5, "x": 0.00001}"#).unwrap();
        assert_eq!(canonical_json(&a, None), canonical_json(&b, None));
        assert_eq!(sha256_hex("abc").len(), 64);
    }
}
