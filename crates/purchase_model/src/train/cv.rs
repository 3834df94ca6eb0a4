//! `"l1_c": "cv"`: the L1 penalty chosen by 5-fold cross-validation over a log grid (10^-3 to
//! 10^2, half a decade apart), by the mean held-out log loss of the L1 model (each row weighted
//! by its class weight, as the fit weighs it). Folds are stratified (each holds a fifth of the
//! buyers and a fifth of the non-buyers) and drawn reproducibly from the training seed. Among
//! equal losses the smaller C (the stronger penalty) wins.

use super::l1::{fit_l1_logistic, L1Settings};
use super::linalg::{mat_vec, softplus};
use super::memory::try_zeros;
use super::{Monitor, TrainError, TrainErrorKind};
use ndarray::{Array1, Array2, ArrayView2};
use serde_json::{json, Value};

pub const FOLDS: usize = 5;

/// The grid of C values tried.
pub fn grid() -> Vec<f64> {
    (0..11).map(|i| 10f64.powf(-3.0 + 0.5 * i as f64)).collect()
}

#[derive(Debug, Clone, PartialEq)]
pub struct CvReport {
    pub grid: Vec<f64>,
    /// Mean held-out log loss per grid point; None where a fold's fit did not converge.
    pub mean_log_loss: Vec<Option<f64>>,
    pub chosen: f64,
}

impl CvReport {
    pub fn to_json(&self) -> Value {
        json!({
            "folds": FOLDS,
            "chosen": self.chosen,
            "grid": self.grid.iter().zip(&self.mean_log_loss)
                .map(|(c, l)| json!({"l1_c": c, "mean_log_loss": l}))
                .collect::<Vec<_>>(),
        })
    }
}

/// splitmix64 of (seed, i): a reproducible order of the rows.
fn mix(seed: u64, i: u64) -> u64 {
    let mut z = seed
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(i.wrapping_add(1).wrapping_mul(0xBF58_476D_1CE4_E5B9));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The fold of each row: within each class, rows in a seeded random order take folds 0..5 in
/// turn.
pub fn folds(t: &[bool], seed: u64) -> Vec<usize> {
    let mut fold = vec![0; t.len()];
    for class in [false, true] {
        let mut rows: Vec<usize> = (0..t.len()).filter(|&r| t[r] == class).collect();
        rows.sort_by_key(|&r| mix(seed, r as u64));
        for (rank, r) in rows.into_iter().enumerate() {
            fold[r] = rank % FOLDS;
        }
    }
    fold
}

/// The rows `keep` of `x`, allocated fallibly.
fn rows_of(x: ArrayView2<f64>, keep: &[usize]) -> Result<Array2<f64>, TrainError> {
    let mut out = try_zeros(keep.len(), x.ncols(), "a cross-validation fold")?;
    for (to, &from) in keep.iter().enumerate() {
        out.row_mut(to).assign(&x.row(from));
    }
    Ok(out)
}

/// Chooses C; `base` gives the tolerance and class weights of every fit.
pub fn choose_l1_c(
    x: ArrayView2<f64>,
    t: &[bool],
    seed: u64,
    base: &L1Settings,
    monitor: &mut dyn Monitor,
) -> Result<CvReport, TrainError> {
    let grid = grid();
    let fold = folds(t, seed);
    let cw = base.class_weight;
    let mut loss_sum = vec![Some(0.0); grid.len()];
    let mut weight_sum = 0.0;
    for k in 0..FOLDS {
        let train: Vec<usize> = (0..t.len()).filter(|&r| fold[r] != k).collect();
        let held: Vec<usize> = (0..t.len()).filter(|&r| fold[r] == k).collect();
        let xt = rows_of(x, &train)?;
        let xh = rows_of(x, &held)?;
        let tt: Vec<bool> = train.iter().map(|&r| t[r]).collect();
        let th: Vec<bool> = held.iter().map(|&r| t[r]).collect();
        weight_sum += th.iter().map(|&y| cw[usize::from(y)]).sum::<f64>();
        for (g, &c) in grid.iter().enumerate() {
            let settings = L1Settings {
                c,
                tol: base.tol,
                max_iterations: base.max_iterations,
                class_weight: cw,
            };
            let fit = match fit_l1_logistic(xt.view(), &tt, &settings, monitor) {
                Ok(fit) => fit,
                // This C does not converge on this fold: it is not chosen.
                Err(e) if e.kind == TrainErrorKind::Numeric => {
                    loss_sum[g] = None;
                    continue;
                }
                Err(e) => return Err(e),
            };
            let z = mat_vec(xh.view(), Array1::from(fit.coefficients).view(), monitor);
            let loss: f64 = z
                .iter()
                .zip(&th)
                .map(|(&zi, &y)| cw[usize::from(y)] * softplus(if y { -zi } else { zi }))
                .sum();
            if let Some(s) = &mut loss_sum[g] {
                *s += loss;
            }
        }
        monitor.progress(&format!(
            "l1_c cross-validation: fold {} of {FOLDS} done",
            k + 1
        ));
    }
    let mean_log_loss: Vec<Option<f64>> =
        loss_sum.iter().map(|s| s.map(|s| s / weight_sum)).collect();
    let mut chosen: Option<(f64, f64)> = None;
    for (&c, l) in grid.iter().zip(&mean_log_loss) {
        if let Some(l) = *l {
            if chosen.is_none_or(|(_, best)| l < best) {
                chosen = Some((c, l));
            }
        }
    }
    let (chosen, _) = chosen.ok_or_else(|| {
        TrainError::numeric(
            "the L1 fit converged for no l1_c of the cross-validation grid",
            "Give options.l1_c a number instead of \"cv\", or check the data for extreme values.",
        )
    })?;
    Ok(CvReport {
        grid,
        mean_log_loss,
        chosen,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_are_stratified_and_reproducible() {
        let t: Vec<bool> = (0..103).map(|i| i % 4 == 0).collect();
        let f = folds(&t, 3);
        assert_eq!(f, folds(&t, 3));
        assert_ne!(f, folds(&t, 4));
        for k in 0..FOLDS {
            let buyers = (0..t.len()).filter(|&r| t[r] && f[r] == k).count();
            let others = (0..t.len()).filter(|&r| !t[r] && f[r] == k).count();
            assert!((5..=6).contains(&buyers), "fold {k}: {buyers} buyers");
            assert!((15..=16).contains(&others), "fold {k}: {others} non-buyers");
        }
    }

    #[test]
    fn grid_is_half_decades_from_a_thousandth_to_a_hundred() {
        let g = grid();
        assert_eq!(g.len(), 11);
        assert!((g[0] - 1e-3).abs() < 1e-18 && (g[10] - 100.0).abs() < 1e-12);
        assert!((g[1] / g[0] - 10f64.sqrt()).abs() < 1e-12);
    }
}
