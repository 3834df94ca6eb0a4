//! The flat walk against a naive recursive reference, each library's decision rules on the
//! corner cases, and hostile structures refused at build.

use super::ensemble::{Ensemble, Library, MissingType, TreeSpec};
use proptest::prelude::*;

/// A stump on feature 0: left leaf -1, right leaf +1.
fn stump(threshold: f64, default_left: bool) -> TreeSpec {
    TreeSpec {
        left: vec![1, -1, -1],
        right: vec![2, -1, -1],
        feature: vec![0, 0, 0],
        threshold: vec![threshold, 0.0, 0.0],
        value: vec![0.0, -1.0, 1.0],
        default_left: vec![default_left, false, false],
        ..TreeSpec::default()
    }
}

fn one(library: Library, tree: TreeSpec, known: &[Option<Vec<u32>>]) -> Ensemble {
    Ensemble::build(library, 1, 0.0, false, &[tree], known).expect("valid")
}

fn leaf(e: &Ensemble, x: f64) -> f64 {
    e.leaf(0, &[x])
}

#[test]
fn hgb_threshold_is_inclusive_and_nan_follows_missing_side() {
    let e = one(Library::Hgb, stump(0.5, true), &[]);
    assert_eq!(leaf(&e, 0.5), -1.0);
    assert_eq!(leaf(&e, f64::from_bits(0.5f64.to_bits() + 1)), 1.0);
    assert_eq!(leaf(&e, f64::NAN), -1.0);
    let e = one(Library::Hgb, stump(f64::INFINITY, false), &[]);
    assert_eq!(leaf(&e, 1e308), -1.0);
    assert_eq!(leaf(&e, f64::NAN), 1.0);
    // +-0.0 compare equal
    let e = one(Library::Hgb, stump(0.0, false), &[]);
    assert_eq!(leaf(&e, -0.0), -1.0);
    assert_eq!(leaf(&e, 0.0), -1.0);
}

#[test]
fn hgb_categories_left_known_right_unknown_missing() {
    let mut t = stump(0.0, false);
    t.categories = Some(vec![Some(vec![1, 3]), None, None]);
    let e = one(Library::Hgb, t, &[Some(vec![0, 1, 2, 3])]);
    assert_eq!(leaf(&e, 1.0), -1.0);
    assert_eq!(leaf(&e, 3.0), -1.0);
    assert_eq!(leaf(&e, 2.0), 1.0);
    // unknown (4), negative and NaN: the missing side (right here)
    assert_eq!(leaf(&e, 4.0), 1.0);
    assert_eq!(leaf(&e, -1.0), 1.0);
    assert_eq!(leaf(&e, f64::NAN), 1.0);
    let mut t = stump(0.0, true);
    t.categories = Some(vec![Some(vec![1]), None, None]);
    let e = one(Library::Hgb, t, &[Some(vec![0, 1])]);
    assert_eq!(
        leaf(&e, 7.0),
        -1.0,
        "unknown goes to the missing side, left"
    );
    assert_eq!(leaf(&e, 0.0), 1.0, "known, not in the left set: right");
    // the uint8 cast: 257 is code 1
    assert_eq!(leaf(&e, 257.0), -1.0);
    assert_eq!(leaf(&e, 1.9), -1.0);
}

#[test]
fn lightgbm_missing_types() {
    let mut t = stump(-0.5, true);
    t.missing = Some(vec![MissingType::None; 3]);
    let e = one(Library::LightGbm, t.clone(), &[]);
    // None: NaN becomes 0.0, compared normally (0 > -0.5: right)
    assert_eq!(leaf(&e, f64::NAN), 1.0);
    t.missing = Some(vec![MissingType::Zero; 3]);
    let e = one(Library::LightGbm, t.clone(), &[]);
    assert_eq!(leaf(&e, 0.0), -1.0, "zero is missing: default left");
    assert_eq!(leaf(&e, 1e-36), -1.0);
    assert_eq!(leaf(&e, -1e-36), -1.0);
    assert_eq!(leaf(&e, f64::NAN), -1.0, "NaN -> 0 -> missing");
    assert_eq!(leaf(&e, 1e-30), 1.0);
    t.missing = Some(vec![MissingType::NaN; 3]);
    let e = one(Library::LightGbm, t.clone(), &[]);
    assert_eq!(leaf(&e, f64::NAN), -1.0);
    assert_eq!(leaf(&e, 0.0), 1.0);
    assert_eq!(leaf(&e, -0.5), -1.0, "<= in double");
}

