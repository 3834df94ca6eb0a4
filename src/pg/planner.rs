//! The planner support function (`SupportRequestSimplify`) of the scoring functions.
//!
//! `predict_purchase(c)` with `c` a table or view row would make PostgreSQL build the whole
//! 100-column row value for every row (`bench/run.sh`'s "whole-row floor": slower than scoring
//! itself). At plan time
//! this rewrites the call into `predict_purchase_columns('default', '{x5,...}', c.x5, ...)`,
//! passing only the columns the model's active version reads, so the executor fetches just those.
//! The same holds for a subquery's, CTE's or UNION ALL branch's row and for `ROW(...)`
//! (`row_columns.rs`: which rows, and why their columns are named exactly as at execution).
//!
//! The rewrite depends on the active version, so the plan records a dependency on the model
//! catalog (`relationOids`): a load/activate/drop queues a relcache invalidation of the catalog,
//! which invalidates every cached plan built this way (prepared statements, PL/pgSQL, pg_cron).
//! Anything not provably safe to rewrite is left alone and takes the generic row path.
//!
//! A constant version pin (`version => 2`) is rewritten exactly, into the pinned function
//! `predict_purchase_version_columns('default', 2, '{cols of version 2}', ...)`; a NULL pin is the
//! active version's rewrite; a pin that is not a plan constant takes the generic path, which
//! resolves the pin per row.

use crate::pg::models::cache::{catalog_relid, is_final, try_resolve_version};
use crate::pg::row_columns::row_columns;
use crate::pg::scoring::binder::bind_inputs;
use crate::pg::scoring::columns::may_execute;
use pgrx::prelude::*;
use std::ffi::{CStr, CString};

/// The rewritten call for `fcall`, or None to leave it unchanged.
///
/// # Safety
/// `req` must be the planner's SupportRequestSimplify, passed to a support function of
/// predict_purchase / purchase_outcome / score_purchase / purchase_features (record, text).
pub unsafe fn simplify(req: *mut pg_sys::SupportRequestSimplify) -> Option<*mut pg_sys::Node> {
    // SAFETY: `req` is the planner's request (the contract): `root` is NULL or the planner's
    // PlannerInfo, whose glob and parse are checked before use; `fcall` is the FuncExpr being
    // simplified, its args a valid List (two elements for these functions, checked).
    let (root, fcall, row, model_arg, version_arg) = unsafe {
        let root = (*req).root;
        if root.is_null() || (*root).glob.is_null() || (*root).parse.is_null() {
            return None;
        }
        // Grouping sets null grouped columns in their super-aggregate rows (ROLLUP's grand
        // total): the whole row is NULL there while its columns, rewritten, would be some
        // customer's.
        if !(*(*root).parse).groupingSets.is_null() {
            return None;
        }
        let fcall = (*req).fcall;
        let args = (*fcall).args;
        let nargs = pg_sys::list_length(args);
        if nargs != 2 && nargs != 3 {
            return None;
        }
        let row = pg_sys::list_nth(args, 0) as *mut pg_sys::Node;
        let model_arg = pg_sys::list_nth(args, 1) as *mut pg_sys::Node;
        let version_arg = (nargs == 3).then(|| pg_sys::list_nth(args, 2) as *mut pg_sys::Node);
        (root, fcall, row, model_arg, version_arg)
    };
    // SAFETY: an element of the call's argument list: a valid expression node.
    let model_name = unsafe { const_text(model_arg) }?;
    // SAFETY: an element of the call's argument list: a valid expression node.
    let version = unsafe { version_pin(version_arg) }?;
    // SAFETY: `fcall` is the valid FuncExpr (above).
    let funcid = unsafe { (*fcall).funcid };
    let columns_fn = columns_function(funcid, version.is_some())?;
    // Rewrite only calls the planning role may make, of both functions: a call it may not make
    // stays as it is and the executor refuses it as usual. The columns function checks again
    // when it runs (a cached plan may run as another role), and a GRANT/REVOKE on the original
    // re-plans (the plan depends on it like on the function it calls).
    if !may_execute(funcid) || !may_execute(columns_fn) {
        return None;
    }
    // SAFETY: `root` is the valid PlannerInfo with a non-null glob (above).
    unsafe { pg_sys::record_plan_function_dependency(root, funcid) };
    let loaded = try_resolve_version(&model_name, version)?;
    let catalog = catalog_relid()?;
    // A version read in a transaction that has already taken in an activation may be the one
    // that activation replaced (an older REPEATABLE READ snapshot, a savepoint's re-plan): its
    // invalidation is spent, so a plan rewritten for it would keep its columns after COMMIT.
    // Leave such a call on the generic row path, which scores whatever version is in force, and
    // mark the plan transient, so a later transaction (another TransactionXmin) plans it again
    // and rewrites it then.
    if !is_final(&model_name, version) {
        // SAFETY: `root` is the valid PlannerInfo with a non-null glob (above).
        unsafe { (*(*root).glob).transientPlan = true };
        return None;
    }

    // The row's columns by the names its value would carry (row_columns.rs says how each kind
    // of row is named); None leaves the call on the generic row path.
    // SAFETY: `root` is the valid PlannerInfo with a non-null parse (above); `row` is a valid
    // expression node of its query (an argument of the call).
    let columns = unsafe { row_columns(root, row) }?;
    let names: Vec<String> = loaded.model.columns().map(str::to_string).collect();
    // A call takes at most FUNC_MAX_ARGS (100) arguments: a model reading more than 98
    // columns stays on the generic path.
    let fixed_args = if version.is_some() { 3 } else { 2 };
    if names.len() + fixed_args > pg_sys::FUNC_MAX_ARGS as usize {
        return None;
    }
    // Every column the model reads, bound before any node is built: a missing one leaves the
    // call alone (the row path then raises its error at execution).
    let inputs: Vec<&str> = names.iter().map(String::as_str).collect();
    let available = columns
        .iter()
        .enumerate()
        .map(|(index, c)| (c.name.as_str(), index));
    let positions = bind_inputs(&inputs, available).ok()?;
    let names_datum = names.into_datum()?;

    // SAFETY: node construction in the planner's memory context: makeConst/makeFuncExpr build
    // fresh nodes, copyObjectImpl copies valid nodes (the model argument, the columns'
    // expressions, which row_columns built for this query), lappend extends lists it owns;
    // every `index` is a position in `columns` (bind_inputs over them); `glob` is the valid
    // PlannerGlobal (above).
    unsafe {
        let mut new_args = std::ptr::null_mut::<pg_sys::List>();
        new_args = pg_sys::lappend(new_args, pg_sys::copyObjectImpl(model_arg.cast()));
        if let (Some(_), Some(pin)) = (version, version_arg) {
            new_args = pg_sys::lappend(new_args, pg_sys::copyObjectImpl(pin.cast()));
        }
        let names_const = pg_sys::makeConst(
            pg_sys::TEXTARRAYOID,
            -1,
            pg_sys::DEFAULT_COLLATION_OID,
            -1,
            names_datum,
            false,
            false,
        );
        new_args = pg_sys::lappend(new_args, names_const.cast());
        for index in positions {
            // A copy per use: an input may repeat a column.
            let expr = pg_sys::copyObjectImpl(columns[index].expr.cast());
            new_args = pg_sys::lappend(new_args, expr);
        }

        let call = pg_sys::makeFuncExpr(
            columns_fn,
            (*fcall).funcresulttype,
            new_args,
            pg_sys::InvalidOid,
            (*fcall).inputcollid,
            pg_sys::CoercionForm::COERCE_EXPLICIT_CALL,
        );
        (*call).location = (*fcall).location;
        let glob = (*root).glob;
        (*glob).relationOids = pg_sys::lappend_oid((*glob).relationOids, catalog);
        Some(call.cast())
    }
}

