//! Exact per-feature contributions of a tree ensemble to one row's raw score: path-dependent
//! TreeSHAP (Lundberg et al. 2020, "From local explanations to global understanding with
//! explainable AI for trees", Algorithm 2), the algorithm behind LightGBM's `pred_contrib`,
//! XGBoost's `pred_contribs` and the `shap` package's TreeExplainer.
//!
//! The value of a feature subset S is the tree's expected output when the features in S take
//! the row's values and the others follow the training cover: at a split on a feature outside
//! S both children count, weighted by their share of the node's cover. The contributions are
//! that game's Shapley values; with the expected value over the covers they add up to the raw
//! score. Cost per row: O(trees × leaves × depth²), memory O(depth²) for the paths.
//!
//! The row's own route at each split (its "hot" child) is the walk's decision, so missing
//! values and categories follow the library's routing.

use super::ensemble::{Ensemble, Kind};
use crate::error::{PipelineError, Result};
use crate::interrupt::check_interrupts;

/// One element of the path of unique features from the root to a node.
#[derive(Debug, Clone, Copy, Default)]
struct PathElement {
    /// The feature split on (usize::MAX for the root's placeholder).
    feature: usize,
    /// Share of the cover that flows through this path when the feature is not fixed.
    zero: f64,
    /// 1 when the row's value follows this path, 0 otherwise.
    one: f64,
    /// The permutation weight of subsets of the current size.
    weight: f64,
}

const ROOT: usize = usize::MAX;

/// Contributions of one row: `phi[f]` per feature the nodes index, and the expected value.
#[derive(Debug, Clone, PartialEq)]
pub struct Contributions {
    pub phi: Vec<f64>,
    /// The baseline plus every tree's cover-weighted mean leaf value: the raw score of an
    /// average row over the training cover.
    pub expected_value: f64,
}

impl Ensemble {
    /// Whether the artifact carried node covers, without which TreeSHAP is undefined.
    pub fn has_covers(&self) -> bool {
        !self.covers.is_empty() && self.covers.iter().all(|c| c.is_finite() && *c >= 0.0)
    }

    /// The expected raw score over the training cover (the `(expected value)` row).
    pub fn expected_value(&self) -> f64 {
        let mut total = self.baseline;
        for t in 0..self.roots.len() {
            total += self.tree_expected_value(t);
        }
        total
    }

    fn tree_range(&self, t: usize) -> std::ops::Range<usize> {
        let start = self.roots[t] as usize;
        let end = self
            .roots
            .get(t + 1)
            .map_or(self.nodes.len(), |&r| r as usize);
        start..end
    }

    fn tree_expected_value(&self, t: usize) -> f64 {
        let range = self.tree_range(t);
        let root = range.start;
        if self.nodes[root].kind == Kind::Leaf {
            return self.nodes[root].threshold;
        }
        let total = self.covers[root];
        range
            .filter(|&i| self.nodes[i].kind == Kind::Leaf)
            .map(|i| self.covers[i] / total * self.nodes[i].threshold)
            .sum()
    }

    /// TreeSHAP of the row `x` (features as the walk reads them, before the library's input
    /// cast, which is applied here as `raw_score` applies it).
    pub fn contributions(&self, x: &[f64]) -> Result<Contributions> {
        if !self.has_covers() {
            return Err(PipelineError::InvalidInput(
                "this tree model's artifact carries no node covers, which TreeSHAP needs".into(),
            ));
        }
        let mut row = x.to_vec();
        self.cast_input(&mut row);
        let mut phi = vec![0.0; self.n_features];
        let mut path = Vec::new();
        for t in 0..self.roots.len() {
            check_interrupts();
            let root = self.roots[t] as usize;
            if self.nodes[root].kind != Kind::Leaf {
                self.shap_recurse(&row, &mut phi, &mut path, root, 0, 0, 1.0, 1.0, ROOT);
            }
        }
        Ok(Contributions {
            phi,
            expected_value: self.expected_value(),
        })
    }

