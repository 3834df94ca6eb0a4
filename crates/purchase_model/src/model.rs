//! The compiled model: the artifact reduced to what scoring needs, laid out so that one row
//! is scored with no allocation: per input column, clean -> impute -> scale (numbers) or
//! vocabulary lookup (categories), then a weighted sum and the logistic function.

use super::artifact::{Artifact, InputKind, MissingCategory, Output};
use super::calibration::{Calibration, Response};
use super::clean::{clean_number, is_blank};
use super::error::{PipelineError, Result};
use super::interrupt::check_interrupts;
use super::trees::artifact::TreeArtifact;
use super::trees::{Ensemble, Library};
use super::vocabulary::Vocabulary;
use std::collections::{HashMap, HashSet};

/// One raw cell as the caller found it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RawValue<'a> {
    Missing,
    Number(f64),
    Text(&'a str),
}

/// One input after cleaning and imputing (numbers) or vocabulary lookup (categories).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Prepared {
    /// The cleaned number, or the training mean when it was missing. Scaling is applied where
    /// it is used: folded into the coefficient for scoring, explicitly for `feature_values`.
    Imputed(f64),
    /// Index into the input's vocabulary.
    Level(usize),
    /// A missing category (NULL or empty text).
    MissingLevel,
    /// A category never seen in training: every indicator of the column is 0.
    UnseenLevel,
}

#[derive(Debug, Clone)]
enum InputRule {
    Numeric {
        /// None: the pipeline has no imputer for the column, so missing is an error.
        impute: Option<f64>,
        scale_mean: f64,
        scale: f64,
        /// The feature's coefficient divided by the scale: scoring multiplies once per row
        /// instead of dividing (differs from scikit-learn's rounding by at most an ulp).
        coef_over_scale: f64,
    },
    Category {
        levels: Vocabulary,
        level_coefs: Vec<f64>,
        missing_coef: f64,
        missing: MissingCategory,
        unknown_is_error: bool,
    },
    /// A tree model's number: cleaned, imputed when the pipeline had an imputer, else NaN
    /// when missing (the trees route missing values themselves).
    TreeNumber { impute: Option<f64> },
    /// A tree model's category: level i is code i; missing, and unseen unless that is an
    /// error, are NaN.
    TreeCategory {
        levels: Vocabulary,
        unknown_is_error: bool,
    },
}

/// A raw column the model reads.
#[derive(Debug, Clone)]
pub struct ModelInput {
    pub column: String,
    pub kind: InputKind,
    rule: InputRule,
}

#[derive(Debug, Clone, Copy)]
enum Term {
    Value,
    Level(usize),
    Missing,
}

#[derive(Debug, Clone)]
pub struct Feature {
    pub name: String,
    pub coef: f64,
    input: usize,
    term: Term,
}

#[derive(Debug, Clone)]
pub struct CompiledModel {
    pub scorer: Scorer,
    pub inputs: Vec<ModelInput>,
    /// Every raw column the artifact lists among its inputs (read by the model or not), in
    /// artifact order: the keys a strict JSON row may carry.
    pub raw_columns: Vec<String>,
    pub features: Vec<Feature>,
    pub intercept: f64,
    pub threshold: f64,
    pub sha256: String,
    /// The probability calibration, applied to the model's response on every path: p_hat is
    /// the calibrated probability (`crate::calibration`).
    pub calibration: Option<Calibration>,
}

/// What turns the prepared inputs into p_hat.
#[derive(Debug, Clone)]
pub enum Scorer {
    /// The intercept plus each input's contribution, then the logistic function.
    Logistic,
    /// A tree ensemble over the prepared inputs (one value per input, in input order).
    Trees(Box<Ensemble>),
}

/// Inputs a tree model reads without a heap buffer per row.
const STACK_INPUTS: usize = 64;

/// p_hat and the business decision for one row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Score {
    pub p_hat: f64,
    pub business_outcome: i32,
}

