//! JSON parsing and serialisation that stay cancellable on large artifacts: the same
//! `serde_json::Value` serde_json builds, with an interrupt tick per node, and the path of the
//! node where parsing failed (`model.coefficients[3]` for `1e999`, the 128th level of too deep
//! a nesting).

use super::error::{PipelineError, Result};
use super::interrupt::tick;
use serde::de::{DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::{Map, Number, Value};
use std::fmt;

/// Parses artifact text; errors name the field where they happened.
pub fn parse_checked(text: &str) -> Result<Value> {
    let mut de = serde_json::Deserializer::from_str(text);
    let mut track = serde_path_to_error::Track::new();
    let parsed = Node.deserialize(serde_path_to_error::Deserializer::new(&mut de, &mut track));
    let doc = parsed.map_err(|e| {
        let path = track.path().to_string();
        let field = if path == "." {
            "(document)".to_string()
        } else {
            path
        };
        PipelineError::artifact(field, format!("is not valid JSON: {e}"))
    })?;
    de.end()
        .map_err(|e| PipelineError::artifact("(document)", format!("is not valid JSON: {e}")))?;
    Ok(doc)
}

/// A `Value` under construction, one interrupt tick per node.
struct Node;

impl<'de> DeserializeSeed<'de> for Node {
    type Value = Value;
    fn deserialize<D: serde::Deserializer<'de>>(
        self,
        d: D,
    ) -> std::result::Result<Value, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> std::result::Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> std::result::Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> std::result::Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> std::result::Result<Value, E> {
        Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("number out of range"))
    }
    fn visit_str<E>(self, v: &str) -> std::result::Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> std::result::Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> std::result::Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> std::result::Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element_seed(Node)? {
            tick();
            items.push(item);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value_seed(Node)?;
            tick();
            out.insert(key, value);
        }
        Ok(Value::Object(out))
    }
}

/// Serialises a `Value` (for the RFC 8785 hash) with an interrupt tick per node.
pub struct Checked<'a>(pub &'a Value);

impl Serialize for Checked<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        tick();
        match self.0 {
            Value::Array(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(&Checked(item))?;
                }
                seq.end()
            }
            Value::Object(map) => {
                let mut out = s.serialize_map(Some(map.len()))?;
                for (k, v) in map {
                    out.serialize_entry(k, &Checked(v))?;
                }
                out.end()
            }
            other => other.serialize(s),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_like_serde_json_and_names_the_failing_field() {
        let text = r#"{"a": [1, -2, 2.5, 18446744073709551616, "x", null, true, {"b": {}}]}"#;
        assert_eq!(
            parse_checked(text).unwrap(),
            serde_json::from_str::<Value>(text).unwrap()
        );
        let e = parse_checked(r#"{"model": {"coefficients": [1, 2, 3, 1e999]}}"#).unwrap_err();
        assert!(
            e.to_string().contains("\"model.coefficients[3]\"")
                && e.to_string().contains("out of range"),
            "{e}"
        );
        let deep = format!("{{\"training\": {}{}}}", "[".repeat(200), "]".repeat(200));
        let e = parse_checked(&deep).unwrap_err().to_string();
        assert!(
            e.contains("\"training[0][0]") && e.contains("recursion limit"),
            "{e}"
        );
        assert!(parse_checked("{} x").is_err());
    }
}
