//! Platt scaling as scikit-learn's `_sigmoid_calibration` does it (1.5.2 and 1.9.1 alike):
//! targets `(n1 + 1) / (n1 + 2)` for buyers and `1 / (n0 + 2)` for the others (Platt's
//! Bayesian priors), the summed half-binomial loss of `p = expit(-(a f + b))` (scikit-learn's
//! `closs_grad_half_binomial`, summed as numpy sums), responses divided by max |f| when that
//! is 30 or more, minimised by L-BFGS-B from `(0, log((n0 + 1) / (n1 + 1)))` with its
//! settings (`lbfgsb.rs`). It stops where scikit-learn stops, not at the exact optimum, which
//! lies a few 1e-9 away in p on a few hundred rows.

use super::check_rows;
use super::lbfgsb::minimize;
use crate::error::Result;

/// (a, b) of `p = expit(-(a f + b))`, fitted on responses `f` with outcomes `bought`.
pub fn fit_sigmoid(f: &[f64], bought: &[bool]) -> Result<(f64, f64)> {
    check_rows(f, bought)?;
    let max = f.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let scale = if max >= 30.0 { max } else { 1.0 };
    let scaled: Vec<f64> = if scale == 1.0 {
        f.to_vec()
    } else {
        f.iter().map(|v| v / scale).collect()
    };
    let prior0 = bought.iter().filter(|b| !**b).count() as f64;
    let prior1 = f.len() as f64 - prior0;
    let t1 = (prior1 + 1.0) / (prior1 + 2.0);
    let t0 = 1.0 / (prior0 + 2.0);
    let targets: Vec<f64> = bought.iter().map(|b| if *b { t1 } else { t0 }).collect();
    let mut losses = vec![0.0; f.len()];
    let mut grads = vec![0.0; f.len()];
    let ab = minimize(
        |ab| {
            for i in 0..scaled.len() {
                let raw = -(ab[0] * scaled[i] + ab[1]);
                (losses[i], grads[i]) = loss_gradient(targets[i], raw);
            }
            let dot: f64 = grads.iter().zip(&scaled).map(|(g, f)| g * f).sum();
            (pairwise_sum(&losses), [-dot, -pairwise_sum(&grads)])
        },
        [0.0, ((prior0 + 1.0) / (prior1 + 1.0)).ln()],
    );
    Ok((ab[0] / scale, ab[1]))
}

/// scikit-learn's `closs_grad_half_binomial` (loss and gradient in the raw prediction), with
/// its branches.
fn loss_gradient(y: f64, raw: f64) -> (f64, f64) {
    if raw <= -37.0 {
        let e = raw.exp();
        (e - y * raw, e - y)
    } else if raw <= -2.0 {
        let e = raw.exp();
        (e.ln_1p() - y * raw, ((1.0 - y) * e - y) / (1.0 + e))
    } else if raw <= 18.0 {
        let e = (-raw).exp();
        (e.ln_1p() + (1.0 - y) * raw, ((1.0 - y) - y * e) / (1.0 + e))
    } else {
        let e = (-raw).exp();
        (e + (1.0 - y) * raw, ((1.0 - y) - y * e) / (1.0 + e))
    }
}

/// numpy's pairwise summation of float64 (`np.sum`): 8 accumulators in blocks of up to 128,
/// halves above that.
fn pairwise_sum(a: &[f64]) -> f64 {
    let n = a.len();
    if n < 8 {
        a.iter().fold(0.0, |s, v| s + v)
    } else if n <= 128 {
        let mut r = [0.0; 8];
        r.copy_from_slice(&a[..8]);
        let mut i = 8;
        while i < n - n % 8 {
            for j in 0..8 {
                r[j] += a[i + j];
            }
            i += 8;
        }
        let mut res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for v in &a[i..] {
            res += v;
        }
        res
    } else {
        let mut n2 = n / 2;
        n2 -= n2 % 8;
        pairwise_sum(&a[..n2]) + pairwise_sum(&a[n2..])
    }
}
