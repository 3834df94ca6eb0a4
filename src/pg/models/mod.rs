//! Models in the database: the version catalog, the backend's compiled-model cache, the
//! administration functions and artifact input.

pub(crate) mod admin;
pub(crate) mod artifact_input;
pub(crate) mod cache;
pub(crate) mod catalog;
pub(crate) mod load_rules;
