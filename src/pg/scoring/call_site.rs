//! The current V1 call ([`Call`]) and its `fn_extra` call-site cache: state built on a call
//! site's first row and kept for the life of the expression (its flinfo's memory context), so
//! later rows do no lookups.

use crate::pg::datum::text::text_str;
use crate::pg::models::cache::{resolve_version, snapshot_key, LoadedModel, SnapshotKey};
use pgrx::prelude::*;
use std::ffi::c_void;
use std::marker::PhantomData;
use std::rc::Rc;

/// The current call of a V1 function, valid for `'fc` (the duration of the call). Call-site
/// state and argument datums borrowed through it are tied to `'fc`, never `'static`.
#[derive(Clone, Copy)]
pub struct Call<'fc> {
    fcinfo: pg_sys::FunctionCallInfo,
    _call: PhantomData<&'fc mut pg_sys::FunctionCallInfoBaseData>,
}

impl<'fc> Call<'fc> {
    /// # Safety
    /// `fcinfo` must be the `fcinfo` PostgreSQL passed to the V1 function now running, with a
    /// valid `flinfo`; `'fc` must not outlive that call.
    #[inline]
    pub unsafe fn new(fcinfo: pg_sys::FunctionCallInfo) -> Call<'fc> {
        Call {
            fcinfo,
            _call: PhantomData,
        }
    }

    /// The raw `fcinfo`, for PostgreSQL functions that take it.
    #[inline]
    pub fn fcinfo(self) -> pg_sys::FunctionCallInfo {
        self.fcinfo
    }

    /// The raw `flinfo` of the call.
    #[inline]
    pub fn flinfo(self) -> *mut pg_sys::FmgrInfo {
        // SAFETY: `fcinfo` is the valid current call (Call::new).
        unsafe { (*self.fcinfo).flinfo }
    }

    /// How many arguments the call has.
    #[inline]
    pub fn nargs(self) -> usize {
        // SAFETY: `fcinfo` is the valid current call (Call::new).
        unsafe { (*self.fcinfo).nargs as usize }
    }

    /// Argument `n` as (datum, isnull); a missing argument reads as NULL.
    #[inline]
    pub fn arg(self, n: usize) -> (pg_sys::Datum, bool) {
        if n >= self.nargs() {
            return (pg_sys::Datum::from(0), true);
        }
        // SAFETY: `fcinfo` is the valid current call and `n` is below its argument count.
        unsafe { arg(self.fcinfo, n) }
    }

    /// The text of argument `n`, borrowed for the call (`column` names it in the error for
    /// non-UTF-8 text).
    ///
    /// # Safety
    /// Argument `n` must be a non-null value of a text-like (varlena) type.
    #[inline]
    pub unsafe fn text_arg(self, column: &str, n: usize) -> &'fc str {
        let (datum, _) = self.arg(n);
        // SAFETY: a non-null varlena datum (the contract), which PostgreSQL keeps for the
        // duration of the call ('fc).
        unsafe { text_str(column, datum) }
    }

    /// Returns SQL NULL from the call.
    #[inline]
    pub fn return_null(self) -> pg_sys::Datum {
        // SAFETY: `fcinfo` is the valid current call; this sets its isnull flag.
        unsafe { pgrx::fcinfo::pg_return_null(self.fcinfo) }
    }

    /// The call site's state of type `T`, created by `init` on its first call and kept in the
    /// flinfo's memory context until it is reset or deleted; then the state is dropped
    /// (releasing any cached model) and `fn_extra` set back to NULL, so nothing can see a
    /// dangling pointer.
    ///
    /// # Safety
    /// The function's `fn_extra` must only ever be set by this method with the same `T`, and
    /// the caller must not hold another reference to the state (one borrow per call).
    pub unsafe fn state<T, F: FnOnce() -> T>(self, init: F) -> &'fc mut T {
        let flinfo = self.flinfo();
        // SAFETY: `flinfo` is the valid FmgrInfo of the current call (Call::new).
        let extra = unsafe { (*flinfo).fn_extra };
        let state = if extra.is_null() {
            // SAFETY: `flinfo` is valid; the state is registered in its fn_mcxt.
            unsafe { register_state(flinfo, init()) }
        } else {
            extra.cast::<SiteState<T>>()
        };
        // SAFETY: `fn_extra` points to a live SiteState<T> (the caller's contract on `T`; it is
        // NULL once the state is dropped), and this is the call's only borrow of it.
        unsafe { &mut (*state).state }
    }
}

/// A call site's state and the flinfo whose `fn_extra` points to it.
struct SiteState<T> {
    flinfo: *mut pg_sys::FmgrInfo,
    state: T,
}

/// Boxes `state`, points `fn_extra` at it and registers its drop on the reset of `fn_mcxt`.
///
/// # Safety
/// `flinfo` must be a valid FmgrInfo with a valid `fn_mcxt` and a NULL `fn_extra`.
unsafe fn register_state<T>(flinfo: *mut pg_sys::FmgrInfo, state: T) -> *mut SiteState<T> {
    let boxed = Box::into_raw(Box::new(SiteState { flinfo, state }));
    // SAFETY: fn_mcxt is a valid context (the caller's contract); the callback struct is
    // zeroed, then its func and arg set before registering.
    unsafe {
        let callback = pg_sys::MemoryContextAllocZero(
            (*flinfo).fn_mcxt,
            std::mem::size_of::<pg_sys::MemoryContextCallback>(),
        )
        .cast::<pg_sys::MemoryContextCallback>();
        (*callback).func = Some(drop_state::<T>);
        (*callback).arg = boxed.cast();
        pg_sys::MemoryContextRegisterResetCallback((*flinfo).fn_mcxt, callback);
        (*flinfo).fn_extra = boxed.cast();
    }
    boxed
}

