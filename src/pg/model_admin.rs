//! Changing models: load (from jsonb or a server file), activate (roll back / pin), drop.
//! Each change is one transaction: it queues a relcache invalidation of the catalog, so at
//! commit every session's next statement uses the new active version and cached plans are
//! re-made; a rolled-back change is invisible everywhere. A refused call writes nothing.
//! These run as SECURITY DEFINER with a pinned search_path (see schema.rs privileges).

use super::catalog;
use super::errors::{raise, OrRaise};
use crate::pipeline::loaded::compile_artifact;
use pgrx::prelude::*;
use pgrx::{JsonB, PgSqlErrorCode};

/// An argument that must not be NULL: NULL is an error, never a silent NULL result.
fn required<T>(value: Option<T>, argument: &str) -> T {
    value.unwrap_or_else(|| {
        raise(
            PgSqlErrorCode::ERRCODE_NULL_VALUE_NOT_ALLOWED,
            format!("argument \"{argument}\" must not be NULL"),
            None,
        )
    })
}

fn check_name(name: &str) {
    if name.trim().is_empty() {
        raise(
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            "model name must not be empty",
            Some("Models are named like 'default' or 'spring_campaign'.".into()),
        );
    }
}

/// Validates, self-checks and stores a new version of model `name`; returns its version.
/// A rejected artifact writes nothing: the model in force before stays in force.
#[pg_extern(volatile, parallel_unsafe)]
fn load_purchase_model(
    artifact: Option<JsonB>,
    name: default!(Option<&str>, "'default'"),
    activate: default!(Option<bool>, true),
) -> i32 {
    let artifact = required(artifact, "artifact");
    let name = required(name, "name");
    let activate = required(activate, "activate");
    check_name(name);
    let model = compile_artifact(&artifact.0).or_raise();
    let version = catalog::insert_version(name, artifact, &model.sha256, activate);
    catalog::announce_change();
    version
}

/// Like load_purchase_model, reading the artifact from a file on the database server.
/// Only for superusers and members of pg_read_server_files.
#[pg_extern(volatile, parallel_unsafe)]
fn load_purchase_model_file(
    path: Option<&str>,
    name: default!(Option<&str>, "'default'"),
    activate: default!(Option<bool>, true),
) -> i32 {
    let path = required(path, "path");
    if !catalog::invoker_may_read_server_files() {
        raise(
            PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE,
            format!(
                "role \"{}\" may not read server files such as \"{path}\"",
                catalog::invoking_role()
            ),
            Some("Only superusers and members of pg_read_server_files may load a model from a server file; others pass the artifact as jsonb to load_purchase_model.".into()),
        );
    }
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| {
        raise(
            PgSqlErrorCode::ERRCODE_UNDEFINED_FILE,
            format!("could not read model artifact file \"{path}\": {e}"),
            None,
        )
    });
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| {
        raise(
            PgSqlErrorCode::ERRCODE_INVALID_TEXT_REPRESENTATION,
            format!("model artifact file \"{path}\" is not valid JSON: {e}"),
            None,
        )
    });
    load_purchase_model(Some(JsonB(doc)), name, activate)
}

/// Makes `version` the active version of `name` (a rollback or a pin); returns it.
#[pg_extern(volatile, parallel_unsafe)]
fn activate_purchase_model(name: Option<&str>, version: Option<i32>) -> i32 {
    let name = required(name, "name");
    let version = required(version, "version");
    if !catalog::activate_version(name, version) {
        let versions = catalog::versions(name);
        let known = if versions.is_empty() {
            format!("model \"{name}\" has no versions")
        } else {
            format!(
                "its versions are {}",
                versions
                    .iter()
                    .map(i32::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        raise(
            PgSqlErrorCode::ERRCODE_UNDEFINED_OBJECT,
            format!("purchase model \"{name}\" has no version {version} ({known})"),
            Some("SELECT * FROM purchase_models() lists every version.".into()),
        );
    }
    catalog::announce_change();
    version
}

/// Removes model `name` and all its versions; returns how many versions were removed.
#[pg_extern(volatile, parallel_unsafe)]
fn drop_purchase_model(name: Option<&str>) -> i64 {
    let name = required(name, "name");
    let removed = catalog::delete_model(name);
    if removed == 0 {
        raise(
            PgSqlErrorCode::ERRCODE_UNDEFINED_OBJECT,
            format!("purchase model \"{name}\" does not exist"),
            Some("SELECT * FROM purchase_models() lists the models.".into()),
        );
    }
    catalog::announce_change();
    removed
}
