//! Training the whole pipeline from raw columns, as the data scientists' notebook did: on the
//! training rows only, mean imputation and standard scaling (population standard deviation) of
//! numeric columns; one-hot categories with the first sorted level dropped plus a `<col>_nan`
//! indicator; an L1-penalised logistic regression without intercept (liblinear's objective) over
//! every feature to rank them by squared coefficient; an unpenalised Newton refit on the top k.
//! The result is an artifact in the loader's format (1) with reference checks scored by the
//! fitted model, the standard errors, a drift profile, and the training metrics.
//!
//! No pgrx here: `pg::training` reads the table into [`columns`] and calls [`train`].

pub mod columns;
pub mod irls;
pub mod l1;
pub mod linalg;
pub mod profile;

#[cfg(test)]
mod tests;

use crate::artifact::{Artifact, InputKind, FORMAT};
use crate::canonical::{canonical_json, sha256_hex};
use crate::error::PipelineError;
use crate::evaluate::Evaluation;
use crate::json_rows::score_json_row;
use crate::model::{CompiledModel, RawValue};
use columns::{Column, ColumnValues, MISSING};
use ndarray::{Array2, Axis};
use serde_json::{json, Map, Value};

/// What went wrong, independent of PostgreSQL; `pg::training` maps it to a SQLSTATE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrainErrorKind {
    /// 22023: a bad option or unusable training data (one class, too few rows).
    InvalidParameter,
    /// 22P02: a value that cannot be read.
    InvalidText,
    /// 54000: more distinct categories or rows than the limits allow.
    Limit,
    /// 22000: the data admit no (unique, finite) fit: separation, collinearity.
    Numeric,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TrainError {
    pub kind: TrainErrorKind,
    pub message: String,
    pub hint: Option<String>,
}

impl TrainError {
    pub fn invalid(message: impl Into<String>, hint: impl Into<String>) -> Self {
        TrainError {
            kind: TrainErrorKind::InvalidParameter,
            message: message.into(),
            hint: Some(hint.into()),
        }
    }
    pub fn invalid_value(message: impl Into<String>) -> Self {
        TrainError {
            kind: TrainErrorKind::InvalidText,
            message: message.into(),
            hint: None,
        }
    }
    pub fn limit(message: impl Into<String>, hint: impl Into<String>) -> Self {
        TrainError {
            kind: TrainErrorKind::Limit,
            message: message.into(),
            hint: Some(hint.into()),
        }
    }
    pub fn numeric(message: impl Into<String>, hint: impl Into<String>) -> Self {
        TrainError {
            kind: TrainErrorKind::Numeric,
            message: message.into(),
            hint: Some(hint.into()),
        }
    }
}

impl From<PipelineError> for TrainError {
    fn from(e: PipelineError) -> Self {
        let kind = match e.kind() {
            crate::error::ErrorKind::InvalidText => TrainErrorKind::InvalidText,
            _ => TrainErrorKind::InvalidParameter,
        };
        TrainError {
            kind,
            hint: e.hint(),
            message: e.to_string(),
        }
    }
}

/// Progress and cancellation: `tick` is called at least every few milliseconds of work (the
/// database checks for interrupts there), `progress` once per stage or iteration.
pub trait Monitor {
    fn tick(&mut self) {}
    fn progress(&mut self, _message: &str) {}
    /// Per-iteration detail (DEBUG1 in the database).
    fn detail(&mut self, _message: &str) {}
}

/// A monitor that does nothing (tests, benchmarks).
pub struct Quiet;
impl Monitor for Quiet {}

#[derive(Debug, Clone)]
pub struct TrainSettings {
    pub top_k: usize,
    pub l1_c: f64,
    pub threshold: f64,
    /// liblinear's stopping tolerance for the L1 fit.
    pub tol: f64,
    /// Reference rows stored in the artifact's checks.
    pub checks: usize,
}

impl Default for TrainSettings {
    fn default() -> Self {
        TrainSettings {
            top_k: 25,
            l1_c: 1.0,
            threshold: 0.75,
            tol: 1e-10,
            checks: 20,
        }
    }
}

