//! Evaluation of scores against known outcomes: the figures scikit-learn's `roc_auc_score`,
//! `log_loss`, `accuracy_score`, `precision_score`, `recall_score` and `brier_score_loss` give,
//! a decile lift table (BigQuery ML's ML.EVALUATE / ML.ROC_CURVE in one answer) and a reliability
//! table (`sklearn.calibration.calibration_curve`, 10 uniform bins).

use serde_json::{json, Value};

/// Accumulates (p_hat, outcome) pairs; `finish` sorts once (AUC and deciles need the order).
#[derive(Default)]
pub struct Evaluation {
    pairs: Vec<(f64, bool)>,
    log_loss_sum: f64,
    squared_error_sum: f64,
    bins: [ReliabilityBin; RELIABILITY_BINS],
}

/// Bins of the reliability table.
pub const RELIABILITY_BINS: usize = 10;

/// One bin of p_hat of the reliability table: `calibration_curve(strategy='uniform', n_bins=10)`
/// puts p in bin `i` when exactly `i` of the inner edges `0.1, 0.2, ..., 0.9` (numpy's
/// `linspace(0, 1, 11)`: edge `k` is `k * 0.1` in float64) are below p (`searchsorted`, left).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ReliabilityBin {
    pub rows: usize,
    pub buyers: usize,
    pub p_hat_sum: f64,
}

/// One tenth of the rows, by p_hat descending.
#[derive(Debug, Clone, PartialEq)]
pub struct Decile {
    pub decile: usize,
    pub rows: usize,
    pub buyers: usize,
    pub min_p_hat: f64,
    pub max_p_hat: f64,
    /// Share of all buyers that fall in this decile.
    pub captured: f64,
    /// Share of all buyers in deciles 1..=this one.
    pub cumulative_gain: f64,
    /// This decile's buyer rate over the overall buyer rate.
    pub lift: f64,
    /// Deciles 1..=this one's buyer rate over the overall rate.
    pub cumulative_lift: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Metrics {
    pub rows: usize,
    pub positives: usize,
    /// None when only one class is present (undefined, as scikit-learn refuses it).
    pub auc: Option<f64>,
    pub log_loss: f64,
    pub accuracy: f64,
    /// None when nothing is predicted positive (scikit-learn warns and reports 0).
    pub precision: Option<f64>,
    pub recall: Option<f64>,
    pub threshold: f64,
    pub lift: Vec<Decile>,
    /// Mean of (p_hat - outcome)^2: scikit-learn's `brier_score_loss`.
    pub brier: f64,
    pub reliability: [ReliabilityBin; RELIABILITY_BINS],
}

/// The reliability bin of a p_hat in [0, 1] (see `ReliabilityBin`).
pub fn reliability_bin(p_hat: f64) -> usize {
    (1..RELIABILITY_BINS)
        .filter(|&k| (k as f64 * 0.1) < p_hat)
        .count()
}

impl Evaluation {
    pub fn with_capacity(n: usize) -> Self {
        Evaluation {
            pairs: Vec::with_capacity(n),
            ..Evaluation::default()
        }
    }

    #[inline]
    pub fn add(&mut self, p_hat: f64, outcome: bool) {
        // scikit-learn clips to [eps, 1 - eps] with eps = machine epsilon of float64.
        let p = p_hat.clamp(f64::EPSILON, 1.0 - f64::EPSILON);
        self.log_loss_sum -= if outcome { p.ln() } else { (1.0 - p).ln() };
        let y = if outcome { 1.0 } else { 0.0 };
        self.squared_error_sum += (y - p_hat) * (y - p_hat);
        let bin = &mut self.bins[reliability_bin(p_hat)];
        bin.rows += 1;
        bin.buyers += usize::from(outcome);
        bin.p_hat_sum += p_hat;
        self.pairs.push((p_hat, outcome));
    }

