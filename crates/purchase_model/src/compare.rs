//! Two models scored on the same labelled rows (a shadow or A/B check of a staged version):
//! each one's AUC and log loss, what each reaches at its own threshold (and the profit, given a
//! value per purchase and a cost per contact), how often their outcomes agree, and DeLong's
//! test of the AUC difference (DeLong, DeLong and Clarke-Pearson 1988, in the O(n log n) form
//! of Sun and Xu 2014: midranks instead of all pairs).

use crate::error::{PipelineError, Result};
use serde_json::{json, Value};

/// Labelled pairs of scores, gathered one row at a time.
#[derive(Debug, Default, Clone)]
pub struct Comparison {
    rows: Vec<(f64, f64, bool)>,
}

/// What one model reaches on the rows.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelFigures {
    pub auc: f64,
    pub log_loss: f64,
    pub threshold: f64,
    /// Rows with p_hat > threshold (outcome 1).
    pub contacts: u64,
    /// Buyers among them.
    pub buyers: u64,
    /// value × buyers − cost × contacts, when value and cost are given.
    pub profit: Option<f64>,
}

/// DeLong's test of AUC(a) − AUC(b) = 0.
#[derive(Debug, Clone, PartialEq)]
pub struct DeLong {
    pub auc_difference: f64,
    /// Standard error of the difference; 0 when the two rank the rows alike.
    pub std_error: f64,
    /// None when the standard error is 0 (the difference is then exactly 0 too).
    pub z: Option<f64>,
    pub p_value: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Compared {
    pub rows: u64,
    pub positives: u64,
    pub a: ModelFigures,
    pub b: ModelFigures,
    pub both_1: u64,
    pub both_0: u64,
    pub only_a: u64,
    pub only_b: u64,
    pub delong: DeLong,
}

impl Comparison {
    pub fn with_capacity(n: usize) -> Self {
        Comparison {
            rows: Vec::with_capacity(n),
        }
    }

    pub fn add(&mut self, p_a: f64, p_b: f64, bought: bool) {
        self.rows.push((p_a, p_b, bought));
    }