impl CompiledModel {
    /// Resolves every feature to an input column and keeps only the inputs that features use.
    /// Linear in the artifact's size (hash maps, no scans) and cancellable.
    pub fn compile(artifact: &Artifact) -> Result<CompiledModel> {
        // Every output name the pipeline can produce, mapped to (input index, term).
        let mut available: HashMap<&str, (usize, Term)> = HashMap::new();
        for (i, input) in artifact.inputs.iter().enumerate() {
            check_interrupts();
            for (name, output) in &input.outputs {
                let term = match *output {
                    Output::Value => Term::Value,
                    Output::Level(l) => Term::Level(l),
                    Output::Missing => Term::Missing,
                };
                if available.insert(name, (i, term)).is_some() {
                    return Err(PipelineError::artifact(
                        format!("inputs[{i}]"),
                        format!(
                            "produces the feature name \"{name}\", which another output has too"
                        ),
                    ));
                }
            }
        }

        // artifact input index -> position in `used`, in first-use order
        let mut position: HashMap<usize, usize> = HashMap::new();
        let mut used: Vec<usize> = Vec::new();
        let mut seen: HashSet<&str> = HashSet::with_capacity(artifact.features.len());
        let mut features = Vec::with_capacity(artifact.features.len());
        for (f, (name, &coef)) in artifact
            .features
            .iter()
            .zip(&artifact.coefficients)
            .enumerate()
        {
            if f % 4096 == 0 {
                check_interrupts();
            }
            let &(src, term) = available.get(name.as_str()).ok_or_else(|| {
                PipelineError::artifact(
                    format!("model.features[{f}]"),
                    format!("is \"{name}\", which no input column produces"),
                )
            })?;
            if !seen.insert(name) {
                return Err(PipelineError::artifact(
                    format!("model.features[{f}]"),
                    format!("repeats \"{name}\""),
                ));
            }
            let input = *position.entry(src).or_insert_with(|| {
                used.push(src);
                used.len() - 1
            });
            features.push(Feature {
                name: name.clone(),
                coef,
                input,
                term,
            });
        }

        // Each used input's features, grouped once (not a scan of all features per input).
        let mut by_input: Vec<Vec<usize>> = vec![Vec::new(); used.len()];
        for (f, feature) in features.iter().enumerate() {
            by_input[feature.input].push(f);
        }
        let mut inputs = Vec::with_capacity(used.len());
        for (pos, &src) in used.iter().enumerate() {
            check_interrupts();
            let a = &artifact.inputs[src];
            let mine = by_input[pos].iter().map(|&f| &features[f]);
            let rule = match (&a.numeric, &a.encoding) {
                (Some(s), _) => {
                    let coef: f64 = mine.map(|f| f.coef).sum();
                    // Scoring folds 1/scale into the coefficient: a scale so small that the
                    // quotient overflows would turn the mean itself into 0 * inf = NaN.
                    if !(coef / s.scale).is_finite() {
                        return Err(PipelineError::artifact(
                            format!("scaler.scale (column \"{}\")", a.column),
                            format!(
                                "is {:e}, too small for its coefficient {:e}: their quotient overflows",
                                s.scale, coef
                            ),
                        ));
                    }
                    InputRule::Numeric {
                        impute: s.impute,
                        scale_mean: s.scale_mean,
                        scale: s.scale,
                        coef_over_scale: coef / s.scale,
                    }
                }
                (None, Some(enc)) => {
                    let mut level_coefs = vec![0.0; enc.levels.len()];
                    let mut missing_coef = 0.0;
                    for f in mine {
                        match f.term {
                            Term::Level(l) => level_coefs[l] += f.coef,
                            Term::Missing => missing_coef += f.coef,
                            Term::Value => {}
                        }
                    }
                    InputRule::Category {
                        levels: Vocabulary::new(enc.levels.clone()),
                        level_coefs,
                        missing_coef,
                        missing: enc.missing,
                        unknown_is_error: enc.unknown_is_error,
                    }
                }
                (None, None) => {
                    return Err(PipelineError::artifact(
                        format!("inputs[{src}]"),
                        "has neither numeric statistics nor an encoding",
                    ))
                }
            };
            inputs.push(ModelInput {
                column: a.column.clone(),
                kind: a.kind,
                rule,
            });
        }

        Ok(CompiledModel {
            scorer: Scorer::Logistic,
            inputs,
            raw_columns: artifact
                .inputs
                .iter()
                .map(|i| i.column.clone())
                .chain(artifact.other_columns.iter().cloned())
                .collect(),
            features,
            intercept: artifact.intercept,
            threshold: artifact.threshold,
            sha256: artifact.sha256.clone(),
            calibration: checked_response(
                artifact.calibration.clone(),
                Response::DecisionFunction,
                "a logistic model",
            )?,
        })
    }

