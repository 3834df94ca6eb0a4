//! How each column enters the model: its imputer/scaler statistics or its vocabulary on the
//! training rows (or why it is left out), and the dense design matrix built from them.

use super::columns::{Column, ColumnValues, MISSING};
use super::memory::try_zeros;
use super::{Monitor, TrainError, TrainErrorKind};
use ndarray::Array2;
use serde_json::{json, Map, Value};

/// How one column enters the design matrix.
pub enum Encoded {
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

pub struct Candidate<'a> {
    pub column: &'a Column,
    pub encoded: Encoded,
}

/// Why a column does not enter the model.
pub enum Unusable {
    /// It can carry no signal (all missing, constant): left out with a notice.
    LeftOut(String),
    /// Its values cannot be standardised: the training stops.
    Error(TrainError),
}

/// The column's statistics or vocabulary on the training rows.
pub fn encode(column: &Column, rows: &[usize]) -> Result<Encoded, Unusable> {
    let n = rows.len() as f64;
    match &column.values {
        ColumnValues::Numbers(v) => {
            let (sum, count) = rows
                .iter()
                .map(|&r| v[r])
                .filter(|x| !x.is_nan())
                .fold((0.0, 0usize), |(s, c), x| (s + x, c + 1));
            if count == 0 {
                return Err(Unusable::LeftOut("it is NULL in every training row".into()));
            }
            let impute_mean = sum / count as f64;
            let imputed = |r: usize| if v[r].is_nan() { impute_mean } else { v[r] };
            let scale_mean = rows.iter().map(|&r| imputed(r)).sum::<f64>() / n;
            let var = rows
                .iter()
                .map(|&r| (imputed(r) - scale_mean).powi(2))
                .sum::<f64>()
                / n;
            if !(impute_mean.is_finite() && scale_mean.is_finite() && var.is_finite()) {
                return Err(Unusable::Error(overflow(column, v, rows)));
            }
            let scale = var.sqrt();
            // scikit-learn's StandardScaler treats a scale this small as zero.
            if scale <= 10.0 * f64::EPSILON * scale_mean.abs().max(1.0) {
                return Err(Unusable::LeftOut(format!(
                    "it is constant ({impute_mean}) in the training rows"
                )));
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
                return Err(Unusable::LeftOut(match present.first() {
                    Some(&l) => format!("it holds only \"{}\" in the training rows", levels[l]),
                    None => "it is NULL in every training row".into(),
                }));
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

/// 22003: the mean or the sum of squares of a column's values passes the largest double, so
/// the scaler (and scikit-learn's, which gives inf and then NaN) cannot standardise it.
fn overflow(column: &Column, v: &[f64], rows: &[usize]) -> TrainError {
    let largest = rows
        .iter()
        .map(|&r| v[r].abs())
        .filter(|x| !x.is_nan())
        .fold(0.0, f64::max);
    TrainError {
        kind: TrainErrorKind::OutOfRange,
        message: format!(
            "column \"{}\" cannot be standardised: its variance overflows a double (its values reach {largest:e} in magnitude)",
            column.name
        ),
        hint: Some(format!(
            "Rescale the column in a view (e.g. \"{0}\" / 1e300 AS \"{0}\"), or leave it out with options.exclude [\"{0}\"].",
            column.name
        )),
    }
}

/// The n x p design matrix of the training rows, row-major, features in the candidates' output
/// order, and with `intercept` a last column of ones; allocated fallibly (53200 instead of an
/// abort).
pub fn design(
    candidates: &[Candidate],
    rows: &[usize],
    p: usize,
    intercept: bool,
    monitor: &mut dyn Monitor,
) -> Result<Array2<f64>, TrainError> {
    let mut x = try_zeros(rows.len(), p + usize::from(intercept), "the design matrix")?;
    if intercept {
        // The intercept's column, last: liblinear's bias feature (intercept_scaling = 1).
        x.column_mut(p).fill(1.0);
    }
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
    Ok(x)
}

/// The columns `selected` of `x`, allocated fallibly.
pub fn select_columns(x: &Array2<f64>, selected: &[usize]) -> Result<Array2<f64>, TrainError> {
    let mut out = try_zeros(x.nrows(), selected.len(), "the selected features")?;
    for (to, &from) in selected.iter().enumerate() {
        out.column_mut(to).assign(&x.column(from));
    }
    Ok(out)
}

/// A training row as the raw JSON object a reference check holds.
pub fn raw_row(candidates: &[Candidate], r: usize) -> Map<String, Value> {
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
