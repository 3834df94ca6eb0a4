//! The one outcome rule: what a known outcome (bought or not) may look like in a target column.
//! Training, `evaluate_purchase_model` (and calibration or threshold choice, when they come)
//! read the target through [`parse_outcome`], so a column one accepts is a column all accept.
//!
//! The value arrives as PostgreSQL's text output of the column: booleans (`t`/`f`, and the
//! `true`/`false` a text column may hold), integers `0`/`1`, and numerics or floats that equal 0
//! or 1 exactly (`1.0`, `0.00`, `-0`). Anything else is an error naming the column, the value
//! and the row: `2`, `0.5`, `1.0000000000000000000001` (a numeric, not a float, so it is not 1),
//! `NaN`, `1e0`-style exponents (no 0/1 type writes them). NULL is the caller's business: an
//! evaluation leaves the row out and counts it, training refuses it.

use crate::error::PipelineError;

/// The outcome in `text` (the column's text form), or an error naming `column` and the 1-based
/// `row` of the scan.
pub fn parse_outcome(column: &str, text: &str, row: usize) -> Result<bool, PipelineError> {
    match text {
        "t" | "true" => return Ok(true),
        "f" | "false" => return Ok(false),
        _ => {}
    }
    match exact_zero_or_one(text) {
        Some(outcome) => Ok(outcome),
        None => Err(PipelineError::InvalidOutcome {
            column: column.to_string(),
            value: text.to_string(),
            row,
        }),
    }
}

/// A plain decimal (optional sign, digits, optional fraction; no exponent) that is exactly 0 or
/// 1: true for 1, false for 0, None otherwise. Exact on the digits, never through a float, so a
/// numeric a hair above 1 is not rounded to it.
fn exact_zero_or_one(text: &str) -> Option<bool> {
    let (negative, unsigned) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let (whole, fraction) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (whole.is_empty() && fraction.is_empty()) || !digits(whole) || !digits(fraction) {
        return None;
    }
    if fraction.bytes().any(|b| b != b'0') {
        return None;
    }
    match whole.trim_start_matches('0') {
        "" => Some(false),
        "1" if !negative => Some(true),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booleans_integers_and_numerics_equal_to_0_or_1_are_outcomes() {
        for (text, outcome) in [
            ("t", true),
            ("true", true),
            ("1", true),
            ("1.0", true),
            ("1.000", true),
            ("+1", true),
            ("01", true),
            ("f", false),
            ("false", false),
            ("0", false),
            ("0.00", false),
            ("-0", false),
            (".0", false),
            ("0.", false),
        ] {
            assert_eq!(parse_outcome("y", text, 1), Ok(outcome), "{text}");
        }
    }

    #[test]
    fn anything_else_is_an_error_naming_column_value_and_row() {
        for text in [
            "2",
            "0.5",
            "-1",
            "1.0000000000000000000001",
            "NaN",
            "Infinity",
            "1e0",
            "",
            ".",
            "-",
            " 1",
            "yes",
            "T",
        ] {
            let err = parse_outcome("bought", text, 7).unwrap_err();
            assert_eq!(err.kind(), crate::error::ErrorKind::InvalidParameter);
            assert_eq!(
                err.to_string(),
                format!("target column \"bought\" holds \"{text}\" in row 7 of the scan, which is not a 0/1 outcome: outcomes are boolean, or numbers equal to 0 or 1"),
            );
            assert!(err.hint().is_some_and(|h| h.contains("view")), "{text}");
        }
    }
}
