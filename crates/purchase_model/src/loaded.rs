//! Artifact -> validated, compiled, self-checked model: the one entry point a loader calls.

use super::artifact::{Artifact, Check};
use super::error::{PipelineError, Result};
use super::interrupt::check_interrupts;
use super::json_rows::score_json_row;
use super::model::CompiledModel;
use super::trees::artifact as tree_artifact;
use serde_json::Value;

/// Largest |p_hat - expected| a reference check may show (the project's parity bound).
pub const CHECK_TOLERANCE: f64 = 1e-9;

/// Parses, validates and compiles an artifact, then scores its reference rows. An artifact
/// without reference rows is refused unless the caller allows it (`allow_unchecked`).
pub fn compile_artifact(doc: &Value, allow_unchecked: bool) -> Result<CompiledModel> {
    if tree_artifact::is_tree_document(doc) {
        return compile_trees(doc, allow_unchecked);
    }
    compile_parsed(Artifact::from_json(doc)?, allow_unchecked)
}

/// `compile_artifact`, consuming the document (a large artifact is not held twice).
pub fn compile_artifact_value(doc: Value, allow_unchecked: bool) -> Result<CompiledModel> {
    if tree_artifact::is_tree_document(&doc) {
        return compile_trees(&doc, allow_unchecked);
    }
    compile_parsed(Artifact::from_value(doc)?, allow_unchecked)
}

/// Compiles a stored artifact of either format (validated, self-checked and hashed when it
/// was loaded, so neither re-hashed nor re-checked).
pub fn compile_stored(doc: &Value, sha256: &str) -> Result<CompiledModel> {
    if tree_artifact::is_tree_document(doc) {
        return CompiledModel::from_trees(tree_artifact::from_stored_json(doc, sha256)?);
    }
    CompiledModel::compile(&Artifact::from_stored_json(doc, sha256)?)
}

fn compile_trees(doc: &Value, allow_unchecked: bool) -> Result<CompiledModel> {
    let artifact = tree_artifact::from_json(doc)?;
    if artifact.checks.is_empty() && !allow_unchecked {
        return Err(PipelineError::ChecksRequired);
    }
    let tolerance = artifact.tolerance();
    let checks = artifact.checks.clone();
    let model = CompiledModel::from_trees(artifact)?;
    run_checks(&model, &checks, tolerance)?;
    Ok(model)
}

fn compile_parsed(artifact: Artifact, allow_unchecked: bool) -> Result<CompiledModel> {
    if artifact.checks.is_empty() && !allow_unchecked {
        return Err(PipelineError::ChecksRequired);
    }
    let model = CompiledModel::compile(&artifact)?;
    run_checks(&model, &artifact.checks, CHECK_TOLERANCE)?;
    Ok(model)
}

/// Scores each reference row; a difference above `tolerance` refuses the artifact.
fn run_checks(model: &CompiledModel, checks: &[Check], tolerance: f64) -> Result<()> {
    for (index, check) in checks.iter().enumerate() {
        check_interrupts();
        let got = score_json_row(model, &check.row, index)
            .map_err(|e| PipelineError::artifact(format!("checks[{index}].row"), e.to_string()))?
            .p_hat;
        // NaN-safe: a NaN difference fails the check too.
        let close = (got - check.p_hat).abs() <= tolerance;
        if !close {
            return Err(PipelineError::CheckFailed {
                index,
                got,
                expected: check.p_hat,
            });
        }
    }
    Ok(())
}
