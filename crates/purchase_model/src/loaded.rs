//! Artifact -> validated, compiled, self-checked model: the one entry point a loader calls.

use super::artifact::Artifact;
use super::error::{PipelineError, Result};
use super::interrupt::check_interrupts;
use super::json_rows::score_json_row;
use super::model::CompiledModel;
use serde_json::Value;

/// Largest |p_hat - expected| a reference check may show (the project's parity bound).
pub const CHECK_TOLERANCE: f64 = 1e-9;

/// Parses, validates and compiles an artifact, then scores its reference rows. An artifact
/// without reference rows is refused unless the caller allows it (`allow_unchecked`).
pub fn compile_artifact(doc: &Value, allow_unchecked: bool) -> Result<CompiledModel> {
    compile_parsed(Artifact::from_json(doc)?, allow_unchecked)
}

/// `compile_artifact`, consuming the document (a large artifact is not held twice).
pub fn compile_artifact_value(doc: Value, allow_unchecked: bool) -> Result<CompiledModel> {
    compile_parsed(Artifact::from_value(doc)?, allow_unchecked)
}

fn compile_parsed(artifact: Artifact, allow_unchecked: bool) -> Result<CompiledModel> {
    if artifact.checks.is_empty() && !allow_unchecked {
        return Err(PipelineError::ChecksRequired);
    }
    let model = CompiledModel::compile(&artifact)?;
    for (index, check) in artifact.checks.iter().enumerate() {
        check_interrupts();
        let got = score_json_row(&model, &check.row, index)
            .map_err(|e| PipelineError::artifact(format!("checks[{index}].row"), e.to_string()))?
            .p_hat;
        // NaN-safe: a NaN difference fails the check too.
        let close = (got - check.p_hat).abs() <= CHECK_TOLERANCE;
        if !close {
            return Err(PipelineError::CheckFailed {
                index,
                got,
                expected: check.p_hat,
            });
        }
    }
    Ok(model)
}