#[test]
fn lightgbm_categories_nan_and_negative_go_right() {
    let mut t = stump(0.0, true);
    t.missing = Some(vec![MissingType::NaN; 3]);
    t.categories = Some(vec![Some(vec![0, 2]), None, None]);
    let e = one(Library::LightGbm, t, &[]);
    assert_eq!(leaf(&e, 0.0), -1.0);
    assert_eq!(leaf(&e, 2.7), -1.0, "truncated to 2");
    assert_eq!(leaf(&e, 1.0), 1.0);
    assert_eq!(leaf(&e, 64.0), 1.0, "beyond the bitset");
    assert_eq!(leaf(&e, f64::NAN), 1.0);
    assert_eq!(leaf(&e, -1.0), 1.0);
}

#[test]
fn xgboost_strict_less_in_float32_and_float32_sum() {
    let t = stump(0.1f32 as f64, false);
    let e = one(Library::XgBoost, t, &[]);
    // 0.1 (double) rounds to 0.1f32, equal to the split: not less, so right
    assert_eq!(leaf(&e, 0.1), 1.0);
    assert_eq!(leaf(&e, 0.09999999), -1.0);
    assert_eq!(leaf(&e, f64::NAN), 1.0);
    // float32 accumulation: 1e8 + 1 + 1 stays 1e8 in float32
    let mut big = stump(0.0, false);
    big.value = vec![0.0, 1.0, 1.0];
    let e = Ensemble::build(Library::XgBoost, 1, 1e8, false, &[big.clone(), big], &[]).unwrap();
    assert_eq!(e.raw_score(&mut [5.0]), 1e8);
}

#[test]
fn links() {
    let e = one(Library::XgBoost, stump(0.0, false), &[]);
    assert_eq!(e.probability(0.0), 0.5);
    assert!(e.probability(-100.0) > 0.0);
    let e = one(
        Library::LightGbm,
        {
            let mut t = stump(0.0, false);
            t.missing = Some(vec![MissingType::NaN; 3]);
            t
        },
        &[],
    );
    assert_eq!(e.probability(2.0), 1.0 / (1.0 + (-2.0f64).exp()));
}

#[test]
fn float32_input_cast() {
    let mut t = stump(0.1, false);
    t.missing = Some(vec![MissingType::NaN; 3]);
    let e = Ensemble::build(Library::LightGbm, 1, 0.0, true, &[t], &[]).unwrap();
    // 0.1 as float32 is 0.100000001..., above the double threshold 0.1
    assert_eq!(e.raw_score(&mut [0.1]), 1.0);
}

#[test]
fn pruned_nodes_are_dropped_and_pre_order_kept() {
    // node 3 is unreachable (XGBoost keeps pruned nodes)
    let t = TreeSpec {
        left: vec![1, -1, -1, -1],
        right: vec![2, -1, -1, -1],
        feature: vec![0; 4],
        threshold: vec![0.0; 4],
        value: vec![0.0, -1.0, 1.0, 99.0],
        default_left: vec![false; 4],
        ..TreeSpec::default()
    };
    let e = one(Library::XgBoost, t, &[]);
    assert_eq!(e.leaves, 2);
    assert_eq!(e.covers.len(), 3);
}

fn refused(tree: TreeSpec, n_features: usize) -> String {
    Ensemble::build(Library::Hgb, n_features, 0.0, false, &[tree], &[])
        .expect_err("refused")
        .to_string()
}

#[test]
fn hostile_structures_are_refused() {
    let mut cycle = stump(0.0, false);
    cycle.left[0] = 0;
    assert!(refused(cycle, 1).contains("twice"));
    let mut shared = stump(0.0, false);
    shared.right[0] = 1;
    assert!(refused(shared, 1).contains("twice"));
    let mut out = stump(0.0, false);
    out.right[0] = 9;
    assert!(refused(out, 1).contains("not a node"));
    let mut feature = stump(0.0, false);
    feature.feature[0] = 5;
    assert!(refused(feature, 1).contains("not a feature index"));
    let mut nan = stump(0.0, false);
    nan.threshold[0] = f64::NAN;
    assert!(refused(nan, 1).contains("NaN"));
    let mut short = stump(0.0, false);
    short.value.pop();
    assert!(refused(short, 1).contains("entries"));
}