/// The text of a non-null text `Const`, or None for any other node.
///
/// # Safety
/// `node` must point to a valid Node.
unsafe fn const_text(node: *mut pg_sys::Node) -> Option<String> {
    // SAFETY: a valid node (the contract), read as a Const only after its tag says so; a
    // non-null Const of type text holds a text datum.
    unsafe {
        if !pgrx::is_a(node, pg_sys::NodeTag::T_Const) {
            return None;
        }
        let c = node as *mut pg_sys::Const;
        if (*c).constisnull || (*c).consttype != pg_sys::TEXTOID {
            return None;
        }
        String::from_datum((*c).constvalue, false)
    }
}

/// The version a call pins: `Some(None)` for no pin (no argument, or a NULL constant: the
/// active version), `Some(Some(v))` for a non-null integer constant, None (do not rewrite) for
/// anything else.
///
/// # Safety
/// `node` must be None or point to a valid Node.
unsafe fn version_pin(node: Option<*mut pg_sys::Node>) -> Option<Option<i32>> {
    let Some(node) = node else {
        return Some(None);
    };
    // SAFETY: a valid node (the contract), read as a Const only after its tag says so; a
    // non-null Const of type int4 holds an int4 datum.
    unsafe {
        if !pgrx::is_a(node, pg_sys::NodeTag::T_Const) {
            return None;
        }
        let c = node as *mut pg_sys::Const;
        if (*c).consttype != pg_sys::INT4OID {
            return None;
        }
        if (*c).constisnull {
            return Some(None);
        }
        Some(Some((*c).constvalue.value() as i32))
    }
}

/// `predict_purchase` -> `predict_purchase_columns(text, text[], "any")` in the same schema (in
/// a transaction), or with `pinned` `predict_purchase_version_columns(text, integer, text[], "any")`.
fn columns_function(funcid: pg_sys::Oid, pinned: bool) -> Option<pg_sys::Oid> {
    // SAFETY: syscache lookups of any oid (NULL when it does not exist, checked); the names
    // are palloc'd C strings; the qualified name list is built of valid String nodes and read
    // by LookupFuncName with an argument array of its length.
    unsafe {
        let fname = pg_sys::get_func_name(funcid);
        let nsp = pg_sys::get_namespace_name(pg_sys::get_func_namespace(funcid));
        if fname.is_null() || nsp.is_null() {
            return None;
        }
        let suffix = if pinned {
            "_version_columns"
        } else {
            "_columns"
        };
        let target =
            CString::new(format!("{}{suffix}", CStr::from_ptr(fname).to_str().ok()?)).ok()?;
        let mut qualified = std::ptr::null_mut::<pg_sys::List>();
        qualified = pg_sys::lappend(qualified, pg_sys::makeString(nsp).cast());
        qualified = pg_sys::lappend(
            qualified,
            pg_sys::makeString(pg_sys::pstrdup(target.as_ptr())).cast(),
        );
        let oid = if pinned {
            let argtypes = [
                pg_sys::TEXTOID,
                pg_sys::INT4OID,
                pg_sys::TEXTARRAYOID,
                pg_sys::ANYOID,
            ];
            pg_sys::LookupFuncName(qualified, 4, argtypes.as_ptr(), true)
        } else {
            let argtypes = [pg_sys::TEXTOID, pg_sys::TEXTARRAYOID, pg_sys::ANYOID];
            pg_sys::LookupFuncName(qualified, 3, argtypes.as_ptr(), true)
        };
        (oid != pg_sys::InvalidOid).then_some(oid)
    }
}
