//! Data drift: live data of each column the model reads against its training statistics.
//!
//! Training statistics come from the compiled model (the scaler's mean and scale, the encoder's
//! vocabulary) and, where the artifact carries one, its optional `profile` section:
//! `{"columns": [{"column", "null_rate", "mean", "std", "bin_edges": [9 inner decile edges],
//! "bin_fractions": [10 shares], "categories": {"level": share, ...}}]}`. An artifact without a
//! profile reports what it can: means and standard deviations, unseen categories, live null rates.
//!
//! A column is flagged when any of these holds (README, "Drift"):
//! the population stability index exceeds [`PSI_FLAG`]; the live mean moved more than
//! [`SHIFT_FLAG`] training standard deviations; the null rate changed by more than
//! [`NULL_RATE_FLAG`] (or, without a training null rate, every live value is missing); or more
//! than [`UNSEEN_FLAG`] of the live rows hold a category never seen in training.

use super::model::{CompiledModel, Prepared, RawValue};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};

pub const PSI_FLAG: f64 = 0.25;
pub const SHIFT_FLAG: f64 = 0.25;
pub const NULL_RATE_FLAG: f64 = 0.05;
pub const UNSEEN_FLAG: f64 = 0.01;
/// Empty bins would make PSI infinite; both sides are floored at this share.
const PSI_FLOOR: f64 = 1e-4;
/// At most this many distinct unseen categories are listed per column.
const UNSEEN_LISTED: usize = 20;

/// The training side of one column, from the artifact's optional profile.
#[derive(Debug, Clone, Default)]
pub struct ColumnProfile {
    pub null_rate: Option<f64>,
    pub mean: Option<f64>,
    pub std: Option<f64>,
    pub bin_edges: Option<Vec<f64>>,
    pub bin_fractions: Option<Vec<f64>>,
    pub categories: Option<BTreeMap<String, f64>>,
}

/// The profile of every column the artifact document describes (absent or malformed: empty).
pub fn profiles(doc: &Value) -> HashMap<String, ColumnProfile> {
    let floats = |v: Option<&Value>| -> Option<Vec<f64>> {
        v?.as_array()?.iter().map(Value::as_f64).collect()
    };
    let mut out = HashMap::new();
    let Some(columns) = doc.pointer("/profile/columns").and_then(Value::as_array) else {
        return out;
    };
    for c in columns {
        let Some(name) = c.get("column").and_then(Value::as_str) else {
            continue;
        };
        let edges = floats(c.get("bin_edges"));
        let fractions = floats(c.get("bin_fractions"));
        // Bins are usable only as a consistent pair.
        let (bin_edges, bin_fractions) = match (edges, fractions) {
            (Some(e), Some(f)) if f.len() == e.len() + 1 => (Some(e), Some(f)),
            _ => (None, None),
        };
        out.insert(
            name.to_string(),
            ColumnProfile {
                null_rate: c.get("null_rate").and_then(Value::as_f64),
                mean: c.get("mean").and_then(Value::as_f64),
                std: c.get("std").and_then(Value::as_f64),
                bin_edges,
                bin_fractions,
                categories: c.get("categories").and_then(Value::as_object).map(|m| {
                    m.iter()
                        .filter_map(|(k, v)| Some((k.clone(), v.as_f64()?)))
                        .collect()
                }),
            },
        );
    }
    out
}

/// Live statistics of one model input, accumulated row by row.
#[derive(Debug, Clone, Default)]
pub struct LiveColumn {
    rows: u64,
    missing: u64,
    /// Welford's running mean and sum of squared deviations (numbers).
    count: u64,
    mean: f64,
    m2: f64,
    bins: Vec<u64>,
    levels: BTreeMap<String, u64>,
    unseen_rows: u64,
    unseen: BTreeMap<String, u64>,
}

/// One row of `purchase_drift`.
#[derive(Debug, Clone, PartialEq)]
pub struct DriftRow {
    pub column: String,
    pub train_mean: Option<f64>,
    pub live_mean: Option<f64>,
    pub train_std: Option<f64>,
    pub live_std: Option<f64>,
    pub train_null_rate: Option<f64>,
    pub live_null_rate: Option<f64>,
    pub unseen_categories: Option<Vec<String>>,
    pub psi: Option<f64>,
    pub flagged: bool,
}

/// Drift of every input of `model` over rows fed with `add_row`.
pub struct Drift<'m> {
    model: &'m CompiledModel,
    profiles: HashMap<String, ColumnProfile>,
    live: Vec<LiveColumn>,
}

