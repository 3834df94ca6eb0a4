//! One leaf's share of TreeSHAP. Along the leaf's path each feature j split on has `zero`
//! (z_j: the share of the training cover that follows the path at j's splits) and `one`
//! (o_j: 1 when the row follows the path at all of them, else 0). The leaf's game is the
//! product game f(S) = v · Π_{j∈S} o_j · Π_{j∉S} z_j, and its Shapley value for j is
//!
//!   φ_j = v · (o_j − z_j) · ∫₀¹ Π_{k≠j} (z_k + t·(o_k − z_k)) dt
//!
//! (the Shapley weight s!(d−s−1)!/d! is ∫₀¹ tˢ(1−t)^(d−1−s) dt). `weights` returns each j's
//! integral. The integrand is a polynomial of degree d−1, which Gauss–Legendre quadrature
//! with ⌈d/2⌉ nodes integrates exactly: O(d²/2) multiplications and no division, where
//! Algorithm 2's unwinding costs O(d²) with two divisions each, and drifts on long paths
//! (1.6e-7 off the sum rule on a 40-split path, where quadrature's positive weights and
//! positive integrand keep every path exact to rounding).

use std::sync::OnceLock;

/// Quadrature nodes taken together: independent product chains side by side.
const LANES: usize = 4;

type Group = ([f64; LANES], [f64; LANES]);

/// The most nodes a path can need: a path has at most one entry per split of a tree no
/// deeper than `MAX_DEPTH`.
const MOST_NODES: usize = super::MAX_DEPTH.div_ceil(2);

/// Gauss–Legendre nodes and weights on [0, 1] per number of nodes, in groups of `LANES`,
/// each size computed once per process when a path first needs it.
static GAUSS_LEGENDRE: [OnceLock<Vec<Group>>; MOST_NODES + 1] =
    [const { OnceLock::new() }; MOST_NODES + 1];

/// `n` nodes in groups of `LANES`, the last padded with weight 0.
fn grouped(n: usize) -> Vec<Group> {
    gauss_legendre(n)
        .chunks(LANES)
        .map(|chunk| {
            let (mut t, mut w) = ([0.5; LANES], [0.0; LANES]);
            for (m, &(tm, wm)) in chunk.iter().enumerate() {
                (t[m], w[m]) = (tm, wm);
            }
            (t, w)
        })
        .collect()
}

/// The `n` Gauss–Legendre nodes and weights mapped from [−1, 1] to [0, 1]: Newton's method
/// on the Legendre polynomial P_n from the usual cosine guesses.
pub(super) fn gauss_legendre(n: usize) -> Vec<(f64, f64)> {
    let nf = n as f64;
    (1..=n)
        .map(|i| {
            let mut x = (std::f64::consts::PI * (i as f64 - 0.25) / (nf + 0.5)).cos();
            let mut derivative = 1.0;
            for _ in 0..100 {
                let (mut p, mut previous) = (x, 1.0);
                for k in 2..=n {
                    let kf = k as f64;
                    (p, previous) = (((2.0 * kf - 1.0) * x * p - (kf - 1.0) * previous) / kf, p);
                }
                derivative = nf * (x * p - previous) / (x * x - 1.0);
                let step = p / derivative;
                x -= step;
                if step.abs() <= 1e-16 {
                    break;
                }
            }
            let weight = 2.0 / ((1.0 - x * x) * derivative * derivative);
            ((x + 1.0) / 2.0, weight / 2.0)
        })
        .collect()
}

/// One feature's entry on a leaf's path.
#[derive(Debug, Clone, Copy)]
pub(super) struct PathFeature {
    pub feature: usize,
    pub zero: f64,
    pub one: f64,
}

/// Reused per row: a leaf's integrals and the quadrature's per-feature work arrays.
#[derive(Default)]
pub(super) struct LeafScratch {
    pub weights: Vec<f64>,
    factor: Vec<[f64; LANES]>,
    before: Vec<[f64; LANES]>,
}

/// Each path entry's integral (see above), in `scratch.weights[..path.len()]`.
pub(super) fn weights(path: &[PathFeature], scratch: &mut LeafScratch) {
    let d = path.len();
    let out = &mut scratch.weights;
    out.clear();
    out.resize(d, 0.0);
    let nodes = d.div_ceil(2).max(1);
    let untabled;
    let groups = match GAUSS_LEGENDRE.get(nodes) {
        Some(cell) => cell.get_or_init(|| grouped(nodes)),
        None => {
            // never, for trees within MAX_DEPTH
            untabled = grouped(nodes);
            &untabled
        }
    };
    scratch.factor.resize(d, [0.0; LANES]);
    scratch.before.resize(d, [0.0; LANES]);
    let (factor, before) = (&mut scratch.factor[..d], &mut scratch.before[..d]);
    for (t, w) in groups {
        // each node's factors, the products before j (times the node's weight), then after
        for (f, e) in factor.iter_mut().zip(path) {
            *f = t.map(|t| e.zero + t * (e.one - e.zero));
        }
        let mut prefix = *w;
        for (b, f) in before.iter_mut().zip(factor.iter()) {
            *b = prefix;
            prefix = std::array::from_fn(|m| prefix[m] * f[m]);
        }
        let mut suffix = [1.0; LANES];
        for j in (0..d).rev() {
            out[j] += (0..LANES).map(|m| before[j][m] * suffix[m]).sum::<f64>();
            suffix = std::array::from_fn(|m| suffix[m] * factor[j][m]);
        }
    }
}
