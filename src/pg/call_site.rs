//! The `fn_extra` call-site cache: state built on a call site's first row and kept for the
//! life of the expression (its flinfo's memory context), so later rows do no lookups.

use pgrx::prelude::*;
use pgrx::PgMemoryContexts;

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