    /// Cleans and imputes (numbers) or looks up (categories) input `i`.
    ///
    /// A finite number or a missing value of a numeric input and a known category level, the
    /// common cases, are answered inline; everything else (money and percent text, tree
    /// categories, blanks, unseen levels, errors) by [`CompiledModel::prepare_other`], kept
    /// out of line so that this stays small enough to inline into the scoring loops (the
    /// result then never round-trips through memory). The two agree on every value (property
    /// test `inline_prepare_is_prepare_other`).
    #[inline(always)]
    pub fn prepare(&self, i: usize, raw: RawValue<'_>) -> Result<Prepared> {
        match (&self.inputs[i].rule, raw) {
            (InputRule::Numeric { .. } | InputRule::TreeNumber { .. }, RawValue::Number(v))
                if v.is_finite() =>
            {
                return Ok(Prepared::Imputed(v))
            }
            (
                InputRule::Numeric {
                    impute: Some(mean), ..
                },
                RawValue::Missing,
            ) => return Ok(Prepared::Imputed(*mean)),
            (InputRule::TreeNumber { impute }, RawValue::Missing) => {
                return Ok(Prepared::Imputed(impute.unwrap_or(f64::NAN)))
            }
            // A known level of a category (blank text is never a level: see prepare_other).
            (InputRule::Category { levels, .. }, RawValue::Text(t)) if !is_blank(t) => {
                if let Some(l) = levels.find(t) {
                    return Ok(Prepared::Level(l));
                }
            }
            _ => {}
        }
        self.prepare_other(i, raw)
    }

    /// [`CompiledModel::prepare`] for every case it does not answer inline.
    #[inline(never)]
    pub(crate) fn prepare_other(&self, i: usize, raw: RawValue<'_>) -> Result<Prepared> {
        let input = &self.inputs[i];
        match &input.rule {
            InputRule::Numeric { impute, .. } => match number(&input.column, raw)?.or(*impute) {
                Some(x) => Ok(Prepared::Imputed(x)),
                None => Err(PipelineError::MissingValue {
                    column: input.column.clone(),
                }),
            },
            InputRule::TreeNumber { impute } => Ok(Prepared::Imputed(
                number(&input.column, raw)?.or(*impute).unwrap_or(f64::NAN),
            )),
            InputRule::TreeCategory {
                levels,
                unknown_is_error,
            } => {
                let found = |text: &str| match levels.find(text) {
                    Some(l) => Ok(Prepared::Imputed(l as f64)),
                    None if *unknown_is_error => Err(PipelineError::UnknownCategory {
                        column: input.column.clone(),
                        value: text.to_string(),
                    }),
                    None => Ok(Prepared::Imputed(f64::NAN)),
                };
                match raw {
                    RawValue::Missing => Ok(Prepared::Imputed(f64::NAN)),
                    RawValue::Text(t) if is_blank(t) => Ok(Prepared::Imputed(f64::NAN)),
                    RawValue::Text(t) => found(t),
                    RawValue::Number(v) => found(&v.to_string()),
                }
            }
            InputRule::Category { levels, .. } => match raw {
                // A float NaN is missing here too (pandas' missing cell), not the level "NaN".
                RawValue::Missing => input.missing_category(),
                RawValue::Number(v) if v.is_nan() => input.missing_category(),
                // Blank text is a missing category (the cleaning rule's blanks).
                RawValue::Text(t) if is_blank(t) => input.missing_category(),
                RawValue::Text(t) => match levels.find(t) {
                    Some(l) => Ok(Prepared::Level(l)),
                    None => input.unseen_category(t),
                },
                // A number (a JSON number, a float column) is compared by its text form, as an
                // integer column's value is: 3 and 3.0 are "3", 0.5 is "0.5".
                RawValue::Number(v) => {
                    let text = v.to_string();
                    match levels.find(&text) {
                        Some(l) => Ok(Prepared::Level(l)),
                        None => input.unseen_category(&text),
                    }
                }
            },
        }
    }

