//! Changing models: load (from jsonb or a server file), activate (roll back / pin), drop.
//! Each change is one transaction: it queues a relcache invalidation of the catalog, so at
//! commit every session's next statement uses the new active version and cached plans are
//! re-made; a rolled-back change is invisible everywhere. A refused call writes nothing.
//! These run as SECURITY DEFINER with a pinned search_path (see schema.rs privileges).

use super::catalog;
use super::errors::{guard, raise, OrRaise};
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
    guard(|| {
        let artifact = required(artifact, "artifact");
        let name = required(name, "name");
        let activate = required(activate, "activate");
        check_name(name);
        let model = compile_artifact(&artifact.0).or_raise();
        let version = catalog::insert_version(name, artifact, &model.sha256, activate);
        catalog::announce_change();
        version
    })
}

/// Like load_purchase_model, reading the artifact from a file on the database server.
/// Only for superusers and members of pg_read_server_files.
#[pg_extern(volatile, parallel_unsafe)]
fn load_purchase_model_file(
    path: Option<&str>,
    name: default!(Option<&str>, "'default'"),
    activate: default!(Option<bool>, true),
) -> i32 {
    guard(|| {
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
        let bytes = read_artifact_file(path);
        let text = std::str::from_utf8(&bytes).unwrap_or_else(|e| {
            raise(
                PgSqlErrorCode::ERRCODE_CHARACTER_NOT_IN_REPERTOIRE,
                format!("model artifact file \"{path}\" is not valid UTF-8 ({e})"),
                Some("Artifacts are UTF-8 JSON, as tools/export_model.py writes them.".into()),
            )
        });
        let doc: serde_json::Value = serde_json::from_str(text).unwrap_or_else(|e| {
            raise(
                PgSqlErrorCode::ERRCODE_INVALID_TEXT_REPRESENTATION,
                format!("model artifact file \"{path}\" is not valid JSON: {e}"),
                None,
            )
        });
        drop(bytes);
        load_purchase_model(Some(JsonB(doc)), name, activate)
    })
}

/// The largest model artifact file `load_purchase_model_file` reads: what one jsonb value can
/// hold (a jsonb container's offsets have 28 bits), so no file that could be stored is refused.
pub const MAX_ARTIFACT_FILE_BYTES: u64 = 0x0FFF_FFFF;

/// Reads a model artifact file: a regular file only (a FIFO, a device such as /dev/zero, a
/// directory or a socket is refused before anything is read, so the call can never block on a
/// writer or read forever), at most [`MAX_ARTIFACT_FILE_BYTES`], in chunks with
/// CHECK_FOR_INTERRUPTS between them (cancel and statement_timeout work throughout).
fn read_artifact_file(path: &str) -> Vec<u8> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let io_error = |what: &str, e: std::io::Error| -> ! {
        let code = match e.kind() {
            std::io::ErrorKind::NotFound => PgSqlErrorCode::ERRCODE_UNDEFINED_FILE,
            std::io::ErrorKind::PermissionDenied => PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE,
            _ => PgSqlErrorCode::ERRCODE_IO_ERROR,
        };
        raise(
            code,
            format!("could not {what} model artifact file \"{path}\": {e}"),
            None,
        )
    };
    // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer, uncancellably.
    // O_NOCTTY: a terminal device never becomes the backend's controlling terminal.
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .unwrap_or_else(|e| io_error("open", e));
    // Checked on the opened file, not the path: nothing can swap the file in between.
    let meta = file.metadata().unwrap_or_else(|e| io_error("stat", e));
    if !meta.file_type().is_file() {
        raise(
            PgSqlErrorCode::ERRCODE_WRONG_OBJECT_TYPE,
            format!("model artifact file \"{path}\" is not a regular file"),
            Some("load_purchase_model_file reads regular files only (not FIFOs, devices, directories or sockets).".into()),
        );
    }
    let too_large = |size: u64| -> ! {
        raise(
            PgSqlErrorCode::ERRCODE_PROGRAM_LIMIT_EXCEEDED,
            format!(
                "model artifact file \"{path}\" is {size} bytes, more than the {MAX_ARTIFACT_FILE_BYTES} bytes a model artifact may have"
            ),
            None,
        )
    };
    if meta.len() > MAX_ARTIFACT_FILE_BYTES {
        too_large(meta.len());
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    let mut chunk = vec![0u8; 1 << 20];
    loop {
        pgrx::check_for_interrupts!();
        let n = match file.read(&mut chunk) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => io_error("read", e),
        };
        if n == 0 {
            break;
        }
        bytes.extend_from_slice(&chunk[..n]);
        // The file may grow while it is read: the limit holds for what is read, too.
        if bytes.len() as u64 > MAX_ARTIFACT_FILE_BYTES {
            too_large(bytes.len() as u64);
        }
    }
    bytes
}

/// Makes `version` the active version of `name` (a rollback or a pin); returns it.
#[pg_extern(volatile, parallel_unsafe)]
fn activate_purchase_model(name: Option<&str>, version: Option<i32>) -> i32 {
    guard(|| {
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
    })
}

/// Removes model `name` and all its versions; returns how many versions were removed.
#[pg_extern(volatile, parallel_unsafe)]
fn drop_purchase_model(name: Option<&str>) -> i64 {
    guard(|| {
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
    })
}
