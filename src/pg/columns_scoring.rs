//! The rewritten path: `predict_purchase(c)` after the planner support function replaced the
//! whole-row argument by the columns the model reads:
//! `predict_purchase_columns('default', '{x5,x12,...}', c.x5, c.x12, ...)`.
//! No whole-row value is ever built; each value arrives as a plain argument.

use super::call_site::{arg, call_site, ModelArgument};
use super::column_reader::ColumnReader;
use super::errors::raise;
use super::model_cache::LoadedModel;
use super::scoring_output::{emit, Output, OutputState};
use pgrx::prelude::*;
use pgrx::PgSqlErrorCode;

/// Arguments before the column values: model name, column names.
pub const FIXED_ARGS: usize = 2;

#[derive(Default)]
struct ColumnsSite {
    model: ModelArgument,
    /// For each model input, the index of its argument.
    argpos: Vec<usize>,
    readers: Vec<ColumnReader>,
    output: OutputState,
}

/// Entry for the `*_columns` functions.
///
/// # Safety
/// Called only from the V1 functions declared (text, text[], VARIADIC "any").
pub unsafe fn score_columns(fcinfo: pg_sys::FunctionCallInfo, output: Output) -> pg_sys::Datum {
    let (name_datum, name_null) = arg(fcinfo, 0);
    if name_null {
        return pgrx::fcinfo::pg_return_null(fcinfo);
    }
    let site: &mut ColumnsSite = call_site(fcinfo, ColumnsSite::default);
    let (model, changed) = site.model.model(fcinfo, 0, name_datum);
    if changed {
        bind_columns(fcinfo, site, &model);
    }
    let ColumnsSite {
        argpos,
        readers,
        output: state,
        ..
    } = site;
    emit(output, state, fcinfo, &model, |i| {
        let (d, null) = arg(fcinfo, argpos[i]);
        readers[i].read(&model.model.inputs[i].column, d, null)
    })
}

/// Maps the model's inputs to argument positions by the column-name array baked into the plan.
unsafe fn bind_columns(
    fcinfo: pg_sys::FunctionCallInfo,
    site: &mut ColumnsSite,
    model: &LoadedModel,
) {
    let (names_datum, names_null) = arg(fcinfo, 1);
    let names: Vec<String> = if names_null {
        Vec::new()
    } else {
        pgrx::Array::<String>::from_datum(names_datum, false)
            .map(|a| a.iter().flatten().collect())
            .unwrap_or_default()
    };
    let flinfo = (*fcinfo).flinfo;
    let mcxt = (*flinfo).fn_mcxt;
    site.argpos.clear();
    site.readers.clear();
    for input in &model.model.inputs {
        let Some(pos) = names.iter().position(|n| n == &input.column) else {
            raise(
                PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
                format!(
                    "purchase model \"{}\" (version {}) reads column \"{}\", which this statement's plan does not pass",
                    model.name, model.version, input.column
                ),
                Some("The model was replaced while the statement was being planned; run the statement again.".into()),
            );
        };
        let argno = FIXED_ARGS + pos;
        let typid = pg_sys::get_fn_expr_argtype(flinfo, argno as i32);
        site.argpos.push(argno);
        site.readers.push(
            pgrx::PgMemoryContexts::For(mcxt)
                .switch_to(|_| ColumnReader::for_type(typid, input.kind)),
        );
    }
}
