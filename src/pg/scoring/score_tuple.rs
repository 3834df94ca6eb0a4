//! `score_purchase`'s composite result, made per row by copying a tuple formed once per call
//! site and model version and writing `p_hat` and `business_outcome` in place.
//!
//! `heap_form_tuple` per row sized the four attributes, aligned them, and needed the model
//! name as a fresh text each time; only the first two attributes ever change between rows,
//! and they are fixed-length and never NULL, so their places in the tuple are fixed too.
//! The pg_test `a_score_tuple_is_heap_form_tuple` holds the copies equal, byte for byte, to
//! what `heap_form_tuple` makes of the same values.

use pgrx::prelude::*;

/// A formed `purchase_score` tuple for one model name and version, and where its `p_hat`
/// (float8) and `business_outcome` (integer) are.
pub struct ScoreTuple {
    bytes: Vec<u8>,
    p_hat_at: usize,
    outcome_at: usize,
}

impl ScoreTuple {
    /// The template for `model` and `version`.
    ///
    /// # Safety
    /// Must run in a transaction; `desc` must be the blessed descriptor of `purchase_score`,
    /// whose attributes are (float8, integer, text, integer) (`output::result_descriptor`
    /// checks them).
    pub unsafe fn new(desc: pg_sys::TupleDesc, model: &str, version: i32) -> ScoreTuple {
        let mut values = [
            0f64.into_datum().unwrap(),
            0i32.into_datum().unwrap(),
            model.into_datum().unwrap(),
            version.into_datum().unwrap(),
        ];
        let mut nulls = [false; 4];
        // SAFETY: the contract: `desc` has these four attributes and types; values/nulls have
        // four entries. The formed tuple (in the current context) is read for its t_len bytes
        // and freed by the context's reset.
        unsafe {
            let tuple = pg_sys::heap_form_tuple(desc, values.as_mut_ptr(), nulls.as_mut_ptr());
            let header = (*tuple).t_data;
            let bytes =
                std::slice::from_raw_parts(header.cast::<u8>(), (*tuple).t_len as usize).to_vec();
            // No NULLs, so the data starts at t_hoff and each attribute at its aligned offset
            // after the ones before it (heap_fill_tuple's layout).
            let attrs = (*desc).attrs.as_slice(2);
            let mut at = usize::from((*header).t_hoff);
            let mut places = [0usize; 2];
            for (place, attr) in places.iter_mut().zip(attrs) {
                at = at.next_multiple_of(alignment(attr.attalign));
                *place = at;
                at += attr.attlen as usize;
            }
            ScoreTuple {
                bytes,
                p_hat_at: places[0],
                outcome_at: places[1],
            }
        }
    }

    /// The composite Datum of one scored row, palloc'd in the current memory context.
    ///
    /// # Safety
    /// Must run in a transaction (palloc).
    #[inline]
    pub unsafe fn datum(&self, p_hat: f64, business_outcome: i32) -> pg_sys::Datum {
        // SAFETY: palloc raises rather than return NULL and gives a MAXALIGN'd block of the
        // template's length; both places lie inside it (`new`), written unaligned-safe.
        unsafe {
            let p = pg_sys::palloc(self.bytes.len()).cast::<u8>();
            std::ptr::copy_nonoverlapping(self.bytes.as_ptr(), p, self.bytes.len());
            p.add(self.p_hat_at).cast::<f64>().write_unaligned(p_hat);
            p.add(self.outcome_at)
                .cast::<i32>()
                .write_unaligned(business_outcome);
            pg_sys::Datum::from(p)
        }
    }
}

/// The byte alignment `attalign` stands for (pg_type.typalign).
fn alignment(attalign: std::ffi::c_char) -> usize {
    match attalign as u8 {
        b'd' => 8,
        b'i' => 4,
        b's' => 2,
        _ => 1,
    }
}

#[cfg(any(test, feature = "pg_test"))]
#[pgrx::pg_schema]
mod tests {
    use super::ScoreTuple;
    use pgrx::prelude::*;

    /// The template's copies equal heap_form_tuple's tuple of the same values, byte for byte,
    /// for model names whose text takes a short and a long varlena header.
    #[pg_test]
    fn a_score_tuple_is_heap_form_tuple() {
        // SAFETY: in a transaction; the descriptor of purchase_score (the extension's type),
        // blessed as result_descriptor does.
        unsafe {
            let typid = Spi::get_one::<pg_sys::Oid>("SELECT 'purchase_score'::regtype::oid")
                .unwrap()
                .unwrap();
            let desc = pg_sys::BlessTupleDesc(pg_sys::lookup_rowtype_tupdesc_copy(typid, -1));
            for name in ["d", "default", &"m".repeat(126), &"long name ".repeat(40)] {
                for version in [1, 7, i32::MAX] {
                    let template = ScoreTuple::new(desc, name, version);
                    for (p_hat, outcome) in [
                        (0.0, 0),
                        (0.75, 0),
                        (0.750_000_000_000_000_1, 1),
                        (1.0, 1),
                        (f64::MIN_POSITIVE, 0),
                        (1.0 - f64::EPSILON / 2.0, 1),
                    ] {
                        let mut values = [
                            p_hat.into_datum().unwrap(),
                            outcome.into_datum().unwrap(),
                            name.into_datum().unwrap(),
                            version.into_datum().unwrap(),
                        ];
                        let mut nulls = [false; 4];
                        let formed =
                            pg_sys::heap_form_tuple(desc, values.as_mut_ptr(), nulls.as_mut_ptr());
                        let want = std::slice::from_raw_parts(
                            (*formed).t_data.cast::<u8>(),
                            (*formed).t_len as usize,
                        );
                        let made = template.datum(p_hat, outcome).cast_mut_ptr::<u8>();
                        assert_eq!(pgrx::varlena::varsize_any(made.cast()), want.len());
                        let got = std::slice::from_raw_parts(made, want.len());
                        assert_eq!(got, want, "{name:?} v{version} {p_hat} {outcome}");
                    }
                }
            }
        }
    }
}