/// A chain: node i splits to leaf and node i+1.
pub(super) fn chain(depth: usize) -> TreeSpec {
    let n = 2 * depth + 1;
    let mut t = TreeSpec {
        left: vec![-1; n],
        right: vec![-1; n],
        feature: vec![0; n],
        threshold: vec![0.0; n],
        value: vec![0.0; n],
        default_left: vec![false; n],
        ..TreeSpec::default()
    };
    for d in 0..depth {
        let i = 2 * d;
        t.left[i] = (i + 1) as i64;
        t.right[i] = (i + 2) as i64;
    }
    t
}

#[test]
fn depth_and_size_limits() {
    assert!(refused(chain(100_000), 1).contains("deeper"));
    assert!(Ensemble::build(Library::Hgb, 1, 0.0, false, &[chain(900)], &[]).is_ok());
    let big = chain(500_000);
    assert!(refused(big, 1).contains("more than"));
}

/// The reference: the textbook recursive walk over the unflattened arrays.
fn reference(library: Library, t: &TreeSpec, i: usize, x: &[f64]) -> f64 {
    if t.left[i] == -1 {
        return t.value[i];
    }
    let v = x[t.feature[i] as usize];
    let go_left = match library {
        Library::Hgb => {
            if v.is_nan() {
                t.default_left[i]
            } else {
                v <= t.threshold[i]
            }
        }
        Library::XgBoost => {
            let v = v as f32;
            if v.is_nan() {
                t.default_left[i]
            } else {
                v < t.threshold[i] as f32
            }
        }
        Library::LightGbm => unreachable!(),
    };
    let next = if go_left { t.left[i] } else { t.right[i] };
    reference(library, t, next as usize, x)
}

/// A random full binary tree in the arrays' layout, children numbered in creation order.
fn random_tree(splits: Vec<(u8, f64, bool)>, leaves: Vec<f64>) -> TreeSpec {
    let mut t = TreeSpec {
        left: vec![-1],
        right: vec![-1],
        feature: vec![0],
        threshold: vec![0.0],
        value: vec![leaves[0]],
        default_left: vec![false],
        ..TreeSpec::default()
    };
    // split leaf k (the k-th existing leaf, round robin) with each split in turn
    for (s, (f, thr, dl)) in splits.into_iter().enumerate() {
        let leaves_now: Vec<usize> = (0..t.left.len()).filter(|&i| t.left[i] == -1).collect();
        let i = leaves_now[s * 7 % leaves_now.len()];
        let n = t.left.len() as i64;
        t.left[i] = n;
        t.right[i] = n + 1;
        t.feature[i] = i64::from(f % 3);
        t.threshold[i] = thr;
        t.default_left[i] = dl;
        for k in 0..2 {
            t.left.push(-1);
            t.right.push(-1);
            t.feature.push(0);
            t.threshold.push(0.0);
            t.value.push(leaves[(s * 2 + k + 1) % leaves.len()]);
            t.default_left.push(false);
        }
    }
    t
}

fn value_strategy() -> impl Strategy<Value = f64> {
    prop_oneof![
        -3.0f64..3.0,
        Just(f64::NAN),
        Just(0.0),
        Just(-0.0),
        Just(1.0),
        (-3i32..3).prop_map(f64::from),
    ]
}

proptest! {
    #[test]
    fn flat_walk_matches_recursive_reference(
        splits in prop::collection::vec((any::<u8>(), (-6i32..6).prop_map(|k| f64::from(k) * 0.5), any::<bool>()), 0..40),
        leaves in prop::collection::vec(-2.0f64..2.0, 1..20),
        rows in prop::collection::vec(prop::collection::vec(value_strategy(), 3), 1..20),
        xgb in any::<bool>(),
    ) {
        let library = if xgb { Library::XgBoost } else { Library::Hgb };
        let tree = random_tree(splits, leaves);
        let e = Ensemble::build(library, 3, 0.0, false, std::slice::from_ref(&tree), &[]).unwrap();
        for x in rows {
            let want = reference(library, &tree, 0, &x);
            prop_assert_eq!(e.leaf(0, &x).to_bits(), want.to_bits());
        }
    }
}

/// LightGBM's missing types and categorical splits on feature 2 (not XGBoost's), chosen by
/// `kinds` per node.
fn decorate(tree: &mut TreeSpec, library: Library, kinds: &[u8]) {
    let n = tree.left.len();
    if library == Library::LightGbm {
        let types = [
            MissingType::None,
            MissingType::Zero,
            MissingType::NaN,
            MissingType::NaN,
        ];
        tree.missing = Some(
            (0..n)
                .map(|i| types[kinds[i % kinds.len()] as usize])
                .collect(),
        );
    }
    if library != Library::XgBoost {
        let cats = (0..n).map(|i| {
            (tree.left[i] != -1 && tree.feature[i] == 2)
                .then(|| vec![u32::from(kinds[i % kinds.len()]), 3])
        });
        tree.categories = Some(cats.collect());
    }
}

