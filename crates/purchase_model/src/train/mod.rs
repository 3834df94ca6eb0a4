//! Training the whole pipeline from raw columns, as the data scientists' notebook did: on the
//! training rows only, mean imputation and standard scaling (population standard deviation) of
//! numeric columns; one-hot categories with the first sorted level dropped plus a `<col>_nan`
//! indicator; an L1-penalised logistic regression (liblinear's objective, its intercept a
//! penalised column of ones as liblinear's is) over every feature to rank them by squared
//! coefficient, its C given or chosen by cross-validation (`cv`); an unpenalised Newton refit on
//! the top k and the intercept (unless `fit_intercept` is false). `class_weight` weighs both fits
//! as scikit-learn's does. Columns that look like keys are named in a NOTICE (`keys`).
//! The result is an artifact of format 2 (`document`, RFC 8785 hash) with reference checks
//! scored by the fitted model, the standard errors, a drift profile, and the training metrics.
//! Memory is estimated before the design matrix is allocated (`memory`).
//!
//! No pgrx here: `pg::training` reads the table into [`columns`] and calls [`train`].

pub mod columns;
pub mod cv;
pub mod document;
pub mod encode;
pub mod irls;
pub mod keys;
pub mod l1;
pub mod linalg;
pub mod memory;
pub mod options;
pub mod profile;

#[cfg(test)]
mod tests;

use crate::artifact::InputKind;
use crate::error::PipelineError;
use crate::evaluate::Evaluation;
use crate::json_rows::score_json_row;
use crate::model::{CompiledModel, RawValue};
use columns::{Column, ColumnValues, MISSING};
use document::{new_document, InputDoc, ModelDoc};
use encode::{design, encode, raw_row, select_columns, Candidate, Encoded, Unusable};
use memory::TrainingShape;
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
    /// 22003: a column's values are too large to standardise (its variance overflows).
    OutOfRange,
    /// 53200: an allocation failed (the memory estimate passed, the system had less).
    OutOfMemory,
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
            crate::error::ErrorKind::OutOfRange => TrainErrorKind::OutOfRange,
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
    /// Something the user should act on, with a hint (a NOTICE with HINT in the database).
    fn advise(&mut self, message: &str, _hint: &str) {
        self.progress(message);
    }
}

/// A monitor that does nothing (tests, benchmarks).
pub struct Quiet;
impl Monitor for Quiet {}

#[derive(Debug, Clone)]
pub struct TrainSettings {
    pub top_k: usize,
    pub l1_c: f64,
    /// Choose l1_c by cross-validation (`cv`) instead.
    pub l1_c_cv: bool,
    /// Fit an intercept (scikit-learn's default) in the L1 fit and in the refit.
    pub fit_intercept: bool,
    pub class_weight: options::ClassWeight,
    pub threshold: f64,
    /// liblinear's stopping tolerance for the L1 fit.
    pub tol: f64,
    /// Reference rows stored in the artifact's checks.
    pub checks: usize,
    /// The memory a training may hold at its peak (`memory::estimate`), in MB.
    pub max_memory_mb: u64,
    /// Seeds the cross-validation folds (options.seed).
    pub seed: u64,
}

impl Default for TrainSettings {
    fn default() -> Self {
        TrainSettings {
            top_k: 25,
            l1_c: 1.0,
            l1_c_cv: false,
            fit_intercept: true,
            class_weight: options::ClassWeight::Equal,
            threshold: 0.75,
            tol: 1e-10,
            checks: 20,
            max_memory_mb: options::DEFAULT_MAX_MEMORY_MB as u64,
            seed: 0,
        }
    }
}

/// Rows as read: the columns, the 0/1 target, and which rows are validation rows.
pub struct TrainingSet {
    pub columns: Vec<Column>,
    pub target: Vec<bool>,
    pub validation: Vec<bool>,
}

