//! The unpenalised refit: logistic regression on the selected features (and the intercept, a
//! column of ones the caller appends, named [`INTERCEPT`]) by Newton's method (IRLS), to
//! convergence, with standard errors from the inverse Hessian at the optimum — what statsmodels'
//! `Logit(y, X).fit(method="newton", tol=1e-12)` computes. With class weights each row's
//! log-likelihood is weighted by its class's weight: the optimum of scikit-learn's
//! `LogisticRegression(penalty=None, class_weight=...)`.
//!
//! The Newton system is solved by Cholesky factorisation from nalgebra (pure Rust, widely used,
//! small build): the Hessian XᵀDX is symmetric positive definite exactly when the features are
//! not collinear, so a failed factorisation is itself the collinearity diagnosis.

use super::linalg::{mat_t_vec, mat_vec, softplus, weighted_gram};
use super::{Monitor, TrainError};
use crate::model::logistic;
use nalgebra::{DMatrix, DVector};
use ndarray::{Array1, Array2, ArrayView2};

#[derive(Debug, Clone, PartialEq)]
pub struct Refit {
    pub coefficients: Vec<f64>,
    pub std_errors: Vec<f64>,
    pub log_likelihood: f64,
    pub iterations: usize,
}

const MAX_ITERATIONS: usize = 100;
/// A coefficient this large on standardised features means the likelihood has no finite
/// maximum (perfect or quasi-perfect separation): p_hat of some rows is 0 or 1 to rounding.
const SEPARATION_COEF: f64 = 50.0;

/// The name of the intercept's column among the refit's.
pub const INTERCEPT: &str = "(intercept)";

fn log_likelihood(z: &Array1<f64>, t: &[bool], cw: &[f64; 2]) -> f64 {
    -z.iter()
        .zip(t)
        .map(|(&zi, &ti)| cw[usize::from(ti)] * softplus(if ti { -zi } else { zi }))
        .sum::<f64>()
}

/// The Hessian's weights: class weight × p(1 − p).
fn hessian_weights(z: &Array1<f64>, t: &[bool], cw: &[f64; 2]) -> Array1<f64> {
    z.iter()
        .zip(t)
        .map(|(&zi, &ti)| {
            let pi = logistic(zi);
            cw[usize::from(ti)] * pi * (1.0 - pi)
        })
        .collect()
}

fn to_nalgebra(h: &Array2<f64>) -> DMatrix<f64> {
    DMatrix::from_fn(h.nrows(), h.ncols(), |i, j| h[[i, j]])
}

