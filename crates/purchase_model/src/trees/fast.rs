//! The scoring walk's compact node array: 16 bytes a node (threshold or leaf value, feature
//! with three flag bits, right child; the left child is the next node, as the pre-order
//! numbering of `ensemble.rs` lays it out), so the whole ensemble is half the cache of `Node`s
//! and a split is one comparison with no per-library or per-missing-type branch:
//!
//! * go left iff `x <= t` (`x < t` for XGBoost) or (`x` is NaN and the node's NaN side is left);
//! * the NaN side is the node's default side, except LightGBM's `missing_type` None, where
//!   NaN is read as 0.0, so NaN goes left iff `0.0 <= t` (known at build);
//! * XGBoost's float32 rule is the same test in double: its inputs are cast to float32 once
//!   per row (`cast_input`) and its thresholds here, and a comparison of two float32 values
//!   gives the same answer in double;
//! * anything else (categorical splits, LightGBM's `missing_type` Zero) is flagged and
//!   decided by the library's own rule in `walk.rs` on the `Node` at the same index.
//!
//! Trees are walked `LANES` at a time, one level of each in turn: a walk is a chain of
//! dependent loads, and independent chains side by side keep the core busy while each waits.
//! A leaf steps to itself (its right child is itself and it never goes left), so a group of
//! trees takes exactly as many steps as its deepest tree, with no branch on where a walk
//! ended: a split's direction is a conditional move, not a branch the CPU must guess, which
//! on real data it guesses wrong about once a tree. Groups deeper than `MAX_FIXED_DEPTH`
//! stop each walk at its leaf instead, so one long chain does not cost every row its length.
//! The leaves are still added in tree order (the summation order is the library's).
//!
//! Exactly the decisions of `Ensemble::next_child`; tests.rs checks the two walks agree.

use super::ensemble::{Ensemble, Kind, Library, MissingType};

/// Trees walked side by side.
pub(super) const LANES: usize = 8;

/// The deepest group walked a fixed number of steps (see above).
const MAX_FIXED_DEPTH: u32 = 24;

pub(super) const LEAF: u32 = 1 << 31;
pub(super) const SPECIAL: u32 = 1 << 30;
pub(super) const NAN_LEFT: u32 = 1 << 29;
pub(super) const FEATURE: u32 = NAN_LEFT - 1;

#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct FastNode {
    /// The threshold (float32-rounded for XGBoost), or the leaf's value.
    pub value: f64,
    /// The feature index (low 29 bits) and the LEAF, SPECIAL and NAN_LEFT flags.
    pub meta: u32,
    pub right: u32,
}

impl Ensemble {
    /// The compact copy of `nodes`, or none when a feature index does not fit its bits or a
    /// left child is not the next node (never, for ensembles built here).
    pub(super) fn compile_fast(&self) -> Vec<FastNode> {
        if self.n_features > FEATURE as usize {
            return Vec::new();
        }
        let mut fast = Vec::with_capacity(self.nodes.len());
        for (i, n) in self.nodes.iter().enumerate() {
            if n.kind == Kind::Leaf {
                // feature 0 is read and ignored: a leaf never goes left, and right is itself
                fast.push(FastNode {
                    value: n.threshold,
                    meta: LEAF,
                    right: i as u32,
                });
                continue;
            }
            if n.left as usize != i + 1 {
                return Vec::new();
            }
            let special = n.kind == Kind::Categorical
                || (self.library == Library::LightGbm && n.missing == MissingType::Zero);
            let nan_left = match (self.library, n.missing) {
                (Library::LightGbm, MissingType::None) => 0.0 <= n.threshold,
                _ => n.default_left,
            };
            let value = match self.library {
                Library::XgBoost => f64::from(n.threshold as f32),
                _ => n.threshold,
            };
            let mut meta = n.feature;
            if special {
                meta |= SPECIAL;
            }
            if nan_left {
                meta |= NAN_LEFT;
            }
            fast.push(FastNode {
                value,
                meta,
                right: n.right,
            });
        }
        fast
    }

    /// The leaf value tree `t` gives `x`, already cast by `cast_input`, on the compact
    /// nodes; `STRICT`: XGBoost's `x < t`, else `x <= t`. Requires a non-empty `fast`.
    #[inline(always)]
    pub(super) fn fast_leaf<const STRICT: bool>(&self, t: usize, x: &[f64]) -> f64 {
        let fast = &self.fast[..];
        let mut i = self.roots[t] as usize;
        loop {
            let n = fast[i];
            if n.meta & LEAF != 0 {
                return n.value;
            }
            i = self.fast_step::<STRICT>(i, n, x);
        }
    }

    /// One step of the walk from node `i`: a split's child, or a leaf itself.
    #[inline(always)]
    fn fast_step<const STRICT: bool>(&self, i: usize, n: FastNode, x: &[f64]) -> usize {
        let v = x[(n.meta & FEATURE) as usize];
        if n.meta & SPECIAL != 0 {
            return self.next_child(&self.nodes[i], v) as usize;
        }
        let below = if STRICT { v < n.value } else { v <= n.value };
        let left = (below | (v.is_nan() & (n.meta & NAN_LEFT != 0))) & (n.meta & LEAF == 0);
        // a select, not a branch: i + 1 when left, else n.right
        let mask = (left as usize).wrapping_neg();
        (mask & (i + 1)) | (!mask & n.right as usize)
    }

    /// The leaf values of trees `t0 .. t0 + LANES` for `x`, walked side by side.
    #[inline(always)]
    pub(super) fn fast_leaves<const STRICT: bool>(&self, t0: usize, x: &[f64]) -> [f64; LANES] {
        let fast = &self.fast[..];
        let mut at = [0usize; LANES];
        for (k, i) in at.iter_mut().enumerate() {
            *i = self.roots[t0 + k] as usize;
        }
        let depth = self.depths[t0..t0 + LANES].iter().max().copied();
        if let Some(depth) = depth.filter(|&d| d <= MAX_FIXED_DEPTH) {
            for _ in 0..depth {
                for i in at.iter_mut() {
                    *i = self.fast_step::<STRICT>(*i, fast[*i], x);
                }
            }
            return at.map(|i| fast[i].value);
        }
        loop {
            let mut moving = false;
            for i in at.iter_mut() {
                let n = fast[*i];
                if n.meta & LEAF == 0 {
                    *i = self.fast_step::<STRICT>(*i, n, x);
                    moving = true;
                }
            }
            if !moving {
                return at.map(|i| fast[i].value);
            }
        }
    }
}