    /// The comparison at thresholds `threshold_a` and `threshold_b`; `money` is (value per
    /// purchase, cost per contact). Needs both outcomes among the rows (AUC is undefined
    /// otherwise, as scikit-learn's `roc_auc_score` refuses it).
    pub fn finish(
        self,
        threshold_a: f64,
        threshold_b: f64,
        money: Option<(f64, f64)>,
    ) -> Result<Compared> {
        if let Some((value, cost)) = money {
            if !(value.is_finite() && value > 0.0) {
                return Err(PipelineError::InvalidArgument {
                    argument: "value_per_purchase".into(),
                    problem: format!("is {value}; it must be a finite amount greater than 0"),
                });
            }
            if !(cost.is_finite() && cost >= 0.0) {
                return Err(PipelineError::InvalidArgument {
                    argument: "cost_per_contact".into(),
                    problem: format!("is {cost}; it must be a finite amount of at least 0"),
                });
            }
        }
        let rows = self.rows.len() as u64;
        let positives = self.rows.iter().filter(|r| r.2).count() as u64;
        if positives == 0 || positives == rows {
            return Err(PipelineError::InvalidArgument {
                argument: "source".into(),
                problem: format!(
                    "has {rows} row(s) with a known outcome, {positives} of them buyers: comparing AUCs needs both buyers and non-buyers"
                ),
            });
        }
        let (mut both_1, mut both_0, mut only_a, mut only_b) = (0, 0, 0, 0);
        for &(pa, pb, _) in &self.rows {
            match (pa > threshold_a, pb > threshold_b) {
                (true, true) => both_1 += 1,
                (false, false) => both_0 += 1,
                (true, false) => only_a += 1,
                (false, true) => only_b += 1,
            }
        }
        let a: Vec<f64> = self.rows.iter().map(|r| r.0).collect();
        let b: Vec<f64> = self.rows.iter().map(|r| r.1).collect();
        let y: Vec<bool> = self.rows.iter().map(|r| r.2).collect();
        let (auc_a, auc_b, cov) = delong_covariance(&a, &b, &y);
        let variance = (cov[0][0] + cov[1][1] - 2.0 * cov[0][1]).max(0.0);
        let std_error = variance.sqrt();
        let difference = auc_a - auc_b;
        let z = (std_error > 0.0).then(|| difference / std_error);
        let figures = |scores: &[f64], auc: f64, threshold: f64| {
            let mut contacts = 0u64;
            let mut buyers = 0u64;
            for (&p, &bought) in scores.iter().zip(&y) {
                if p > threshold {
                    contacts += 1;
                    buyers += u64::from(bought);
                }
            }
            ModelFigures {
                auc,
                log_loss: log_loss(scores, &y),
                threshold,
                contacts,
                buyers,
                profit: money.map(|(v, c)| v * buyers as f64 - c * contacts as f64),
            }
        };
        Ok(Compared {
            rows,
            positives,
            a: figures(&a, auc_a, threshold_a),
            b: figures(&b, auc_b, threshold_b),
            both_1,
            both_0,
            only_a,
            only_b,
            delong: DeLong {
                auc_difference: difference,
                std_error,
                z,
                p_value: z.map(|z| erfc(z.abs() / std::f64::consts::SQRT_2)),
            },
        })
    }
}

impl ModelFigures {
    fn to_json(&self) -> Value {
        let ratio = |a: u64, b: u64| (b > 0).then(|| a as f64 / b as f64);
        json!({
            "auc": self.auc,
            "log_loss": self.log_loss,
            "threshold": self.threshold,
            "contacts": self.contacts,
            "buyers_reached": self.buyers,
            "precision": ratio(self.buyers, self.contacts),
            "profit": self.profit,
        })
    }
}

impl Compared {
    pub fn to_json(&self) -> Value {
        let agree = self.both_1 + self.both_0;
        json!({
            "rows": self.rows,
            "buyers": self.positives,
            "a": self.a.to_json(),
            "b": self.b.to_json(),
            "agreement": {
                "rate": agree as f64 / self.rows as f64,
                "both_1": self.both_1,
                "both_0": self.both_0,
                "only_a": self.only_a,
                "only_b": self.only_b,
            },
            "delong": {
                "auc_difference": self.delong.auc_difference,
                "std_error": self.delong.std_error,
                "z": self.delong.z,
                "p_value": self.delong.p_value,
            },
        })
    }
}

/// Mean log loss, with p_hat clipped to [eps, 1 − eps] as scikit-learn's `log_loss` does.
fn log_loss(scores: &[f64], y: &[bool]) -> f64 {
    let sum: f64 = scores
        .iter()
        .zip(y)
        .map(|(&p, &bought)| {
            let p = p.clamp(f64::EPSILON, 1.0 - f64::EPSILON);
            -if bought { p.ln() } else { (1.0 - p).ln() }
        })
        .sum();
    sum / scores.len() as f64
}

/// 1-based ranks with ties given their mean rank (scipy's `rankdata(method="average")`).
fn midranks(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&i, &j| values[i].total_cmp(&values[j]));
    let mut ranks = vec![0.0; values.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && values[order[j + 1]] == values[order[i]] {
            j += 1;
        }
        // Positions i..=j (0-based) share the mean of ranks i+1..=j+1.
        let rank = (i + j) as f64 / 2.0 + 1.0;
        for &k in &order[i..=j] {
            ranks[k] = rank;
        }
        i = j + 1;
    }
    ranks
}

