//! The hand-written binary jsonb writer (`json.rs`: predict_purchase_json's answer array,
//! purchase_features' object) against PostgreSQL's own `jsonb_in` of the same answer as JSON
//! text, byte for byte (issue 23, item 3).
//!
//! The reference text is serde_json's serialization of the answer (the text path the writer
//! replaced: `purchase_model::json_rows::service_answer_checked` builds that Value): integers
//! for business_outcome, shortest round-trip decimals for the others, null for NaN and ±inf.
//! Each reference number is also checked to convert back (numeric_float8) to the exact f64, so
//! the comparison cannot pass with a lossy decimal on both sides.

#[pgrx::pg_schema]
mod tests {
    use crate::pg::scoring::json::{ArrayWriter, OutputLayout};
    use pgrx::prelude::*;
    use pgrx::PgMemoryContexts;
    use serde_json::{Map, Value};

    const BUNDLED: &str = include_str!("../../../artifacts/purchase_model.json");

    unsafe extern "C-unwind" {
        #[link_name = "jsonb_in"]
        fn jsonb_in_raw(fcinfo: pg_sys::FunctionCallInfo) -> pg_sys::Datum;
        #[link_name = "numeric_in"]
        fn numeric_in_raw(fcinfo: pg_sys::FunctionCallInfo) -> pg_sys::Datum;
        #[link_name = "numeric_float8"]
        fn numeric_float8_raw(fcinfo: pg_sys::FunctionCallInfo) -> pg_sys::Datum;
    }

