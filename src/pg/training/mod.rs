//! `train_purchase_model`: reads a table or view with the caller's rights (`read`), fits the
//! pipeline (`purchase_model::train`) and stores the format-2 artifact as a new version through
//! `load_purchase_model` itself (`store`). Options, the outcome rule, the memory estimate and the
//! artifact are the pure crate's; this module maps them onto the source and SQLSTATEs.

mod read;
mod store;

use crate::pg::errors::raise;
use crate::pg::insights::{quote_ident, relation_name};
use pgrx::prelude::*;
use pgrx::{JsonB, PgRelation, PgSqlErrorCode};
use purchase_model::artifact::InputKind;
use purchase_model::outcome::parse_outcome;
use purchase_model::train::columns::{NumberColumn, TextColumn};
use purchase_model::train::memory::{limit_bytes, reading_limit, try_grow};
use purchase_model::train::options::TrainOptions;
use purchase_model::train::{self, Monitor, TrainError, TrainErrorKind, TrainingSet};
use read::{read_rows, relation_columns};
use serde_json::{json, Map};

/// NOTICEs for stages, DEBUG1 for iterations, and cancellation checks.
struct Progress;
impl Monitor for Progress {
    fn tick(&mut self) {
        pgrx::check_for_interrupts!();
    }
    fn progress(&mut self, message: &str) {
        pgrx::notice!("train_purchase_model: {message}");
    }
    fn detail(&mut self, message: &str) {
        pgrx::debug1!("train_purchase_model: {message}");
    }
    fn advise(&mut self, message: &str, hint: &str) {
        pgrx::pg_sys::panic::ErrorReport::new(
            PgSqlErrorCode::ERRCODE_SUCCESSFUL_COMPLETION,
            format!("train_purchase_model: {message}"),
            "pg_purchase",
        )
        .set_hint(hint)
        .report(pgrx::PgLogLevel::NOTICE);
    }
}

fn raise_train(e: TrainError) -> ! {
    let code = match e.kind {
        TrainErrorKind::InvalidParameter => PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
        TrainErrorKind::InvalidText => PgSqlErrorCode::ERRCODE_INVALID_TEXT_REPRESENTATION,
        TrainErrorKind::Limit => PgSqlErrorCode::ERRCODE_PROGRAM_LIMIT_EXCEEDED,
        TrainErrorKind::Numeric => PgSqlErrorCode::ERRCODE_DATA_EXCEPTION,
        TrainErrorKind::OutOfRange => PgSqlErrorCode::ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE,
        TrainErrorKind::OutOfMemory => PgSqlErrorCode::ERRCODE_OUT_OF_MEMORY,
    };
    raise(code, e.message, e.hint)
}

fn undefined_column(relation: &str, column: &str, what: &str) -> ! {
    raise(
        PgSqlErrorCode::ERRCODE_UNDEFINED_COLUMN,
        format!("{what} \"{column}\" does not exist in {relation}"),
        Some("Column names are case-sensitive; \\d shows the relation's columns.".into()),
    )
}

/// The target as 0/1 by the one outcome rule; NULL cannot be trained on.
fn outcome(column: &str, text: Option<&str>, row: usize) -> bool {
    match text {
        Some(t) => parse_outcome(column, t, row).unwrap_or_else(|e| raise_train(e.into())),
        None => raise(
            PgSqlErrorCode::ERRCODE_NULL_VALUE_NOT_ALLOWED,
            format!("target column \"{column}\" is NULL in row {row} of the scan"),
            Some("Rows without a known outcome cannot be trained on: filter them out in a view (WHERE target IS NOT NULL).".into()),
        ),
    }
}

/// splitmix64 of (seed, row ordinal) mapped to [0, 1): a reproducible draw per row.
fn draw(seed: u64, row: u64) -> f64 {
    let mut z = seed
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(row.wrapping_add(1).wrapping_mul(0xBF58_476D_1CE4_E5B9));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
}

enum Reader {
    Number(NumberColumn),
    Text(TextColumn),
}

impl Reader {
    fn name(&self) -> &str {
        match self {
            Reader::Number(c) => c.name(),
            Reader::Text(c) => c.name(),
        }
    }

    fn heap_bytes(&self) -> u64 {
        match self {
            Reader::Number(c) => c.heap_bytes(),
            Reader::Text(c) => c.heap_bytes(),
        }
    }
}