/// Newton's method from w = 0. `names` name the columns of `x` for error messages;
/// `class_weight` weighs the rows of class 0 and class 1.
pub fn refit_logistic(
    x: ArrayView2<f64>,
    t: &[bool],
    names: &[String],
    class_weight: [f64; 2],
    monitor: &mut dyn Monitor,
) -> Result<Refit, TrainError> {
    let cw = &class_weight;
    let k = x.ncols();
    let mut w = Array1::<f64>::zeros(k);
    let mut z = Array1::<f64>::zeros(x.nrows());
    let mut ll = log_likelihood(&z, t, cw);
    for iteration in 1..=MAX_ITERATIONS {
        let probs = z.mapv(logistic);
        let residual: Array1<f64> = probs
            .iter()
            .zip(t)
            .map(|(&pi, &ti)| cw[usize::from(ti)] * (f64::from(u8::from(ti)) - pi))
            .collect();
        let grad = mat_t_vec(x, residual.view(), monitor);
        let weights = hessian_weights(&z, t, cw);
        let hessian = weighted_gram(x, weights.view(), None, monitor);
        // Positive definite at w = 0 but singular later: the weights p(1 - p) underflowed, the
        // fitted probabilities are 0 or 1, which is separation (with an intercept the Hessian
        // can collapse before any coefficient passes SEPARATION_COEF).
        let chol = to_nalgebra(&hessian).cholesky().ok_or_else(|| {
            let largest = w
                .iter()
                .enumerate()
                .filter(|(j, _)| names[*j] != INTERCEPT)
                .max_by(|a, b| a.1.abs().total_cmp(&b.1.abs()));
            match largest {
                Some((j, wj)) if iteration > 1 => separated(&names[j], *wj),
                _ => collinear(names),
            }
        })?;
        let step = chol.solve(&DVector::from_iterator(k, grad.iter().copied()));
        let step = Array1::from_iter(step.iter().copied());

        // Newton steps on the log-likelihood of a logistic model always ascend for a small
        // enough step; halve until it does (rarely needed from w = 0).
        let xs = mat_vec(x, step.view(), monitor);
        let mut scale = 1.0;
        let (mut new_z, mut new_ll) = (&z + &xs, 0.0);
        for _ in 0..50 {
            new_z = &z + &(&xs * scale);
            new_ll = log_likelihood(&new_z, t, cw);
            if new_ll >= ll - 1e-12 * ll.abs() {
                break;
            }
            scale *= 0.5;
        }
        w = &w + &(&step * scale);
        z = new_z;
        let change = step.iter().fold(0.0f64, |m, s| m.max((s * scale).abs()));
        ll = new_ll;
        monitor.detail(&format!(
            "refit: Newton iteration {iteration}, log-likelihood {ll:.12e}, largest step {change:.3e}"
        ));
        // (An intercept is on the scale of the base rate's logit, not of a standardised feature.)
        if let Some((j, wj)) = w
            .iter()
            .enumerate()
            .find(|(j, v)| v.abs() > SEPARATION_COEF && names[*j] != INTERCEPT)
        {
            return Err(separated(&names[j], *wj));
        }
        if change <= 1e-13 * w.iter().fold(1.0f64, |m, v| m.max(v.abs())) {
            return finish(x, t, names, cw, w, z, iteration, monitor);
        }
    }
    Err(TrainError::numeric(
        format!("the unpenalised refit did not converge in {MAX_ITERATIONS} Newton iterations"),
        "This happens with (quasi-)separable data: exclude the columns that almost determine the target.",
    ))
}

/// Standard errors from the Hessian at the optimum, and the log-likelihood there.
#[allow(clippy::too_many_arguments)]
fn finish(
    x: ArrayView2<f64>,
    t: &[bool],
    names: &[String],
    cw: &[f64; 2],
    w: Array1<f64>,
    z: Array1<f64>,
    iterations: usize,
    monitor: &mut dyn Monitor,
) -> Result<Refit, TrainError> {
    let weights = hessian_weights(&z, t, cw);
    let hessian = weighted_gram(x, weights.view(), None, monitor);
    let chol = to_nalgebra(&hessian)
        .cholesky()
        .ok_or_else(|| collinear(names))?;
    let inverse = chol.inverse();
    Ok(Refit {
        coefficients: w.to_vec(),
        std_errors: (0..w.len()).map(|j| inverse[(j, j)].sqrt()).collect(),
        log_likelihood: log_likelihood(&z, t, cw),
        iterations,
    })
}

fn collinear(names: &[String]) -> TrainError {
    TrainError::numeric(
        format!(
            "the selected features ({}) are linearly dependent on the training rows: the refit has no unique solution",
            names.join(", ")
        ),
        "Exclude one of the duplicated or derived columns (options.exclude), or choose a smaller top_k.",
    )
}

fn separated(feature: &str, coef: f64) -> TrainError {
    TrainError::numeric(
        format!(
            "the training data are perfectly separable: the refit's coefficient of \"{feature}\" grows without bound (reached {coef:.1} on the standardised scale), so the likelihood has no maximum"
        ),
        "A column that (almost) determines the target, such as the target itself or a value recorded after the purchase, should be left out with options.exclude.",
    )
}
