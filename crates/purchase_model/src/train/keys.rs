//! Columns that look like keys (a customer id, a lead code): every training row has a value and
//! no two share it, as integers or as text. A key carries no information about buying, yet an
//! L1 fit may still pick it up by chance, so training names it in a NOTICE with the option
//! that leaves it out.

use super::columns::{Column, ColumnValues, MISSING};

/// Fewer rows than this prove nothing about uniqueness.
const MIN_ROWS: usize = 10;

/// Why `column` looks like a key on `rows`, or None.
pub fn looks_like_key(column: &Column, rows: &[usize]) -> Option<String> {
    if rows.len() < MIN_ROWS {
        return None;
    }
    match &column.values {
        ColumnValues::Numbers(v) => {
            let mut values: Vec<f64> = Vec::with_capacity(rows.len());
            for &r in rows {
                let x = v[r];
                if x.is_nan() || x.fract() != 0.0 {
                    return None;
                }
                values.push(x);
            }
            values.sort_by(f64::total_cmp);
            let distinct = values.windows(2).all(|w| w[0] != w[1]);
            distinct.then(|| format!("its {} training values are distinct integers", rows.len()))
        }
        ColumnValues::Levels { levels, codes } => {
            let mut seen = vec![false; levels.len()];
            for &r in rows {
                let c = codes[r];
                if c == MISSING || std::mem::replace(&mut seen[c as usize], true) {
                    return None;
                }
            }
            Some(format!(
                "its {} training values are distinct texts",
                rows.len()
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::artifact::InputKind;

    fn numbers(v: Vec<f64>) -> Column {
        Column {
            name: "c".into(),
            kind: InputKind::Number,
            values: ColumnValues::Numbers(v),
        }
    }

    #[test]
    fn unique_integers_and_texts_are_keys_other_columns_are_not() {
        let rows: Vec<usize> = (0..12).collect();
        let ids: Vec<f64> = (0..12).map(|i| (1000 + 7 * i) as f64).collect();
        assert!(looks_like_key(&numbers(ids.clone()), &rows).is_some());
        let mut repeated = ids.clone();
        repeated[5] = repeated[4];
        assert_eq!(looks_like_key(&numbers(repeated), &rows), None);
        let mut fractional = ids.clone();
        fractional[3] = 0.5;
        assert_eq!(looks_like_key(&numbers(fractional), &rows), None);
        let mut missing = ids;
        missing[0] = f64::NAN;
        assert_eq!(looks_like_key(&numbers(missing), &rows), None);
        assert_eq!(looks_like_key(&numbers(vec![1.0, 2.0]), &[0, 1]), None);

        let levels: Vec<String> = (0..12).map(|i| format!("L-{i}")).collect();
        let codes: Vec<u32> = (0..12).collect();
        let text = |codes: Vec<u32>| Column {
            name: "code".into(),
            kind: InputKind::Category,
            values: ColumnValues::Levels {
                levels: levels.clone(),
                codes,
            },
        };
        assert!(looks_like_key(&text(codes.clone()), &rows)
            .unwrap()
            .contains("distinct texts"));
        let mut twice = codes;
        twice[11] = 0;
        assert_eq!(looks_like_key(&text(twice), &rows), None);
    }
}
