//! Canonical JSON and the artifact's sha256.
//!
//! Canonical form: object keys sorted, no white space, strings escaped as serde_json does,
//! integers in decimal, other numbers as the shortest round-trip mantissa in `1.2345e3` form.
//! The exporter (tools/purchase_pipeline.py) writes the same bytes, so a hash written in Python
//! is verified in Rust, whatever jsonb did to the number text on the way.

use serde_json::Value;
use sha2::{Digest, Sha256};

/// Writes `v` canonically; at the top level, `skip_key` is left out (the hash field itself).
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
    fn number_text_does_not_change_the_hash() {
        // jsonb may print 1e-05 as 0.00001; the canonical form is the same.
        let a: Value = serde_json::from_str(r#"{"x": 1e-05, "y": 1.50}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{"y": 1.5, "x": 0.00001}"#).unwrap();
        assert_eq!(canonical_json(&a, None), canonical_json(&b, None));
        assert_eq!(sha256_hex("abc").len(), 64);
    }
}
