//! The naming rules of a load (issue 22): which model a new version belongs to, a version that
//! would change the columns a model reads, and an artifact loaded again.

use crate::pg::errors::raise;
use crate::pg::models::catalog;
use pgrx::PgSqlErrorCode;
use serde_json::Value;

/// The model a load stores into when no name is given and the artifact names none.
pub const DEFAULT_MODEL: &str = "default";

/// The artifact's own name: `training.name` as the exporters write it (`name=`), if a
/// non-blank string.
pub fn artifact_name(doc: &Value) -> Option<String> {
    doc.pointer("/training/name")
        .and_then(Value::as_str)
        .filter(|n| !n.trim().is_empty())
        .map(str::to_string)
}

/// The raw columns the artifact's inputs name (what `purchase_models().columns` lists).
pub fn input_columns(doc: &Value) -> Vec<String> {
    doc.get("inputs")
        .and_then(Value::as_array)
        .map(|inputs| {
            inputs
                .iter()
                .filter_map(|i| i.get("column").and_then(Value::as_str))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// The name given wins; without one, the artifact's own name, else `default`. Both given and
/// different: the name given, with a NOTICE saying so.
pub fn model_name(given: Option<&str>, own: Option<&str>) -> String {
    match (given, own) {
        (Some(given), Some(own)) if given != own => {
            pgrx::notice!(
                "the artifact names itself \"{own}\"; it is loaded as \"{given}\", the name given"
            );
            given.to_string()
        }
        (Some(given), _) => given.to_string(),
        (None, Some(own)) => {
            pgrx::notice!("loading as model \"{own}\", the artifact's own name");
            own.to_string()
        }
        (None, None) => DEFAULT_MODEL.to_string(),
    }
}

/// Refuses a version whose input columns differ from the active version's: queries that score
/// rows having the active version's columns would start to fail (or read other columns).
pub fn check_same_inputs(name: &str, columns: &[String], own_name: Option<&str>) {
    let Some((active, current)) = catalog::active_input_columns(name) else {
        return; // a new model, or none active: nothing to break
    };
    let added: Vec<&str> = missing_from(columns, &current);
    let dropped: Vec<&str> = missing_from(&current, columns);
    if added.is_empty() && dropped.is_empty() {
        return;
    }
    let mut changes = Vec::new();
    if !added.is_empty() {
        changes.push(format!("new: {}", listed(&added)));
    }
    if !dropped.is_empty() {
        changes.push(format!("no longer read: {}", listed(&dropped)));
    }
    let elsewhere = match own_name {
        Some(own) if own != name => format!("load it as \"{own}\" (its own name) or another name"),
        _ => "load it under another name".to_string(),
    };
    raise(
        PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
        format!(
            "the new version of purchase model \"{name}\" reads other columns than its active version {active} ({})",
            changes.join("; ")
        ),
        Some(format!(
            "Queries that score \"{name}\" pass rows with the active version's columns. To keep them, {elsewhere} \
             (load_purchase_model(doc, 'new_name')); to replace the columns on purpose, pass replace_inputs => true."
        )),
    );
}

/// The names of `of` that `other` lacks, in `of`'s order.
fn missing_from<'a>(of: &'a [String], other: &[String]) -> Vec<&'a str> {
    of.iter()
        .filter(|c| !other.contains(c))
        .map(String::as_str)
        .collect()
}

/// At most eight quoted names, then how many more.
fn listed(columns: &[&str]) -> String {
    const SHOWN: usize = 8;
    let noun = if columns.len() == 1 {
        "column"
    } else {
        "columns"
    };
    let mut text = columns
        .iter()
        .take(SHOWN)
        .map(|c| format!("\"{c}\""))
        .collect::<Vec<_>>()
        .join(", ");
    if columns.len() > SHOWN {
        text.push_str(&format!(" and {} more", columns.len() - SHOWN));
    }
    format!("{noun} {text}")
}

/// An artifact loaded again is not stored twice: the NOTICE says which version it is.
pub fn notice_identical(name: &str, version: i32, activated: bool) {
    pgrx::notice!(
        "purchase model \"{name}\" already holds this artifact (the same sha256) as version {version}{}; nothing new was stored",
        if activated { ", now made active" } else { "" }
    );
}