impl TrainingSet {
    /// Heap bytes held (by capacity): what the memory estimate counts as the rows as read.
    pub fn heap_bytes(&self) -> u64 {
        self.columns.iter().map(Column::heap_bytes).sum::<u64>()
            + self.target.capacity() as u64
            + self.validation.capacity() as u64
    }
}

#[derive(Debug)]
pub struct Trained {
    /// The format-2 artifact, hashed and validated, `training` holding the metadata given to
    /// `train` plus `rows` and `metrics`.
    pub artifact: Value,
    pub metrics: Value,
    /// Columns left out, with the reason (already reported through the monitor).
    pub dropped: Vec<(String, String)>,
}

/// The output name of a category level, and of a category's missing indicator.
pub fn level_feature(column: &str, level: &str) -> String {
    format!("{column}_{level}")
}
pub fn missing_feature(column: &str) -> String {
    format!("{column}_nan")
}

/// Fits the pipeline. `training` is the free-form metadata stored in the artifact (source,
/// options); `rows` and `metrics` are added to it.
pub fn train(
    set: &TrainingSet,
    settings: &TrainSettings,
    mut training: Map<String, Value>,
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
            Err(Unusable::LeftOut(reason)) => {
                monitor.progress(&format!("column \"{}\" left out: {reason}", column.name));
                dropped.push((column.name.clone(), reason));
            }
            Err(Unusable::Error(e)) => return Err(e),
        }
        monitor.tick();
    }
    for c in &candidates {
        if let Some(why) = keys::looks_like_key(c.column, &rows) {
            let name = &c.column.name;
            monitor.advise(
                &format!("column \"{name}\" looks like a key ({why}): a key says nothing about buying, but a fit may still use it"),
                &format!("Leave it out with options.exclude, e.g. '{{\"exclude\": [\"{name}\"]}}'."),
            );
        }
    }
    let mut names = Vec::new();
    for c in &candidates {
        match &c.encoded {
            Encoded::Numeric { .. } => names.push(c.column.name.clone()),
            Encoded::Category {
                levels, missing, ..
            } => {
                names.extend(levels[1..].iter().map(|l| level_feature(&c.column.name, l)));
                if *missing {
                    names.push(missing_feature(&c.column.name));
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
    let estimate = memory::check(
        &TrainingShape {
            all_rows: set.target.len(),
            training_rows: n,
            features: p + usize::from(settings.fit_intercept),
            selected: k + usize::from(settings.fit_intercept),
            rows_as_read: set.heap_bytes(),
        },
        settings.max_memory_mb,
    )?;
    monitor.progress(&format!(
        "design matrix: {n} training rows x {p} features ({} MB; about {} MB at the peak of the training, max_memory_mb = {})",
        memory::thousands(memory::megabytes(estimate.design_matrix)),
        memory::thousands(memory::megabytes(estimate.peak)),
        settings.max_memory_mb,
    ));
    let intercept = settings.fit_intercept;
    let x = design(&candidates, &rows, p, intercept, monitor)?;
    let t: Vec<bool> = rows.iter().map(|&r| set.target[r]).collect();
    let class_weight = settings.class_weight.weights(n, positives);
    let mut l1_settings = l1::L1Settings {
        c: settings.l1_c,
        tol: settings.tol,
        class_weight,
        ..Default::default()
    };
    let cv = if settings.l1_c_cv {
        let report = cv::choose_l1_c(x.view(), &t, settings.seed, &l1_settings, monitor)?;
        monitor.progress(&format!(
            "l1_c = {} chosen by {}-fold cross-validation",
            report.chosen,
            cv::FOLDS
        ));
        l1_settings.c = report.chosen;
        Some(report)
    } else {
        None
    };
    let l1_c = l1_settings.c;
    let l1 = l1::fit_l1_logistic(x.view(), &t, &l1_settings, monitor)?;

    // Ranking by squared L1 coefficient; ties keep feature order (a stable sort). The
    // intercept (column p) is no feature and is not ranked.
    let mut ranking: Vec<usize> = (0..p).filter(|&j| l1.coefficients[j] != 0.0).collect();
    ranking.sort_by(|&a, &b| {
        (l1.coefficients[b] * l1.coefficients[b])
            .total_cmp(&(l1.coefficients[a] * l1.coefficients[a]))
    });
    if ranking.is_empty() {
        return Err(TrainError::invalid(
            format!("the L1 penalty leaves no feature (every coefficient is 0 at l1_c = {l1_c})"),
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
    let mut refit_columns = selected.clone();
    let mut refit_names = selected_names.clone();
    if intercept {
        refit_columns.push(p);
        refit_names.push(irls::INTERCEPT.to_string());
    }
    let xs = select_columns(&x, &refit_columns)?;
    drop(x);
    let mut refit = irls::refit_logistic(xs.view(), &t, &refit_names, class_weight, monitor)?;
    drop(xs);
    // The intercept's coefficient and standard error are the refit's last, when fitted.
    let (intercept_value, intercept_std_error) = if intercept {
        (refit.coefficients.pop(), refit.std_errors.pop())
    } else {
        (None, None)
    };

    // The artifact, compiled and scored by the loader's own code.
    let inputs = || {
        candidates
            .iter()
            .map(|c| match &c.encoded {
                Encoded::Numeric {
                    impute_mean,
                    scale_mean,
                    scale,
                } => InputDoc::numeric(
                    &c.column.name,
                    c.column.kind,
                    *impute_mean,
                    *scale_mean,
                    *scale,
                ),
                Encoded::Category {
                    levels, missing, ..
                } => InputDoc::category(&c.column.name, levels, *missing),
            })
            .collect::<Vec<_>>()
    };
    let model_doc = || ModelDoc {
        // The same objects the notebook fits (the training section says how: in the database).
        class: "sklearn.linear_model.LogisticRegression",
        features: &selected_names,
        coefficients: &refit.coefficients,
        intercept: intercept_value.unwrap_or(0.0),
        std_errors: &refit.std_errors,
    };
    let (_, parsed) = new_document(inputs(), model_doc(), settings.threshold).finish()?;
    let model = CompiledModel::compile(&parsed)?;
    let inputs_of_model: Vec<&Column> = model
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
            Ok(match &inputs_of_model[i].values {
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

    let metrics = json!({
        "validation_auc": validation.as_ref().and_then(|m| m.auc),
        "validation": validation.as_ref().map(|m| m.to_json()),
        "log_likelihood": refit.log_likelihood,
        "iterations": {"l1": l1.iterations, "refit": refit.iterations},
        "training_rows": n,
        "training_positives": positives,
        "validation_rows": validation_rows.len(),
        "features_considered": p,
        "l1_c": l1_c,
        "l1_c_cv": cv.as_ref().map(cv::CvReport::to_json),
        "l1_intercept": intercept.then(|| l1.coefficients[p]),
        "fit_intercept": intercept,
        "intercept": intercept_value,
        "intercept_std_error": intercept_std_error,
        "class_weight": {"0": class_weight[0], "1": class_weight[1]},
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
    // Metrics travel inside the artifact (training.metrics): an export carries them, and
    // purchase_models() shows them for every version that has them.
    training.insert("rows".into(), json!(n));
    training.insert("metrics".into(), metrics.clone());
    let mut doc = new_document(inputs(), model_doc(), settings.threshold);
    doc.checks = checks;
    doc.profile = Some(profile::profile(&candidates_columns(&candidates), &rows));
    doc.training = Some(training);
    let (artifact, _) = doc.finish()?;
    Ok(Trained {
        artifact,
        metrics,
        dropped,
    })
}

fn candidates_columns<'a>(candidates: &[Candidate<'a>]) -> Vec<&'a Column> {
    candidates.iter().map(|c| c.column).collect()
}

pub fn kind_name(kind: InputKind) -> &'static str {
    match kind {
        InputKind::Number => "number",
        InputKind::Money => "money",
        InputKind::Percent => "percent",
        InputKind::Category => "category",
    }
}
