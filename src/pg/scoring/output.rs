//! Turning one scored row into the SQL result of each scoring function.

use crate::pg::errors::{raise, OrRaise};
use crate::pg::models::cache::LoadedModel;
use crate::pg::scoring::call_site::Call;
use crate::pg::scoring::json::OutputLayout;
use crate::pg::scoring::score_tuple::ScoreTuple;
use pgrx::prelude::*;
use pgrx::{PgMemoryContexts, PgSqlErrorCode};
use purchase_model::error::PipelineError;
use purchase_model::model::{Prepared, RawValue};
use std::rc::Rc;

/// Which scoring function is being evaluated.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Output {
    /// predict_purchase: p_hat float8.
    PHat,
    /// purchase_outcome: business_outcome int.
    Outcome,
    /// score_purchase: (p_hat, business_outcome, model, version).
    Score,
    /// purchase_features: jsonb of the model inputs.
    Features,
}

/// Per-call-site state of the result: the blessed row descriptor of `purchase_score` and its
/// tuple for the model version scored last, and for purchase_features the jsonb layout of the
/// model's objects with per-row buffers.
#[derive(Default)]
pub struct OutputState {
    score_desc: Option<pg_sys::TupleDesc>,
    /// The model the tuple was formed for (kept alive, so the pointer comparison is sound).
    score_tuple: Option<(Rc<LoadedModel>, ScoreTuple)>,
    /// The model the layout was built for (kept alive, so the pointer comparison is sound).
    features: Option<(Rc<LoadedModel>, OutputLayout)>,
    prepared: Vec<Prepared>,
    /// Indexed by `AnswerSlot::index`: business_outcome, p_hat (unused here), the features.
    values: Vec<f64>,
}

/// Scores one row whose raw inputs `raw(i)` yields (values borrowed for the call at most)
/// and returns the function's Datum.
#[inline]
pub fn emit<'fc, F>(
    output: Output,
    state: &mut OutputState,
    call: Call<'fc>,
    loaded: &Rc<LoadedModel>,
    mut raw: F,
) -> pg_sys::Datum
where
    F: FnMut(usize) -> RawValue<'fc>,
{
    let model = &loaded.model;
    if output == Output::Features {
        return emit_features(state, loaded, &mut raw);
    }
    let s = model
        .score_with(|i| Ok::<_, PipelineError>(raw(i)))
        .or_raise();
    match output {
        Output::PHat => s.p_hat.into_datum().unwrap(),
        Output::Outcome => s.business_outcome.into_datum().unwrap(),
        // Output::Score (Features returned above).
        _ => {
            let tuple = match &state.score_tuple {
                Some((formed_for, tuple)) if Rc::ptr_eq(formed_for, loaded) => tuple,
                _ => new_score_tuple(state, call, loaded),
            };
            // SAFETY: in a transaction (a scoring call).
            unsafe { tuple.datum(s.p_hat, s.business_outcome) }
        }
    }
}

/// Forms the `purchase_score` tuple of `loaded` for this call site. Out of line: once per
/// call site and model version.
#[inline(never)]
fn new_score_tuple<'s>(
    state: &'s mut OutputState,
    call: Call<'_>,
    loaded: &Rc<LoadedModel>,
) -> &'s ScoreTuple {
    let desc = *state
        .score_desc
        .get_or_insert_with(|| result_descriptor(call));
    // SAFETY: in a transaction; `desc` is purchase_score's blessed descriptor, its attributes
    // checked by result_descriptor.
    let tuple = unsafe { ScoreTuple::new(desc, &loaded.name, loaded.version) };
    &state.score_tuple.insert((loaded.clone(), tuple)).1
}

/// purchase_features' object for one row. Kept out of line so that `emit`, inlined into the
/// row and column paths, stays small for the three scoring outputs.
#[inline(never)]
fn emit_features<'a>(
    state: &mut OutputState,
    loaded: &Rc<LoadedModel>,
    raw: &mut dyn FnMut(usize) -> RawValue<'a>,
) -> pg_sys::Datum {
    let model = &loaded.model;
    let OutputState {
        features,
        prepared,
        values,
        ..
    } = state;
    prepared.clear();
    for i in 0..model.inputs.len() {
        prepared.push(model.prepare(i, raw(i)).or_raise());
    }
    values.clear();
    values.extend([0.0, 0.0]); // business_outcome, p_hat: not in these objects
    values.extend(
        model
            .feature_values(prepared)
            .or_raise()
            .into_iter()
            .map(|(_, v)| v),
    );
    let layout = match features {
        Some((built_for, layout)) if Rc::ptr_eq(built_for, loaded) => layout,
        _ => {
            // SAFETY: in a transaction (a scoring call).
            let layout = unsafe { OutputLayout::new(loaded, false) };
            &features.insert((loaded.clone(), layout)).1
        }
    };
    // SAFETY: in a transaction; `values` holds every slot of the layout (2 + features).
    unsafe { layout.object_datum(values) }
}

/// The types `purchase_score` has: (p_hat float8, business_outcome integer, model text,
/// version integer).
const SCORE_TYPES: [pg_sys::Oid; 4] = [
    pg_sys::FLOAT8OID,
    pg_sys::INT4OID,
    pg_sys::TEXTOID,
    pg_sys::INT4OID,
];

/// The composite result type of the current call, blessed and kept in the call site's context.
fn result_descriptor(call: Call<'_>) -> pg_sys::TupleDesc {
    // SAFETY: the current call's flinfo has a valid fn_mcxt, which outlives the call-site state
    // that keeps the descriptor.
    let mut mcxt = PgMemoryContexts::For(unsafe { (*call.flinfo()).fn_mcxt });
    let not_composite = || -> ! {
        raise(
            PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
            "score_purchase must be called where a composite result is accepted",
            None,
        )
    };
    // SAFETY: switch_to makes fn_mcxt current for the closure and restores the previous
    // context (also on error); get_call_result_type reads the valid current call and writes
    // `desc`; the descriptor is checked before BlessTupleDesc.
    unsafe {
        mcxt.switch_to(|_| {
            let mut desc: pg_sys::TupleDesc = std::ptr::null_mut();
            let kind = pg_sys::get_call_result_type(call.fcinfo(), std::ptr::null_mut(), &mut desc);
            if kind != pg_sys::TypeFuncClass::TYPEFUNC_COMPOSITE || desc.is_null() {
                not_composite();
            }
            let attrs = (*desc).attrs.as_slice((*desc).natts as usize);
            let matches = attrs.len() == SCORE_TYPES.len()
                && attrs.iter().zip(SCORE_TYPES).all(|(a, t)| !a.attisdropped && a.atttypid == t);
            if !matches {
                raise(
                    PgSqlErrorCode::ERRCODE_DATATYPE_MISMATCH,
                    "type purchase_score is not (p_hat float8, business_outcome integer, model text, version integer)",
                    Some("Was it altered? ALTER EXTENSION pg_purchase UPDATE or re-create the extension.".into()),
                );
            }
            pg_sys::BlessTupleDesc(desc)
        })
    }
}