/// Rows as read: the columns, the 0/1 target, and which rows are validation rows.
pub struct TrainingSet {
    pub columns: Vec<Column>,
    pub target: Vec<bool>,
    pub validation: Vec<bool>,
}

#[derive(Debug)]
pub struct Trained {
    pub artifact: Value,
    pub metrics: Value,
    /// Columns left out, with the reason (already reported through the monitor).
    pub dropped: Vec<(String, String)>,
}

/// How one column enters the design matrix.
enum Encoded {
    Numeric {
        impute_mean: f64,
        scale_mean: f64,
        scale: f64,
    },
    Category {
        /// Levels present in training rows, sorted; the first is the dropped reference.
        levels: Vec<String>,
        /// Code in the column's own levels -> index into `levels` (None: not in training).
        remap: Vec<Option<usize>>,
        missing: bool,
    },
}

struct Candidate<'a> {
    column: &'a Column,
    encoded: Encoded,
}

/// Fits the pipeline. `training` is free-form metadata stored in the artifact.
pub fn train(
    set: &TrainingSet,
    settings: &TrainSettings,
    training: Value,
    monitor: &mut dyn Monitor,
) -> Result<Trained, TrainError> {
    let started = std::time::Instant::now();
    let rows: Vec<usize> = (0..set.target.len())
        .filter(|&r| !set.validation[r])
        .collect();
    let n = rows.len();
    let positives = rows.iter().filter(|&&r| set.target[r]).count();
    if n == 0 {
        return Err(TrainError::invalid(
            "there are no training rows (every row is a validation row)",
            "Lower options.validation_fraction or mark fewer rows in options.validation_column.",
        ));
    }
    if positives == 0 || positives == n {
        return Err(TrainError::invalid(
            format!(
                "the target is {} in all {n} training rows: a model needs both outcomes",
                u8::from(positives == n)
            ),
            "Train on rows that include both buyers (1) and non-buyers (0).",
        ));
    }

    // Statistics on the training rows only.
    let mut dropped = Vec::new();
    let mut candidates = Vec::new();
    for column in &set.columns {
        match encode(column, &rows) {
            Ok(encoded) => candidates.push(Candidate { column, encoded }),
            Err(reason) => {
                monitor.progress(&format!("column \"{}\" left out: {reason}", column.name));
                dropped.push((column.name.clone(), reason));
            }
        }
        monitor.tick();
    }
    let mut names = Vec::new();
    for c in &candidates {
        match &c.encoded {
            Encoded::Numeric { .. } => names.push(c.column.name.clone()),
            Encoded::Category {
                levels, missing, ..
            } => {
                names.extend(levels[1..].iter().map(|l| format!("{}_{l}", c.column.name)));
                if *missing {
                    names.push(format!("{}_nan", c.column.name));
                }
            }
        }
    }
    let p = names.len();
    if p == 0 {
        return Err(TrainError::invalid(
            "no usable feature: every column was left out (see the notices)",
            "Train on a table with columns that vary across the training rows.",
        ));
    }
    let k = settings.top_k.min(p);
    if n <= p {
        return Err(TrainError::invalid(
            format!("there are {n} training rows for {p} candidate features: training needs more rows than features"),
            "Train on more rows, or leave columns out with options.exclude.",
        ));
    }
    monitor.progress(&format!(
        "design matrix: {n} training rows x {p} features ({} MB)",
        n * p * 8 / 1_000_000
    ));
    let x = design(&candidates, &rows, p, monitor);
    let t: Vec<bool> = rows.iter().map(|&r| set.target[r]).collect();

    let l1 = l1::fit_l1_logistic(
        x.view(),
        &t,
        &l1::L1Settings {
            c: settings.l1_c,
            tol: settings.tol,
            ..Default::default()
        },
        monitor,
    )?;

    // Ranking by squared L1 coefficient; ties keep feature order (a stable sort).
    let mut ranking: Vec<usize> = (0..p).filter(|&j| l1.coefficients[j] != 0.0).collect();
    ranking.sort_by(|&a, &b| {
        (l1.coefficients[b] * l1.coefficients[b])
            .total_cmp(&(l1.coefficients[a] * l1.coefficients[a]))
    });
    if ranking.is_empty() {
        return Err(TrainError::invalid(
            format!(
                "the L1 penalty leaves no feature (every coefficient is 0 at l1_c = {})",
                settings.l1_c
            ),
            "Choose a larger options.l1_c (weaker penalty).",
        ));
    }
    if ranking.len() < k {
        monitor.progress(&format!(
            "only {} features have a nonzero L1 coefficient; the model uses those instead of top_k = {k} (a larger l1_c keeps more)",
            ranking.len()
        ));
    }
    let selected: Vec<usize> = ranking.iter().copied().take(k).collect();
    let selected_names: Vec<String> = selected.iter().map(|&j| names[j].clone()).collect();
    let xs = x.select(Axis(1), &selected);
    drop(x);
    let refit = irls::refit_logistic(xs.view(), &t, &selected_names, monitor)?;
    drop(xs);

    // The artifact, compiled and scored by the loader's own code.
    let mut doc = artifact(
        &candidates,
        &selected_names,
        &refit,
        settings.threshold,
        training,
    )?;
    let parsed = Artifact::from_json(&doc)?;
    let model = CompiledModel::compile(&parsed)?;
    let inputs: Vec<&Column> = model
        .inputs
        .iter()
        .map(|i| {
            set.columns
                .iter()
                .find(|c| c.name == i.column)
                .expect("every model input is a training column")
        })
        .collect();
    let score_row = |r: usize| {
        model.score_with(|i| {
            Ok(match &inputs[i].values {
                ColumnValues::Numbers(v) if v[r].is_nan() => RawValue::Missing,
                ColumnValues::Numbers(v) => RawValue::Number(v[r]),
                ColumnValues::Levels { codes, .. } if codes[r] == MISSING => RawValue::Missing,
                ColumnValues::Levels { levels, codes } => {
                    RawValue::Text(&levels[codes[r] as usize])
                }
            })
        })
    };
    let validation_rows: Vec<usize> = (0..set.target.len())
        .filter(|&r| set.validation[r])
        .collect();
    let mut evaluation = Evaluation::with_capacity(validation_rows.len());
    for (i, &r) in validation_rows.iter().enumerate() {
        evaluation.add(score_row(r)?.p_hat, set.target[r]);
        if i % 4096 == 0 {
            monitor.tick();
        }
    }
    let validation = (!validation_rows.is_empty()).then(|| evaluation.finish(settings.threshold));

    let check_rows: Vec<usize> = (0..settings.checks.min(n))
        .map(|i| rows[i * n / settings.checks.min(n)])
        .collect();
    let mut checks = Vec::new();
    for (index, &r) in check_rows.iter().enumerate() {
        let row = raw_row(&candidates, r);
        let p_hat = score_json_row(&model, &row, index)?.p_hat;
        checks.push(json!({ "row": row, "p_hat": p_hat }));
    }
    let top = doc.as_object_mut().expect("artifact is an object");
    top.insert("checks".into(), Value::Array(checks));
    top.insert(
        "profile".into(),
        profile::profile(&candidates_columns(&candidates), &rows),
    );
    let sha = sha256_hex(&canonical_json(&doc, Some("sha256")));
    doc.as_object_mut()
        .expect("artifact is an object")
        .insert("sha256".into(), Value::String(sha));

    let metrics = json!({
        "validation_auc": validation.as_ref().and_then(|m| m.auc),
        "validation": validation.as_ref().map(|m| m.to_json()),
        "log_likelihood": refit.log_likelihood,
        "iterations": {"l1": l1.iterations, "refit": refit.iterations},
        "training_rows": n,
        "training_positives": positives,
        "validation_rows": validation_rows.len(),
        "features_considered": p,
        "l1_c": settings.l1_c,
        "l1_objective": l1.objective,
        "l1_relative_subgradient": l1.relative_subgradient,
        "top_k": k,
        "ranking": ranking.iter().enumerate().map(|(rank, &j)| json!({
            "rank": rank + 1,
            "feature": names[j],
            "l1_coefficient": l1.coefficients[j],
            "selected": rank < k,
        })).collect::<Vec<_>>(),
        "coefficients": selected_names.iter().enumerate().map(|(i, f)| json!({
            "feature": f,
            "coefficient": refit.coefficients[i],
            "std_error": refit.std_errors[i],
        })).collect::<Vec<_>>(),
        "dropped_columns": dropped.iter().map(|(c, why)| json!({"column": c, "reason": why})).collect::<Vec<_>>(),
        "fit_seconds": started.elapsed().as_secs_f64(),
    });
    Ok(Trained {
        artifact: doc,
        metrics,
        dropped,
    })
}