/// A `chain` whose split i sends `x0 <= i` to its own leaf, each leaf and default side its own.
fn staircase(depth: usize) -> TreeSpec {
    let mut t = chain(depth);
    for i in 0..depth {
        t.threshold[2 * i] = i as f64;
        t.default_left[2 * i] = i % 2 == 0;
        t.value[2 * i + 1] = i as f64 * 0.5 + 0.25;
    }
    t.value[2 * depth] = -1.0;
    t
}

/// The raw score by the node walk (`Ensemble::leaf`), the reference the compact walk must
/// equal bit for bit: the baseline, then each tree's leaf, summed as the library sums.
fn node_walk_score(e: &Ensemble, baseline: f64, x: &[f64]) -> f64 {
    let mut cast = x.to_vec();
    e.cast_input(&mut cast);
    let trees = 0..e.trees();
    if e.library == Library::XgBoost {
        f64::from(trees.fold(baseline as f32, |s, t| s + e.leaf(t, &cast) as f32))
    } else {
        trees.fold(baseline, |s, t| s + e.leaf(t, &cast))
    }
}

#[test]
fn a_block_deeper_than_the_fixed_walk_still_scores_every_depth() {
    // One staircase of 40 splits among seven stumps: the block walks leaf by leaf, not 40 steps.
    for library in [Library::Hgb, Library::LightGbm, Library::XgBoost] {
        let mut trees = vec![staircase(40)];
        trees.extend((0..7).map(|k| staircase(k % 2 + 1)));
        trees.push(staircase(30));
        let e = Ensemble::build(library, 3, 0.0, false, &trees, &[]).unwrap();
        assert!(!e.fast.is_empty());
        for x0 in [
            -1.0,
            0.0,
            0.5,
            1.0,
            7.0,
            23.5,
            24.0,
            25.0,
            29.0,
            39.0,
            40.0,
            99.0,
            f64::NAN,
        ] {
            let x = vec![x0, 0.0, 0.0];
            let want = node_walk_score(&e, 0.0, &x);
            let mut row = x.clone();
            assert_eq!(
                e.raw_score(&mut row).to_bits(),
                want.to_bits(),
                "{library:?} x0={x0}"
            );
        }
    }
}

proptest! {
    /// The scoring walk on the compact nodes (`fast.rs`) takes the same decisions as the node
    /// walk checked above, for every library, LightGBM's three missing types, categorical
    /// splits, values on thresholds, +-0.0, NaN and values past float32's range.
    #[test]
    fn compact_walk_matches_node_walk(
        splits in prop::collection::vec((any::<u8>(), (-6i32..6).prop_map(|k| f64::from(k) * 0.5), any::<bool>()), 0..40),
        leaves in prop::collection::vec(-2.0f64..2.0, 1..20),
        kinds in prop::collection::vec(0u8..4, 81),
        rows in prop::collection::vec(prop::collection::vec(prop_oneof![value_strategy(), Just(1e-36), Just(-1e-40), Just(1e39), 0.0f64..5.0], 3), 1..20),
        library in 0u8..3,
    ) {
        let library = [Library::Hgb, Library::LightGbm, Library::XgBoost][library as usize];
        let known = if library == Library::Hgb { vec![None, None, Some(vec![0, 1, 2, 3, 4])] } else { vec![] };
        // Eleven trees (one block of LANES walked side by side, then the rest one by one),
        // each grown from a longer prefix of the splits, so a block mixes depths and its
        // shallow trees sit on their leaves while the deep ones still walk; each has its own
        // leaf values, so the summation order shows.
        let trees: Vec<TreeSpec> = (0..11).map(|k| {
            let mut t = random_tree(splits[..splits.len() * (k + 1) / 11].to_vec(), leaves.clone());
            decorate(&mut t, library, &kinds);
            t.value.iter_mut().for_each(|v| *v = *v * (1.0 + k as f64 / 3.0) + 1e-7 * k as f64);
            t
        }).collect();
        let e = Ensemble::build(library, 3, 0.25, library == Library::LightGbm, &trees, &known).unwrap();
        prop_assert!(!e.fast.is_empty());
        for x in rows {
            let want = node_walk_score(&e, 0.25, &x);
            let mut row = x.clone();
            prop_assert_eq!(e.raw_score(&mut row).to_bits(), want.to_bits());
        }
    }
}