/// The two AUCs and DeLong's 2 x 2 covariance matrix of them: S = S10 / m + S01 / n, the
/// sample covariances (n − 1 in the denominator) of the structural components over the m
/// buyers and the n non-buyers. Both outcomes must be present.
pub fn delong_covariance(a: &[f64], b: &[f64], y: &[bool]) -> (f64, f64, [[f64; 2]; 2]) {
    let m = y.iter().filter(|&&v| v).count();
    let n = y.len() - m;
    let (mf, nf) = (m as f64, n as f64);
    // Per model: the structural components of the buyers (v10) and of the non-buyers (v01).
    let components = |scores: &[f64]| {
        let pos: Vec<f64> = scores
            .iter()
            .zip(y)
            .filter(|p| *p.1)
            .map(|p| *p.0)
            .collect();
        let neg: Vec<f64> = scores
            .iter()
            .zip(y)
            .filter(|p| !*p.1)
            .map(|p| *p.0)
            .collect();
        let all = midranks(scores);
        let all_pos: Vec<f64> = all.iter().zip(y).filter(|p| *p.1).map(|p| *p.0).collect();
        let all_neg: Vec<f64> = all.iter().zip(y).filter(|p| !*p.1).map(|p| *p.0).collect();
        let (tx, ty) = (midranks(&pos), midranks(&neg));
        let auc = all_pos.iter().sum::<f64>() / (mf * nf) - (mf + 1.0) / (2.0 * nf);
        let v10: Vec<f64> = all_pos.iter().zip(&tx).map(|(z, x)| (z - x) / nf).collect();
        let v01: Vec<f64> = all_neg
            .iter()
            .zip(&ty)
            .map(|(z, t)| 1.0 - (z - t) / mf)
            .collect();
        (auc, v10, v01)
    };
    let (auc_a, v10_a, v01_a) = components(a);
    let (auc_b, v10_b, v01_b) = components(b);
    let cov = |x: &[f64], z: &[f64]| {
        let len = x.len() as f64;
        if x.len() < 2 {
            return 0.0;
        }
        let (mx, mz) = (x.iter().sum::<f64>() / len, z.iter().sum::<f64>() / len);
        x.iter()
            .zip(z)
            .map(|(p, q)| (p - mx) * (q - mz))
            .sum::<f64>()
            / (len - 1.0)
    };
    let s = |i: &[f64], j: &[f64], k: &[f64], l: &[f64]| cov(i, j) / mf + cov(k, l) / nf;
    let s_ab = s(&v10_a, &v10_b, &v01_a, &v01_b);
    let matrix = [
        [s(&v10_a, &v10_a, &v01_a, &v01_a), s_ab],
        [s_ab, s(&v10_b, &v10_b, &v01_b, &v01_b)],
    ];
    (auc_a, auc_b, matrix)
}

