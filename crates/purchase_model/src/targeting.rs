//! Whom to contact, by money: the threshold on p_hat that maximises
//! `value × buyers reached − cost × contacts` over labelled rows, where a row is contacted when
//! `p_hat > threshold`, over every threshold in [0, 1] (so a p_hat of exactly 0 is never contacted). Rows with equal p_hat fall on the same side of any threshold, so the
//! search runs over the groups of equal scores: one sort, one pass (O(n log n) time, 16 bytes
//! per row).

use crate::error::{PipelineError, Result};
use serde_json::{json, Value};

/// Labelled scores, gathered one row at a time.
#[derive(Debug, Default, Clone)]
pub struct ProfitSearch {
    rows: Vec<(f64, bool)>,
}

/// One point of the profit curve: contacting every row with `p_hat > threshold`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProfitPoint {
    pub threshold: f64,
    pub contacts: u64,
    pub buyers: u64,
    pub profit: f64,
}

/// The most profitable cut-off and what it is compared with.
#[derive(Debug, Clone, PartialEq)]
pub struct ProfitOptimum {
    pub best: ProfitPoint,
    pub at_model_threshold: ProfitPoint,
    pub break_even_p: f64,
    pub rows: u64,
    pub buyers: u64,
    /// `CURVE_POINTS` points at thresholds 0, 0.01, ..., 0.99.
    pub curve: Vec<ProfitPoint>,
}

/// Points of the chart curve (thresholds 0.00 to 0.99 in steps of 0.01).
pub const CURVE_POINTS: usize = 100;

impl ProfitSearch {
    pub fn with_capacity(n: usize) -> Self {
        ProfitSearch {
            rows: Vec::with_capacity(n),
        }
    }

    pub fn add(&mut self, p_hat: f64, bought: bool) {
        self.rows.push((p_hat, bought));
    }

    /// The profit-maximising threshold for `value` per purchase and `cost` per contact. Among
    /// cut-offs of equal profit the one with fewer contacts wins (the higher threshold), so
    /// the answer does not depend on the order the rows came in.
    pub fn optimize(
        mut self,
        value: f64,
        cost: f64,
        model_threshold: f64,
    ) -> Result<ProfitOptimum> {
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
        let rows = self.rows.len() as u64;
        let buyers = self.rows.iter().filter(|r| r.1).count() as u64;
        if rows == 0 {
            return Err(PipelineError::InvalidArgument {
                argument: "source".into(),
                problem: "has no row with a known outcome".into(),
            });
        }
        if buyers == 0 || buyers == rows {
            return Err(PipelineError::InvalidArgument {
                argument: "target_column".into(),
                problem: format!(
                    "has one class only ({} of {rows} rows bought): the threshold cannot be chosen",
                    buyers
                ),
            });
        }
        // Highest score first; equal scores are one group, so their order does not matter.
        self.rows.sort_unstable_by(|a, b| b.0.total_cmp(&a.0));
        let profit = |contacts: u64, reached: u64| value * reached as f64 - cost * contacts as f64;

        // Contacting nobody: p_hat > the highest score.
        let mut best = ProfitPoint {
            threshold: self.rows[0].0,
            contacts: 0,
            buyers: 0,
            profit: 0.0,
        };
        let (mut contacts, mut reached) = (0u64, 0u64);
        let mut i = 0;
        while i < self.rows.len() {
            let score = self.rows[i].0;
            while i < self.rows.len() && self.rows[i].0 == score {
                contacts += 1;
                reached += u64::from(self.rows[i].1);
                i += 1;
            }
            let candidate = profit(contacts, reached);
            // Thresholds are probabilities: no threshold in [0, 1] contacts a score of 0.
            let expressible = score > 0.0;
            if expressible && candidate > best.profit {
                let lower = self.rows.get(i).map(|r| r.0);
                best = ProfitPoint {
                    threshold: cut_below(score, lower),
                    contacts,
                    buyers: reached,
                    profit: candidate,
                };
            }
        }

        let at = |t: f64| {
            // Rows are sorted by descending score: those above t form a prefix.
            let n = self.rows.partition_point(|r| r.0 > t);
            let reached = self.rows[..n].iter().filter(|r| r.1).count() as u64;
            ProfitPoint {
                threshold: t,
                contacts: n as u64,
                buyers: reached,
                profit: profit(n as u64, reached),
            }
        };
        let curve = (0..CURVE_POINTS)
            .map(|k| at(k as f64 / CURVE_POINTS as f64))
            .collect();
        Ok(ProfitOptimum {
            best,
            at_model_threshold: at(model_threshold),
            break_even_p: cost / value,
            rows,
            buyers,
            curve,
        })
    }
}