    /// The input's share of the linear predictor.
    #[inline]
    pub fn contribution(&self, i: usize, p: Prepared) -> f64 {
        match (&self.inputs[i].rule, p) {
            (
                InputRule::Numeric {
                    scale_mean,
                    coef_over_scale,
                    ..
                },
                Prepared::Imputed(x),
            ) => (x - scale_mean) * coef_over_scale,
            (InputRule::Category { level_coefs, .. }, Prepared::Level(l)) => level_coefs[l],
            (InputRule::Category { missing_coef, .. }, Prepared::MissingLevel) => *missing_coef,
            _ => 0.0,
        }
    }

    /// Scores a row given a reader of raw input `i` (in `self.inputs` order).
    #[inline]
    pub fn score_with<'a, F>(&self, mut raw: F) -> Result<Score>
    where
        F: FnMut(usize) -> Result<RawValue<'a>>,
    {
        if let Scorer::Trees(trees) = &self.scorer {
            return self.score_trees(trees, |i| {
                Ok(match self.prepare(i, raw(i)?)? {
                    Prepared::Imputed(x) => x,
                    _ => f64::NAN,
                })
            });
        }
        let mut z = self.intercept;
        for i in 0..self.inputs.len() {
            z += self.contribution(i, self.prepare(i, raw(i)?)?);
        }
        if !z.is_finite() {
            return Err(self.overflow(&mut raw));
        }
        Ok(self.score_from_logit(z))
    }

    /// The error for a row whose linear predictor is not finite (a huge but finite input, e.g.
    /// `1e308`, scaled past f64's range): it names the column whose share overflowed, or the
    /// one with the largest share when only their sum did. Never a NaN or a silent 0/1.
    fn overflow<'a, F>(&self, raw: &mut F) -> PipelineError
    where
        F: FnMut(usize) -> Result<RawValue<'a>>,
    {
        let mut worst: Option<(usize, f64)> = None;
        for i in 0..self.inputs.len() {
            let Ok(value) = raw(i) else { continue };
            let Ok(prepared) = self.prepare(i, value) else {
                continue;
            };
            let share = self.contribution(i, prepared).abs();
            // NaN (inf - inf) counts as the largest share.
            if worst.is_none_or(|(_, w)| share.is_nan() || share > w) {
                worst = Some((i, share));
            }
        }
        let (i, share) = worst.unwrap_or((0, f64::NAN));
        let column = self.inputs.get(i).map_or("?", |x| x.column.as_str());
        let value = match raw(i) {
            Ok(RawValue::Text(t)) => t.to_string(),
            Ok(RawValue::Number(v)) => number_text(v),
            _ => String::new(),
        };
        PipelineError::OutOfRange {
            column: column.to_string(),
            value,
            problem: if share.is_finite() {
                "the model's linear predictor overflows for this row".into()
            } else {
                "its scaled model input overflows".into()
            },
        }
    }

    /// A tree model's raw score: the prepared inputs into a feature vector (on the stack for
    /// up to `STACK_INPUTS` inputs), then the ensemble.
    #[inline]
    fn tree_raw<F>(&self, trees: &Ensemble, mut value: F) -> Result<f64>
    where
        F: FnMut(usize) -> Result<f64>,
    {
        let n = self.inputs.len();
        let mut stack = [0.0f64; STACK_INPUTS];
        let mut heap = Vec::new();
        let x: &mut [f64] = if n <= STACK_INPUTS {
            &mut stack[..n]
        } else {
            heap.resize(n, 0.0);
            &mut heap
        };
        for (i, slot) in x.iter_mut().enumerate() {
            *slot = value(i)?;
        }
        Ok(trees.raw_score(x))
    }

    /// A tree model's score: its probability, or the calibrated probability of its response.
    #[inline]
    fn score_trees<F>(&self, trees: &Ensemble, value: F) -> Result<Score>
    where
        F: FnMut(usize) -> Result<f64>,
    {
        let raw = self.tree_raw(trees, value)?;
        let p = trees.probability(raw);
        let p_hat = match &self.calibration {
            None => p,
            Some(c) => c.apply(match c.response {
                Response::DecisionFunction => raw,
                Response::PredictProba => p,
            }),
        };
        Ok(Score {
            p_hat,
            business_outcome: i32::from(p_hat > self.threshold),
        })
    }

