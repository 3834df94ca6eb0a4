//! Model insight functions: the published weights of a version and its evaluation on known
//! outcomes. `explain_purchase` (per-row contributions) is SQL over these, in `insights.sql`.

use crate::pg::bad_rows::{self, BadRows, OnBadRow};
use crate::pg::errors::{guard_entry, raise, OrRaise};
use crate::pg::models::admin::required;
use crate::pg::models::cache::{resolve_version, LoadedModel};
use crate::pg::models::catalog;
use crate::pg::source_rows::{check_select, for_each_row_with_texts, SourceTable};
use pgrx::prelude::*;
use pgrx::{JsonB, PgSqlErrorCode};
use purchase_model::artifact::InputKind;
use purchase_model::evaluate::Evaluation;
use purchase_model::explain;
use purchase_model::outcome::parse_outcome;
use purchase_model::tree_explain;
use std::rc::Rc;

// Model insights in SQL over the Rust functions of this file.
pgrx::extension_sql_file!(
    "insights.sql",
    name = "insights",
    requires = ["scoring_functions", purchase_model_weights]
);

/// The model of `name` at `version` (the active one when None), as compiled for scoring.
fn model_version(name: &str, version: Option<i32>) -> (Rc<LoadedModel>, Option<serde_json::Value>) {
    let loaded = resolve_version(name, version);
    // Standard errors and the profile live in the stored document, not in the compiled model.
    let doc = catalog::stored_version(name, loaded.version).map(|s| s.artifact);
    (loaded, doc.and_then(|d| serde_json::from_str(&d).ok()))
}

/// One row per model feature. A logistic model (and its intercept when it is not zero):
/// coefficient, standard error where the artifact carries one (`model.std_errors`), odds ratio,
/// rank by |coefficient|, and the standardization of numeric features. A tree model has no
/// coefficients (NULL there): its rows carry `importance` (mean |TreeSHAP contribution| over the
/// artifact's reference rows), the library's total split `gain` where the artifact carries it
/// and the number of `splits`, ranked by importance (by gain without covers).
#[pg_extern(stable, parallel_safe, name = "purchase_model_weights")]
#[allow(clippy::type_complexity)]
fn purchase_model_weights(
    model: default!(Option<&str>, "'default'"),
    version: default!(Option<i32>, "NULL"),
) -> TableIterator<
    'static,
    (
        name!(feature, String),
        name!(input_column, Option<String>),
        name!(coefficient, Option<f64>),
        name!(std_error, Option<f64>),
        name!(odds_ratio, Option<f64>),
        name!(rank, i32),
        name!(mean, Option<f64>),
        name!(scale, Option<f64>),
        name!(importance, Option<f64>),
        name!(gain, Option<f64>),
        name!(splits, Option<i32>),
    ),
> {
    guard_entry("purchase_model_weights", || {
        purchase_model_weights_body(model, version)
    })
}

type WeightRow = (
    String,
    Option<String>,
    Option<f64>,
    Option<f64>,
    Option<f64>,
    i32,
    Option<f64>,
    Option<f64>,
    Option<f64>,
    Option<f64>,
    Option<i32>,
);

fn purchase_model_weights_body(
    model: Option<&str>,
    version: Option<i32>,
) -> TableIterator<'static, WeightRow> {
    let Some(model) = model else {
        raise(
            PgSqlErrorCode::ERRCODE_NULL_VALUE_NOT_ALLOWED,
            "model must not be NULL",
            Some(
                "Name a model, e.g. 'default'; SELECT * FROM purchase_models() lists them.".into(),
            ),
        )
    };
    let (loaded, doc) = model_version(model, version);
    if loaded.model.is_trees() {
        return TableIterator::new(tree_weights(&loaded));
    }
    let std_errors = doc.as_ref().and_then(explain::standard_errors);
    let rows = explain::weights(&loaded.model, std_errors.as_deref())
        .into_iter()
        .map(|w| {
            (
                w.feature,
                w.input_column,
                Some(w.coefficient),
                w.std_error,
                Some(w.odds_ratio),
                w.rank,
                w.mean,
                w.scale,
                None,
                None,
                None,
            )
        })
        .collect::<Vec<_>>();
    TableIterator::new(rows)
}

