//! Loading models into the catalog.

use super::catalog;
use super::errors::{raise, OrRaise};
use crate::pipeline::loaded::compile_artifact;
use pgrx::prelude::*;
use pgrx::{JsonB, PgSqlErrorCode};

/// Validates, self-checks and stores a new version of model `name`; returns its version.
/// A rejected artifact writes nothing: the model in force before stays in force.
#[pg_extern(volatile, parallel_unsafe)]
fn load_purchase_model(
    artifact: JsonB,
    name: default!(&str, "'default'"),
    activate: default!(bool, true),
) -> i32 {
    if name.trim().is_empty() {
        raise(
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            "model name must not be empty",
            Some("Models are named like 'default' or 'spring_campaign'.".into()),
        );
    }
    let model = compile_artifact(&artifact.0).or_raise();
    let version = catalog::insert_version(name, artifact, &model.sha256, activate);
    catalog::announce_change();
    version
}
