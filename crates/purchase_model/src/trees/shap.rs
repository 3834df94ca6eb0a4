//! Exact per-feature contributions of a tree ensemble to one row's raw score: path-dependent
//! TreeSHAP (Lundberg et al. 2020, "From local explanations to global understanding with
//! explainable AI for trees"), the values LightGBM's `pred_contrib`, XGBoost's
//! `pred_contribs` and the `shap` package's TreeExplainer compute with that paper's
//! Algorithm 2. Each leaf's share is computed in closed form instead (`shap_leaf.rs`).
//!
//! The value of a feature subset S is the tree's expected output when the features in S take
//! the row's values and the others follow the training cover: at a split on a feature outside
//! S both children count, weighted by their share of the node's cover. The contributions are
//! that game's Shapley values; with the expected value over the covers they add up to the raw
//! score. Cost per row: O(trees × leaves × depth²), memory O(depth) for the path.
//!
//! The row's own route at each split (its "hot" child) is the walk's decision, so missing
//! values and categories follow the library's routing.

use super::ensemble::{Ensemble, Kind};
use super::shap_leaf::{weights, LeafScratch, PathFeature};
use crate::error::{PipelineError, Result};
use crate::interrupt::check_interrupts;

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
        let mut scratch = LeafScratch::default();
        for t in 0..self.roots.len() {
            check_interrupts();
            let root = self.roots[t] as usize;
            self.shap_recurse(&row, &mut phi, &mut path, &mut scratch, root);
        }
        Ok(Contributions {
            phi,
            expected_value: self.expected_value(),
        })
    }

    /// The leaves under `node`, each sharing its value among the features on its path
    /// (`shap_leaf.rs`). `path` holds one entry per feature split on above `node`: a feature
    /// split on again multiplies its cover share and its "row follows" flag into its entry.
    fn shap_recurse(
        &self,
        x: &[f64],
        phi: &mut [f64],
        path: &mut Vec<PathFeature>,
        scratch: &mut LeafScratch,
        node: usize,
    ) {
        let n = &self.nodes[node];
        if n.kind == Kind::Leaf {
            // A leaf costs O(depth^2); one tree can be deep enough (MAX_DEPTH) to take
            // seconds, so cancellation is checked per leaf, not only per tree.
            check_interrupts();
            weights(path, scratch);
            for (e, w) in path.iter().zip(&scratch.weights) {
                phi[e.feature] += w * (e.one - e.zero) * n.threshold;
            }
            return;
        }
        let hot = self.next_child(n, x[n.feature as usize]) as usize;
        let split = n.feature as usize;
        let cover = self.covers[node];
        let seen = path.iter().position(|e| e.feature == split);
        for child in [n.left as usize, n.right as usize] {
            let one = if child == hot { 1.0 } else { 0.0 };
            let zero = self.covers[child] / cover;
            match seen {
                Some(k) => {
                    let before = path[k];
                    path[k].zero *= zero;
                    path[k].one *= one;
                    self.shap_recurse(x, phi, path, scratch, child);
                    path[k] = before;
                }
                None => {
                    path.push(PathFeature {
                        feature: split,
                        zero,
                        one,
                    });
                    self.shap_recurse(x, phi, path, scratch, child);
                    path.pop();
                }
            }
        }
    }
}