    /// What scikit-learn's `CalibratedClassifierCV` reads from this model: the decision
    /// function (a logistic model's logit, HistGradientBoosting's and LightGBM's raw score:
    /// `LGBMClassifier.decision_function`, LightGBM >= 4.7.0, the pinned version) where the
    /// classifier has one, else the probability (XGBoost).
    pub fn calibration_response(&self) -> Response {
        match &self.scorer {
            Scorer::Logistic => Response::DecisionFunction,
            Scorer::Trees(t) if t.library == Library::XgBoost => Response::PredictProba,
            Scorer::Trees(_) => Response::DecisionFunction,
        }
    }

    /// A row's uncalibrated response (`calibration_response`), what a calibration is fitted
    /// on, given a reader of raw input `i`.
    pub fn response_with<'a, F>(&self, mut raw: F) -> Result<f64>
    where
        F: FnMut(usize) -> Result<RawValue<'a>>,
    {
        if let Scorer::Trees(trees) = &self.scorer {
            let r = self.tree_raw(trees, |i| {
                Ok(match self.prepare(i, raw(i)?)? {
                    Prepared::Imputed(x) => x,
                    _ => f64::NAN,
                })
            })?;
            return Ok(match self.calibration_response() {
                Response::DecisionFunction => r,
                Response::PredictProba => trees.probability(r),
            });
        }
        let mut z = self.intercept;
        for i in 0..self.inputs.len() {
            z += self.contribution(i, self.prepare(i, raw(i)?)?);
        }
        if !z.is_finite() {
            return Err(self.overflow(&mut raw));
        }
        Ok(z)
    }

    /// The score of a row already prepared: the same arithmetic as `score_with`, to the bit.
    pub fn score_prepared(&self, prepared: &[Prepared]) -> Result<Score> {
        if let Scorer::Trees(trees) = &self.scorer {
            return self.score_trees(trees, |i| {
                Ok(match prepared[i] {
                    Prepared::Imputed(x) => x,
                    _ => f64::NAN,
                })
            });
        }
        let z = prepared
            .iter()
            .enumerate()
            .fold(self.intercept, |z, (i, p)| z + self.contribution(i, *p));
        if !z.is_finite() {
            let mut raw = |i: usize| {
                Ok(match prepared[i] {
                    Prepared::Imputed(x) => RawValue::Number(x),
                    _ => RawValue::Missing,
                })
            };
            return Err(self.overflow(&mut raw));
        }
        Ok(self.score_from_logit(z))
    }

    #[inline]
    pub fn score_from_logit(&self, z: f64) -> Score {
        // A logistic model's calibration reads its decision function, the logit.
        let p_hat = match &self.calibration {
            None => logistic(z),
            Some(c) => c.apply(z),
        };
        Score {
            p_hat,
            business_outcome: i32::from(p_hat > self.threshold),
        }
    }

    /// The model inputs after the pipeline, in feature order, given prepared inputs. A scaled
    /// input that overflows is an error naming its column, never an infinity or a JSON null.
    pub fn feature_values(&self, prepared: &[Prepared]) -> Result<Vec<(&str, f64)>> {
        let values: Vec<(&str, f64)> = self
            .features
            .iter()
            .map(|f| {
                let v = match (f.term, prepared[f.input], &self.inputs[f.input].rule) {
                    // What StandardScaler.transform gives: (x - mean) / scale.
                    (
                        Term::Value,
                        Prepared::Imputed(x),
                        InputRule::Numeric {
                            scale_mean, scale, ..
                        },
                    ) => (x - scale_mean) / scale,
                    // A tree model's input as the trees see it (NaN: missing, written as null).
                    (Term::Value, Prepared::Imputed(x), _) => x,
                    (Term::Level(l), Prepared::Level(got), _) => f64::from(u8::from(l == got)),
                    (Term::Missing, Prepared::MissingLevel, _) => 1.0,
                    _ => 0.0,
                };
                (f.name.as_str(), v)
            })
            .collect();
        if let Some(f) = self
            .features
            .iter()
            .zip(&values)
            .find(|(_, v)| v.1.is_infinite() || (v.1.is_nan() && !self.is_trees()))
        {
            let input = &self.inputs[f.0.input];
            let value = match prepared[f.0.input] {
                Prepared::Imputed(x) => number_text(x),
                _ => String::new(),
            };
            return Err(PipelineError::OutOfRange {
                column: input.column.clone(),
                value,
                problem: "its scaled model input overflows".into(),
            });
        }
        Ok(values)
    }

