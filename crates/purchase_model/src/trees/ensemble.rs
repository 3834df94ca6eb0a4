//! The flat form of a tree ensemble: one node array for all trees, children as indices,
//! categorical splits as word bitsets. Built once at load from per-tree parallel arrays
//! (`TreeSpec`), with every structural check done here so the walk needs none: each tree is
//! walked once from its root iteratively (bounded stack, no recursion), so a cycle, a node
//! reached twice, an out-of-range child or feature, or a tree deeper than `MAX_DEPTH` is
//! refused in time and memory linear in the node count. Nodes no root reaches (XGBoost keeps
//! pruned nodes in its arrays) are dropped; the kept ones are renumbered in pre-order.

use super::{MAX_CATEGORY, MAX_DEPTH, MAX_NODES};
use crate::error::{PipelineError, Result};
use crate::interrupt::check_interrupts;

/// Whose semantics the walk, the summation and the link follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Library {
    /// scikit-learn HistGradientBoostingClassifier: `x <= t` in double, NaN by
    /// `missing_go_to_left`, categorical nodes with a left bitset and the feature's known set.
    Hgb,
    /// LightGBM: `x <= t` in double, `missing_type` None/Zero/NaN with `default_left`,
    /// categorical left sets; NaN or negative categories go right.
    LightGbm,
    /// XGBoost: `x < t` in float32, NaN by `default_left`, float32 accumulation and sigmoid.
    XgBoost,
}

/// LightGBM's per-node `missing_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MissingType {
    None,
    Zero,
    NaN,
}

/// One tree as the artifact lists it: parallel arrays indexed by node, node 0 the root.
/// A leaf has `left == right == -1` and its value in `value`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TreeSpec {
    pub left: Vec<i64>,
    pub right: Vec<i64>,
    pub feature: Vec<i64>,
    pub threshold: Vec<f64>,
    pub value: Vec<f64>,
    pub default_left: Vec<bool>,
    /// LightGBM only (None elsewhere).
    pub missing: Option<Vec<MissingType>>,
    /// Per node: the categories that go left, for a categorical split (None: numeric).
    pub categories: Option<Vec<Option<Vec<u32>>>>,
    /// Per node: the training cover (sum of hessians or sample count), kept for TreeSHAP.
    pub cover: Option<Vec<f64>>,
    /// Per node: the library's split gain (leaves' entries unused), for the gain importance.
    pub gain: Option<Vec<f64>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Leaf,
    Numeric,
    Categorical,
}

/// 32 bytes: a split reads `threshold` (or, for a leaf, the value in it), `feature`, the two
/// children and two small flags; a categorical split its bitset range.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Node {
    /// The split threshold, or the leaf's value.
    pub threshold: f64,
    pub left: u32,
    pub right: u32,
    pub feature: u32,
    /// Offset of the left-category bitset in `Ensemble::bitsets` (categorical splits).
    pub bitset: u32,
    pub words: u16,
    pub kind: Kind,
    pub default_left: bool,
    pub missing: MissingType,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Ensemble {
    pub library: Library,
    /// Number of features the nodes index into.
    pub n_features: usize,
    /// The raw-score baseline added first: HGB's baseline prediction, XGBoost's base margin
    /// (already float32), 0 for LightGBM (boost_from_average lives in the first tree).
    pub baseline: f64,
    /// LightGBM and HGB: features are cast to float32 before the walk (the library did).
    pub input_f32: bool,
    pub(super) roots: Vec<u32>,
    pub(super) nodes: Vec<Node>,
    pub(super) bitsets: Vec<u32>,
    /// HGB: per feature, the known categories' bitset (offset, words); unknown is missing.
    pub(super) known: Vec<Option<(u32, u16)>>,
    /// Per kept node, its cover (NaN when the artifact has none); for TreeSHAP.
    pub covers: Vec<f64>,
    /// Per kept node, the library's split gain (NaN when the artifact has none).
    pub gains: Vec<f64>,
    pub leaves: usize,
    /// The scoring walk's compact copy of `nodes` (same indices; see `fast.rs`). Empty when
    /// the ensemble cannot use it, and the walk then reads `nodes`.
    pub(super) fast: Vec<super::fast::FastNode>,
    /// Per tree, the splits on its longest path (measured by `add_tree`'s validation walk).
    pub(super) depths: Vec<u32>,
}

fn bad(path: String, problem: impl Into<String>) -> PipelineError {
    PipelineError::artifact(path, problem)
}

