//! The rewritten path: `predict_purchase(c)` after the planner support function replaced the
//! whole-row argument by the columns the model reads:
//! `predict_purchase_columns('default', '{x5,x12,...}', c.x5, c.x12, ...)`.
//! No whole-row value is ever built; each value arrives as a plain argument.
//!
//! PUBLIC must be able to execute these (every rewritten call runs them), so they guard
//! themselves:
//! - **privileges**: a call is allowed exactly when a call of the function it stands for
//!   (`predict_purchase_columns` -> `predict_purchase(record, text)` in the same schema) would
//!   be: the caller's EXECUTE on that original is checked when the call site first runs (each
//!   execution of a plan, so a cached plan run after `SET ROLE` is checked for the new role);
//!   the planner checks it too before rewriting (`planner_support.rs`);
//! - **malformed direct calls** (too few arguments, `VARIADIC ARRAY[...]`, a NULL or
//!   non-constant names array, a NULL or repeated name, names and values of different counts)
//!   are refused with a named error instead of reading the wrong argument.
//!
//! A call with a constant version pin (`predict_purchase(c, 'm', version => 2)`) is rewritten
//! into `predict_purchase_version_columns(model text, version integer, columns text[],
//! VARIADIC "any")` with the pinned version's columns: [`Shape`] says where its arguments sit.

use crate::pg::datum::column::ColumnReader;
use crate::pg::errors::raise;
use crate::pg::models::cache::LoadedModel;
use crate::pg::scoring::binder::bind_inputs;
use crate::pg::scoring::call_site::{arg, arg_is_const, version_arg, Call, ModelArgument};
use crate::pg::scoring::entry_points::null_model;
use crate::pg::scoring::output::{emit, Output, OutputState};
use pgrx::prelude::*;
use pgrx::PgSqlErrorCode;
use std::ffi::{CStr, CString};

/// Where a columns function's arguments sit: (model, columns, values...) or, with a version
/// pin, (model, version, columns, values...).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    Active,
    Pinned,
}

impl Shape {
    /// The argument holding the column-name array.
    fn names_arg(self) -> usize {
        match self {
            Shape::Active => 1,
            Shape::Pinned => 2,
        }
    }

    /// Arguments before the column values.
    fn fixed_args(self) -> usize {
        self.names_arg() + 1
    }

    /// The version pin of this call (None: the active version).
    fn version(self, call: Call<'_>) -> Option<i32> {
        match self {
            Shape::Active => None,
            Shape::Pinned => version_arg(call, 1),
        }
    }
}

#[derive(Default)]
struct ColumnsSite {
    /// The column names of argument 1, validated on the call site's first call (with the
    /// argument count and the caller's privilege).
    names: Option<Vec<String>>,
    model: ModelArgument,
    /// For each model input, the index of its argument.
    argpos: Vec<usize>,
    readers: Vec<ColumnReader>,
    output: OutputState,
}

/// Entry for the `*_columns` functions.
///
/// # Safety
/// `call` is a call of a V1 function declared (text, text[], VARIADIC "any").
pub unsafe fn score_columns(call: Call<'_>, output: Output, shape: Shape) -> pg_sys::Datum {
    // SAFETY: this function is the only user of the columns functions' fn_extra, always as
    // ColumnsSite.
    let site: &mut ColumnsSite = unsafe { call.state(ColumnsSite::default) };
    if site.names.is_none() {
        check_privilege(call);
        site.names = Some(checked_names(call, shape));
    }
    if call.arg(0).1 {
        null_model();
    }
    // SAFETY: argument 0 is a text (the declaration), non-null (checked just above).
    let (model, changed) = unsafe { site.model.model_version(call, 0, shape.version(call)) };
    if changed {
        bind_columns(call, site, &model, shape);
    }
    let ColumnsSite {
        argpos,
        readers,
        output: state,
        ..
    } = site;
    emit(output, state, call, &model, |i| {
        // SAFETY: argpos[i] < nargs (checked_names matched the value count to the names,
        // bind_columns took positions among the names); the reader was made for the
        // argument's type (get_fn_expr_argtype) and the datum lives for the call.
        unsafe {
            let (d, null) = arg(call.fcinfo(), argpos[i]);
            readers[i].read(&model.model.inputs[i].column, d, null)
        }
    })
}

