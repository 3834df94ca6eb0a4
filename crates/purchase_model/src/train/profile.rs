//! The artifact's `profile` section for drift (format in `crate::drift`): per column the
//! null rate on the training rows; for numbers the mean and population standard deviation of the
//! values present, the 9 inner decile edges and the shares of the 10 bins they cut (a value
//! equal to an edge falls in the lower bin, as `purchase_drift` counts); for categories the share
//! of each level among the values present.

use super::columns::{Column, ColumnValues, MISSING};
use serde_json::{json, Map, Value};

/// Linear-interpolation quantile of sorted values (numpy's default).
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = (lo + 1).min(sorted.len() - 1);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

pub fn column_profile(column: &Column, rows: &[usize]) -> Value {
    let n = rows.len() as f64;
    match &column.values {
        ColumnValues::Numbers(v) => {
            let mut present: Vec<f64> =
                rows.iter().map(|&r| v[r]).filter(|x| !x.is_nan()).collect();
            let m = present.len() as f64;
            let mean = present.iter().sum::<f64>() / m;
            let std = (present.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / m).sqrt();
            present.sort_unstable_by(f64::total_cmp);
            let edges: Vec<f64> = (1..10)
                .map(|d| quantile(&present, d as f64 / 10.0))
                .collect();
            let mut bins = [0usize; 10];
            for x in &present {
                bins[edges.partition_point(|e| e < x)] += 1;
            }
            json!({
                "column": column.name,
                "null_rate": (n - m) / n,
                "mean": mean,
                "std": std,
                "bin_edges": edges,
                "bin_fractions": bins.iter().map(|&b| b as f64 / m).collect::<Vec<_>>(),
            })
        }
        ColumnValues::Levels { levels, codes } => {
            let mut counts = vec![0usize; levels.len()];
            let mut missing = 0usize;
            for &r in rows {
                match codes[r] {
                    MISSING => missing += 1,
                    c => counts[c as usize] += 1,
                }
            }
            let present = (rows.len() - missing) as f64;
            let shares: Map<String, Value> = levels
                .iter()
                .zip(&counts)
                .filter(|(_, &c)| c > 0)
                .map(|(l, &c)| (l.clone(), json!(c as f64 / present)))
                .collect();
            json!({
                "column": column.name,
                "null_rate": missing as f64 / n,
                "categories": shares,
            })
        }
    }
}

pub fn profile(columns: &[&Column], rows: &[usize]) -> Value {
    json!({ "columns": columns.iter().map(|c| column_profile(c, rows)).collect::<Vec<_>>() })
}
