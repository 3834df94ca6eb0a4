//! The cleaning rule for numbers that arrive as text (money, percent, plain numbers).
//!
//! Rule (the training notebook's): drop `$`, `,`, `%` and white space; a value wrapped in
//! parentheses is negative; an empty result means missing. Anything else that does not parse as a
//! finite number is an error, never a silent NULL.

use super::error::{PipelineError, Result};

/// Cleans and parses one text value. `Ok(None)` means missing (empty or blank text).
pub fn clean_number(column: &str, text: &str) -> Result<Option<f64>> {
    // Fast path: plain numbers ("14.757", "-3.2e-5") need no copy.
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Ok(None);
    }
    if let Some(v) = parse_plain(trimmed) {
        return finite(column, text, v).map(Some);
    }
    let mut kept = String::with_capacity(trimmed.len());
    kept.extend(
        trimmed
            .chars()
            .filter(|c| !matches!(c, '$' | ',' | '%') && !c.is_whitespace()),
    );
    let (negate, body) = match kept.strip_prefix('(') {
        Some(rest) => match rest.strip_suffix(')') {
            Some(inner) => (true, inner),
            None => return Err(bad(column, text, "unbalanced parenthesis")),
        },
        None => (false, kept.as_str()),
    };
    if body.contains(['(', ')']) {
        return Err(bad(column, text, "unbalanced parenthesis"));
    }
    if body.is_empty() {
        return Err(bad(column, text, "no digits"));
    }
    if negate && body.starts_with(['-', '+']) {
        return Err(bad(
            column,
            text,
            "a signed number inside parentheses is ambiguous",
        ));
    }
    let value = parse_plain(body).ok_or_else(|| bad(column, text, "not a number"))?;
    finite(column, text, if negate { -value } else { value }).map(Some)
}

/// Parses a plain decimal number; rejects Rust's extras ("inf", "NaN", "infinity").
fn parse_plain(s: &str) -> Option<f64> {
    let looks_numeric = s
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E'));
    if !looks_numeric || !s.bytes().any(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<f64>().ok()
}

fn finite(column: &str, text: &str, v: f64) -> Result<f64> {
    if v.is_finite() {
        Ok(v)
    } else {
        Err(bad(column, text, "out of range"))
    }
}

fn bad(column: &str, text: &str, problem: &str) -> PipelineError {
    PipelineError::InvalidValue {
        column: column.to_string(),
        value: text.to_string(),
        problem: problem.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> Option<f64> {
        clean_number("x12", s).unwrap()
    }

    #[test]
    fn money_forms() {
        assert_eq!(c("$6,882.34"), Some(6882.34));
        assert_eq!(c("$6,882.34 "), Some(6882.34));
        assert_eq!(c("$-5,032.58"), Some(-5032.58));
        assert_eq!(c("($5,032.58)"), Some(-5032.58));
        assert_eq!(c("($5,483.24)"), Some(-5483.24));
        assert_eq!(c(" $5,547.78 "), Some(5547.78));
    }

    #[test]
    fn percent_and_plain() {
        assert_eq!(c("36.29%"), Some(36.29));
        assert_eq!(c("14.75731742"), Some(14.75731742));
        assert_eq!(c("-3.5e-2"), Some(-0.035));
        assert_eq!(c("+7"), Some(7.0));
    }

    #[test]
    fn blanks_are_missing() {
        assert_eq!(c(""), None);
        assert_eq!(c("   "), None);
    }

    #[test]
    fn garbage_is_an_error_naming_value_and_column() {
        for bad in [
            "abc", "$", "(5", "5)", "1.2.3", "NaN", "inf", "(-5)", "1e999", "--1", "()",
        ] {
            let err = clean_number("x12", bad).unwrap_err();
            let msg = err.to_string();
            assert!(msg.contains("x12") && msg.contains(bad), "{bad}: {msg}");
        }
    }
}
