//! How much memory a training holds at its peak, estimated before the design matrix is
//! allocated, and allocation that fails with an error instead of aborting the process.
//!
//! The estimate follows what `train` keeps alive, stage by stage (all f64, 8 bytes):
//! * throughout: the rows as read (`TrainingSet`, measured by capacity), the row indices of both
//!   splits, the training targets and the validation scores being evaluated;
//! * the L1 ranking: the dense design matrix (training rows x candidate features), about eight
//!   row-length vectors (linear predictor, probabilities, residuals, weights, line-search trial
//!   and step), the working set's Gram matrix and its block product (2 x features², at worst
//!   every feature in the working set) and one block of rows (`BLOCK_ROWS` x features);
//! * selecting the top k: the design matrix and its selected columns (rows x k) side by side;
//! * the refit: the selected columns, the same row vectors, four k x k matrices (the Hessian,
//!   nalgebra's copy, its Cholesky factor and inverse) and one block of rows.
//!
//! The peak is the largest stage. Category levels are one-hot encoded as dense columns, so a
//! category of 10,000 levels is 10,000 columns here: that is what the estimate (and
//! `max_memory_mb`) bounds, rather than a sparse design the solvers do not have.

use super::linalg::BLOCK_ROWS;
use super::TrainError;
use ndarray::Array2;

const F64: u64 = 8;
/// Row-length f64 vectors alive at once in the Newton loops (7 counted, one spare).
const ROW_VECTORS: u64 = 8;
const MB: u64 = 1024 * 1024;

/// The sizes the estimate depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrainingShape {
    /// Training and validation rows.
    pub all_rows: usize,
    pub training_rows: usize,
    /// Candidate features (columns of the design matrix).
    pub features: usize,
    /// Features kept for the refit (top_k, at most `features`).
    pub selected: usize,
    /// Bytes already held by the rows as read.
    pub rows_as_read: u64,
}

/// The estimate, in bytes, with the part that usually dominates named for the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryEstimate {
    pub peak: u64,
    pub design_matrix: u64,
    pub gram_matrices: u64,
    pub rows_as_read: u64,
}

fn mul(a: u64, b: u64) -> u64 {
    a.saturating_mul(b)
}

pub fn estimate(shape: &TrainingShape) -> MemoryEstimate {
    let n = shape.training_rows as u64;
    let all = shape.all_rows as u64;
    let p = shape.features as u64;
    let k = shape.selected as u64;
    let validation = all.saturating_sub(n);
    // Row indices of both splits (usize), training targets (bool), validation (p_hat, outcome).
    let held = shape
        .rows_as_read
        .saturating_add(mul(F64, all))
        .saturating_add(n)
        .saturating_add(mul(16, validation));
    let design_matrix = mul(mul(F64, n), p);
    let row_vectors = mul(mul(ROW_VECTORS, F64), n);
    let gram_matrices = mul(mul(2 * F64, p), p);
    let l1 = design_matrix
        .saturating_add(row_vectors)
        .saturating_add(gram_matrices)
        .saturating_add(mul(mul(F64, BLOCK_ROWS as u64), p));
    let selected = mul(mul(F64, n), k);
    let select = design_matrix.saturating_add(selected);
    let refit = selected
        .saturating_add(row_vectors)
        .saturating_add(mul(mul(4 * F64, k), k))
        .saturating_add(mul(mul(F64, BLOCK_ROWS as u64), k));
    MemoryEstimate {
        peak: held.saturating_add(l1.max(select).max(refit)),
        design_matrix,
        gram_matrices,
        rows_as_read: shape.rows_as_read,
    }
}

/// Bytes as whole MB (MiB, as PostgreSQL's memory settings count them), rounded up.
pub fn megabytes(bytes: u64) -> u64 {
    bytes.div_ceil(MB)
}

/// `max_memory_mb` in bytes.
pub fn limit_bytes(max_memory_mb: u64) -> u64 {
    mul(max_memory_mb, MB)
}

