//! The one error type of the pure pipeline. The pgrx glue maps `ErrorKind` to SQLSTATEs.

/// What kind of failure, independent of PostgreSQL; `pg::errors` turns it into a SQLSTATE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// A text value that cannot be read as a number (22P02).
    InvalidText,
    /// A bad argument or artifact field (22023).
    InvalidParameter,
    /// A column the model needs is absent from the row type or JSON object (42703).
    UndefinedColumn,
    /// A column has a SQL or JSON type the pipeline cannot read (42804).
    DatatypeMismatch,
    /// A finite input too large for the model's arithmetic (22003).
    OutOfRange,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PipelineError {
    #[error("invalid model artifact: field \"{field}\" {problem}")]
    InvalidArtifact { field: String, problem: String },

    #[error("invalid value \"{value}\" for column \"{column}\": {problem}")]
    InvalidValue {
        column: String,
        value: String,
        problem: String,
    },

    #[error("model check failed: reference row {index} scores {got:.17} but the artifact expects {expected:.17}")]
    CheckFailed {
        index: usize,
        got: f64,
        expected: f64,
    },

    #[error("value \"{value}\" of column \"{column}\" is out of range for the model: {problem}")]
    OutOfRange {
        column: String,
        value: String,
        problem: String,
    },

    #[error("category \"{value}\" of column \"{column}\" was not seen in training and the model was exported with handle_unknown='error'")]
    UnknownCategory { column: String, value: String },

    #[error("column \"{column}\" is missing (NULL) and the model has no imputer for it")]
    MissingValue { column: String },

    #[error("the artifact has no reference checks")]
    ChecksRequired,

    /// A feature named like a key the JSON answers reserve for the score (p_hat,
    /// business_outcome): it would replace the score in `predict_purchase_json`'s answer.
    #[error("invalid model artifact: feature \"{name}\" (model.features[{index}]) has a name reserved for the score in JSON answers")]
    ReservedFeature { index: usize, name: String },

    #[error("{0}")]
    InvalidInput(String),

    /// A bad argument of a SQL function, named.
    #[error("argument \"{argument}\" {problem}")]
    InvalidArgument { argument: String, problem: String },
    /// A target value that is not an outcome (`crate::outcome`); `row` is 1-based in the scan.
    #[error("target column \"{column}\" holds \"{value}\" in row {row} of the scan, which is not a 0/1 outcome: outcomes are boolean, or numbers equal to 0 or 1")]
    InvalidOutcome {
        column: String,
        value: String,
        row: usize,
    },

    /// A JSON row (strict mode) carries a key that is none of the artifact's input columns.
    #[error("unknown key \"{0}\": the model has no input column of that name")]
    UnknownKey(String),

    /// A JSON row (strict mode) lacks a column the model reads.
    #[error("missing key \"{0}\", a column the model reads")]
    MissingKey(String),

    /// An error in one element of a JSON input (predict_purchase_json), naming its index.
    #[error("element {index} of the input: {source}")]
    InElement {
        index: usize,
        source: Box<PipelineError>,
    },
}

impl PipelineError {
    pub fn artifact(field: impl Into<String>, problem: impl Into<String>) -> Self {
        PipelineError::InvalidArtifact {
            field: field.into(),
            problem: problem.into(),
        }
    }

    /// This error, said of element `index` of a JSON input.
    pub fn in_element(self, index: usize) -> Self {
        PipelineError::InElement {
            index,
            source: Box::new(self),
        }
    }

    pub fn kind(&self) -> ErrorKind {
        match self {
            PipelineError::InElement { source, .. } => source.kind(),
            PipelineError::UnknownKey(_) => ErrorKind::InvalidParameter,
            PipelineError::MissingKey(_) => ErrorKind::UndefinedColumn,
            PipelineError::InvalidValue { .. } => ErrorKind::InvalidText,
            PipelineError::OutOfRange { .. } => ErrorKind::OutOfRange,
            PipelineError::InvalidArtifact { .. }
            | PipelineError::CheckFailed { .. }
            | PipelineError::UnknownCategory { .. }
            | PipelineError::MissingValue { .. }
            | PipelineError::ChecksRequired
            | PipelineError::ReservedFeature { .. }
            | PipelineError::InvalidInput(_)
            | PipelineError::InvalidArgument { .. }
            | PipelineError::InvalidOutcome { .. } => ErrorKind::InvalidParameter,
        }
    }

    /// A HINT for the user, where one helps.
    pub fn hint(&self) -> Option<String> {
        match self {
            PipelineError::InElement { source, .. } => source.hint(),
            PipelineError::UnknownKey(_) | PipelineError::MissingKey(_) => Some(
                "Each object carries the model's raw input columns, a missing value as null; strict => false ignores unknown keys and treats absent columns as missing."
                    .into(),
            ),
            PipelineError::InvalidArtifact { .. } => Some(
                "Re-export it with python -m pg_purchase export (README, Bring your own model); the model in force before stays in force."
                    .into(),
            ),
            PipelineError::InvalidValue { .. } => Some(
                "Write numbers like 14.75, -3.5e-2, $1,234.50, ($12.00) or 36.29%; NULL or blank text means missing."
                    .into(),
            ),
            PipelineError::CheckFailed { .. } => Some(
                "The artifact's reference scores do not match its own pipeline: it was edited or exported incorrectly."
                    .into(),
            ),
            PipelineError::OutOfRange { .. } => Some(
                "The value is far outside what the model was trained on; check the row, or leave it NULL to impute it."
                    .into(),
            ),
            PipelineError::UnknownCategory { .. } => Some(
                "Map the value to a known level, or re-export the pipeline with OneHotEncoder(handle_unknown='ignore') to score unknown levels as all zeros."
                    .into(),
            ),
            PipelineError::MissingValue { .. } => Some(
                "Fill the column, or add a SimpleImputer for it to the pipeline and re-export.".into(),
            ),
            PipelineError::ChecksRequired => Some(
                "Export with pg_purchase.export_pipeline(pipeline, sample), which stores scikit-learn's scores of the sample as checks, or pass allow_unchecked => true to load it unchecked."
                    .into(),
            ),
            PipelineError::ReservedFeature { .. } => Some(
                "p_hat and business_outcome are the score's keys. Rename the column or level that produces the feature (scikit-learn names a one-hot output <column>_<level>: column \"business\" with level \"outcome\" gives business_outcome) and re-export; the model in force before stays in force."
                    .into(),
            ),
            PipelineError::InvalidInput(_) => None,
            PipelineError::InvalidArgument { .. } => Some(
                "value_per_purchase is what one purchase earns (> 0), cost_per_contact what one contact costs (>= 0); the source needs labelled rows of both classes."
                    .into(),
            ),
            PipelineError::InvalidOutcome { .. } => Some(
                "Map the outcome to 0/1 or boolean in a view (e.g. SELECT *, status = 'bought' AS bought FROM ...); a NULL outcome leaves the row out of an evaluation."
                    .into(),
            ),
        }
    }
}

pub type Result<T> = std::result::Result<T, PipelineError>;