    /// The (mean, scale) numeric input `i` is standardized with; None for a category.
    pub fn input_scaling(&self, i: usize) -> Option<(f64, f64)> {
        match &self.inputs[i].rule {
            InputRule::Numeric {
                scale_mean, scale, ..
            } => Some((*scale_mean, *scale)),
            InputRule::TreeNumber { .. } => Some((0.0, 1.0)),
            InputRule::Category { .. } | InputRule::TreeCategory { .. } => None,
        }
    }

    /// The training vocabulary of category input `i`; None for a number.
    pub fn input_levels(&self, i: usize) -> Option<&[String]> {
        match &self.inputs[i].rule {
            InputRule::Category { levels, .. } | InputRule::TreeCategory { levels, .. } => {
                Some(levels.levels())
            }
            InputRule::Numeric { .. } | InputRule::TreeNumber { .. } => None,
        }
    }

    /// The position (in `inputs`) of the raw column feature `f` is computed from; for a tree
    /// model also the feature index the compiled ensemble reads.
    pub fn feature_input(&self, f: &Feature) -> usize {
        f.input
    }

    /// The raw column feature `f` is computed from.
    pub fn feature_column(&self, f: &Feature) -> &str {
        &self.inputs[f.input].column
    }

    /// The (mean, scale) a numeric feature is standardized with; None for an indicator.
    pub fn feature_scaling(&self, f: &Feature) -> Option<(f64, f64)> {
        match (f.term, &self.inputs[f.input].rule) {
            (
                Term::Value,
                InputRule::Numeric {
                    scale_mean, scale, ..
                },
            ) => Some((*scale_mean, *scale)),
            _ => None,
        }
    }

    /// Whether this is a tree model (no coefficients: explanations and weights refuse it).
    pub fn is_trees(&self) -> bool {
        matches!(self.scorer, Scorer::Trees(_))
    }

    /// The compiled ensemble of a tree model.
    pub fn ensemble(&self) -> Option<&Ensemble> {
        match &self.scorer {
            Scorer::Trees(t) => Some(t),
            Scorer::Logistic => None,
        }
    }

    /// Compiles a tree artifact: each model feature is one input's value (a number or a
    /// category code); inputs no tree reads are not read. The ensemble's feature indices are
    /// renumbered to input positions once, here.
    pub fn from_trees(artifact: TreeArtifact) -> Result<CompiledModel> {
        let mut by_name: HashMap<&str, usize> = HashMap::new();
        for (i, input) in artifact.inputs.iter().enumerate() {
            let name = input.outputs[0].0.as_str();
            if by_name.insert(name, i).is_some() {
                return Err(PipelineError::artifact(
                    format!("inputs[{i}].feature"),
                    format!("is \"{name}\", which another input produces too"),
                ));
            }
        }
        let mut inputs = Vec::new();
        let mut features = Vec::with_capacity(artifact.features.len());
        let mut position: HashMap<usize, usize> = HashMap::new();
        let mut map = Vec::with_capacity(artifact.features.len());
        // Only the features some split reads become inputs (the planner rewrite then fetches
        // only their columns); a model with no split at all keeps its first feature.
        let mut read = artifact.ensemble.used_features();
        if !read.contains(&true) {
            read[0] = true;
        }
        for (f, name) in artifact.features.iter().enumerate() {
            let &src = by_name.get(name.as_str()).ok_or_else(|| {
                PipelineError::artifact(
                    format!("model.features[{f}]"),
                    format!("is \"{name}\", which no input column produces"),
                )
            })?;
            if !read[f] {
                map.push(0); // no node reads it
                continue;
            }
            let pos = *position.entry(src).or_insert_with(|| {
                let a = &artifact.inputs[src];
                let rule = match &a.encoding {
                    Some(enc) => InputRule::TreeCategory {
                        levels: Vocabulary::new(enc.levels.clone()),
                        unknown_is_error: enc.unknown_is_error,
                    },
                    None => InputRule::TreeNumber {
                        impute: a.numeric.as_ref().and_then(|n| n.impute),
                    },
                };
                inputs.push(ModelInput {
                    column: a.column.clone(),
                    kind: a.kind,
                    rule,
                });
                inputs.len() - 1
            });
            map.push(pos);
            features.push(Feature {
                name: name.clone(),
                coef: 0.0,
                input: pos,
                term: Term::Value,
            });
        }
        let mut ensemble = artifact.ensemble;
        ensemble.remap_features(&map, inputs.len());
        // scikit-learn calibrates HistGradientBoosting's decision function (the raw score);
        // XGBoost's classifier has none, so its probability. LightGBM's has one since 4.7.0
        // (the raw margin) and had none before: its calibration reads either, as it says.
        let calibration = match ensemble.library {
            Library::Hgb => checked_response(
                artifact.calibration,
                Response::DecisionFunction,
                "a HistGradientBoosting model",
            )?,
            Library::LightGbm => artifact.calibration,
            _ => checked_response(
                artifact.calibration,
                Response::PredictProba,
                "an XGBoost model",
            )?,
        };
        Ok(CompiledModel {
            scorer: Scorer::Trees(Box::new(ensemble)),
            inputs,
            raw_columns: artifact
                .inputs
                .iter()
                .map(|i| i.column.clone())
                .chain(artifact.other_columns.iter().cloned())
                .collect(),
            features,
            intercept: 0.0,
            threshold: artifact.threshold,
            sha256: artifact.sha256,
            calibration,
        })
    }