/// The reset callback of fn_mcxt: clears `fn_extra` (if it is still this state) and drops the
/// state. fmgr allocates an FmgrInfo in (or above) its fn_mcxt, and reset callbacks run before
/// a context's memory is freed, so the FmgrInfo is still valid here.
///
/// # Safety
/// Called by PostgreSQL once, with the `arg` register_state gave it.
#[pg_guard]
unsafe extern "C-unwind" fn drop_state<T>(arg: *mut c_void) {
    let boxed = arg.cast::<SiteState<T>>();
    // SAFETY: `arg` is the Box registered by register_state, dropped only here (a callback
    // runs once); its flinfo is valid as explained above.
    unsafe {
        let flinfo = (*boxed).flinfo;
        if (*flinfo).fn_extra == arg {
            (*flinfo).fn_extra = std::ptr::null_mut();
        }
        drop(Box::from_raw(boxed));
    }
}

/// The `version` argument `n` of a call: None when the call has no such argument (an older
/// release's SQL) or it is NULL (the active version).
#[inline]
pub fn version_arg(call: Call<'_>, n: usize) -> Option<i32> {
    let (datum, null) = call.arg(n);
    // An int4 datum (every declaration with a version argument says `version integer`).
    (!null).then(|| datum.value() as i32)
}

/// Argument `n` of the current call as (datum, isnull). (`Call::arg` is the checked form.)
///
/// # Safety
/// `fcinfo` must be a valid call and `n` below its argument count.
#[inline]
pub unsafe fn arg(fcinfo: pg_sys::FunctionCallInfo, n: usize) -> (pg_sys::Datum, bool) {
    // SAFETY: the caller's contract: args has at least n + 1 entries.
    let a = unsafe { *(*fcinfo).args.as_ptr().add(n) };
    (a.value, a.isnull)
}

/// The model a call site scores with, resolved from its `model` argument.
///
/// When the argument is a plan constant (`Const`), the name is read once and the resolved model
/// kept while the snapshot stays the same. Otherwise (`lower(seg)`, a column, a PL/pgSQL
/// variable) the name's bytes are compared on every row: a per-row datum's address says
/// nothing, since per-tuple memory reuses addresses. Resolving (backend cache, catalog) happens
/// only when the name or the snapshot changes: a call site can outlive its statement (PL/pgSQL
/// keeps simple expressions' state for the whole transaction, and statements sent in one query
/// string share a start time), and each statement scores with the version its snapshot sees.
/// Within one snapshot, which a plain statement keeps for all its rows, nothing changes.
#[derive(Default)]
pub struct ModelArgument {
    /// Whether the argument was found to be a `Const` on the first row.
    constant: Option<bool>,
    name: String,
    /// The version pin the model was resolved for (None: the active version).
    version: Option<i32>,
    model: Option<Rc<LoadedModel>>,
    /// The snapshot `model` was resolved under (None: none was active, so never reused).
    snapshot: Option<SnapshotKey>,
}

impl ModelArgument {
    /// The model for this row's `model` argument (argument `argno`, a non-null text) at the
    /// version this row's `version` argument pins (read by the caller; None for the active
    /// version), and whether it differs from the last row's. The pin is an integer compared on
    /// every row: a pin that changes from row to row (a column, a parameter) resolves again, so
    /// no row is scored with another version's model.
    ///
    /// # Safety
    /// Argument `argno` of `call` must be a non-null text datum.
    #[inline]
    pub unsafe fn model_version(
        &mut self,
        call: Call<'_>,
        argno: usize,
        version: Option<i32>,
    ) -> (Rc<LoadedModel>, bool) {
        let constant = *self
            .constant
            .get_or_insert_with(|| arg_is_const(call, argno));
        let snapshot = snapshot_key();
        let same_statement =
            snapshot.is_some() && self.snapshot == snapshot && self.version == version;
        if let (true, true, Some(model)) = (constant, same_statement, &self.model) {
            return (model.clone(), false);
        }
        // SAFETY: a non-null text argument (the caller's contract).
        let name = unsafe { call.text_arg("model", argno) };
        if let (true, Some(model)) = (same_statement, &self.model) {
            if self.name == name {
                return (model.clone(), false);
            }
        }
        let model = resolve_version(name, version);
        let changed = self
            .model
            .as_ref()
            .is_none_or(|old| !Rc::ptr_eq(old, &model));
        self.name.clear();
        self.name.push_str(name);
        self.model = Some(model.clone());
        self.version = version;
        self.snapshot = snapshot;
        (model, changed)
    }
}

/// Whether argument `argno` of the call is a plan-time constant (a `Const` node), the only
/// case in which its value cannot change from one row to the next. (An extern `Param` can: a
/// PL/pgSQL simple expression keeps its state across calls with different variable values.)
pub fn arg_is_const(call: Call<'_>, argno: usize) -> bool {
    let flinfo = call.flinfo();
    // SAFETY: `flinfo` is NULL or the valid FmgrInfo of the current call (Call::new); its
    // fn_expr is NULL or the call's expression node, whose args list is a valid List.
    unsafe {
        if flinfo.is_null() || (*flinfo).fn_expr.is_null() {
            return false;
        }
        let expr = (*flinfo).fn_expr;
        if !pgrx::is_a(expr, pg_sys::NodeTag::T_FuncExpr) {
            return false;
        }
        let args = (*(expr as *mut pg_sys::FuncExpr)).args;
        let Ok(argno) = i32::try_from(argno) else {
            return false;
        };
        argno < pg_sys::list_length(args)
            && pgrx::is_a(
                pg_sys::list_nth(args, argno).cast(),
                pg_sys::NodeTag::T_Const,
            )
    }
}