/// Fits the whole pipeline on `source` and stores it as a new version of `name` (activated only
/// with options.activate); returns the version. See README "Retraining".
#[pg_extern(volatile, parallel_unsafe)]
fn train_purchase_model(
    source: Option<PgRelation>,
    target_column: Option<&str>,
    name: default!(Option<&str>, "'default'"),
    options: default!(Option<JsonB>, "'{}'"),
) -> i32 {
    let body = || train_purchase_model_body(source, target_column, name, options);
    crate::pg::errors::guard_entry("train_purchase_model", body)
}

/// `train_purchase_model` under the panic guard (a bug is XX000 without its panic text).
fn train_purchase_model_body(
    source: Option<PgRelation>,
    target_column: Option<&str>,
    name: Option<&str>,
    options: Option<JsonB>,
) -> i32 {
    let null = |what: &str| -> ! {
        raise(
            PgSqlErrorCode::ERRCODE_NULL_VALUE_NOT_ALLOWED,
            format!("argument \"{what}\" must not be NULL"),
            None,
        )
    };
    let source = source.unwrap_or_else(|| null("source"));
    let target_column = target_column.unwrap_or_else(|| null("target_column"));
    let name = name.unwrap_or_else(|| null("name"));
    let options = TrainOptions::from_json(&options.unwrap_or_else(|| null("options")).0)
        .unwrap_or_else(|e| raise_train(e));
    if name.trim().is_empty() {
        raise_train(TrainError::invalid(
            "model name must not be empty",
            "Models are named like 'default' or 'spring_campaign'.",
        ));
    }
    let relid = source.oid();
    let relation = relation_name(relid);
    drop(source);
    let columns = relation_columns(relid);
    let find = |c: &str, what: &str| {
        columns
            .iter()
            .find(|(n, _, _)| n == c)
            .unwrap_or_else(|| undefined_column(&relation, c, what))
    };
    let target = find(target_column, "target column");
    let validation = options.validation_column.as_deref().map(|c| {
        let col = find(c, "validation column");
        if col.2 != "B" {
            raise(
                PgSqlErrorCode::ERRCODE_DATATYPE_MISMATCH,
                format!(
                    "validation column \"{c}\" is of type {}, not boolean",
                    col.1
                ),
                Some("Mark validation rows with a boolean column (true = validation).".into()),
            );
        }
        col
    });
    for c in options.exclude.iter().chain(options.kinds.keys()) {
        find(c, "column named in options");
    }
    if !matches!(target.2.as_str(), "B" | "N") {
        raise(
            PgSqlErrorCode::ERRCODE_DATATYPE_MISMATCH,
            format!("target column \"{target_column}\" is of type {}; it must be boolean or a number holding 0/1", target.1),
            Some("Train on a view that maps the outcome to 0 and 1.".into()),
        );
    }

    // The feature columns and how each is read.
    let mut select = vec![
        format!("s.{}::text", quote_ident(target_column)),
        match validation {
            Some(v) => format!("s.{}::boolean", quote_ident(&v.0)),
            None => "NULL::boolean".into(),
        },
    ];
    // The type of each selected column, as the casts above and below make it: read_rows checks
    // the result's row type against it, so each cell is read as what it is.
    let mut types = vec![pg_sys::TEXTOID, pg_sys::BOOLOID];
    let mut readers = Vec::new();
    for (col, ty, category) in &columns {
        if col == target_column
            || Some(col) == validation.map(|v| &v.0)
            || options.exclude.binary_search(col).is_ok()
        {
            continue;
        }
        let kind = options.kinds.get(col).copied();
        match (category.as_str(), kind) {
            ("N", None | Some(InputKind::Number)) => {
                select.push(format!("s.{}::float8", quote_ident(col)));
                types.push(pg_sys::FLOAT8OID);
                readers.push(Reader::Number(NumberColumn::new(col)));
            }
            ("S", _) | ("N", Some(_)) => {
                select.push(format!("s.{}::text", quote_ident(col)));
                types.push(pg_sys::TEXTOID);
                readers.push(Reader::Text(TextColumn::new(col, kind, options.max_levels)));
            }
            _ => raise(
                PgSqlErrorCode::ERRCODE_DATATYPE_MISMATCH,
                format!("column \"{col}\" of {relation} is of type {ty}, which training cannot read"),
                Some(format!(
                    "Training reads numbers and text. Leave it out with options.exclude [\"{col}\"], or train on a view that casts it."
                )),
            ),
        }
    }
    if readers.is_empty() {
        raise_train(TrainError::invalid(
            format!("{relation} has no feature column besides the target"),
            "Train on a table with customer columns.",
        ));
    }

    let query = format!("SELECT {} FROM {relation} s", select.join(", "));
    let mut target_values: Vec<bool> = Vec::new();
    let mut validation_rows: Vec<bool> = Vec::new();
    let mut progress = Progress;
    progress.progress(&format!("reading {relation} ({} columns)", readers.len()));
    let column_names: Vec<String> = readers.iter().map(|r| r.name().to_string()).collect();
    let max_memory = limit_bytes(options.settings.max_memory_mb);
    read_rows(&query, &relation, &types, |row| {
        let r = target_values.len();
        if r as i64 >= options.max_rows {
            raise(
                PgSqlErrorCode::ERRCODE_PROGRAM_LIMIT_EXCEEDED,
                format!("{relation} has more than max_rows = {} rows", options.max_rows),
                Some(format!(
                    "Training holds every row in memory (about 8 bytes per numeric cell and feature). Train on a sample, e.g. CREATE VIEW training_sample AS SELECT * FROM {relation} TABLESAMPLE BERNOULLI (10) REPEATABLE (42), or raise options.max_rows."
                )),
            );
        }
        let t = row.text(0, target_column);
        let outcome = outcome(target_column, t, r + 1);
        let is_validation = match validation {
            Some(v) if row.is_null(1) => raise(
                PgSqlErrorCode::ERRCODE_NULL_VALUE_NOT_ALLOWED,
                format!(
                    "validation column \"{}\" is NULL in row {} of the scan",
                    v.0,
                    r + 1
                ),
                Some("Mark every row: true for validation, false for training.".into()),
            ),
            Some(_) => row.boolean(1) == Some(true),
            None => {
                options.validation_fraction > 0.0
                    && draw(options.seed, r as u64) < options.validation_fraction
            }
        };
        try_grow(&mut target_values, || "the target".into()).unwrap_or_else(|e| raise_train(e));
        try_grow(&mut validation_rows, || "the validation flags".into())
            .unwrap_or_else(|e| raise_train(e));
        target_values.push(outcome);
        validation_rows.push(is_validation);
        let mut bytes = (target_values.capacity() + validation_rows.capacity()) as u64;
        for (i, reader) in readers.iter_mut().enumerate() {
            let result = match reader {
                Reader::Number(c) => c.push(row.float8(i + 2)),
                Reader::Text(c) => c.push(row.text(i + 2, &column_names[i])),
            };
            result.unwrap_or_else(|e| raise_train(e));
            bytes += reader.heap_bytes();
        }
        // The rows as read count against max_memory_mb too (Vec capacities: what is held).
        if bytes > max_memory {
            raise_train(reading_limit(
                &relation,
                r + 1,
                bytes,
                options.settings.max_memory_mb,
            ));
        }
    });
    let rows = target_values.len();
    progress.progress(&format!(
        "read {rows} rows ({} for validation)",
        validation_rows.iter().filter(|v| **v).count()
    ));
    let columns = readers
        .into_iter()
        .map(|r| match r {
            Reader::Number(c) => c.finish(),
            Reader::Text(c) => c.finish().unwrap_or_else(|e| raise_train(e)),
        })
        .collect();
    let set = TrainingSet {
        columns,
        target: target_values,
        validation: validation_rows,
    };
    let mut meta = Map::new();
    // The model's own name: a trained artifact exported and loaded elsewhere without a name
    // argument keeps it (load_purchase_model's naming rule).
    meta.insert("name".into(), json!(name));
    meta.insert("source".into(), json!(relation));
    meta.insert("target".into(), json!(target_column));
    meta.insert(
        "trainer".into(),
        json!(format!(
            "pg_purchase {} train_purchase_model",
            env!("CARGO_PKG_VERSION")
        )),
    );
    meta.insert("trained_at".into(), json!(store::now_text()));
    meta.insert("options".into(), options.to_json());
    let trained = train::train(&set, &options.settings, meta, &mut progress)
        .unwrap_or_else(|e| raise_train(e));
    drop(set);
    store::store(trained.artifact, name, options.activate)
}