fn candidates_columns<'a>(candidates: &[Candidate<'a>]) -> Vec<&'a Column> {
    candidates.iter().map(|c| c.column).collect()
}

/// The column's imputer/scaler statistics or vocabulary on the training rows, or why it is
/// left out (all missing, or constant: it could not carry any signal).
fn encode(column: &Column, rows: &[usize]) -> Result<Encoded, String> {
    let n = rows.len() as f64;
    match &column.values {
        ColumnValues::Numbers(v) => {
            let (sum, count) = rows
                .iter()
                .map(|&r| v[r])
                .filter(|x| !x.is_nan())
                .fold((0.0, 0usize), |(s, c), x| (s + x, c + 1));
            if count == 0 {
                return Err("it is NULL in every training row".into());
            }
            let impute_mean = sum / count as f64;
            let imputed = |r: usize| if v[r].is_nan() { impute_mean } else { v[r] };
            let scale_mean = rows.iter().map(|&r| imputed(r)).sum::<f64>() / n;
            let var = rows
                .iter()
                .map(|&r| (imputed(r) - scale_mean).powi(2))
                .sum::<f64>()
                / n;
            let scale = var.sqrt();
            // scikit-learn's StandardScaler treats a scale this small as zero.
            if scale <= 10.0 * f64::EPSILON * scale_mean.abs().max(1.0) || scale.is_nan() {
                return Err(format!(
                    "it is constant ({impute_mean}) in the training rows"
                ));
            }
            Ok(Encoded::Numeric {
                impute_mean,
                scale_mean,
                scale,
            })
        }
        ColumnValues::Levels { levels, codes } => {
            let mut seen = vec![false; levels.len()];
            let mut missing = false;
            for &r in rows {
                match codes[r] {
                    MISSING => missing = true,
                    c => seen[c as usize] = true,
                }
            }
            let present: Vec<usize> = (0..levels.len()).filter(|&l| seen[l]).collect();
            if present.len() + usize::from(missing) < 2 {
                return Err(match present.first() {
                    Some(&l) => format!("it holds only \"{}\" in the training rows", levels[l]),
                    None => "it is NULL in every training row".into(),
                });
            }
            let mut remap = vec![None; levels.len()];
            for (i, &l) in present.iter().enumerate() {
                remap[l] = Some(i);
            }
            Ok(Encoded::Category {
                levels: present.iter().map(|&l| levels[l].clone()).collect(),
                remap,
                missing,
            })
        }
    }
}