/// Maps the model's inputs to argument positions by the column-name array baked into the plan.
fn bind_columns(call: Call<'_>, site: &mut ColumnsSite, model: &LoadedModel, shape: Shape) {
    let names = site.names.take().unwrap_or_default();
    let flinfo = call.flinfo();
    // SAFETY: the current call's flinfo has a valid fn_mcxt (it outlives the call-site state
    // that keeps the readers).
    let mut mcxt = pgrx::PgMemoryContexts::For(unsafe { (*flinfo).fn_mcxt });
    site.argpos.clear();
    site.readers.clear();
    let inputs: Vec<&str> = model.model.columns().collect();
    let available = names.iter().enumerate().map(|(pos, n)| (n.as_str(), pos));
    let positions = match bind_inputs(&inputs, available) {
        Ok(positions) => positions,
        Err(missing) => {
            let column = missing.column.to_string();
            // Leave the site as if never bound, so a later call binds again instead of
            // reading positions that were never set.
            site.names = Some(names);
            site.model = ModelArgument::default();
            raise(
                PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
                format!(
                    "purchase model \"{}\" version {} was activated after this statement was planned, and it reads column \"{}\", which the plan does not pass",
                    model.name, model.version, column
                ),
                Some("The plan is made again at the next execution: run the statement again (in a transaction block, after ROLLBACK TO SAVEPOINT or in a new transaction).".into()),
            )
        }
    };
    for (input, pos) in model.model.inputs.iter().zip(positions) {
        let argno = shape.fixed_args() + pos;
        // SAFETY: flinfo is the current call's; argno < nargs (checked_names).
        let typid = unsafe { pg_sys::get_fn_expr_argtype(flinfo, argno as i32) };
        site.argpos.push(argno);
        // SAFETY: switch_to makes fn_mcxt current for the closure and restores the previous
        // context (also on error).
        site.readers
            .push(unsafe { mcxt.switch_to(|_| ColumnReader::for_type(typid, input.kind)) });
    }
    site.names = Some(names);
}

fn malformed(message: String) -> ! {
    raise(
        PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
        message,
        Some("The *_columns functions are written by pg_purchase's planner support; call predict_purchase(row) and the others instead.".into()),
    )
}

/// This function's name, for messages.
fn own_name(call: Call<'_>) -> String {
    // SAFETY: the current call's flinfo; get_func_name returns NULL or a palloc'd C string.
    unsafe {
        let name = pg_sys::get_func_name((*call.flinfo()).fn_oid);
        if name.is_null() {
            "predict_purchase_columns".into()
        } else {
            CStr::from_ptr(name).to_string_lossy().into_owned()
        }
    }
}

/// The column names of argument 1, checked against the arguments actually passed.
fn checked_names(call: Call<'_>, shape: Shape) -> Vec<String> {
    let flinfo = call.flinfo();
    let me = own_name(call);
    // SAFETY: the current call's valid flinfo.
    if unsafe { (*flinfo).fn_expr.is_null() } {
        raise(
            PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
            format!("{me} must be called from an SQL expression"),
            None,
        );
    }
    // SAFETY: the current call's valid flinfo, with an expression (checked above).
    if unsafe { pg_sys::get_fn_expr_variadic(flinfo) } {
        malformed(format!(
            "{me} does not accept VARIADIC ARRAY[...]: pass each column value as its own argument"
        ));
    }
    let nargs = call.nargs();
    let fixed = shape.fixed_args();
    let names_arg = shape.names_arg();
    if nargs < fixed {
        malformed(format!("{me} needs a model name and a column-name array"));
    }
    if shape == Shape::Pinned && (call.arg(1).1 || !arg_is_const(call, 1)) {
        malformed(format!(
            "argument \"version\" of {me} must be a non-NULL constant"
        ));
    }
    let (names_datum, names_null) = call.arg(names_arg);
    if names_null {
        raise(
            PgSqlErrorCode::ERRCODE_NULL_VALUE_NOT_ALLOWED,
            format!("argument \"columns\" of {me} must not be NULL"),
            None,
        );
    }
    if !arg_is_const(call, names_arg) {
        malformed(format!(
            "argument \"columns\" of {me} must be a constant array of column names"
        ));
    }
    // SAFETY: argument 1 is a non-null text[] by the declaration (checked above), a varlena
    // array once detoasted.
    let array =
        unsafe { pg_sys::pg_detoast_datum(names_datum.cast_mut_ptr()) } as *mut pg_sys::ArrayType;
    // SAFETY: `array` is a valid detoasted ArrayType.
    if unsafe { (*array).ndim > 1 || (*array).elemtype != pg_sys::TEXTOID } {
        malformed(format!(
            "argument \"columns\" of {me} must be a one-dimensional text array"
        ));
    }
    // SAFETY: a non-null, one-dimensional text array (checked above).
    let names: Vec<Option<String>> =
        unsafe { pgrx::Array::<String>::from_datum(names_datum, false) }
            .map(|a| a.iter().collect())
            .unwrap_or_default();
    let mut checked = Vec::with_capacity(names.len());
    for (i, name) in names.into_iter().enumerate() {
        let Some(name) = name else {
            raise(
                PgSqlErrorCode::ERRCODE_NULL_VALUE_NOT_ALLOWED,
                format!("element {} of argument \"columns\" of {me} is NULL", i + 1),
                Some("Every column value needs its name, in the order of the values.".into()),
            );
        };
        if checked.contains(&name) {
            malformed(format!(
                "argument \"columns\" of {me} names column \"{name}\" twice"
            ));
        }
        checked.push(name);
    }
    let values = nargs - fixed;
    if values != checked.len() {
        malformed(format!(
            "{me} got {values} column value(s) for {} column name(s)",
            checked.len()
        ));
    }
    for argno in fixed..nargs {
        // SAFETY: the current call's flinfo, with an expression; argno < nargs.
        if unsafe { pg_sys::get_fn_expr_argtype(flinfo, argno as i32) } == pg_sys::InvalidOid {
            raise(
                PgSqlErrorCode::ERRCODE_DATATYPE_MISMATCH,
                format!(
                    "{me} cannot determine the type of the value of column \"{}\"",
                    checked[argno - fixed]
                ),
                None,
            );
        }
    }
    checked
}

