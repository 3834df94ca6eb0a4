//! Which hash a document is stored under: RFC 8785 for every format, or for format 1 also the
//! first release's rule (`canonical::legacy_sha256`).

use super::format_version;
use crate::canonical::{jcs_sha256, legacy_sha256};
use crate::error::{PipelineError, Result};
use crate::json_fields::{object, string};
use serde_json::Value;

/// The document's format version and the hash it is stored under: RFC 8785 (format 2 must
/// carry it), or for format 1 also the first release's rule.
pub(super) fn verified_hash(doc: &Value) -> Result<(i64, String)> {
    let top = object(doc, "(document)")?;
    let claimed = match top.get("sha256") {
        None => None,
        Some(v) => Some(string(v, "sha256")?.to_ascii_lowercase()),
    };
    let version = format_version(top)?;
    let canonical = jcs_sha256(top, "sha256")?;
    let sha256 = match (version, claimed) {
        (2, None) => {
            return Err(PipelineError::artifact(
                "sha256",
                "is missing (format 2 artifacts carry the RFC 8785 hash the exporter wrote)",
            ))
        }
        (_, None) => canonical,
        (_, Some(claimed)) if claimed == canonical => canonical,
        // Format 1 artifacts written before RFC 8785 carry the old rule's hash.
        (1, Some(claimed)) if claimed == legacy_sha256(doc) => claimed,
        (_, Some(claimed)) => {
            return Err(PipelineError::artifact(
                "sha256",
                format!("is {claimed} but the content hashes to {canonical} (RFC 8785): the artifact was changed after export"),
            ))
        }
    };
    Ok((version, sha256))
}