/// A tree model's importance rows, or a 0A000 error when the artifact carries neither the
/// covers and reference rows mean |TreeSHAP| needs nor split gains. The reference rows are the
/// artifact's `checks`, which the document `model_version` reads leaves out: read it whole.
fn tree_weights(loaded: &LoadedModel) -> Vec<WeightRow> {
    let doc = catalog::full_artifact(&loaded.name, loaded.version)
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok());
    let reference = match &doc {
        Some(d) => tree_explain::reference_inputs(&loaded.model, d).or_raise(),
        None => Vec::new(),
    };
    let Some(rows) = tree_explain::importance(&loaded.model, &reference).or_raise() else {
        raise(
            PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
            format!(
                "purchase model \"{}\" version {} is a tree ensemble whose artifact carries neither node covers with reference rows nor split gains: it has no importance to list",
                loaded.name, loaded.version
            ),
            Some("A tree model has no coefficients. Re-export it with this pg_purchase's exporter, which stores covers, gains and the reference rows.".into()),
        )
    };
    rows.into_iter()
        .map(|r| {
            (
                r.feature,
                Some(r.input_column),
                None,
                None,
                None,
                r.rank,
                None,
                None,
                r.mean_abs_contribution,
                r.gain,
                Some(r.splits),
            )
        })
        .collect()
}

/// Scores every row of `source` with `model` (at `version`; the active one when NULL) and
/// compares with the 0/1 outcome in `target_column`: AUC, log loss, accuracy/precision/recall
/// at the model's threshold, and a decile lift table. One pass over the table; rows whose
/// outcome is NULL are left out (and counted). A row scoring would refuse (or an outcome that
/// is not 0/1) raises its error naming the row by `key_column` (`on_bad_row => 'error'`), or is
/// left out and counted (`'skip'`). The model is resolved once and scores in Rust: the version
/// and threshold reported are the ones that scored, whatever is activated meanwhile.
#[pg_extern(stable, parallel_safe, name = "evaluate_purchase_model")]
fn evaluate_purchase_model_pinned(
    source: SourceTable,
    target_column: Option<&str>,
    model: default!(Option<&str>, "'default'"),
    version: default!(Option<i32>, "NULL"),
    on_bad_row: default!(Option<&str>, "'error'"),
    key_column: default!(Option<&str>, "NULL"),
) -> JsonB {
    guard_entry("evaluate_purchase_model", || {
        let target_column = required(target_column, "target_column");
        let model = required(model, "model");
        let policy = bad_rows::on_bad_row(on_bad_row);
        evaluate(source, target_column, model, version, policy, key_column)
    })
}

/// The entry point of the 0.1.0-0.3.0 signature `(regclass, text, text)`, which an installed
/// extension keeps until `ALTER EXTENSION pg_purchase UPDATE`.
#[pg_extern(stable, parallel_safe, sql = false)]
fn evaluate_purchase_model(source: SourceTable, target_column: &str, model: &str) -> JsonB {
    guard_entry("evaluate_purchase_model", || {
        evaluate(source, target_column, model, None, OnBadRow::Error, None)
    })
}

fn evaluate(
    source: SourceTable,
    target_column: &str,
    model: &str,
    version: Option<i32>,
    policy: OnBadRow,
    key_column: Option<&str>,
) -> JsonB {
    let loaded = resolve_version(model, version);
    let relid = source.0;
    let columns = model_columns(&loaded);
    let mut read: Vec<&str> = columns.iter().map(|(c, _)| c.as_str()).collect();
    read.push(target_column);
    check_select(relid, &read);
    for c in &read {
        check_column(relid, c);
    }
    let key = bad_rows::key_column(relid, key_column);
    let mut texts = vec![target_column];
    if let Some(k) = &key {
        check_select(relid, &[k.as_str()]);
        texts.push(k.as_str());
    }
    let mut bad = BadRows::new(policy, key.clone(), relid);
    let scorer = &loaded.model;
    let mut evaluation = Evaluation::with_capacity(1024);
    let mut without_outcome = 0i64;
    let mut scanned = 0usize;
    for_each_row_with_texts(relid, &columns, &texts, |row| {
        scanned += 1;
        let scored = scorer.score_with(|i| Ok(row.value(i))).map(|s| s.p_hat);
        let target = row.text(columns.len());
        let judged = scored.and_then(|p| match &target {
            Some(y) => parse_outcome(target_column, y, scanned).map(|y| Some((p, y))),
            None => Ok(None),
        });
        match judged {
            Ok(Some((p, y))) => evaluation.add(p, y),
            Ok(None) => without_outcome += 1,
            Err(e) => {
                let k = key.as_ref().and_then(|_| row.text(columns.len() + 1));
                bad.bad_row(e, scanned, k)
            }
        }
    });
    let mut answer = evaluation.finish(scorer.threshold).to_json();
    let obj = answer.as_object_mut().unwrap();
    obj.insert("rows_without_outcome".into(), without_outcome.into());
    obj.insert("rows_skipped".into(), bad.skipped.into());
    obj.insert("model".into(), loaded.name.clone().into());
    obj.insert("version".into(), loaded.version.into());
    JsonB(answer)
}