/// Appends the bitset of `cats` and returns (offset, words).
fn push_bitset(bitsets: &mut Vec<u32>, cats: &[u32], path: &str) -> Result<(u32, u16)> {
    let max = cats.iter().copied().max().unwrap_or(0);
    if max >= MAX_CATEGORY {
        return Err(bad(
            path.to_string(),
            format!("names category {max}; categories are below {MAX_CATEGORY}"),
        ));
    }
    let words = (max / 32 + 1) as usize;
    let offset = bitsets.len();
    bitsets.resize(offset + words, 0);
    for &c in cats {
        bitsets[offset + (c / 32) as usize] |= 1 << (c % 32);
    }
    Ok((offset as u32, words as u16))
}

impl Ensemble {
    /// Validates and flattens `trees`. `known` (HGB) lists per feature the categories seen
    /// in training, for features split categorically.
    pub fn build(
        library: Library,
        n_features: usize,
        baseline: f64,
        input_f32: bool,
        trees: &[TreeSpec],
        known: &[Option<Vec<u32>>],
    ) -> Result<Ensemble> {
        if trees.is_empty() {
            return Err(bad("model.trees".into(), "is empty"));
        }
        if !baseline.is_finite() {
            return Err(bad("model.baseline".into(), "must be finite"));
        }
        let total: usize = trees.iter().map(|t| t.left.len()).sum();
        if total > MAX_NODES {
            return Err(bad(
                "model.trees".into(),
                format!("has {total} nodes, more than the {MAX_NODES} pg_purchase accepts"),
            ));
        }
        let mut e = Ensemble {
            library,
            n_features,
            baseline,
            input_f32,
            roots: Vec::with_capacity(trees.len()),
            nodes: Vec::with_capacity(total),
            bitsets: Vec::new(),
            known: vec![None; n_features],
            covers: Vec::with_capacity(total),
            gains: Vec::with_capacity(total),
            leaves: 0,
            fast: Vec::new(),
            depths: Vec::with_capacity(trees.len()),
        };
        if !known.is_empty() {
            if known.len() != n_features {
                return Err(bad(
                    "model.known_categories".into(),
                    format!("has {} entries for {n_features} features", known.len()),
                ));
            }
            for (f, k) in known.iter().enumerate() {
                if let Some(cats) = k {
                    let path = format!("model.known_categories[{f}]");
                    e.known[f] = Some(push_bitset(&mut e.bitsets, cats, &path)?);
                }
            }
        }
        for (t, tree) in trees.iter().enumerate() {
            check_interrupts();
            e.add_tree(t, tree)?;
        }
        e.fast = e.compile_fast();
        Ok(e)
    }

