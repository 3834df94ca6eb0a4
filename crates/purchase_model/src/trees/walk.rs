//! The walk, per library. Each function follows its library's prediction code (README, "Tree
//! models", lists the rules and the versions they were checked against); the structure was
//! validated at build, so a walk only reads.

use super::ensemble::{Ensemble, Kind, Library, MissingType, Node};
use super::fast::LANES;

/// The type a library adds its leaf values in: double, or float32 for XGBoost (each leaf
/// rounded to float32, then added in float32).
trait Accumulator: Copy {
    fn from_f64(v: f64) -> Self;
    fn add_f64(self, v: f64) -> Self;
    fn to_f64(self) -> f64;
}

impl Accumulator for f64 {
    #[inline(always)]
    fn from_f64(v: f64) -> Self {
        v
    }
    #[inline(always)]
    fn add_f64(self, v: f64) -> Self {
        self + v
    }
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self
    }
}

impl Accumulator for f32 {
    #[inline(always)]
    fn from_f64(v: f64) -> Self {
        v as f32
    }
    #[inline(always)]
    fn add_f64(self, v: f64) -> Self {
        self + v as f32
    }
    #[inline(always)]
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
}

/// LightGBM's `kZeroThreshold` (a float literal widened to double).
const LIGHTGBM_ZERO: f64 = 1e-35_f32 as f64;

impl Ensemble {
    #[inline]
    fn in_bitset(&self, offset: u32, words: u16, c: u32) -> bool {
        let w = (c / 32) as usize;
        w < words as usize && (self.bitsets[offset as usize + w] >> (c % 32)) & 1 == 1
    }

    #[inline]
    fn missing_side(node: &Node) -> u32 {
        if node.default_left {
            node.left
        } else {
            node.right
        }
    }

    /// scikit-learn `_predict_one_from_raw_data`: NaN by `missing_go_to_left`; a categorical
    /// value below 0 or not among the feature's known categories is missing; its code is the
    /// value cast to uint8, as the Cython cast does; numeric `x <= threshold`.
    #[inline]
    fn next_hgb(&self, node: &Node, x: f64) -> u32 {
        if x.is_nan() {
            return Self::missing_side(node);
        }
        if node.kind == Kind::Categorical {
            if x < 0.0 {
                return Self::missing_side(node);
            }
            let code = u32::from((x as i32) as u8);
            if self.in_bitset(node.bitset, node.words, code) {
                return node.left;
            }
            let known = self.known[node.feature as usize];
            return match known {
                Some((o, w)) if self.in_bitset(o, w, code) => node.right,
                _ => Self::missing_side(node),
            };
        }
        if x <= node.threshold {
            node.left
        } else {
            node.right
        }
    }

    /// LightGBM `Tree::NumericalDecision` / `CategoricalDecision`.
    #[inline]
    fn next_lightgbm(&self, node: &Node, mut x: f64) -> u32 {
        if node.kind == Kind::Categorical {
            if x.is_nan() {
                return node.right;
            }
            // static_cast<int>: truncation toward zero (saturating here, where C is undefined).
            let c = x as i32;
            if c < 0 {
                return node.right;
            }
            return if self.in_bitset(node.bitset, node.words, c as u32) {
                node.left
            } else {
                node.right
            };
        }
        if x.is_nan() && node.missing != MissingType::NaN {
            x = 0.0;
        }
        let is_missing = match node.missing {
            MissingType::Zero => (-LIGHTGBM_ZERO..=LIGHTGBM_ZERO).contains(&x),
            MissingType::NaN => x.is_nan(),
            MissingType::None => false,
        };
        if is_missing {
            return Self::missing_side(node);
        }
        if x <= node.threshold {
            node.left
        } else {
            node.right
        }
    }

    /// XGBoost `GetNextNode`: NaN by `default_left`, else `fvalue < split_cond` in float32.
    #[inline]
    fn next_xgboost(node: &Node, x: f64) -> u32 {
        let v = x as f32;
        if v.is_nan() {
            return Self::missing_side(node);
        }
        if v < node.threshold as f32 {
            node.left
        } else {
            node.right
        }
    }

