//! `compare_purchase_models`: two models (or two versions of one, e.g. the live one and a staged
//! import) scored on the same labelled rows in one pass; the figures and DeLong's test are
//! `purchase_model::compare`.

use crate::pg::bad_rows::{self, BadRows};
use crate::pg::errors::{guard_entry, raise, OrRaise};
use crate::pg::insights::{check_column, model_columns};
use crate::pg::models::admin::required;
use crate::pg::models::cache::resolve_version;
use crate::pg::source_rows::{check_select, for_each_row_with_texts, SourceTable};
use pgrx::prelude::*;
use pgrx::{JsonB, PgSqlErrorCode};
use purchase_model::compare::Comparison;
use purchase_model::outcome::parse_outcome;

/// Scores every row of `source` with model A (`model_a` at `version_a`, the active version when
/// NULL) and model B alike, and compares both with the 0/1 outcome in `target_column`: AUC and
/// log loss of each, contacts, buyers and (given `value_per_purchase` and `cost_per_contact`)
/// profit at each model's own threshold, how often their outcomes agree, and DeLong's test of
/// the AUC difference. Rows without an outcome are left out and counted; bad rows as in
/// `evaluate_purchase_model`.
#[pg_extern(stable, parallel_safe)]
#[allow(clippy::too_many_arguments)]
fn compare_purchase_models(
    source: SourceTable,
    target_column: Option<&str>,
    model_a: default!(Option<&str>, "'default'"),
    model_b: default!(Option<&str>, "'default'"),
    version_a: default!(Option<i32>, "NULL"),
    version_b: default!(Option<i32>, "NULL"),
    value_per_purchase: default!(Option<f64>, "NULL"),
    cost_per_contact: default!(Option<f64>, "NULL"),
    on_bad_row: default!(Option<&str>, "'error'"),
    key_column: default!(Option<&str>, "NULL"),
) -> JsonB {
    guard_entry("compare_purchase_models", || {
        let target_column = required(target_column, "target_column");
        let name_a = required(model_a, "model_a");
        let name_b = required(model_b, "model_b");
        let policy = bad_rows::on_bad_row(on_bad_row);
        let money = match (value_per_purchase, cost_per_contact) {
            (None, None) => None,
            (Some(v), Some(c)) => Some((v, c)),
            _ => raise(
                PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
                "value_per_purchase and cost_per_contact go together",
                Some("Give both to compare profit at each model's threshold, or neither.".into()),
            ),
        };
        let a = resolve_version(name_a, version_a);
        let b = resolve_version(name_b, version_b);
        let relid = source.0;
        // A's columns, then B's (a column both read is read twice: each reads it its own way).
        let mut columns = model_columns(&a);
        let split = columns.len();
        columns.extend(model_columns(&b));
        let mut read: Vec<&str> = columns.iter().map(|(c, _)| c.as_str()).collect();
        read.push(target_column);
        check_select(relid, &read);
        for c in &read {
            check_column(relid, c);
        }
        let key = bad_rows::key_column(relid, key_column);
        let mut texts = vec![target_column];
        if let Some(k) = &key {
            check_select(relid, &[k.as_str()]);
            texts.push(k.as_str());
        }
        let mut bad = BadRows::new(policy, key.clone(), relid);
        let mut comparison = Comparison::with_capacity(1024);
        let mut without_outcome = 0i64;
        let mut scanned = 0usize;
        for_each_row_with_texts(relid, &columns, &texts, |row| {
            scanned += 1;
            let judged = a
                .model
                .score_with(|i| Ok(row.value(i)))
                .and_then(|pa| {
                    let pb = b.model.score_with(|i| Ok(row.value(split + i)))?;
                    Ok((pa.p_hat, pb.p_hat))
                })
                .and_then(|(pa, pb)| match row.text(columns.len()) {
                    Some(y) => parse_outcome(target_column, &y, scanned).map(|y| Some((pa, pb, y))),
                    None => Ok(None),
                });
            match judged {
                Ok(Some((pa, pb, y))) => comparison.add(pa, pb, y),
                Ok(None) => without_outcome += 1,
                Err(e) => {
                    let k = key.as_ref().and_then(|_| row.text(columns.len() + 1));
                    bad.bad_row(e, scanned, k)
                }
            }
        });
        let compared = comparison
            .finish(a.model.threshold, b.model.threshold, money)
            .or_raise();
        let mut answer = compared.to_json();
        let obj = answer.as_object_mut().expect("to_json builds an object");
        for (side, loaded) in [("a", &a), ("b", &b)] {
            let figures = obj[side].as_object_mut().expect("an object per model");
            figures.insert("model".into(), loaded.name.clone().into());
            figures.insert("version".into(), loaded.version.into());
        }
        obj.insert("rows_without_outcome".into(), without_outcome.into());
        obj.insert("rows_skipped".into(), bad.skipped.into());
        JsonB(answer)
    })
}
