//! The `fn_extra` call-site cache: state built on a call site's first row and kept for the
//! life of the expression (its flinfo's memory context), so later rows do no lookups.

use crate::pg::datum::text::text_str;
use crate::pg::models::cache::{resolve, LoadedModel};
use pgrx::prelude::*;
use pgrx::PgMemoryContexts;
use std::rc::Rc;

/// The call site's state of type `T`, created by `init` on its first call.
///
/// # Safety
/// `fcinfo` must be a valid call whose `fn_extra` is only ever used with the same `T`.
pub unsafe fn call_site<T, F: FnOnce() -> T>(
    fcinfo: pg_sys::FunctionCallInfo,
    init: F,
) -> &'static mut T {
    let flinfo = (*fcinfo).flinfo;
    if (*flinfo).fn_extra.is_null() {
        // Dropped (releasing any cached model) when the expression's context goes away.
        let state = PgMemoryContexts::For((*flinfo).fn_mcxt).leak_and_drop_on_delete(init());
        (*flinfo).fn_extra = state.cast();
    }
    &mut *((*flinfo).fn_extra as *mut T)
}

/// Argument `n` of the current call as (datum, isnull).
///
/// # Safety
/// `n` must be below the call's argument count.
#[inline]
pub unsafe fn arg(fcinfo: pg_sys::FunctionCallInfo, n: usize) -> (pg_sys::Datum, bool) {
    let a = *(*fcinfo).args.as_ptr().add(n);
    (a.value, a.isnull)
}

/// The model a call site scores with, resolved from its `model` argument.
///
/// When the argument is a plan constant (`Const`), the name is read once and the resolved model
/// kept for the call site's life. Otherwise (`lower(seg)`, a column, a PL/pgSQL variable) the
/// name's bytes are compared on every row: a per-row datum's address says nothing, since
/// per-tuple memory reuses addresses. Resolving (catalog, cache) happens only when the name changes.
#[derive(Default)]
pub struct ModelArgument {
    /// Whether the argument was found to be a `Const` on the first row.
    constant: Option<bool>,
    name: String,
    model: Option<Rc<LoadedModel>>,
}

impl ModelArgument {
    /// The model for this row's `model` argument (argument `argno`), and whether it differs
    /// from the last row's.
    ///
    /// # Safety
    /// `name_datum` must be a non-null text datum; `fcinfo` the current call.
    #[inline]
    pub unsafe fn model(
        &mut self,
        fcinfo: pg_sys::FunctionCallInfo,
        argno: i32,
        name_datum: pg_sys::Datum,
    ) -> (Rc<LoadedModel>, bool) {
        let constant = *self
            .constant
            .get_or_insert_with(|| arg_is_const((*fcinfo).flinfo, argno));
        if let (true, Some(model)) = (constant, &self.model) {
            return (model.clone(), false);
        }
        let name = text_str("model", name_datum);
        if let Some(model) = &self.model {
            if self.name == name {
                return (model.clone(), false);
            }
        }
        let model = resolve(name);
        self.name.clear();
        self.name.push_str(name);
        self.model = Some(model.clone());
        (model, true)
    }
}

/// Whether argument `argno` of the call is a plan-time constant (a `Const` node), the only
/// case in which its value cannot change from one row to the next. (An extern `Param` can: a
/// PL/pgSQL simple expression keeps its state across calls with different variable values.)
unsafe fn arg_is_const(flinfo: *mut pg_sys::FmgrInfo, argno: i32) -> bool {
    if flinfo.is_null() || (*flinfo).fn_expr.is_null() {
        return false;
    }
    let expr = (*flinfo).fn_expr;
    let args = if pgrx::is_a(expr, pg_sys::NodeTag::T_FuncExpr) {
        (*(expr as *mut pg_sys::FuncExpr)).args
    } else {
        return false;
    };
    if argno < 0 || argno >= pg_sys::list_length(args) {
        return false;
    }
    pgrx::is_a(
        pg_sys::list_nth(args, argno) as *mut pg_sys::Node,
        pg_sys::NodeTag::T_Const,
    )
}