/// The complementary error function to near double precision: a positive-term series of erf
/// for x < 2 (no cancellation), Lentz's continued fraction of erfc beyond.
pub fn erfc(x: f64) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    if x < 0.0 {
        return 2.0 - erfc(-x);
    }
    if x < 2.0 {
        // erf(x) = 2/sqrt(pi) e^{-x^2} sum_k 2^k x^{2k+1} / (1·3·...·(2k+1))
        let x2 = x * x;
        let mut term = x;
        let mut sum = x;
        let mut k = 0.0;
        while term > sum * 1e-17 {
            k += 1.0;
            term *= 2.0 * x2 / (2.0 * k + 1.0);
            sum += term;
        }
        return 1.0 - 2.0 / std::f64::consts::PI.sqrt() * (-x2).exp() * sum;
    }
    // erfc(x) = e^{-x^2}/sqrt(pi) · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + 2/(x + ...))))),
    // evaluated by the modified Lentz method.
    let tiny = 1e-300;
    let mut f = x;
    let mut c = x;
    let mut d = 0.0;
    for k in 1..500 {
        let a = k as f64 / 2.0;
        d = x + a * d;
        d = if d == 0.0 { tiny } else { d };
        c = x + a / c;
        c = if c == 0.0 { tiny } else { c };
        d = 1.0 / d;
        let delta = c * d;
        f *= delta;
        if (delta - 1.0).abs() < 1e-16 {
            break;
        }
    }
    (-x * x).exp() / (std::f64::consts::PI.sqrt() * f)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, rel: f64) -> bool {
        (a - b).abs() <= rel * b.abs().max(1e-300)
    }

    /// Values of scipy.special.erfc.
    #[test]
    fn erfc_matches_scipy() {
        for (x, want) in [
            (0.0, 1.0),
            (0.5, 0.4795001221869535),
            (1.0, 0.15729920705028516),
            (
                1.959963984540054 / std::f64::consts::SQRT_2,
                0.050000000000000024,
            ),
            (2.9, 4.109787809945884e-05),
            (3.0, 2.2090496998585445e-05),
            (4.5, 1.9661604415428878e-10),
            (8.0, 1.1224297172982928e-29),
            (-1.0, 1.8427007929497148),
        ] {
            let got = erfc(x);
            assert!(close(got, want, 1e-13), "erfc({x}) = {got}, scipy {want}");
        }
    }

    #[test]
    fn midranks_average_ties() {
        assert_eq!(
            midranks(&[0.3, 0.1, 0.3, 0.2, 0.3]),
            vec![4.0, 1.0, 4.0, 2.0, 4.0]
        );
    }

    /// A small case worked by hand: with 2 buyers and 2 non-buyers, model a ranks every buyer
    /// first (AUC 1), model b gets one pair of four wrong (AUC 0.75).
    #[test]
    fn delong_by_hand() {
        let a = [0.9, 0.8, 0.2, 0.1];
        let b = [0.9, 0.3, 0.5, 0.1];
        let y = [true, true, false, false];
        let (auc_a, auc_b, s) = delong_covariance(&a, &b, &y);
        assert_eq!((auc_a, auc_b), (1.0, 0.75));
        // a: v10 = [1, 1], v01 = [1, 1]: no variance. b: v10 = [1, 0.5], v01 = [0.5, 1].
        assert_eq!(s[0][0], 0.0);
        assert_eq!(s[0][1], 0.0);
        assert!(close(s[1][1], 0.125 / 2.0 + 0.125 / 2.0, 1e-15), "{s:?}");
    }

    /// The same 12 rows as tests/training/test_compare.py's fixed case; expected figures from
    /// the numpy/scipy reference implementation there.
    #[test]
    fn compare_matches_the_python_reference() {
        let a = [
            0.91, 0.85, 0.4, 0.77, 0.3, 0.62, 0.12, 0.55, 0.4, 0.08, 0.66, 0.21,
        ];
        let b = [
            0.7, 0.9, 0.35, 0.6, 0.45, 0.4, 0.2, 0.61, 0.33, 0.15, 0.5, 0.4,
        ];
        let y = [1, 1, 0, 1, 0, 1, 0, 0, 1, 0, 1, 0];
        let mut c = Comparison::default();
        for i in 0..12 {
            c.add(a[i], b[i], y[i] == 1);
        }
        let r = c.finish(0.5, 0.45, Some((40.0, 1.5))).unwrap();
        assert!(close(r.a.auc, 0.9583333333333334, 1e-14), "{r:?}");
        assert!(close(r.b.auc, 0.763888888888889, 1e-14), "{r:?}");
        assert!(close(r.a.log_loss, 0.3700818273145621, 1e-14), "{r:?}");
        assert!(close(r.b.log_loss, 0.5464731818002296, 1e-14), "{r:?}");
        assert_eq!((r.a.contacts, r.a.buyers), (6, 5));
        assert_eq!(r.a.profit, Some(40.0 * 5.0 - 1.5 * 6.0));
        assert_eq!((r.b.contacts, r.b.buyers), (5, 4));
        assert_eq!((r.both_1, r.both_0, r.only_a, r.only_b), (5, 6, 1, 0));
        let d = &r.delong;
        assert!(close(d.std_error, 0.11249142628509215, 1e-12), "{d:?}");
        assert!(close(d.z.unwrap(), 1.7285267941367817, 1e-12), "{d:?}");
        assert!(
            close(d.p_value.unwrap(), 0.08389382152178348, 1e-12),
            "{d:?}"
        );
    }

    #[test]
    fn identical_models_have_no_test_and_one_class_is_refused() {
        let mut c = Comparison::default();
        for (p, y) in [(0.2, false), (0.7, true), (0.4, false), (0.9, true)] {
            c.add(p, p, y);
        }
        let r = c.finish(0.5, 0.5, None).unwrap();
        assert_eq!(r.delong.z, None);
        assert_eq!(r.delong.p_value, None);
        assert_eq!(r.a.profit, None);
        assert_eq!(r.only_a + r.only_b, 0);
        let mut c = Comparison::default();
        c.add(0.2, 0.3, true);
        let e = c.clone().finish(0.5, 0.5, None).unwrap_err();
        assert!(
            e.to_string().contains("needs both buyers and non-buyers"),
            "{e}"
        );
        let e = c.finish(0.5, 0.5, Some((0.0, 1.0))).unwrap_err();
        assert!(e.to_string().contains("value_per_purchase"), "{e}");
    }
}
