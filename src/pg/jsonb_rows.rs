//! predict_purchase_json reading PostgreSQL's binary jsonb directly: per row, a binary search
//! for each of the model's columns in the object, no conversion of the whole document to text
//! and back into a JSON tree (which cost ~55 us per 100-column row).

use super::call_site::arg;
use super::column_reader::numeric_raw;
use super::errors::OrRaise;
use super::model_cache::resolve;
use super::text_datum::{as_str, text_str};
use crate::pipeline::error::Result;
use crate::pipeline::json_rows::{answer_from, not_an_object, not_rows, not_scalar};
use crate::pipeline::model::RawValue;
use pgrx::prelude::*;
use pgrx::JsonB;

/// What a jsonb value is, in the words of the error messages.
unsafe fn describe(v: &pg_sys::JsonbValue) -> &'static str {
    use pg_sys::jbvType as t;
    match v.type_ {
        t::jbvNull => "null",
        t::jbvString => "a string",
        t::jbvNumeric => "a number",
        t::jbvBool => "a boolean",
        t::jbvArray => "an array",
        t::jbvObject => "an object",
        t::jbvBinary => container_kind(v.val.binary.data),
        _ => "an unsupported value",
    }
}

unsafe fn container_kind(c: *const pg_sys::JsonbContainer) -> &'static str {
    if (*c).header & pg_sys::JB_FOBJECT != 0 {
        "an object"
    } else {
        "an array"
    }
}

/// Field `column` of the object `row` (element `index` of the input).
unsafe fn field<'a>(
    row: *mut pg_sys::JsonbContainer,
    column: &str,
    index: usize,
) -> Result<RawValue<'a>> {
    let mut slot: pg_sys::JsonbValue = std::mem::zeroed();
    let found = pg_sys::getKeyJsonValueFromContainer(
        row,
        column.as_ptr().cast(),
        column.len() as i32,
        &mut slot,
    );
    if found.is_null() {
        return Ok(RawValue::Missing);
    }
    let v = &*found;
    match v.type_ {
        pg_sys::jbvType::jbvNull => Ok(RawValue::Missing),
        pg_sys::jbvType::jbvString => {
            let s = v.val.string;
            let bytes = std::slice::from_raw_parts(s.val as *const u8, s.len as usize);
            Ok(RawValue::Text(as_str(column, bytes)))
        }
        pg_sys::jbvType::jbvNumeric => Ok(numeric_raw(v.val.numeric)),
        _ => Err(not_scalar(index, column, describe(v))),
    }
}

/// Scores one object container into the service's answer.
unsafe fn answer(
    loaded: &super::model_cache::LoadedModel,
    row: *mut pg_sys::JsonbContainer,
    index: usize,
) -> serde_json::Value {
    let model = &loaded.model;
    answer_from(model, |i| field(row, &model.inputs[i].column, index)).or_raise()
}

/// The V1 entry of `predict_purchase_json(rows jsonb, model text)` (STRICT).
///
/// # Safety
/// Called by PostgreSQL with a jsonb and a text argument, neither NULL.
pub unsafe fn predict_json(fcinfo: pg_sys::FunctionCallInfo) -> pg_sys::Datum {
    let (doc, _) = arg(fcinfo, 0);
    let (name, _) = arg(fcinfo, 1);
    let loaded = resolve(text_str("model", name));
    let jsonb = pg_sys::pg_detoast_datum(doc.cast_mut_ptr()) as *mut pg_sys::Jsonb;
    let root: *mut pg_sys::JsonbContainer = &mut (*jsonb).root;
    let header = (*root).header;
    let count = (header & pg_sys::JB_CMASK) as usize;
    let answers: Vec<serde_json::Value> = if header & pg_sys::JB_FSCALAR != 0 {
        // A bare scalar is stored as a one-element array flagged scalar.
        let v = pg_sys::getIthJsonbValueFromContainer(root, 0);
        Err::<Vec<_>, _>(not_rows(describe(&*v))).or_raise()
    } else if header & pg_sys::JB_FOBJECT != 0 {
        vec![answer(&loaded, root, 0)]
    } else {
        (0..count)
            .map(|i| {
                if i % 1024 == 1023 {
                    pgrx::check_for_interrupts!(); // a long document stays cancellable
                }
                let v = pg_sys::getIthJsonbValueFromContainer(root, i as u32);
                let is_object = (*v).type_ == pg_sys::jbvType::jbvBinary
                    && (*(*v).val.binary.data).header & pg_sys::JB_FOBJECT != 0;
                if !is_object {
                    Err::<(), _>(not_an_object(i, describe(&*v))).or_raise();
                }
                let a = answer(&loaded, (*v).val.binary.data, i);
                pg_sys::pfree(v.cast());
                a
            })
            .collect()
    };
    JsonB(serde_json::Value::Array(answers))
        .into_datum()
        .unwrap()
}