/// The columns the model reads, with their kinds, in the model's input order.
pub(crate) fn model_columns(loaded: &LoadedModel) -> Vec<(String, InputKind)> {
    loaded
        .model
        .inputs
        .iter()
        .map(|i| (i.column.clone(), i.kind))
        .collect()
}

/// A 0/1 outcome as the target column holds it (the one rule, `purchase_model::outcome`), or
/// its error naming the column, the value and the 1-based row of the scan.
pub(crate) fn outcome(column: &str, text: &str, row: usize) -> bool {
    parse_outcome(column, text, row).or_raise()
}

pub(crate) fn check_column(relid: pg_sys::Oid, column: &str) {
    let name = std::ffi::CString::new(column).unwrap_or_default();
    // SAFETY: a syscache lookup with a NUL-terminated name that outlives the call; a missing
    // column is InvalidAttrNumber.
    let attno = unsafe { pg_sys::get_attnum(relid, name.as_ptr()) };
    if attno == pg_sys::InvalidAttrNumber as i16 {
        raise(
            PgSqlErrorCode::ERRCODE_UNDEFINED_COLUMN,
            format!(
                "column \"{column}\" of relation {} does not exist",
                relation_name(relid)
            ),
            None,
        );
    }
}

pub fn quote_ident(name: &str) -> String {
    let c = std::ffi::CString::new(name).unwrap_or_default();
    // SAFETY: quote_identifier takes a NUL-terminated string and returns either that same
    // pointer (no quoting needed; `c` lives until the end of this function) or a palloc'd
    // NUL-terminated copy; either is copied into a String before `c` is dropped.
    unsafe {
        std::ffi::CStr::from_ptr(pg_sys::quote_identifier(c.as_ptr()))
            .to_string_lossy()
            .into_owned()
    }
}

/// A relation's name, schema-qualified and quoted as needed.
pub fn relation_name(relid: pg_sys::Oid) -> String {
    // SAFETY: a syscache lookup by OID; NULL (no such relation) is checked next.
    let name = unsafe { pg_sys::get_rel_name(relid) };
    if name.is_null() {
        raise(
            PgSqlErrorCode::ERRCODE_UNDEFINED_TABLE,
            format!("relation with OID {} does not exist", relid.to_u32()),
            None,
        );
    }
    // SAFETY: `name` is a non-null palloc'd relation name. get_namespace_name's NULL (schema
    // dropped meanwhile) is accepted by quote_qualified_identifier, which then leaves the
    // qualifier out; its result is a palloc'd NUL-terminated string, copied at once.
    unsafe {
        let nsp = pg_sys::get_namespace_name(pg_sys::get_rel_namespace(relid));
        let quoted = pg_sys::quote_qualified_identifier(nsp, name);
        std::ffi::CStr::from_ptr(quoted)
            .to_string_lossy()
            .into_owned()
    }
}