/// The n x p design matrix of the training rows, row-major, features in `names` order.
fn design(
    candidates: &[Candidate],
    rows: &[usize],
    p: usize,
    monitor: &mut dyn Monitor,
) -> Array2<f64> {
    let mut x = Array2::<f64>::zeros((rows.len(), p));
    let mut f = 0;
    for c in candidates {
        match (&c.encoded, &c.column.values) {
            (
                Encoded::Numeric {
                    impute_mean,
                    scale_mean,
                    scale,
                },
                ColumnValues::Numbers(v),
            ) => {
                for (i, &r) in rows.iter().enumerate() {
                    let raw = if v[r].is_nan() { *impute_mean } else { v[r] };
                    x[[i, f]] = (raw - scale_mean) / scale;
                }
                f += 1;
            }
            (
                Encoded::Category {
                    levels,
                    remap,
                    missing,
                },
                ColumnValues::Levels { codes, .. },
            ) => {
                let width = levels.len() - 1;
                for (i, &r) in rows.iter().enumerate() {
                    match codes[r] {
                        MISSING if *missing => x[[i, f + width]] = 1.0,
                        MISSING => {}
                        c => {
                            if let Some(l @ 1..) = remap[c as usize] {
                                x[[i, f + l - 1]] = 1.0;
                            }
                        }
                    }
                }
                f += width + usize::from(*missing);
            }
            _ => unreachable!("encode() matches the column's values"),
        }
        monitor.tick();
    }
    debug_assert_eq!(f, p);
    x
}

