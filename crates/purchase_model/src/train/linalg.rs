//! The products the solvers need, over row blocks so that memory stays bounded and the caller's
//! monitor is ticked (PostgreSQL checks for cancellation) well within a second on any data size.

use super::Monitor;
use ndarray::{s, Array1, Array2, ArrayView1, ArrayView2, Axis};

/// Rows per block: 4096 rows x 121 features x 8 bytes is ~4 MB of scratch, and a block's
/// products take a few milliseconds.
pub const BLOCK_ROWS: usize = 4096;

/// X w.
pub fn mat_vec(x: ArrayView2<f64>, w: ArrayView1<f64>, monitor: &mut dyn Monitor) -> Array1<f64> {
    let mut out = Array1::zeros(x.nrows());
    for start in (0..x.nrows()).step_by(BLOCK_ROWS) {
        let end = (start + BLOCK_ROWS).min(x.nrows());
        out.slice_mut(s![start..end])
            .assign(&x.slice(s![start..end, ..]).dot(&w));
        monitor.tick();
    }
    out
}

/// Xᵀ r.
pub fn mat_t_vec(x: ArrayView2<f64>, r: ArrayView1<f64>, monitor: &mut dyn Monitor) -> Array1<f64> {
    let mut out = Array1::zeros(x.ncols());
    for start in (0..x.nrows()).step_by(BLOCK_ROWS) {
        let end = (start + BLOCK_ROWS).min(x.nrows());
        out += &x
            .slice(s![start..end, ..])
            .t()
            .dot(&r.slice(s![start..end]));
        monitor.tick();
    }
    out
}

/// Xᵀ diag(d) X over the columns `cols` of X (all when None), d >= 0.
pub fn weighted_gram(
    x: ArrayView2<f64>,
    d: ArrayView1<f64>,
    cols: Option<&[usize]>,
    monitor: &mut dyn Monitor,
) -> Array2<f64> {
    let picked = |block: ArrayView2<f64>| match cols {
        Some(c) => block.select(Axis(1), c),
        None => block.to_owned(),
    };
    let k = cols.map_or(x.ncols(), <[usize]>::len);
    let mut out = Array2::zeros((k, k));
    for start in (0..x.nrows()).step_by(BLOCK_ROWS) {
        let end = (start + BLOCK_ROWS).min(x.nrows());
        let mut b = picked(x.slice(s![start..end, ..]));
        for (mut row, &di) in b.rows_mut().into_iter().zip(d.slice(s![start..end])) {
            row *= di.sqrt();
        }
        out += &b.t().dot(&b);
        monitor.tick();
    }
    out
}

/// log(1 + exp(u)) without overflow or loss of precision.
#[inline]
pub fn softplus(u: f64) -> f64 {
    u.max(0.0) + (-u.abs()).exp().ln_1p()
}
