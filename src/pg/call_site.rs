//! The `fn_extra` call-site cache: state built on a call site's first row and kept for the
//! life of the expression (its flinfo's memory context), so later rows do no lookups.

use super::model_cache::{resolve, LoadedModel};
use super::text_datum::text_str;
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

/// The model a call site scores with, resolved from its `model` argument. The name is usually
/// a plan constant, the same datum every row, so it is compared only when the pointer changes,
/// and resolved (catalog, cache) only when the name changes.
#[derive(Default)]
pub struct ModelArgument {
    datum: usize,
    name: String,
    model: Option<Rc<LoadedModel>>,
}

impl ModelArgument {
    /// The model for this row's `model` argument, and whether it differs from the last row's.
    ///
    /// # Safety
    /// `name_datum` must be a non-null text datum.
    #[inline]
    pub unsafe fn model(&mut self, name_datum: pg_sys::Datum) -> (Rc<LoadedModel>, bool) {
        let mut changed = false;
        if self.model.is_none() || self.datum != name_datum.value() {
            let name = text_str("model", name_datum);
            if self.model.is_none() || self.name != name {
                self.model = Some(resolve(name));
                self.name = name.to_string();
                changed = true;
            }
            self.datum = name_datum.value();
        }
        (self.model.clone().unwrap(), changed)
    }
}
