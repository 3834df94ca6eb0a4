//! The artifact of a calibrated version: the active version's stored document with its
//! `calibration` set and each reference check's p_hat replaced by the calibrated probability
//! of the check's row, so the new version passes through the same load, validation and
//! reference checks as any other. The checks' rows were scored within the parity bound of the
//! library when the base version was loaded; their responses come from the base model.

use super::Calibration;
use crate::canonical::jcs_sha256;
use crate::error::{PipelineError, Result};
use crate::json_rows::response_json_row;
use crate::model::CompiledModel;
use serde_json::Value;

/// `doc` calibrated by `calibration`; `base` is `doc`'s model without calibration. Any earlier
/// calibration is replaced (a calibration is fitted on the base model's response).
pub fn calibrated_document(
    mut doc: Value,
    base: &CompiledModel,
    calibration: &Calibration,
) -> Result<Value> {
    let top = doc
        .as_object_mut()
        .ok_or_else(|| PipelineError::artifact("(document)", "is not an object"))?;
    if let Some(Value::Array(checks)) = top.get_mut("checks") {
        for (index, check) in checks.iter_mut().enumerate() {
            let row = check.get("row").and_then(Value::as_object).ok_or_else(|| {
                PipelineError::artifact(format!("checks[{index}].row"), "is not an object")
            })?;
            let f = response_json_row(base, row, index)?;
            check["p_hat"] = calibration.apply(f).into();
        }
    }
    top.insert("calibration".into(), calibration.to_json());
    restamp(top)?;
    Ok(doc)
}

/// The hash is of the content, which changed: format 1 of the logistic format may go without
/// one (the load computes it); every other format carries RFC 8785 of the rest.
pub fn restamp(top: &mut serde_json::Map<String, Value>) -> Result<()> {
    top.remove("sha256");
    let v1 = top.get("format_version").and_then(Value::as_i64) == Some(1)
        && top.get("format").and_then(Value::as_str) == Some(crate::artifact::FORMAT);
    if !v1 {
        let hash = jcs_sha256(top, "sha256")?;
        top.insert("sha256".into(), hash.into());
    }
    Ok(())
}