impl<'m> Drift<'m> {
    pub fn new(model: &'m CompiledModel, doc: Option<&Value>) -> Self {
        let profiles = doc.map(profiles).unwrap_or_default();
        let live = model
            .inputs
            .iter()
            .map(|input| LiveColumn {
                bins: match profiles
                    .get(&input.column)
                    .and_then(|p| p.bin_edges.as_ref())
                {
                    Some(edges) => vec![0; edges.len() + 1],
                    None => Vec::new(),
                },
                ..LiveColumn::default()
            })
            .collect();
        Drift {
            model,
            profiles,
            live,
        }
    }

    /// Adds one row (`raw[i]` is input `i`) only if scoring would accept every value of it: a
    /// row with a bad value is an error and adds nothing, so a caller that skips bad rows
    /// leaves no part of them in the statistics.
    pub fn add_row(&mut self, raw: &[RawValue<'_>]) -> super::error::Result<()> {
        for (i, value) in raw.iter().enumerate() {
            self.check(i, *value)?;
        }
        for (i, value) in raw.iter().enumerate() {
            self.add(i, *value)?;
        }
        Ok(())
    }

    /// The error `add(i, raw)` would return, without adding anything.
    fn check(&self, i: usize, raw: RawValue<'_>) -> super::error::Result<()> {
        let model = self.model;
        if model.input_scaling(i).is_some() {
            super::model::number(&model.inputs[i].column, raw)?;
        } else {
            model.prepare(i, raw)?;
        }
        Ok(())
    }

    /// Adds raw value `raw` of input `i` (cleaned and looked up as scoring would; a value that
    /// scoring would refuse is an error here too).
    pub fn add(&mut self, i: usize, raw: RawValue<'_>) -> super::error::Result<()> {
        let model = self.model;
        let live = &mut self.live[i];
        live.rows += 1;
        if model.input_scaling(i).is_some() {
            // Scoring's rule for a number (missing, NaN, cleaning of text), before imputation.
            let value = super::model::number(&model.inputs[i].column, raw)?;
            let Some(x) = value else {
                live.missing += 1;
                return Ok(());
            };
            live.count += 1;
            let delta = x - live.mean;
            live.mean += delta / live.count as f64;
            live.m2 += delta * (x - live.mean);
            if let Some(edges) = self
                .profiles
                .get(&model.inputs[i].column)
                .and_then(|p| p.bin_edges.as_ref())
            {
                live.bins[edges.partition_point(|e| *e < x)] += 1;
            }
            return Ok(());
        }
        match model.prepare(i, raw)? {
            Prepared::MissingLevel => live.missing += 1,
            Prepared::Level(l) => {
                let level = &model.input_levels(i).unwrap_or_default()[l];
                *live.levels.entry(level.clone()).or_default() += 1;
            }
            _ => {
                live.unseen_rows += 1;
                let text = match raw {
                    RawValue::Text(t) => t.to_string(),
                    RawValue::Number(v) => v.to_string(),
                    RawValue::Missing => String::new(),
                };
                if live.unseen.len() < UNSEEN_LISTED || live.unseen.contains_key(&text) {
                    *live.unseen.entry(text).or_default() += 1;
                }
            }
        }
        Ok(())
    }

    pub fn finish(self) -> Vec<DriftRow> {
        let model = self.model;
        model
            .inputs
            .iter()
            .zip(&self.live)
            .enumerate()
            .map(|(i, (input, live))| {
                let profile = self
                    .profiles
                    .get(&input.column)
                    .cloned()
                    .unwrap_or_default();
                let rate = |k: u64| (live.rows > 0).then(|| k as f64 / live.rows as f64);
                let live_null_rate = rate(live.missing);
                let mut flagged = match (profile.null_rate, live_null_rate) {
                    (Some(t), Some(l)) => (t - l).abs() > NULL_RATE_FLAG,
                    // Without a training null rate, a column that is entirely missing is still
                    // drift: scoring imputes every row (the training mean for a number), so the
                    // column no longer tells rows apart.
                    (None, Some(l)) => l == 1.0,
                    _ => false,
                };
                match model.input_scaling(i) {
                    Some((mean, scale)) => {
                        let train_mean = profile.mean.or(Some(mean));
                        let train_std = profile.std.or(Some(scale));
                        let live_mean = (live.count > 0).then_some(live.mean);
                        let live_std =
                            (live.count > 0).then(|| (live.m2 / live.count as f64).sqrt());
                        if let (Some(t), Some(l), Some(s)) = (train_mean, live_mean, train_std) {
                            flagged |= s > 0.0 && ((l - t) / s).abs() > SHIFT_FLAG;
                        }
                        let psi = profile.bin_fractions.as_ref().and_then(|expected| {
                            (live.count > 0).then(|| {
                                let actual: Vec<f64> = live
                                    .bins
                                    .iter()
                                    .map(|&b| b as f64 / live.count as f64)
                                    .collect();
                                psi(expected, &actual)
                            })
                        });
                        flagged |= psi.is_some_and(|p| p > PSI_FLAG);
                        DriftRow {
                            column: input.column.clone(),
                            train_mean,
                            live_mean,
                            train_std,
                            live_std,
                            train_null_rate: profile.null_rate,
                            live_null_rate,
                            unseen_categories: None,
                            psi,
                            flagged,
                        }
                    }
                    None => {
                        let seen = live.rows - live.missing;
                        flagged |= rate(live.unseen_rows).is_some_and(|r| r > UNSEEN_FLAG);
                        let psi = profile.categories.as_ref().and_then(|train| {
                            (seen > 0).then(|| {
                                // Over the training levels plus one bucket for unseen ones.
                                let mut expected: Vec<f64> = train.values().copied().collect();
                                let total: f64 = expected.iter().sum();
                                expected
                                    .iter_mut()
                                    .for_each(|e| *e /= total.max(f64::MIN_POSITIVE));
                                expected.push(0.0);
                                let mut actual: Vec<f64> = train
                                    .keys()
                                    .map(|k| *live.levels.get(k).unwrap_or(&0) as f64 / seen as f64)
                                    .collect();
                                let known: u64 =
                                    train.keys().filter_map(|k| live.levels.get(k)).sum();
                                actual.push((seen - known) as f64 / seen as f64);
                                psi(&expected, &actual)
                            })
                        });
                        flagged |= psi.is_some_and(|p| p > PSI_FLAG);
                        DriftRow {
                            column: input.column.clone(),
                            train_mean: None,
                            live_mean: None,
                            train_std: None,
                            live_std: None,
                            train_null_rate: profile.null_rate,
                            live_null_rate,
                            unseen_categories: Some(live.unseen.keys().cloned().collect()),
                            psi,
                            flagged,
                        }
                    }
                }
            })
            .collect()
    }
}

/// Population stability index: sum over bins of (actual - expected) * ln(actual / expected).
pub fn psi(expected: &[f64], actual: &[f64]) -> f64 {
    expected
        .iter()
        .zip(actual)
        .map(|(&e, &a)| {
            let (e, a) = (e.max(PSI_FLOOR), a.max(PSI_FLOOR));
            (a - e) * (a / e).ln()
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::artifact::Artifact;
    use serde_json::json;

    fn model_and_doc() -> (CompiledModel, Value) {
        let doc = json!({
            "format": "pg_purchase.logistic_pipeline", "format_version": 1,
            "inputs": [{"column": "spend", "kind": "money"}, {"column": "tier", "kind": "category"}],
            "imputer": {"columns": ["spend"], "statistics": [10.0]},
            "scaler": {"columns": ["spend"], "mean": [10.0], "scale": [2.0]},
            "encoder": {"columns": [{"column": "tier", "categories": ["gold", "silver"], "drop": null, "missing_indicator": true}]},
            "model": {"features": ["spend", "tier_silver", "tier_nan"], "coefficients": [1.0, 0.5, -2.0], "intercept": 0.25},
            "threshold": 0.5,
            "profile": {"columns": [
                {"column": "spend", "null_rate": 0.0, "bin_edges": [9.0, 10.0, 11.0], "bin_fractions": [0.25, 0.25, 0.25, 0.25]},
                {"column": "tier", "null_rate": 0.0, "categories": {"gold": 0.5, "silver": 0.5}}
            ]}
        });
        let model = CompiledModel::compile(&Artifact::from_json(&doc).unwrap()).unwrap();
        (model, doc)
    }

    fn run(model: &CompiledModel, doc: &Value, rows: &[(&str, Option<&str>)]) -> Vec<DriftRow> {
        let mut d = Drift::new(model, Some(doc));
        let spend = model
            .inputs
            .iter()
            .position(|i| i.column == "spend")
            .unwrap();
        let tier = 1 - spend;
        for (s, t) in rows {
            d.add(spend, RawValue::Text(s)).unwrap();
            d.add(tier, t.map_or(RawValue::Missing, RawValue::Text))
                .unwrap();
        }
        d.finish()
    }

    #[test]
    fn like_training_is_not_flagged_and_shifted_is() {
        let (model, doc) = model_and_doc();
        let like: Vec<(&str, Option<&str>)> = ["8.5", "9.5", "10.5", "11.5"]
            .iter()
            .flat_map(|s| [(*s, Some("gold")), (*s, Some("silver"))])
            .collect();
        let rows = run(&model, &doc, &like);
        assert!(rows.iter().all(|r| !r.flagged), "{rows:?}");
        assert!(rows.iter().all(|r| r.psi.unwrap() < 1e-12));
        let spend = rows.iter().find(|r| r.column == "spend").unwrap();
        assert_eq!(spend.live_mean, Some(10.0));
        assert_eq!(spend.train_mean, Some(10.0));

        let shifted: Vec<(&str, Option<&str>)> = vec![
            ("$20.00", Some("bronze")),
            ("$21.00", None),
            ("$22.00", Some("gold")),
        ];
        let rows = run(&model, &doc, &shifted);
        assert!(rows.iter().all(|r| r.flagged), "{rows:?}");
        let tier = rows.iter().find(|r| r.column == "tier").unwrap();
        assert_eq!(tier.unseen_categories, Some(vec!["bronze".to_string()]));
        assert!((tier.live_null_rate.unwrap() - 1.0 / 3.0).abs() < 1e-15);
    }

    /// Without a profile there is no training null rate; a column that is now entirely missing
    /// (imputed on every row) is flagged all the same, a partly missing one is not.
    #[test]
    fn an_all_missing_column_is_flagged_without_a_profile() {
        let (model, _) = model_and_doc();
        let all_null = |nan: bool| {
            let mut d = Drift::new(&model, None);
            for _ in 0..3 {
                for i in 0..model.inputs.len() {
                    let raw = if nan && model.inputs[i].column == "spend" {
                        RawValue::Number(f64::NAN)
                    } else {
                        RawValue::Missing
                    };
                    d.add(i, raw).unwrap();
                }
            }
            d.finish()
        };
        for rows in [all_null(false), all_null(true)] {
            assert_eq!(rows.len(), 2);
            for r in &rows {
                assert_eq!(r.live_null_rate, Some(1.0), "{r:?}");
                assert_eq!(r.train_null_rate, None);
                assert!(r.flagged, "{r:?}");
            }
        }
        let mut d = Drift::new(&model, None);
        let spend = model
            .inputs
            .iter()
            .position(|i| i.column == "spend")
            .unwrap();
        for raw in [
            RawValue::Missing,
            RawValue::Text("10.0"),
            RawValue::Number(f64::NAN),
        ] {
            d.add(spend, raw).unwrap();
            d.add(1 - spend, RawValue::Text("gold")).unwrap();
        }
        let rows = d.finish();
        let s = rows.iter().find(|r| r.column == "spend").unwrap();
        assert_eq!(s.live_null_rate, Some(2.0 / 3.0));
        assert_eq!(s.live_mean, Some(10.0));
        assert!(!s.flagged, "{s:?}");
    }

    /// A row with one value scoring refuses adds nothing, not even its good values; good rows
    /// around it count as if it were not there.
    #[test]
    fn a_refused_row_adds_nothing() {
        let (model, doc) = model_and_doc();
        let spend = model
            .inputs
            .iter()
            .position(|i| i.column == "spend")
            .unwrap();
        let row = |s: &'static str, t: &'static str| {
            let mut raw = [RawValue::Missing; 2];
            raw[spend] = RawValue::Text(s);
            raw[1 - spend] = RawValue::Text(t);
            raw
        };
        let mut d = Drift::new(&model, Some(&doc));
        d.add_row(&row("9.0", "gold")).unwrap();
        let err = d.add_row(&row("twelve", "silver")).unwrap_err();
        assert!(err.to_string().contains("\"spend\""), "{err}");
        d.add_row(&row("11.0", "gold")).unwrap();
        let rows = d.finish();
        let s = rows.iter().find(|r| r.column == "spend").unwrap();
        assert_eq!(s.live_mean, Some(10.0));
        assert_eq!(s.live_null_rate, Some(0.0));
        let t = rows.iter().find(|r| r.column == "tier").unwrap();
        assert_eq!(t.live_null_rate, Some(0.0));
        assert_eq!(t.unseen_categories, Some(vec![]));
        assert_eq!(
            d_rows_of(&model, &doc, &[row("9.0", "gold"), row("11.0", "gold")]),
            rows
        );
    }

    fn d_rows_of(model: &CompiledModel, doc: &Value, rows: &[[RawValue<'_>; 2]]) -> Vec<DriftRow> {
        let mut d = Drift::new(model, Some(doc));
        for r in rows {
            d.add_row(r).unwrap();
        }
        d.finish()
    }

    #[test]
    fn psi_of_identical_shares_is_zero_and_grows_with_difference() {
        assert_eq!(psi(&[0.5, 0.5], &[0.5, 0.5]), 0.0);
        let small = psi(&[0.5, 0.5], &[0.45, 0.55]);
        let large = psi(&[0.5, 0.5], &[0.1, 0.9]);
        assert!(small > 0.0 && small < 0.1 && large > PSI_FLAG);
    }
}