    fn add_tree(&mut self, t: usize, tree: &TreeSpec) -> Result<()> {
        let path = |field: &str| format!("model.trees[{t}].{field}");
        let n = tree.left.len();
        if n == 0 {
            return Err(bad(path("left"), "is empty (a tree has at least its root)"));
        }
        let lens = [
            ("right", tree.right.len()),
            ("feature", tree.feature.len()),
            ("threshold", tree.threshold.len()),
            ("value", tree.value.len()),
            ("default_left", tree.default_left.len()),
            ("missing", tree.missing.as_ref().map_or(n, Vec::len)),
            ("categories", tree.categories.as_ref().map_or(n, Vec::len)),
            ("cover", tree.cover.as_ref().map_or(n, Vec::len)),
            ("gain", tree.gain.as_ref().map_or(n, Vec::len)),
        ];
        if let Some((name, len)) = lens.iter().find(|(_, len)| *len != n) {
            return Err(bad(path(name), format!("has {len} entries for {n} nodes")));
        }
        // Pass 1: pre-order from the root; new index of each reached node. A node reached a
        // second time means a cycle or a shared child: both are refused.
        let mut new_index: Vec<u32> = vec![u32::MAX; n];
        let mut order: Vec<usize> = Vec::new();
        let mut stack: Vec<(usize, usize)> = vec![(0, 0)];
        let base = self.nodes.len();
        let mut deepest = 0;
        while let Some((i, depth)) = stack.pop() {
            if order.len().is_multiple_of(4096) {
                check_interrupts();
            }
            if new_index[i] != u32::MAX {
                return Err(bad(
                    path("left"),
                    format!("reaches node {i} twice (a cycle or a shared child)"),
                ));
            }
            if depth > MAX_DEPTH {
                return Err(bad(
                    path("left"),
                    format!("is deeper than the {MAX_DEPTH} levels pg_purchase accepts"),
                ));
            }
            new_index[i] = (base + order.len()) as u32;
            order.push(i);
            deepest = deepest.max(depth);
            let (l, r) = (tree.left[i], tree.right[i]);
            if l == -1 && r == -1 {
                continue;
            }
            for (side, c) in [("right", r), ("left", l)] {
                if c < 0 || c as usize >= n {
                    return Err(bad(
                        format!("{}[{i}]", path(side)),
                        format!("is {c}, not a node of this tree (0..{n}, or -1 for a leaf)"),
                    ));
                }
                stack.push((c as usize, depth + 1));
            }
        }
        // Pass 2: emit the reached nodes in that order with renumbered children.
        self.roots.push(base as u32);
        self.depths.push(deepest as u32);
        for &i in &order {
            let leaf = tree.left[i] == -1;
            let cover = tree.cover.as_ref().map_or(f64::NAN, |c| c[i]);
            self.covers.push(cover);
            self.gains
                .push(tree.gain.as_ref().map_or(f64::NAN, |g| g[i]));
            if leaf {
                let v = tree.value[i];
                if !v.is_finite() {
                    return Err(bad(format!("{}[{i}]", path("value")), "must be finite"));
                }
                self.leaves += 1;
                self.nodes.push(Node {
                    threshold: v,
                    left: 0,
                    right: 0,
                    feature: 0,
                    bitset: 0,
                    words: 0,
                    kind: Kind::Leaf,
                    default_left: false,
                    missing: MissingType::None,
                });
                continue;
            }
            let f = tree.feature[i];
            if f < 0 || f as usize >= self.n_features {
                return Err(bad(
                    format!("{}[{i}]", path("feature")),
                    format!("is {f}, not a feature index (0..{})", self.n_features),
                ));
            }
            let cats = tree.categories.as_ref().and_then(|c| c[i].as_deref());
            let (kind, bitset, words) = match cats {
                Some(cats) => {
                    if self.library == Library::XgBoost {
                        return Err(bad(
                            format!("{}[{i}]", path("categories")),
                            "is set, but XGBoost categorical splits are not supported",
                        ));
                    }
                    if self.library == Library::Hgb && self.known[f as usize].is_none() {
                        return Err(bad(
                            format!("{}[{i}]", path("categories")),
                            format!("splits feature {f} by category, but model.known_categories has none for it"),
                        ));
                    }
                    let p = format!("{}[{i}]", path("categories"));
                    let (o, w) = push_bitset(&mut self.bitsets, cats, &p)?;
                    (Kind::Categorical, o, w)
                }
                None => {
                    // NaN never reaches here from JSON, but a caller building specs could.
                    if tree.threshold[i].is_nan() {
                        return Err(bad(
                            format!("{}[{i}]", path("threshold")),
                            "is NaN; a split threshold is a number or +-infinity",
                        ));
                    }
                    (Kind::Numeric, 0, 0)
                }
            };
            self.nodes.push(Node {
                threshold: tree.threshold[i],
                left: new_index[tree.left[i] as usize],
                right: new_index[tree.right[i] as usize],
                feature: f as u32,
                bitset,
                words,
                kind,
                default_left: tree.default_left[i],
                missing: tree.missing.as_ref().map_or(MissingType::NaN, |m| m[i]),
            });
        }
        Ok(())
    }

    /// Per feature, whether any split reads it.
    pub fn used_features(&self) -> Vec<bool> {
        let mut used = vec![false; self.n_features];
        for node in self.nodes.iter().filter(|n| n.kind != Kind::Leaf) {
            used[node.feature as usize] = true;
        }
        used
    }

    /// Per feature, the number of splits on it and, when the artifact carries every split's
    /// gain, their total gain (LightGBM's and XGBoost's "total gain" importance).
    pub fn split_counts_and_gains(&self) -> (Vec<u32>, Option<Vec<f64>>) {
        let mut splits = vec![0u32; self.n_features];
        let mut gains = vec![0.0; self.n_features];
        let mut all_gains = true;
        for (node, gain) in self.nodes.iter().zip(&self.gains) {
            if node.kind == Kind::Leaf {
                continue;
            }
            splits[node.feature as usize] += 1;
            all_gains &= gain.is_finite();
            gains[node.feature as usize] += gain;
        }
        (splits, all_gains.then_some(gains))
    }

    pub fn trees(&self) -> usize {
        self.roots.len()
    }

    /// Renumbers the features the nodes read (`map[old] = new`), e.g. model feature index ->
    /// compiled input position; `n_features` becomes `new_len`.
    pub fn remap_features(&mut self, map: &[usize], new_len: usize) {
        for node in &mut self.nodes {
            if node.kind != Kind::Leaf {
                node.feature = map[node.feature as usize] as u32;
            }
        }
        let mut known = vec![None; new_len];
        for (old, k) in self.known.iter().enumerate() {
            if k.is_some() {
                known[map[old]] = *k;
            }
        }
        self.known = known;
        self.n_features = new_len;
        self.fast = self.compile_fast();
    }
}