/// 1234567 -> "1,234,567".
pub fn thousands(v: u64) -> String {
    let digits = v.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Refuses a training whose estimate exceeds `max_memory_mb` (54000), before allocating.
pub fn check(shape: &TrainingShape, max_memory_mb: u64) -> Result<MemoryEstimate, TrainError> {
    let e = estimate(shape);
    if e.peak <= limit_bytes(max_memory_mb) {
        return Ok(e);
    }
    Err(TrainError::limit(
        format!(
            "training needs about {} MB, more than max_memory_mb = {max_memory_mb}: the dense design matrix of {} training rows x {} features is {} MB, the L1 fit's Gram matrices {} MB, the rows as read {} MB",
            thousands(megabytes(e.peak)),
            shape.training_rows,
            shape.features,
            thousands(megabytes(e.design_matrix)),
            thousands(megabytes(e.gram_matrices)),
            thousands(megabytes(e.rows_as_read)),
        ),
        "Every category level is a dense feature column: leave many-level categories out (options.exclude) or lower options.max_levels, train on fewer rows (a TABLESAMPLE view), or raise options.max_memory_mb if the server has the memory.",
    ))
}

/// The refusal while reading: the rows as read alone pass `max_memory_mb`.
pub fn reading_limit(relation: &str, rows: usize, bytes: u64, max_memory_mb: u64) -> TrainError {
    TrainError::limit(
        format!(
            "the rows of {relation} take more than max_memory_mb = {max_memory_mb} ({} MB after {rows} rows)",
            thousands(megabytes(bytes)),
        ),
        format!("Training holds every row in memory (8 bytes per numeric cell, up to 12 per text cell). Train on fewer columns (options.exclude) or a sample (CREATE VIEW training_sample AS SELECT * FROM {relation} TABLESAMPLE BERNOULLI (10) REPEATABLE (42)), or raise options.max_memory_mb."),
    )
}

/// A failed allocation of `bytes` for `what`: 53200, never an abort.
pub fn out_of_memory(what: &str, bytes: u64) -> TrainError {
    TrainError {
        kind: super::TrainErrorKind::OutOfMemory,
        message: format!(
            "out of memory: training could not allocate {} MB for {what}",
            thousands(megabytes(bytes))
        ),
        hint: Some("Lower options.max_memory_mb to what the server can spare, or train on fewer rows or features.".into()),
    }
}

/// `Vec::try_reserve` for one more element, as a training error; `what` names the values
/// (built only on failure: this runs per cell).
pub fn try_grow<T>(values: &mut Vec<T>, what: impl FnOnce() -> String) -> Result<(), TrainError> {
    if values.len() < values.capacity() {
        return Ok(());
    }
    values.try_reserve(1).map_err(|_| {
        out_of_memory(
            &what(),
            (values.capacity().max(1) * 2 * std::mem::size_of::<T>()) as u64,
        )
    })
}

/// A rows x cols matrix of zeros, allocated fallibly.
pub fn try_zeros(rows: usize, cols: usize, what: &str) -> Result<Array2<f64>, TrainError> {
    let len = rows.saturating_mul(cols);
    let mut values: Vec<f64> = Vec::new();
    values
        .try_reserve_exact(len)
        .map_err(|_| out_of_memory(what, (len as u64).saturating_mul(F64)))?;
    values.resize(len, 0.0);
    Ok(Array2::from_shape_vec((rows, cols), values).expect("rows x cols values"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_estimate_adds_up_what_each_stage_holds() {
        let shape = TrainingShape {
            all_rows: 250,
            training_rows: 200,
            features: 10,
            selected: 3,
            rows_as_read: 5_000,
        };
        let held = 5_000 + 8 * 250 + 200 + 16 * 50;
        let design = 8 * 200 * 10;
        let l1 = design + 8 * 8 * 200 + 2 * 8 * 10 * 10 + 8 * 4096 * 10;
        let e = estimate(&shape);
        assert_eq!(e.design_matrix, design);
        assert_eq!(e.gram_matrices, 1_600);
        assert_eq!(e.peak, held + l1, "the L1 stage is the largest here");
        // With top_k = every feature and few rows, the refit's k x k matrices can dominate.
        let refit_heavy = TrainingShape {
            all_rows: 10,
            training_rows: 10,
            features: 2_000,
            selected: 2_000,
            rows_as_read: 0,
        };
        let e = estimate(&refit_heavy);
        let held = 8 * 10 + 10;
        let l1 = 8 * 10 * 2_000 + 8 * 8 * 10 + 2 * 8 * 2_000 * 2_000 + 8 * 4096 * 2_000;
        let refit = 8 * 10 * 2_000 + 8 * 8 * 10 + 4 * 8 * 2_000 * 2_000 + 8 * 4096 * 2_000;
        assert_eq!(e.peak, held + l1.max(refit));
        assert_eq!(e.peak, held + refit);
    }

    #[test]
    fn the_issue_case_is_refused_with_the_estimate_and_the_limit() {
        // 320,000 rows x 10,002 features: 25.6 GB of design matrix (issue 18).
        let shape = TrainingShape {
            all_rows: 320_000,
            training_rows: 320_000,
            features: 10_002,
            selected: 25,
            rows_as_read: 0,
        };
        let e = estimate(&shape);
        assert_eq!(e.design_matrix, 25_605_120_000);
        let err = check(&shape, 1024).unwrap_err();
        assert_eq!(err.kind, super::super::TrainErrorKind::Limit);
        assert!(
            err.message.starts_with(&format!(
                "training needs about {} MB, more than max_memory_mb = 1024",
                thousands(megabytes(e.peak))
            )),
            "{}",
            err.message
        );
        assert!(err
            .message
            .contains("320000 training rows x 10002 features is 24,419 MB"));
        assert!(err.hint.unwrap().contains("max_memory_mb"));
        // A limit above the estimate accepts it.
        assert_eq!(check(&shape, megabytes(e.peak)), Ok(e));
    }

    #[test]
    fn sizes_never_overflow() {
        let huge = TrainingShape {
            all_rows: usize::MAX,
            training_rows: usize::MAX,
            features: usize::MAX,
            selected: usize::MAX,
            rows_as_read: u64::MAX,
        };
        assert_eq!(estimate(&huge).peak, u64::MAX);
        assert!(check(&huge, 1024).is_err());
    }

    #[test]
    fn an_impossible_allocation_is_an_error() {
        let err = try_zeros(usize::MAX / 4, 3, "the design matrix").unwrap_err();
        assert_eq!(err.kind, super::super::TrainErrorKind::OutOfMemory);
        assert!(err.message.contains("the design matrix"), "{}", err.message);
        let m = try_zeros(2, 3, "x").unwrap();
        assert_eq!(m.dim(), (2, 3));
        assert!(m.iter().all(|v| *v == 0.0));
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(12), "12");
    }
}
