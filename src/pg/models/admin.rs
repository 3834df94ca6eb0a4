//! Changing models: load (from jsonb or a server file), activate (roll back / pin), drop.
//! Each change is one transaction: it queues a relcache invalidation of the catalog, so at
//! commit every session's next statement uses the new active version and cached plans are
//! re-made; a rolled-back change is invisible everywhere. A refused call writes nothing.
//! These run as SECURITY DEFINER with a pinned search_path (see models/lifecycle.sql for the privileges).

use crate::pg::errors::{guard_entry, raise, OrRaise};
use crate::pg::models::artifact_input::{install_interrupt_check, parse_artifact_text, JsonbText};
use crate::pg::models::{catalog, load_rules};
use pgrx::prelude::*;
use pgrx::PgSqlErrorCode;
use purchase_model::artifact::MAX_ARTIFACT_BYTES;
use purchase_model::loaded::compile_artifact_value;

// Lifecycle functions in SQL and the privileges of every function: last, after all others.
pgrx::extension_sql_file!("lifecycle.sql", finalize);

/// An argument that must not be NULL: NULL is an error, never a silent NULL result.
pub(crate) fn required<T>(value: Option<T>, argument: &str) -> T {
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

/// Validates, self-checks and stores a new version of a model; returns its version. The model
/// is `name`, or without one the artifact's own name (`training.name`, as the exporter writes
/// it), or `default`. A version whose input columns differ from the active version's is refused
/// unless `replace_inputs`; an artifact identical to a stored version of the name (same sha256)
/// is not stored again: that version is returned (and activated when `activate`). A rejected
/// artifact writes nothing: the model in force before stays in force. An artifact without
/// reference checks loads only with `allow_unchecked`.
#[pg_extern(volatile, parallel_unsafe, name = "load_purchase_model")]
fn load_purchase_model_named(
    artifact: Option<JsonbText>,
    name: default!(Option<&str>, "NULL"),
    activate: default!(Option<bool>, true),
    allow_unchecked: default!(Option<bool>, false),
    replace_inputs: default!(Option<bool>, false),
) -> i32 {
    guard_entry("load_purchase_model", || {
        let artifact = required(artifact, "artifact");
        let options = LoadOptions::new(name, activate, allow_unchecked, replace_inputs);
        load_text(artifact.0, options)
    })
}

/// The entry point of the 0.3.0 signature `(jsonb, text, boolean, boolean)`, which an installed
/// extension keeps until `ALTER EXTENSION pg_purchase UPDATE`: that release's contract (the name
/// is required, input columns may change).
#[pg_extern(volatile, parallel_unsafe, sql = false)]
fn load_purchase_model_checked(
    artifact: Option<JsonbText>,
    name: Option<&str>,
    activate: Option<bool>,
    allow_unchecked: Option<bool>,
) -> i32 {
    guard_entry("load_purchase_model", || {
        let artifact = required(artifact, "artifact");
        let name = required(name, "name");
        let options = LoadOptions::new(Some(name), activate, allow_unchecked, Some(true));
        load_text(artifact.0, options)
    })
}

/// The entry point of the 0.1.0/0.2.0 signature `(jsonb, text, boolean)`, which an installed
/// extension keeps until `ALTER EXTENSION pg_purchase UPDATE`: that release's contract (an
/// artifact without reference checks loads).
#[pg_extern(volatile, parallel_unsafe, sql = false)]
fn load_purchase_model(
    artifact: Option<JsonbText>,
    name: Option<&str>,
    activate: Option<bool>,
) -> i32 {
    guard_entry("load_purchase_model_0_2", || {
        let artifact = required(artifact, "artifact");
        let name = required(name, "name");
        let options = LoadOptions::new(Some(name), activate, Some(true), Some(true));
        load_text(artifact.0, options)
    })
}

/// How a load stores its version (the arguments every load path shares).
pub(crate) struct LoadOptions<'a> {
    /// None: the artifact's own name, else `default`.
    pub name: Option<&'a str>,
    pub activate: bool,
    pub allow_unchecked: bool,
    pub replace_inputs: bool,
}

impl<'a> LoadOptions<'a> {
    pub fn new(
        name: Option<&'a str>,
        activate: Option<bool>,
        allow_unchecked: Option<bool>,
        replace_inputs: Option<bool>,
    ) -> Self {
        LoadOptions {
            name,
            activate: required(activate, "activate"),
            allow_unchecked: required(allow_unchecked, "allow_unchecked"),
            replace_inputs: required(replace_inputs, "replace_inputs"),
        }
    }
}