/// The scoring function a `*_columns` (or `*_version_columns`) function stands for: same
/// schema, the name without that suffix, arguments (record, text, integer) since 0.4.0, (record, text) before (a
/// database not yet updated). Must run in a transaction (catalog lookups).
pub fn original_function(columns_fn: pg_sys::Oid) -> Option<pg_sys::Oid> {
    // SAFETY: syscache lookups of any oid (NULL when it does not exist); the names are
    // palloc'd C strings, checked for NULL before use; the qualified name list is built of
    // valid String nodes and read by LookupFuncName with an argument array of its length.
    unsafe {
        let fname = pg_sys::get_func_name(columns_fn);
        if fname.is_null() {
            return None;
        }
        let base = CStr::from_ptr(fname).to_str().ok()?;
        let base = base
            .strip_suffix("_version_columns")
            .or_else(|| base.strip_suffix("_columns"))?;
        let nsp = pg_sys::get_namespace_name(pg_sys::get_func_namespace(columns_fn));
        if nsp.is_null() {
            return None;
        }
        let base = CString::new(base).ok()?;
        let mut qualified = std::ptr::null_mut::<pg_sys::List>();
        qualified = pg_sys::lappend(qualified, pg_sys::makeString(nsp).cast());
        qualified = pg_sys::lappend(
            qualified,
            pg_sys::makeString(pg_sys::pstrdup(base.as_ptr())).cast(),
        );
        let argtypes = [pg_sys::RECORDOID, pg_sys::TEXTOID, pg_sys::INT4OID];
        let oid = match pg_sys::LookupFuncName(qualified, 3, argtypes.as_ptr(), true) {
            pg_sys::InvalidOid => pg_sys::LookupFuncName(qualified, 2, argtypes.as_ptr(), true),
            oid => oid,
        };
        (oid != pg_sys::InvalidOid).then_some(oid)
    }
}

/// Whether the current role may execute function `oid` (in a transaction).
pub fn may_execute(oid: pg_sys::Oid) -> bool {
    // SAFETY: an ACL check of any function oid for the current user (an error if the
    // function does not exist, never undefined behaviour).
    unsafe {
        pg_sys::pg_proc_aclcheck(
            oid,
            pg_sys::GetUserId(),
            pg_sys::ACL_EXECUTE as pg_sys::AclMode,
        ) == pg_sys::AclResult::ACLCHECK_OK
    }
}

/// Raises PostgreSQL's own "permission denied for function predict_purchase" (42501) unless
/// the current role may execute the function this call stands for.
fn check_privilege(call: Call<'_>) {
    // SAFETY: the current call's valid flinfo.
    let me = unsafe { (*call.flinfo()).fn_oid };
    let Some(original) = original_function(me) else {
        raise(
            PgSqlErrorCode::ERRCODE_UNDEFINED_FUNCTION,
            format!(
                "{} stands for no scoring function (record, text) in its schema",
                own_name(call)
            ),
            Some(
                "Is the extension installed completely? Try ALTER EXTENSION pg_purchase UPDATE."
                    .into(),
            ),
        );
    };
    if !may_execute(original) {
        // PostgreSQL's own message for the original, with the role that grants it.
        // SAFETY: the name of an existing function (looked up above), a palloc'd C string.
        let function = unsafe { std::ffi::CStr::from_ptr(pg_sys::get_func_name(original)) }
            .to_string_lossy()
            .into_owned();
        raise(
            PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE,
            format!("permission denied for function {function}"),
            Some(crate::pg::models::catalog::scorer_hint(&function)),
        );
    }
}