    /// The raw columns the model reads, in input order.
    pub fn columns(&self) -> impl Iterator<Item = &str> {
        self.inputs.iter().map(|i| i.column.as_str())
    }
}

impl ModelInput {
    /// What a missing category encodes as (see `MissingCategory`).
    fn missing_category(&self) -> Result<Prepared> {
        match &self.rule {
            InputRule::Category { missing, .. } => match *missing {
                MissingCategory::Own => Ok(Prepared::MissingLevel),
                MissingCategory::Level(l) => Ok(Prepared::Level(l)),
                MissingCategory::AllZeros => Ok(Prepared::UnseenLevel),
                MissingCategory::Error => Err(PipelineError::UnknownCategory {
                    column: self.column.clone(),
                    value: "(missing)".into(),
                }),
            },
            _ => Ok(Prepared::UnseenLevel),
        }
    }

    /// A level never seen in training: all zeros, or an error under handle_unknown='error'.
    fn unseen_category(&self, text: &str) -> Result<Prepared> {
        match &self.rule {
            InputRule::Category {
                unknown_is_error: true,
                ..
            } => Err(PipelineError::UnknownCategory {
                column: self.column.clone(),
                value: text.to_string(),
            }),
            _ => Ok(Prepared::UnseenLevel),
        }
    }
}

/// A calibration whose response is the one scikit-learn's CalibratedClassifierCV reads from
/// this kind of model; another is refused at load.
fn checked_response(
    calibration: Option<Calibration>,
    expected: Response,
    model: &str,
) -> Result<Option<Calibration>> {
    match calibration {
        Some(c) if c.response != expected => Err(PipelineError::artifact(
            "calibration.response",
            format!(
                "is \"{}\", but scikit-learn calibrates {model} on its {}",
                c.response.as_str(),
                expected.as_str()
            ),
        )),
        c => Ok(c),
    }
}

/// A numeric input's raw value: None when missing; text is cleaned. A floating-point NaN (a
/// float or numeric column's value) is missing, as scikit-learn's imputer reads np.nan and as
/// training reads it; +-Infinity is an error (README, "Cleaning rule").
#[inline]
pub(crate) fn number(column: &str, raw: RawValue<'_>) -> Result<Option<f64>> {
    match raw {
        RawValue::Missing => Ok(None),
        RawValue::Number(v) if v.is_finite() => Ok(Some(v)),
        RawValue::Number(v) if v.is_nan() => Ok(None),
        RawValue::Number(v) => Err(PipelineError::InvalidValue {
            column: column.to_string(),
            value: v.to_string(),
            problem: "not a finite number".into(),
        }),
        RawValue::Text(t) => clean_number(column, t),
    }
}

/// A number as an error message quotes it: `1e308`, not 309 digits.
fn number_text(v: f64) -> String {
    if v != 0.0 && !(1e-6..1e16).contains(&v.abs()) {
        format!("{v:e}")
    } else {
        v.to_string()
    }
}

/// The logistic function, written to stay accurate for large |z|.
#[inline]
pub fn logistic(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}
