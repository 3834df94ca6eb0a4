//! Isotonic calibration as scikit-learn's `IsotonicRegression(out_of_bounds='clip')` fits and
//! predicts it: rows sorted by (response, outcome); responses less than 1e-15 above the first
//! of their group merged into it (`_make_unique`, numpy's float64 resolution), the group's
//! outcome its mean; pool-adjacent-violators on the group means weighted by group size; points
//! whose value equals both neighbours' dropped; prediction clips the response to the fitted
//! range and interpolates linearly as `np.interp` does.

use super::check_rows;
use crate::error::Result;

/// `np.finfo(np.float64).resolution`: the tie tolerance of `_make_unique`.
const RESOLUTION: f64 = 1e-15;

/// The thresholds (x, y) of the isotonic map fitted on responses `f` with outcomes `bought`.
pub fn fit_isotonic(f: &[f64], bought: &[bool]) -> Result<(Vec<f64>, Vec<f64>)> {
    check_rows(f, bought)?;
    let mut rows: Vec<(f64, f64)> = f
        .iter()
        .zip(bought)
        .map(|(x, b)| (*x, f64::from(u8::from(*b))))
        .collect();
    // np.lexsort((y, X)): by X, then y. Finite values only (check_rows), so total_cmp is the
    // numeric order (but -0.0 before 0.0, which the tie merge makes one group anyway).
    rows.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
    let (x, mut y, mut w) = make_unique(&rows);
    pava(&mut y, &mut w);
    // Keep the first and last point and every point that differs from a neighbour.
    let n = y.len();
    let keep: Vec<bool> = (0..n)
        .map(|i| i == 0 || i == n - 1 || y[i] != y[i - 1] || y[i] != y[i + 1])
        .collect();
    let xs = x.iter().zip(&keep).filter(|k| *k.1).map(|k| *k.0).collect();
    let ys = y.iter().zip(&keep).filter(|k| *k.1).map(|k| *k.0).collect();
    Ok((xs, ys))
}

/// `_make_unique`: sorted rows into (x, mean y, weight) groups.
fn make_unique(rows: &[(f64, f64)]) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let (mut xs, mut ys, mut ws) = (Vec::new(), Vec::new(), Vec::new());
    let (mut cx, mut cy, mut cw) = (rows[0].0, 0.0, 0.0);
    for &(x, y) in rows {
        if x - cx >= RESOLUTION {
            xs.push(cx);
            ws.push(cw);
            ys.push(cy / cw);
            cx = x;
            cw = 1.0;
            cy = y;
        } else {
            cw += 1.0;
            cy += y;
        }
    }
    xs.push(cx);
    ws.push(cw);
    ys.push(cy / cw);
    (xs, ys, ws)
}

/// `_inplace_contiguous_isotonic_regression` (scikit-learn's PAVA, pooling the longest
/// decreasing run at each step and backtracking), increasing.
fn pava(y: &mut [f64], w: &mut [f64]) {
    let n = y.len();
    // [i..=target[i]] is a block whose start holds its weighted mean and total weight.
    let mut target: Vec<usize> = (0..n).collect();
    let mut i = 0;
    while i < n {
        let mut k = target[i] + 1;
        if k == n {
            break;
        }
        if y[i] < y[k] {
            i = k;
            continue;
        }
        let mut sum_wy = w[i] * y[i];
        let mut sum_w = w[i];
        loop {
            let prev_y = y[k];
            sum_wy += w[k] * y[k];
            sum_w += w[k];
            k = target[k] + 1;
            if k == n || prev_y < y[k] {
                y[i] = sum_wy / sum_w;
                w[i] = sum_w;
                target[i] = k - 1;
                target[k - 1] = i;
                if i > 0 {
                    i = target[i - 1];
                }
                break;
            }
        }
    }
    let mut i = 0;
    while i < n {
        let k = target[i] + 1;
        let v = y[i];
        y[i + 1..k].iter_mut().for_each(|e| *e = v);
        i = k;
    }
}

/// The fitted map at `f`: clipped to [x[0], x[last]], then `np.interp` (a single point is a
/// constant).
pub(super) fn interpolate(x: &[f64], y: &[f64], f: f64) -> f64 {
    let n = x.len();
    if n == 1 {
        return y[0];
    }
    let v = f.clamp(x[0], x[n - 1]);
    if v >= x[n - 1] {
        return y[n - 1];
    }
    // The last j with x[j] <= v (v >= x[0], so j exists and j < n - 1).
    let j = x.partition_point(|t| *t <= v) - 1;
    let slope = (y[j + 1] - y[j]) / (x[j + 1] - x[j]);
    let r = slope * (v - x[j]) + y[j];
    if r.is_nan() {
        slope * (v - x[j + 1]) + y[j + 1]
    } else {
        r
    }
}