    /// The leaf value tree `t` gives the feature vector `x` (already cast as the library
    /// casts its input).
    #[inline]
    pub fn leaf(&self, t: usize, x: &[f64]) -> f64 {
        let mut i = self.roots[t];
        loop {
            let node = &self.nodes[i as usize];
            if node.kind == Kind::Leaf {
                return node.threshold;
            }
            i = self.next_child(node, x[node.feature as usize]);
        }
    }

    /// The child a split sends value `v` to, by the library's rule.
    #[inline]
    pub(super) fn next_child(&self, node: &Node, v: f64) -> u32 {
        match self.library {
            Library::Hgb => self.next_hgb(node, v),
            Library::LightGbm => self.next_lightgbm(node, v),
            Library::XgBoost => Self::next_xgboost(node, v),
        }
    }

    /// Casts a feature vector as the library cast its input (float32 where it did).
    #[inline]
    pub(super) fn cast_input(&self, x: &mut [f64]) {
        if self.input_f32 || self.library == Library::XgBoost {
            for v in x.iter_mut() {
                *v = f64::from(*v as f32);
            }
        }
    }

    /// The raw score (margin): the baseline first, then each tree in order; float32
    /// accumulation for XGBoost, double for the others. `x` is cast to float32 here when the
    /// library cast its input.
    pub fn raw_score(&self, x: &mut [f64]) -> f64 {
        self.cast_input(x);
        if self.fast.is_empty() {
            return self.raw_score_nodes(x);
        }
        match self.library {
            Library::XgBoost => self.fast_raw_score::<true, f32>(x),
            _ => self.fast_raw_score::<false, f64>(x),
        }
    }

    /// `raw_score` on the compact nodes: LANES trees at a time, then the rest one by one, each
    /// leaf added in tree order in the accumulator type `A` (float32 for XGBoost).
    #[inline(always)]
    fn fast_raw_score<const STRICT: bool, A: Accumulator>(&self, x: &[f64]) -> f64 {
        let trees = self.roots.len();
        let mut s = A::from_f64(self.baseline);
        let mut t = 0;
        while t + LANES <= trees {
            for leaf in self.fast_leaves::<STRICT>(t, x) {
                s = s.add_f64(leaf);
            }
            t += LANES;
        }
        for t in t..trees {
            s = s.add_f64(self.fast_leaf::<STRICT>(t, x));
        }
        s.to_f64()
    }

    /// `raw_score` on the full nodes (x already cast).
    fn raw_score_nodes(&self, x: &[f64]) -> f64 {
        match self.library {
            Library::XgBoost => {
                let mut s = self.baseline as f32;
                for t in 0..self.roots.len() {
                    s += self.leaf(t, x) as f32;
                }
                f64::from(s)
            }
            _ => {
                let mut s = self.baseline;
                for t in 0..self.roots.len() {
                    s += self.leaf(t, x);
                }
                s
            }
        }
    }

    /// The probability from the raw score, as the library's `predict_proba` computes it.
    pub fn probability(&self, raw: f64) -> f64 {
        match self.library {
            // scipy.special.expit
            Library::Hgb => 1.0 / (1.0 + (-raw).exp()),
            // LightGBM BinaryLogloss::ConvertOutput (sigmoid parameter 1)
            Library::LightGbm => 1.0 / (1.0 + (-raw).exp()),
            // XGBoost common::Sigmoid, all in float32
            Library::XgBoost => {
                let x = raw as f32;
                let denom = (-x).min(88.7_f32).exp() + 1.0_f32 + 1e-16_f32;
                f64::from(1.0_f32 / denom)
            }
        }
    }

    /// p_hat for one feature vector (modified in place by the input cast).
    pub fn predict(&self, x: &mut [f64]) -> f64 {
        self.probability(self.raw_score(x))
    }
}