    pub fn finish(mut self, threshold: f64) -> Metrics {
        let rows = self.pairs.len();
        let positives = self.pairs.iter().filter(|(_, y)| *y).count();
        let (mut tp, mut fp, mut tn) = (0usize, 0usize, 0usize);
        for &(p, y) in &self.pairs {
            match (p > threshold, y) {
                (true, true) => tp += 1,
                (true, false) => fp += 1,
                (false, false) => tn += 1,
                (false, true) => {}
            }
        }
        // Descending p_hat; the sort is stable, so equal scores keep input order in deciles.
        self.pairs.sort_by(|a, b| b.0.total_cmp(&a.0));
        let auc = auc_of_sorted(&self.pairs, positives);
        let lift = deciles(&self.pairs, positives);
        let ratio = |a: usize, b: usize| (b > 0).then(|| a as f64 / b as f64);
        let mean = |sum: f64| {
            if rows > 0 {
                sum / rows as f64
            } else {
                f64::NAN
            }
        };
        Metrics {
            rows,
            positives,
            auc,
            log_loss: if rows > 0 {
                self.log_loss_sum / rows as f64
            } else {
                f64::NAN
            },
            accuracy: ratio(tp + tn, rows).unwrap_or(f64::NAN),
            precision: ratio(tp, tp + fp),
            recall: ratio(tp, positives),
            threshold,
            lift,
            brier: mean(self.squared_error_sum),
            reliability: self.bins,
        }
    }
}

/// Area under the ROC curve from pairs sorted by p_hat descending: the trapezoid rule over
/// distinct thresholds, so tied scores count one half, as `roc_auc_score` does.
fn auc_of_sorted(pairs: &[(f64, bool)], positives: usize) -> Option<f64> {
    let negatives = pairs.len() - positives;
    if positives == 0 || negatives == 0 {
        return None;
    }
    let (mut tp, mut fp) = (0u64, 0u64);
    let mut area = 0.0f64; // in units of (tp * fp), trapezoids doubled
    let mut i = 0;
    while i < pairs.len() {
        let (tp0, fp0) = (tp, fp);
        let score = pairs[i].0;
        while i < pairs.len() && pairs[i].0 == score {
            if pairs[i].1 {
                tp += 1;
            } else {
                fp += 1;
            }
            i += 1;
        }
        area += (fp - fp0) as f64 * (tp + tp0) as f64;
    }
    Some(area / (2.0 * positives as f64 * negatives as f64))
}

/// Ten groups of (nearly) equal size by p_hat descending: row r (0-based) is in decile
/// floor(10 r / n) + 1.
fn deciles(sorted: &[(f64, bool)], positives: usize) -> Vec<Decile> {
    let n = sorted.len();
    if n == 0 {
        return Vec::new();
    }
    let base_rate = positives as f64 / n as f64;
    let mut out = Vec::with_capacity(10);
    let (mut cum_rows, mut cum_buyers) = (0usize, 0usize);
    for d in 0..10 {
        let (start, end) = (d * n / 10, (d + 1) * n / 10);
        if start == end {
            continue;
        }
        let group = &sorted[start..end];
        let buyers = group.iter().filter(|(_, y)| *y).count();
        cum_rows += group.len();
        cum_buyers += buyers;
        let share = |b: usize| {
            if positives > 0 {
                b as f64 / positives as f64
            } else {
                0.0
            }
        };
        let lift_of = |b: usize, r: usize| {
            if base_rate > 0.0 {
                (b as f64 / r as f64) / base_rate
            } else {
                0.0
            }
        };
        out.push(Decile {
            decile: d + 1,
            rows: group.len(),
            buyers,
            min_p_hat: group[group.len() - 1].0,
            max_p_hat: group[0].0,
            captured: share(buyers),
            cumulative_gain: share(cum_buyers),
            lift: lift_of(buyers, group.len()),
            cumulative_lift: lift_of(cum_buyers, cum_rows),
        });
    }
    out
}

impl Metrics {
    pub fn to_json(&self) -> Value {
        let lift: Vec<Value> = self
            .lift
            .iter()
            .map(|d| {
                json!({
                    "decile": d.decile, "rows": d.rows, "buyers": d.buyers,
                    "min_p_hat": d.min_p_hat, "max_p_hat": d.max_p_hat,
                    "captured": d.captured, "cumulative_gain": d.cumulative_gain,
                    "lift": d.lift, "cumulative_lift": d.cumulative_lift,
                })
            })
            .collect();
        json!({
            "rows": self.rows,
            "positives": self.positives,
            "auc": self.auc,
            "log_loss": finite_or_null(self.log_loss),
            "accuracy": finite_or_null(self.accuracy),
            "precision": self.precision,
            "recall": self.recall,
            "threshold": self.threshold,
            "lift": lift,
            "brier": finite_or_null(self.brier),
            "reliability": self.reliability_json(),
        })
    }