    /// splitmix64: a fixed seed, so a failure reproduces.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
        fn chance(&mut self, percent: u64) -> bool {
            self.below(100) < percent
        }
    }

    fn next_up(v: f64) -> f64 {
        if v == 0.0 {
            f64::from_bits(1)
        } else if v > 0.0 {
            f64::from_bits(v.to_bits() + 1)
        } else {
            f64::from_bits(v.to_bits() - 1)
        }
    }

    fn next_down(v: f64) -> f64 {
        -next_up(-v)
    }

    /// Every binade edge (each power of two from the smallest subnormal to 2^1023, with its
    /// neighbours), the subnormal range's ends, ±0, ±inf, NaN, the extremes and a few decimals
    /// whose shortest text is long, each with both signs.
    fn edges() -> Vec<f64> {
        let mut out = Vec::new();
        for e in -1074i64..=1023 {
            let p = if e < -1022 {
                f64::from_bits(1 << (e + 1074)) // subnormal: one mantissa bit
            } else {
                f64::from_bits(((e + 1023) as u64) << 52)
            };
            assert_eq!(p.log2(), e as f64, "2^{e}");
            out.extend([p, next_up(p), next_down(p)]);
        }
        out.extend([
            0.0,
            f64::from_bits(0x000F_FFFF_FFFF_FFFF), // the largest subnormal
            f64::MIN_POSITIVE,
            f64::MAX,
            f64::EPSILON,
            1.0 + f64::EPSILON, // 1 + 2^-52, once written as 1
            1.0 - f64::EPSILON / 2.0,
            0.1,
            0.2,
            0.3,
            1.0 / 3.0,
            2.0 / 3.0,
            123_456_789_012_345_680.0,
            9_007_199_254_740_993.0,
            1e15,
            1e16,
            1e17,
            1e21,
            1e22,
            1e23,
            1e-5,
            1e-6,
            1e-7,
            5e-324,
            1.7976931348623157e308,
            2.2250738585072014e-308,
            0.75,
            0.5,
        ]);
        let negated: Vec<f64> = out.iter().map(|v| -v).collect();
        out.extend(negated);
        out.extend([f64::NAN, -f64::NAN, f64::INFINITY, f64::NEG_INFINITY]);
        out
    }

    /// A value the writer may be given: an edge, any bit pattern (NaN payloads included), a short
    /// decimal, a large integer, or a probability.
    fn value(rng: &mut Rng, edges: &[f64]) -> f64 {
        match rng.below(10) {
            0..=2 => edges[rng.below(edges.len() as u64) as usize],
            3..=5 => f64::from_bits(rng.next()),
            6 | 7 => {
                let mantissa = rng.next() as i64 % 10i64.pow(1 + rng.below(15) as u32);
                format!("{mantissa}e-{}", rng.below(20)).parse().unwrap()
            }
            8 => (rng.next() as i64 >> rng.below(64)) as f64,
            _ => rng.below(1 << 53) as f64 / (1u64 << 53) as f64,
        }
    }

    /// A key: ASCII, characters JSON must escape (quote, backslash, control characters),
    /// 2-, 3- and 4-byte UTF-8 (accents, combining marks, CJK, U+2028, emoji); sometimes long or
    /// empty. Never U+0000, which PostgreSQL's text (and jsonb) cannot hold.
    fn key(rng: &mut Rng) -> String {
        const PIECES: &[&str] = &[
            "x", "_", "7", "germany", " ", "\"", "\\", "/", "\n", "\t", "\u{1}", "\u{1f}",
            "\u{7f}", "é", "ß", "e\u{301}", "日本", "中", "\u{2028}", "\u{ffff}", "😀", "𝔘", "%",
            "$", "-",
        ];
        let len = match rng.below(1000) {
            0..=9 => 0,
            10..=12 => 100 + rng.below(3000),
            _ => 1 + rng.below(12),
        };
        (0..len)
            .map(|_| PIECES[rng.below(PIECES.len() as u64) as usize])
            .collect()
    }

    /// The keys of one object (distinct), mapped to slots 1.. , or 0.. when business_outcome
    /// (slot 0, an integer) is among them.
    fn object_keys(rng: &mut Rng, real: &[Vec<String>]) -> (Vec<String>, bool) {
        if rng.chance(1) {
            let keys = real[rng.below(real.len() as u64) as usize].clone();
            let with_outcome = keys[0] == "business_outcome";
            return (keys, with_outcome);
        }
        // Up to 40 keys: objects past JB_OFFSET_STRIDE / 2 keys store offsets in JEntries.
        let n = match rng.below(10) {
            0 => rng.below(41) as usize,
            _ => rng.below(8) as usize,
        };
        let mut keys: Vec<String> = Vec::with_capacity(n);
        while keys.len() < n {
            let k = key(rng);
            if !keys.contains(&k) {
                keys.push(k);
            }
        }
        (keys, rng.chance(50))
    }

    /// A jsonb datum as its bytes (varlena header included).
    ///
    /// # Safety
    /// `d` must be an untoasted varlena that stays valid for `'a`.
    unsafe fn bytes<'a>(d: pg_sys::Datum) -> &'a [u8] {
        let p = d.cast_mut_ptr::<pg_sys::varlena>();
        // SAFETY: the caller passes a non-toasted varlena datum.
        unsafe { std::slice::from_raw_parts(p as *const u8, pgrx::varlena::varsize_any(p)) }
    }

    fn jsonb_in(text: &str) -> pg_sys::Datum {
        let c = std::ffi::CString::new(text).unwrap();
        // SAFETY: jsonb_in(cstring) with a NUL-terminated string, in a transaction.
        unsafe {
            pg_sys::DirectFunctionCall1Coll(
                Some(jsonb_in_raw),
                pg_sys::InvalidOid,
                pg_sys::Datum::from(c.as_ptr()),
            )
        }
    }

    /// The f64 PostgreSQL makes of numeric_in(text) (numeric_float8).
    fn numeric_to_f64(text: &str) -> f64 {
        let c = std::ffi::CString::new(text).unwrap();
        // SAFETY: numeric_in(cstring, oid, int4) and numeric_float8(numeric), in a transaction.
        unsafe {
            let n = pg_sys::DirectFunctionCall3Coll(
                Some(numeric_in_raw),
                pg_sys::InvalidOid,
                pg_sys::Datum::from(c.as_ptr()),
                pg_sys::Datum::from(pg_sys::InvalidOid),
                pg_sys::Datum::from(-1i32),
            );
            let d =
                pg_sys::DirectFunctionCall1Coll(Some(numeric_float8_raw), pg_sys::InvalidOid, n);
            f64::from_bits(d.value() as u64)
        }
    }

    fn assert_same(ours: &[u8], text: &str, what: &str) {
        // SAFETY: jsonb_in returns a palloc'd, untoasted jsonb varlena.
        let theirs = unsafe { bytes(jsonb_in(text)) };
        if ours != theirs {
            let at = ours.iter().zip(theirs).position(|(a, b)| a != b);
            panic!(
                "{what}: the writer's {} bytes differ from jsonb_in's {} (first difference at byte {at:?}) for {}",
                ours.len(),
                theirs.len(),
                text.chars().take(2000).collect::<String>()
            );
        }
    }

    /// The reference answer: serde_json's Value of each slot, as `service_answer_checked`
    /// builds it (business_outcome an integer; non-finite numbers null).
    fn reference(keys: &[String], first_slot: usize, values: &[f64]) -> Value {
        let map: Map<String, Value> = keys
            .iter()
            .enumerate()
            .map(|(i, k)| {
                let slot = first_slot + i;
                let v = if slot == 0 {
                    Value::from(values[0] as i64)
                } else {
                    Value::from(values[slot])
                };
                (k.clone(), v)
            })
            .collect();
        Value::Object(map)
    }

    /// 1,000,000 objects (about 4.6 million values) in 130,000-odd arrays of 0-16 objects
    /// (some past JB_OFFSET_STRIDE elements): each object written alone (purchase_features)
    /// and each array (predict_purchase_json) equal jsonb_in's bytes.
    #[pg_test]
    fn the_jsonb_writer_equals_jsonb_in_byte_for_byte() {
        let edges = edges();
        let model = purchase_model::loaded::compile_artifact(
            &serde_json::from_str(BUNDLED).unwrap(),
            false,
        )
        .unwrap();
        let real: Vec<Vec<String>> = [true, false]
            .iter()
            .map(|&with_score| {
                purchase_model::json_rows::answer_keys(&model, with_score)
                    .into_iter()
                    .map(|(k, _)| k.to_string())
                    .collect()
            })
            .collect();
        let mut rng = Rng(0x5EED_2026_1205);
        let mut edge_next = 0usize; // every edge is written at least once, in order
        let (mut objects, mut numbers) = (0usize, 0usize);
        let mut memory = PgMemoryContexts::new("jsonb writer test");
        while objects < 1_000_000 {
            pgrx::check_for_interrupts!();
            let count = match rng.below(20) {
                0 => 33 + rng.below(40) as usize,
                _ => rng.below(9) as usize,
            };
            // SAFETY: switch_to makes the case's context current; everything palloc'd in it is
            // dropped by the reset below, after its last use.
            unsafe {
                memory.switch_to(|_| {
                    let mut out = ArrayWriter::new(count);
                    let mut texts = Vec::with_capacity(count);
                    for _ in 0..count {
                        let (keys, with_outcome) = object_keys(&mut rng, &real);
                        let first = usize::from(!with_outcome);
                        let mut values = vec![0.0; first + keys.len()];
                        for (i, v) in values.iter_mut().enumerate() {
                            *v = if i == 0 && with_outcome {
                                match rng.below(4) {
                                    0 => (rng.next() as i32) as f64,
                                    r => (r % 2) as f64,
                                }
                            } else if edge_next < edges.len() {
                                edge_next += 1;
                                edges[edge_next - 1]
                            } else {
                                value(&mut rng, &edges)
                            };
                        }
                        let layout = OutputLayout::from_keys(
                            keys.iter()
                                .enumerate()
                                .map(|(i, k)| (k.as_bytes(), first + i))
                                .collect(),
                        );
                        let text = reference(&keys, first, &values).to_string();
                        assert_same(bytes(layout.object_datum(&values)), &text, "one object");
                        for (i, &v) in values.iter().enumerate().skip(first) {
                            if v.is_finite() {
                                let decimal = serde_json::to_string(&Value::from(v)).unwrap();
                                let back = numeric_to_f64(&decimal);
                                assert!(
                                    back == v,
                                    "slot {i}: {v:e} written as {decimal}, which is {back:e}"
                                );
                                numbers += 1;
                            }
                        }
                        layout.write_object(&mut out, &values);
                        texts.push(text);
                        objects += 1;
                    }
                    let array = format!("[{}]", texts.join(","));
                    assert_same(bytes(out.finish()), &array, "an array");
                });
                memory.reset();
            }
        }
        assert_eq!(edge_next, edges.len());
        assert!(numbers > 2_000_000, "{numbers} finite numbers checked");
    }

    /// The same through the SQL functions with the bundled model: predict_purchase_json and
    /// purchase_features on the artifact's reference rows give jsonb_in's bytes of the pure
    /// crate's answers (compared as jsonb_out text of both, which shows every byte jsonb keeps:
    /// keys, order, numerics with their scale).
    #[pg_test]
    fn predict_purchase_json_and_purchase_features_equal_jsonb_in_of_the_answer() {
        let doc: Value = serde_json::from_str(BUNDLED).unwrap();
        let model = purchase_model::loaded::compile_artifact(&doc, false).unwrap();
        Spi::run_with_args("SELECT load_purchase_model($1::jsonb)", &[BUNDLED.into()]).unwrap();
        let columns: Vec<String> = doc["inputs"]
            .as_array()
            .unwrap()
            .iter()
            // Text columns: the reference rows hold numbers, money and percent text and ''.
            .map(|i| format!("{} text", i["column"].as_str().unwrap()))
            .collect();
        Spi::run(&format!("CREATE TABLE raw_rows ({})", columns.join(", "))).unwrap();
        let rows: Vec<Map<String, Value>> = doc["checks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["row"].as_object().unwrap().clone())
            .collect();
        assert!(rows.len() >= 20);
        let answers: Vec<Value> = rows
            .iter()
            .enumerate()
            .map(|(i, r)| {
                purchase_model::json_rows::service_answer_checked(&model, None, r, i).unwrap()
            })
            .collect();
        let document = Value::Array(rows.iter().cloned().map(Value::Object).collect());
        let same = Spi::get_one_with_args::<bool>(
            "SELECT predict_purchase_json($1::jsonb)::text = $2::jsonb::text",
            &[
                document.to_string().into(),
                Value::Array(answers.clone()).to_string().into(),
            ],
        )
        .unwrap();
        assert_eq!(same, Some(true));
        for (row, answer) in rows.iter().zip(&answers) {
            let mut features = answer.as_object().unwrap().clone();
            features.remove("business_outcome");
            features.remove("p_hat");
            let same = Spi::get_one_with_args::<bool>(
                "SELECT purchase_features(jsonb_populate_record(NULL::raw_rows, $1::jsonb))::text \
                 = $2::jsonb::text",
                &[
                    Value::Object(row.clone()).to_string().into(),
                    Value::Object(features).to_string().into(),
                ],
            )
            .unwrap();
            assert_eq!(same, Some(true), "{row:?}");
        }
    }
}
