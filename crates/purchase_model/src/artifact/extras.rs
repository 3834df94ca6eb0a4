//! `model.std_errors` and `profile`, which formats 1 and 2 may both carry: only read by the
//! insight functions, but a wrong shape is refused at load like any other field.

use super::v2::{describe_serde, Finite};
use crate::error::{PipelineError, Result};
use serde::Deserialize;
use serde_json::{Map, Value};

/// The optional training profile (see `crate::drift`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Profile {
    #[serde(default)]
    #[allow(dead_code)]
    rows: Option<u64>,
    columns: Vec<ColumnProfile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ColumnProfile {
    column: String,
    #[serde(default)]
    null_rate: Option<Finite>,
    #[serde(default)]
    #[allow(dead_code)]
    mean: Option<Finite>,
    #[serde(default)]
    std: Option<Finite>,
    #[serde(default)]
    bin_edges: Option<Vec<Finite>>,
    #[serde(default)]
    bin_fractions: Option<Vec<Finite>>,
    #[serde(default)]
    categories: Option<Map<String, Value>>,
}

/// `model.std_errors` and `profile` (formats 1 and 2): only read by the insight functions,
/// but a wrong shape is refused at load like any other field.
pub(super) fn extras(
    std_errors: Option<&[Option<Finite>]>,
    profile: Option<&Profile>,
    features: usize,
    inputs: &[&str],
) -> Result<()> {
    if let Some(se) = std_errors {
        if se.len() != features {
            return Err(PipelineError::artifact(
                "model.std_errors",
                format!("has {} entries for {features} features", se.len()),
            ));
        }
        if let Some(i) = se
            .iter()
            .position(|e| e.as_ref().is_some_and(|v| v.0 < 0.0))
        {
            return Err(PipelineError::artifact(
                format!("model.std_errors[{i}]"),
                "is negative",
            ));
        }
    }
    let Some(profile) = profile else {
        return Ok(());
    };
    let share = |v: f64| (0.0..=1.0).contains(&v);
    for (i, c) in profile.columns.iter().enumerate() {
        let path = format!("profile.columns[{i}]");
        if !inputs.contains(&c.column.as_str()) {
            return Err(PipelineError::artifact(
                format!("{path}.column"),
                format!("is \"{}\", which is not one of the inputs", c.column),
            ));
        }
        if c.null_rate.as_ref().is_some_and(|v| !share(v.0)) {
            return Err(PipelineError::artifact(
                format!("{path}.null_rate"),
                "must be between 0 and 1",
            ));
        }
        if c.std.as_ref().is_some_and(|v| v.0 < 0.0) {
            return Err(PipelineError::artifact(
                format!("{path}.std"),
                "is negative",
            ));
        }
        match (&c.bin_edges, &c.bin_fractions) {
            (None, None) => {}
            (Some(e), Some(f)) => {
                if f.len() != e.len() + 1 || e.windows(2).any(|w| w[0].0 > w[1].0) {
                    return Err(PipelineError::artifact(
                        format!("{path}.bin_edges"),
                        "must be ascending, with one fraction more than edges",
                    ));
                }
                if f.iter().any(|v| !share(v.0)) {
                    return Err(PipelineError::artifact(
                        format!("{path}.bin_fractions"),
                        "must be shares between 0 and 1",
                    ));
                }
            }
            _ => {
                return Err(PipelineError::artifact(
                    format!("{path}.bin_edges"),
                    "and bin_fractions come together",
                ))
            }
        }
        if let Some(cats) = &c.categories {
            if let Some((k, _)) = cats.iter().find(|(_, v)| !v.as_f64().is_some_and(share)) {
                return Err(PipelineError::artifact(
                    format!("{path}.categories.{k}"),
                    "must be a share between 0 and 1",
                ));
            }
        }
    }
    Ok(())
}

/// The same rules for a format 1 document (its extras are plain JSON until here).
pub(super) fn extras_v1(doc: &Value) -> Result<()> {
    fn typed<T: serde::de::DeserializeOwned>(v: Option<&Value>, field: &str) -> Result<Option<T>> {
        let Some(v) = v else { return Ok(None) };
        serde_path_to_error::deserialize(v).map(Some).map_err(|e| {
            let p = e.path().to_string();
            let at = if p == "." {
                String::new()
            } else if p.starts_with('[') {
                p
            } else {
                format!(".{p}")
            };
            PipelineError::artifact(format!("{field}{at}"), describe_serde(e.inner()))
        })
    }
    let std_errors: Option<Vec<Option<Finite>>> =
        typed(doc.pointer("/model/std_errors"), "model.std_errors")?;
    let profile: Option<Profile> = typed(doc.get("profile"), "profile")?;
    let features = doc
        .pointer("/model/features")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    let inputs: Vec<&str> = doc
        .get("inputs")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|i| i.get("column").and_then(Value::as_str))
                .collect()
        })
        .unwrap_or_default();
    extras(std_errors.as_deref(), profile.as_ref(), features, &inputs)
}