    /// The ten bins, empty ones included (their means are null; `calibration_curve` leaves
    /// them out): `mean_p_hat` is its `prob_pred`, `buyer_rate` its `prob_true`.
    fn reliability_json(&self) -> Vec<Value> {
        self.reliability
            .iter()
            .enumerate()
            .map(|(i, b)| {
                let mean = |x: f64| (b.rows > 0).then(|| x / b.rows as f64);
                json!({
                    "bin": i + 1,
                    "from": i as f64 * 0.1,
                    "to": (i + 1) as f64 * 0.1,
                    "rows": b.rows,
                    "buyers": b.buyers,
                    "mean_p_hat": mean(b.p_hat_sum),
                    "buyer_rate": mean(b.buyers as f64),
                })
            })
            .collect()
    }
}

fn finite_or_null(v: f64) -> Value {
    if v.is_finite() {
        json!(v)
    } else {
        Value::Null
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(pairs: &[(f64, bool)]) -> Metrics {
        let mut e = Evaluation::default();
        for &(p, y) in pairs {
            e.add(p, y);
        }
        e.finish(0.5)
    }

    #[test]
    fn auc_counts_ties_as_half() {
        // sklearn: roc_auc_score([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == 0.75
        let m = eval(&[(0.1, false), (0.4, false), (0.35, true), (0.8, true)]);
        assert!((m.auc.unwrap() - 0.75).abs() < 1e-15);
        // All tied: 0.5.
        let m = eval(&[(0.3, false), (0.3, true), (0.3, true)]);
        assert!((m.auc.unwrap() - 0.5).abs() < 1e-15);
        // One class only: undefined.
        assert_eq!(eval(&[(0.3, true), (0.9, true)]).auc, None);
    }

    #[test]
    fn threshold_metrics_and_log_loss() {
        let m = eval(&[(0.9, true), (0.6, false), (0.2, true), (0.1, false)]);
        assert_eq!((m.rows, m.positives), (4, 2));
        assert_eq!(m.accuracy, 0.5);
        assert_eq!(m.precision, Some(0.5));
        assert_eq!(m.recall, Some(0.5));
        let expected = -(0.9f64.ln() + 0.4f64.ln() + 0.2f64.ln() + 0.9f64.ln()) / 4.0;
        assert!((m.log_loss - expected).abs() < 1e-15);
        // p = 0 for a buyer is clipped, not infinite.
        assert!(eval(&[(0.0, true), (1.0, false)]).log_loss.is_finite());
    }

    #[test]
    fn brier_and_reliability_as_scikit_learn() {
        // brier_score_loss([1, 0, 1, 0], [0.9, 0.6, 0.2, 0.1]) = (0.01 + 0.36 + 0.64 + 0.01) / 4
        let m = eval(&[(0.9, true), (0.6, false), (0.2, true), (0.1, false)]);
        assert!((m.brier - 0.255).abs() < 1e-15, "{}", m.brier);
        // Bin edges as numpy's searchsorted(linspace(0, 1, 11)[1:-1], p): a p on an edge goes
        // below it; 0.3 is below the float edge 3 * 0.1 = 0.30000000000000004.
        assert_eq!(reliability_bin(0.0), 0);
        assert_eq!(reliability_bin(0.1), 0);
        assert_eq!(reliability_bin(0.10000000000000002), 1);
        assert_eq!(reliability_bin(0.3), 2);
        assert_eq!(reliability_bin(0.30000000000000004), 2);
        assert_eq!(reliability_bin(0.3000000000000001), 3);
        assert_eq!(reliability_bin(0.95), 9);
        assert_eq!(reliability_bin(1.0), 9);
        // calibration_curve([1, 0, 1, 0], [0.9, 0.6, 0.2, 0.1]) gives prob_true [0, 1, 0, 1] and
        // prob_pred [0.1, 0.2, 0.6, 0.9] over the non-empty bins 1, 2, 6, 9.
        let filled: Vec<(usize, f64, f64)> = m
            .reliability
            .iter()
            .enumerate()
            .filter(|(_, b)| b.rows > 0)
            .map(|(i, b)| {
                (
                    i,
                    b.buyers as f64 / b.rows as f64,
                    b.p_hat_sum / b.rows as f64,
                )
            })
            .collect();
        assert_eq!(
            filled,
            vec![(0, 0.0, 0.1), (1, 1.0, 0.2), (5, 0.0, 0.6), (8, 1.0, 0.9)]
        );
        let json = m.to_json();
        assert_eq!(json["reliability"].as_array().unwrap().len(), 10);
        assert_eq!(json["reliability"][2]["mean_p_hat"], Value::Null);
        assert_eq!(json["reliability"][8]["buyer_rate"], 1.0);
    }

    #[test]
    fn deciles_cover_every_row_and_gain_reaches_one() {
        let pairs: Vec<(f64, bool)> = (0..1003)
            .map(|i| (i as f64 / 1003.0, i % 3 == 0 || i > 900))
            .collect();
        let m = eval(&pairs);
        assert_eq!(m.lift.len(), 10);
        assert_eq!(m.lift.iter().map(|d| d.rows).sum::<usize>(), 1003);
        assert_eq!(m.lift.iter().map(|d| d.buyers).sum::<usize>(), m.positives);
        assert!((m.lift[9].cumulative_gain - 1.0).abs() < 1e-12);
        assert!((m.lift[9].cumulative_lift - 1.0).abs() < 1e-12);
        assert!(m.lift[0].lift > 2.0, "{:?}", m.lift[0]);
        assert!(m.lift[0].min_p_hat >= m.lift[1].max_p_hat);
    }
}