/// A threshold that contacts every row scored `score` and none scored `lower` (the next lower
/// distinct score, if any): their midpoint when it lies strictly between them, else `lower`
/// itself (adjacent floats); `score / 2` below the lowest score.
fn cut_below(score: f64, lower: Option<f64>) -> f64 {
    match lower {
        Some(lower) => {
            let mid = lower + (score - lower) / 2.0;
            if mid > lower && mid < score {
                mid
            } else {
                lower
            }
        }
        None => score / 2.0,
    }
}

impl ProfitPoint {
    pub fn precision(&self) -> Option<f64> {
        (self.contacts > 0).then(|| self.buyers as f64 / self.contacts as f64)
    }

    fn to_json(self) -> Value {
        json!({
            "threshold": self.threshold,
            "contacts": self.contacts,
            "buyers": self.buyers,
            "profit": self.profit,
        })
    }
}

impl ProfitOptimum {
    /// The answer of `optimize_purchase_threshold` (the caller adds model and row counts).
    pub fn to_json(&self) -> Value {
        json!({
            "threshold": self.best.threshold,
            "profit": self.best.profit,
            "contacts": self.best.contacts,
            "buyers_reached": self.best.buyers,
            "precision": self.best.precision(),
            "profit_at_model_threshold": self.at_model_threshold.profit,
            "contacts_at_model_threshold": self.at_model_threshold.contacts,
            "break_even_p": self.break_even_p,
            "rows": self.rows,
            "buyers": self.buyers,
            "curve": self.curve.iter().map(|p| p.to_json()).collect::<Vec<_>>(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Every cut-off tried by brute force: the best profit over thresholds at the distinct
    /// scores and at 0 (thresholds are probabilities).
    fn brute_force(rows: &[(f64, bool)], value: f64, cost: f64) -> f64 {
        let mut cuts: Vec<f64> = rows.iter().map(|r| r.0).collect();
        cuts.push(0.0);
        cuts.iter()
            .map(|&t| {
                let contacted = rows.iter().filter(|r| r.0 > t);
                let (n, b) = contacted.fold((0u64, 0u64), |(n, b), r| (n + 1, b + u64::from(r.1)));
                value * b as f64 - cost * n as f64
            })
            .fold(0.0, f64::max)
    }

    fn search(rows: &[(f64, bool)]) -> ProfitSearch {
        let mut s = ProfitSearch::default();
        for &(p, y) in rows {
            s.add(p, y);
        }
        s
    }

    fn realised(rows: &[(f64, bool)], t: f64, value: f64, cost: f64) -> (u64, u64, f64) {
        let (n, b) = rows
            .iter()
            .filter(|r| r.0 > t)
            .fold((0u64, 0u64), |(n, b), r| (n + 1, b + u64::from(r.1)));
        (n, b, value * b as f64 - cost * n as f64)
    }

    #[test]
    fn picks_the_profitable_group() {
        let rows = [
            (0.9, true),
            (0.8, true),
            (0.8, false),
            (0.3, false),
            (0.1, false),
        ];
        let best = search(&rows).optimize(10.0, 3.0, 0.75).unwrap();
        // Top 3: 2 buyers x 10 - 3 x 3 = 11; top 1: 7; top 4: 8.
        assert_eq!(
            (best.best.contacts, best.best.buyers, best.best.profit),
            (3, 2, 11.0)
        );
        assert!(best.best.threshold > 0.3 && best.best.threshold < 0.8);
        assert_eq!(best.at_model_threshold.profit, 11.0);
        assert_eq!(best.break_even_p, 0.3);
        assert_eq!(best.curve.len(), CURVE_POINTS);
        assert_eq!(best.curve[0].contacts, 5);
    }

    #[test]
    fn ties_move_together_and_nobody_is_an_answer() {
        // Every score equal: contact all (profit 10 - 12 < 0) or nobody.
        let rows = [(0.5, true), (0.5, false), (0.5, false), (0.5, false)];
        let best = search(&rows).optimize(10.0, 3.0, 0.75).unwrap();
        assert_eq!((best.best.contacts, best.best.profit), (0, 0.0));
        assert_eq!(realised(&rows, best.best.threshold, 10.0, 3.0).0, 0);
        let all = search(&rows).optimize(10.0, 2.0, 0.75).unwrap();
        assert_eq!((all.best.contacts, all.best.profit), (4, 2.0));
        assert!(all.best.threshold < 0.5);
    }

    #[test]
    fn adjacent_floats_still_separate() {
        let hi = 0.5f64;
        let lo = f64::from_bits(hi.to_bits() - 1);
        let rows = [(hi, true), (lo, false)];
        let best = search(&rows).optimize(10.0, 1.0, 0.75).unwrap();
        assert_eq!(best.best.contacts, 1);
        assert_eq!(realised(&rows, best.best.threshold, 10.0, 1.0), (1, 1, 9.0));
    }

    #[test]
    fn bad_arguments_are_named() {
        let rows = [(0.9, true), (0.1, false)];
        for (v, c, arg) in [
            (0.0, 1.0, "value_per_purchase"),
            (f64::NAN, 1.0, "value_per_purchase"),
            (1.0, -1.0, "cost_per_contact"),
            (1.0, f64::INFINITY, "cost_per_contact"),
        ] {
            let e = search(&rows).optimize(v, c, 0.5).unwrap_err().to_string();
            assert!(e.contains(arg), "{e}");
        }
        let e = search(&[]).optimize(1.0, 1.0, 0.5).unwrap_err().to_string();
        assert!(e.contains("no row"), "{e}");
        let e = search(&[(0.2, true), (0.4, true)])
            .optimize(1.0, 1.0, 0.5)
            .unwrap_err()
            .to_string();
        assert!(e.contains("one class"), "{e}");
    }

    proptest! {
        /// The optimum equals a brute force over every cut-off, the reported threshold earns
        /// exactly the reported profit, and the answer does not depend on row order.
        #[test]
        fn equals_brute_force(
            rows in prop::collection::vec((0u8..20, any::<bool>()), 2..60),
            value in 0.5f64..50.0,
            cost in 0.0f64..20.0,
            seed in any::<u64>(),
        ) {
            let rows: Vec<(f64, bool)> = rows.into_iter().map(|(p, y)| (f64::from(p) / 19.0, y)).collect();
            let classes = rows.iter().filter(|r| r.1).count();
            prop_assume!(classes > 0 && classes < rows.len());
            let best = search(&rows).optimize(value, cost, 0.75).unwrap();
            prop_assert_eq!(best.best.profit, brute_force(&rows, value, cost));
            let (n, b, p) = realised(&rows, best.best.threshold, value, cost);
            prop_assert_eq!((n, b, p), (best.best.contacts, best.best.buyers, best.best.profit));
            let mut shuffled = rows.clone();
            let k = (seed as usize) % shuffled.len();
            shuffled.rotate_left(k);
            shuffled.reverse();
            prop_assert_eq!(search(&shuffled).optimize(value, cost, 0.75).unwrap(), best);
        }
    }
}