/// Live data of `source` against the training statistics of `model` (at `version`; the active
/// one when NULL), one row per column the model reads (see `pipeline::drift` for the statistics
/// and the flag rule). Bad rows as in `evaluate_purchase_model`; `rows_skipped` (the same on
/// every row) counts the rows left out.
#[pg_extern(stable, parallel_safe, name = "purchase_drift")]
#[allow(clippy::type_complexity)]
fn purchase_drift_pinned(
    source: SourceTable,
    model: default!(Option<&str>, "'default'"),
    version: default!(Option<i32>, "NULL"),
    on_bad_row: default!(Option<&str>, "'error'"),
    key_column: default!(Option<&str>, "NULL"),
) -> TableIterator<
    'static,
    (
        name!(column_name, String),
        name!(train_mean, Option<f64>),
        name!(live_mean, Option<f64>),
        name!(train_std, Option<f64>),
        name!(live_std, Option<f64>),
        name!(train_null_rate, Option<f64>),
        name!(live_null_rate, Option<f64>),
        name!(unseen_categories, Option<Vec<String>>),
        name!(psi, Option<f64>),
        name!(flagged, bool),
        name!(rows_skipped, i64),
    ),
> {
    guard_entry("purchase_drift", || {
        let model = required(model, "model");
        let policy = bad_rows::on_bad_row(on_bad_row);
        let (rows, skipped) = drift(source, model, version, policy, key_column);
        TableIterator::new(
            rows.into_iter()
                .map(move |r| (r.0, r.1, r.2, r.3, r.4, r.5, r.6, r.7, r.8, r.9, skipped)),
        )
    })
}

/// The entry point of the 0.1.0-0.3.0 signature `(regclass, text)`, which an installed
/// extension keeps until `ALTER EXTENSION pg_purchase UPDATE`.
#[pg_extern(stable, parallel_safe, sql = false)]
#[allow(clippy::type_complexity)]
fn purchase_drift(
    source: SourceTable,
    model: &str,
) -> TableIterator<
    'static,
    (
        name!(column_name, String),
        name!(train_mean, Option<f64>),
        name!(live_mean, Option<f64>),
        name!(train_std, Option<f64>),
        name!(live_std, Option<f64>),
        name!(train_null_rate, Option<f64>),
        name!(live_null_rate, Option<f64>),
        name!(unseen_categories, Option<Vec<String>>),
        name!(psi, Option<f64>),
        name!(flagged, bool),
    ),
> {
    guard_entry("purchase_drift", || {
        TableIterator::new(drift(source, model, None, OnBadRow::Error, None).0)
    })
}

/// The drift rows of `source` against `model`, and how many bad rows were skipped.
fn drift(
    source: SourceTable,
    model: &str,
    version: Option<i32>,
    policy: OnBadRow,
    key_column: Option<&str>,
) -> (Vec<DriftRowTuple>, i64) {
    let (loaded, doc) = model_version(model, version);
    let relid = source.0;
    let columns = model_columns(&loaded);
    let names: Vec<&str> = columns.iter().map(|(c, _)| c.as_str()).collect();
    check_select(relid, &names);
    for c in &names {
        check_column(relid, c);
    }
    let key = bad_rows::key_column(relid, key_column);
    if let Some(k) = &key {
        check_select(relid, &[k.as_str()]);
    }
    let texts: Vec<&str> = key.iter().map(String::as_str).collect();
    let mut bad = BadRows::new(policy, key.clone(), relid);
    let mut drift = purchase_model::drift::Drift::new(&loaded.model, doc.as_ref());
    let mut scanned = 0usize;
    for_each_row_with_texts(relid, &columns, &texts, |row| {
        scanned += 1;
        let values: Vec<_> = (0..columns.len()).map(|i| row.value(i)).collect();
        if let Err(e) = drift.add_row(&values) {
            let k = key.as_ref().and_then(|_| row.text(columns.len()));
            bad.bad_row(e, scanned, k)
        }
    });
    (drift_rows(drift), bad.skipped)
}

type DriftRowTuple = (
    String,
    Option<f64>,
    Option<f64>,
    Option<f64>,
    Option<f64>,
    Option<f64>,
    Option<f64>,
    Option<Vec<String>>,
    Option<f64>,
    bool,
);

fn drift_rows(drift: purchase_model::drift::Drift<'_>) -> Vec<DriftRowTuple> {
    let rows: Vec<_> = drift
        .finish()
        .into_iter()
        .map(|r| {
            (
                r.column,
                r.train_mean,
                r.live_mean,
                r.train_std,
                r.live_std,
                r.train_null_rate,
                r.live_null_rate,
                r.unseen_categories,
                r.psi,
                r.flagged,
            )
        })
        .collect();
    rows
}