    /// One step of Algorithm 2. The path of the node's parent occupies
    /// `path[parent..parent + depth]`; this node's path is written after it, at
    /// `parent + depth`, one element longer.
    #[allow(clippy::too_many_arguments)]
    fn shap_recurse(
        &self,
        x: &[f64],
        phi: &mut [f64],
        path: &mut Vec<PathElement>,
        node: usize,
        parent: usize,
        depth: usize,
        zero: f64,
        one: f64,
        feature: usize,
    ) {
        let start = parent + depth;
        if path.len() < start + depth + 1 {
            path.resize(start + depth + 1, PathElement::default());
        }
        path.copy_within(parent..parent + depth, start);
        let unique = &mut path[start..start + depth + 1];
        extend(unique, depth, zero, one, feature);

        let n = &self.nodes[node];
        if n.kind == Kind::Leaf {
            // A leaf costs O(depth^2); one tree can be deep enough (MAX_DEPTH) to take
            // seconds, so cancellation is checked per leaf, not only per tree.
            check_interrupts();
            for i in 1..=depth {
                let w = unwound_sum(unique, depth, i);
                let e = unique[i];
                phi[e.feature] += w * (e.one - e.zero) * n.threshold;
            }
            return;
        }
        let hot = self.next_child(n, x[n.feature as usize]) as usize;
        let cold = if hot == n.left as usize {
            n.right as usize
        } else {
            n.left as usize
        };
        let cover = self.covers[node];
        let (hot_zero, cold_zero) = (self.covers[hot] / cover, self.covers[cold] / cover);
        let split = n.feature as usize;
        let (mut incoming_zero, mut incoming_one) = (1.0, 1.0);
        let mut depth = depth;
        if let Some(k) = (0..=depth).find(|&k| unique[k].feature == split) {
            incoming_zero = unique[k].zero;
            incoming_one = unique[k].one;
            unwind(unique, depth, k);
            depth -= 1;
        }
        self.shap_recurse(
            x,
            phi,
            path,
            hot,
            start,
            depth + 1,
            hot_zero * incoming_zero,
            incoming_one,
            split,
        );
        self.shap_recurse(
            x,
            phi,
            path,
            cold,
            start,
            depth + 1,
            cold_zero * incoming_zero,
            0.0,
            split,
        );
    }
}

/// Adds a feature to the path, updating the permutation weights of every subset size.
fn extend(path: &mut [PathElement], depth: usize, zero: f64, one: f64, feature: usize) {
    path[depth] = PathElement {
        feature,
        zero,
        one,
        weight: if depth == 0 { 1.0 } else { 0.0 },
    };
    let d = (depth + 1) as f64;
    for i in (0..depth).rev() {
        path[i + 1].weight += one * path[i].weight * (i + 1) as f64 / d;
        path[i].weight = zero * path[i].weight * (depth - i) as f64 / d;
    }
}

/// Removes element `index` from the path, undoing its `extend`.
fn unwind(path: &mut [PathElement], depth: usize, index: usize) {
    let PathElement { zero, one, .. } = path[index];
    let d = (depth + 1) as f64;
    let mut next_one = path[depth].weight;
    for i in (0..depth).rev() {
        if one != 0.0 {
            let tmp = path[i].weight;
            path[i].weight = next_one * d / ((i + 1) as f64 * one);
            next_one = tmp - path[i].weight * zero * (depth - i) as f64 / d;
        } else {
            path[i].weight = path[i].weight * d / (zero * (depth - i) as f64);
        }
    }
    for i in index..depth {
        path[i].feature = path[i + 1].feature;
        path[i].zero = path[i + 1].zero;
        path[i].one = path[i + 1].one;
    }
}

/// The total permutation weight the path would have without element `index`.
fn unwound_sum(path: &[PathElement], depth: usize, index: usize) -> f64 {
    let PathElement { zero, one, .. } = path[index];
    let d = (depth + 1) as f64;
    let mut total = 0.0;
    let mut next_one = path[depth].weight;
    for i in (0..depth).rev() {
        if one != 0.0 {
            let tmp = next_one * d / ((i + 1) as f64 * one);
            total += tmp;
            next_one = path[i].weight - tmp * zero * ((depth - i) as f64 / d);
        } else {
            total += path[i].weight / zero / ((depth - i) as f64 / d);
        }
    }
    total
}
