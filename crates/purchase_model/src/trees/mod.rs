//! Gradient-boosted tree ensembles (scikit-learn HistGradientBoosting, LightGBM, XGBoost),
//! compiled into flat node arrays and walked the way each library walks them.
//!
//! * `ensemble.rs`: the flat arrays and their one-time validation (reachability, acyclicity,
//!   depth, index ranges), built from per-tree parallel arrays as the artifact lists them.
//! * `walk.rs`: the per-library decision rule, summation order and link.
//! * `fast.rs`: the scoring walk's compact, branch-light copy of the node array.
//! * `shap.rs`, `shap_leaf.rs`: exact path-dependent TreeSHAP, each leaf's share in closed
//!   form.
//! * `artifact.rs`: the `pg_purchase.tree_pipeline` artifact format (README, "The model
//!   artifact").

pub mod artifact;
pub mod ensemble;
mod fast;
pub mod shap;
mod shap_leaf;
pub mod walk;

#[cfg(test)]
mod artifact_tests;
#[cfg(test)]
mod shap_tests;
#[cfg(test)]
mod tests;

pub use ensemble::{Ensemble, Library, MissingType, TreeSpec};

/// Limits (README): an ensemble with more nodes, or a tree deeper than this, is refused at
/// load before any work proportional to it beyond reading the document.
pub const MAX_NODES: usize = 500_000;
pub const MAX_DEPTH: usize = 1_000;
/// The largest category code a categorical split may name (bitsets stay small).
pub const MAX_CATEGORY: u32 = 1 << 16;