/// A training row as the raw JSON object a reference check holds.
fn raw_row(candidates: &[Candidate], r: usize) -> Map<String, Value> {
    candidates
        .iter()
        .map(|c| {
            let v = match &c.column.values {
                ColumnValues::Numbers(v) if v[r].is_nan() => Value::Null,
                ColumnValues::Numbers(v) => json!(v[r]),
                ColumnValues::Levels { codes, .. } if codes[r] == MISSING => Value::Null,
                ColumnValues::Levels { levels, codes } => json!(levels[codes[r] as usize]),
            };
            (c.column.name.clone(), v)
        })
        .collect()
}

fn kind_name(kind: InputKind) -> &'static str {
    match kind {
        InputKind::Number => "number",
        InputKind::Money => "money",
        InputKind::Percent => "percent",
        InputKind::Category => "category",
    }
}

/// The format-1 artifact (without checks, profile and sha256, which need the compiled model).
fn artifact(
    candidates: &[Candidate],
    features: &[String],
    refit: &irls::Refit,
    threshold: f64,
    training: Value,
) -> Result<Value, TrainError> {
    let mut inputs = Vec::new();
    let (mut num_cols, mut means, mut scale_means, mut scales) = (vec![], vec![], vec![], vec![]);
    let mut encoders = Vec::new();
    for c in candidates {
        inputs.push(json!({"column": c.column.name, "kind": kind_name(c.column.kind)}));
        match &c.encoded {
            Encoded::Numeric {
                impute_mean,
                scale_mean,
                scale,
            } => {
                num_cols.push(c.column.name.clone());
                means.push(*impute_mean);
                scale_means.push(*scale_mean);
                scales.push(*scale);
            }
            Encoded::Category { levels, .. } => encoders.push(json!({
                "column": c.column.name,
                "categories": levels,
                "drop": levels[0],
                "missing_indicator": true,
                "handle_unknown": "ignore",
            })),
        }
    }
    if !(threshold > 0.0 && threshold < 1.0) {
        return Err(TrainError::invalid(
            format!("option \"threshold\" is {threshold}; it must lie strictly between 0 and 1"),
            "The business threshold is a probability, e.g. 0.75.",
        ));
    }
    Ok(json!({
        "format": FORMAT,
        "format_version": 1, // the format 1 layout below (imputer/scaler/encoder sections)
        "inputs": inputs,
        "imputer": {"class": "sklearn.impute.SimpleImputer", "strategy": "mean", "columns": num_cols, "statistics": means},
        "scaler": {"class": "sklearn.preprocessing.StandardScaler", "columns": num_cols, "mean": scale_means, "scale": scales},
        "encoder": {"class": "sklearn.preprocessing.OneHotEncoder", "columns": encoders},
        "model": {
            // The same objects the notebook fits (the training section says how: in the database).
            "class": "sklearn.linear_model.LogisticRegression",
            "features": features,
            "coefficients": refit.coefficients,
            "intercept": 0.0,
            "std_errors": refit.std_errors,
        },
        "threshold": threshold,
        "training": training,
    }))
}