/// The load shared by the jsonb and the file paths: the text is parsed once (a number out of
/// range or too deep a nesting names its field), validated, checked, then stored as jsonb.
pub(crate) fn load_text(text: String, options: LoadOptions<'_>) -> i32 {
    install_interrupt_check();
    // The JSON tree is consumed by validation and the compiled model dropped at once: a large
    // artifact is held as text, as a tree and as the model only one after the other.
    let (sha256, own_name, columns) = {
        let doc = parse_artifact_text(&text);
        let own_name = load_rules::artifact_name(&doc);
        let columns = load_rules::input_columns(&doc);
        let sha256 = compile_artifact_value(doc, options.allow_unchecked)
            .or_raise()
            .sha256;
        (sha256, own_name, columns)
    };
    let name = load_rules::model_name(options.name, own_name.as_deref());
    check_name(&name);
    if !options.replace_inputs {
        load_rules::check_same_inputs(&name, &columns, own_name.as_deref());
    }
    let stored = catalog::insert_version(&name, &text, &sha256, options.activate);
    drop(text);
    release_freed_memory();
    if stored.existing {
        load_rules::notice_identical(&name, stored.version, stored.activated);
    }
    if stored.changed {
        catalog::announce_change();
    }
    stored.version
}

/// Hands memory freed by a large load back to the operating system: glibc keeps freed heap
/// pages of many small allocations (a tree of strings) in the process otherwise.
fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        extern "C" {
            fn malloc_trim(pad: usize) -> std::ffi::c_int;
        }
        // SAFETY: malloc_trim only returns free memory of glibc's heap to the kernel.
        unsafe {
            malloc_trim(0);
        }
    }
}

/// Like load_purchase_model, reading the artifact from a file on the database server.
/// Only for superusers and members of pg_read_server_files.
#[pg_extern(volatile, parallel_unsafe, name = "load_purchase_model_file")]
fn load_purchase_model_file_named(
    path: Option<&str>,
    name: default!(Option<&str>, "NULL"),
    activate: default!(Option<bool>, true),
    allow_unchecked: default!(Option<bool>, false),
    replace_inputs: default!(Option<bool>, false),
) -> i32 {
    guard_entry("load_purchase_model_file", || {
        let options = LoadOptions::new(name, activate, allow_unchecked, replace_inputs);
        load_file(path, options)
    })
}

/// The 0.3.0 signature `(text, text, boolean, boolean)` of load_purchase_model_file, until
/// `ALTER EXTENSION pg_purchase UPDATE` (see `load_purchase_model_checked`).
#[pg_extern(volatile, parallel_unsafe, sql = false)]
fn load_purchase_model_file_checked(
    path: Option<&str>,
    name: Option<&str>,
    activate: Option<bool>,
    allow_unchecked: Option<bool>,
) -> i32 {
    guard_entry("load_purchase_model_file", || {
        let name = required(name, "name");
        let options = LoadOptions::new(Some(name), activate, allow_unchecked, Some(true));
        load_file(path, options)
    })
}

fn load_file(path: Option<&str>, options: LoadOptions<'_>) -> i32 {
    {
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
        let text = String::from_utf8(bytes).unwrap_or_else(|e| {
            raise(
                PgSqlErrorCode::ERRCODE_CHARACTER_NOT_IN_REPERTOIRE,
                format!(
                    "model artifact file \"{path}\" is not valid UTF-8 ({})",
                    e.utf8_error()
                ),
                Some(
                    "Artifacts are UTF-8 JSON, as python -m pg_purchase export writes them.".into(),
                ),
            )
        });
        load_text(text, options)
    }
}

/// Reads a model artifact file: a regular file only (a FIFO, a device such as /dev/zero, a
/// directory or a socket is refused before anything is read, so the call can never block on a
/// writer or read forever), at most [`MAX_ARTIFACT_BYTES`], in chunks with
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
                "model artifact file \"{path}\" is {size} bytes, more than the {MAX_ARTIFACT_BYTES} bytes a model artifact may have"
            ),
            None,
        )
    };
    if meta.len() > MAX_ARTIFACT_BYTES {
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
        if bytes.len() as u64 > MAX_ARTIFACT_BYTES {
            too_large(bytes.len() as u64);
        }
    }
    bytes
}

/// Makes `version` the active version of `name` (a rollback or a pin); returns it.
#[pg_extern(volatile, parallel_unsafe)]
fn activate_purchase_model(name: Option<&str>, version: Option<i32>) -> i32 {
    guard_entry("activate_purchase_model", || activate(name, version))
}

fn activate(name: Option<&str>, version: Option<i32>) -> i32 {
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
    guard_entry("drop_purchase_model", || drop_model(name))
}

fn drop_model(name: Option<&str>) -> i64 {
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

/// The 0.1.0/0.2.0 signature `(text, text, boolean)` of load_purchase_model_file, until
/// `ALTER EXTENSION pg_purchase UPDATE` (see `load_purchase_model`).
#[pg_extern(volatile, parallel_unsafe, sql = false)]
fn load_purchase_model_file(path: Option<&str>, name: Option<&str>, activate: Option<bool>) -> i32 {
    guard_entry("load_purchase_model_file", || {
        let name = required(name, "name");
        let options = LoadOptions::new(Some(name), activate, Some(true), Some(true));
        load_file(path, options)
    })
}
