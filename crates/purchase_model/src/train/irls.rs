//! The unpenalised refit: logistic regression without intercept on the selected features by
//! Newton's method (IRLS), to convergence, with standard errors from the inverse Hessian at the
//! optimum — what statsmodels' `Logit(y, X).fit(method="newton", tol=1e-12)` computes.
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

fn log_likelihood(z: &Array1<f64>, t: &[bool]) -> f64 {
    -z.iter()
        .zip(t)
        .map(|(&zi, &ti)| softplus(if ti { -zi } else { zi }))
        .sum::<f64>()
}

fn to_nalgebra(h: &Array2<f64>) -> DMatrix<f64> {
    DMatrix::from_fn(h.nrows(), h.ncols(), |i, j| h[[i, j]])
}

/// Newton's method from w = 0. `names` name the columns of `x` for error messages.
pub fn refit_logistic(
    x: ArrayView2<f64>,
    t: &[bool],
    names: &[String],
    monitor: &mut dyn Monitor,
) -> Result<Refit, TrainError> {
    let k = x.ncols();
    let mut w = Array1::<f64>::zeros(k);
    let mut z = Array1::<f64>::zeros(x.nrows());
    let mut ll = log_likelihood(&z, t);
    for iteration in 1..=MAX_ITERATIONS {
        let probs = z.mapv(logistic);
        let residual: Array1<f64> = probs
            .iter()
            .zip(t)
            .map(|(&pi, &ti)| f64::from(u8::from(ti)) - pi)
            .collect();
        let grad = mat_t_vec(x, residual.view(), monitor);
        let weights = probs.mapv(|pi| pi * (1.0 - pi));
        let hessian = weighted_gram(x, weights.view(), None, monitor);
        let chol = to_nalgebra(&hessian)
            .cholesky()
            .ok_or_else(|| collinear(names))?;
        let step = chol.solve(&DVector::from_iterator(k, grad.iter().copied()));
        let step = Array1::from_iter(step.iter().copied());

        // Newton steps on the log-likelihood of a logistic model always ascend for a small
        // enough step; halve until it does (rarely needed from w = 0).
        let xs = mat_vec(x, step.view(), monitor);
        let mut scale = 1.0;
        let (mut new_z, mut new_ll) = (&z + &xs, 0.0);
        for _ in 0..50 {
            new_z = &z + &(&xs * scale);
            new_ll = log_likelihood(&new_z, t);
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
        if let Some((j, wj)) = w
            .iter()
            .enumerate()
            .find(|(_, v)| v.abs() > SEPARATION_COEF)
        {
            return Err(separated(&names[j], *wj));
        }
        if change <= 1e-13 * w.iter().fold(1.0f64, |m, v| m.max(v.abs())) {
            return finish(x, t, names, w, z, iteration, monitor);
        }
    }
    Err(TrainError::numeric(
        format!("the unpenalised refit did not converge in {MAX_ITERATIONS} Newton iterations"),
        "This happens with (quasi-)separable data: exclude the columns that almost determine the target.",
    ))
}

/// Standard errors from the Hessian at the optimum, and the log-likelihood there.
fn finish(
    x: ArrayView2<f64>,
    t: &[bool],
    names: &[String],
    w: Array1<f64>,
    z: Array1<f64>,
    iterations: usize,
    monitor: &mut dyn Monitor,
) -> Result<Refit, TrainError> {
    let probs = z.mapv(logistic);
    let weights = probs.mapv(|pi| pi * (1.0 - pi));
    let hessian = weighted_gram(x, weights.view(), None, monitor);
    let chol = to_nalgebra(&hessian)
        .cholesky()
        .ok_or_else(|| collinear(names))?;
    let inverse = chol.inverse();
    Ok(Refit {
        coefficients: w.to_vec(),
        std_errors: (0..w.len()).map(|j| inverse[(j, j)].sqrt()).collect(),
        log_likelihood: log_likelihood(&z, t),
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
            "the training data are perfectly separable: the refit's coefficient of \"{feature}\" grows without bound (passed {coef:.1} on the standardised scale), so the likelihood has no maximum"
        ),
        "A column that (almost) determines the target, such as the target itself or a value recorded after the purchase, should be left out with options.exclude.",
    )
}
