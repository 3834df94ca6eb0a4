//! Reading PostgreSQL values as the model's raw values: text datums and typed column readers.

pub(crate) mod column;
pub(crate) mod text;
