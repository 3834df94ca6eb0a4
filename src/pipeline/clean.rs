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
    if let Some(v) = parse_simple_decimal(trimmed) {
        return Ok(Some(v));
    }
    if let Some(v) = parse_plain(trimmed) {
        return finite(column, text, v).map(Some);
    }
    // Money/percent text is short: strip into a stack buffer, no allocation per row.
    let mut buffer = [0u8; 64];
    let mut len = 0;
    let mut spill = String::new();
    for c in trimmed
        .chars()
        .filter(|c| !matches!(c, '$' | ',' | '%') && !c.is_whitespace())
    {
        if spill.is_empty() && len + c.len_utf8() <= buffer.len() {
            len += c.encode_utf8(&mut buffer[len..]).len();
        } else {
            if spill.is_empty() {
                spill.push_str(std::str::from_utf8(&buffer[..len]).unwrap_or_default());
            }
            spill.push(c);
        }
    }
    let kept: &str = if spill.is_empty() {
        std::str::from_utf8(&buffer[..len]).unwrap_or_default()
    } else {
        &spill
    };
    let (negate, body) = match kept.strip_prefix('(') {
        Some(rest) => match rest.strip_suffix(')') {
            Some(inner) => (true, inner),
            None => return Err(bad(column, text, "unbalanced parenthesis")),
        },
        None => (false, kept),
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

/// The common shapes (`$6,882.34`, `($5,032.58)`, `$-5,032.58`, `36.29%`, `0.0197503`) in one
/// pass without copying. Exact: with at most 15 significant digits and 22 decimals the value is
/// one correctly rounded division of two exactly representable numbers (Clinger's fast path),
/// the same double `float()` and `str::parse` give. Anything else returns None for the general path.
fn parse_simple_decimal(s: &str) -> Option<f64> {
    const POW10: [f64; 23] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
        1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
    ];
    let mut bytes = s.as_bytes();
    let mut negative = false;
    if let [b'(', inner @ .., b')'] = bytes {
        negative = true;
        bytes = inner;
    }
    let (mut mantissa, mut digits, mut decimals) = (0u64, 0u32, 0usize);
    let (mut seen_point, mut seen_sign, mut seen_digit) = (false, false, false);
    for &b in bytes {
        match b {
            b'0'..=b'9' => {
                seen_digit = true;
                if digits > 0 || b != b'0' {
                    digits += 1;
                }
                mantissa = mantissa * 10 + u64::from(b - b'0');
                if seen_point {
                    decimals += 1;
                }
                if digits > 15 {
                    return None;
                }
            }
            b'.' if !seen_point => seen_point = true,
            b'-' | b'+' if !seen_sign && !seen_digit && !seen_point => {
                seen_sign = true;
                if b == b'-' {
                    if negative {
                        return None; // "(-5)" is ambiguous: the general path rejects it
                    }
                    negative = true;
                }
            }
            b'$' | b',' | b'%' | b' ' => {}
            _ => return None,
        }
    }
    if !seen_digit || decimals >= POW10.len() {
        return None;
    }
    let v = mantissa as f64 / POW10[decimals];
    Some(if negative { -v } else { v })
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
    // Quote the value, but not a whole page of it.
    let value = if text.chars().count() > 40 {
        format!("{}...", text.chars().take(37).collect::<String>())
    } else {
        text.to_string()
    };
    PipelineError::InvalidValue {
        column: column.to_string(),
        value,
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
    fn the_fast_path_gives_the_same_doubles_as_the_general_parser() {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let cents = (x % 100_000_000_000) as f64 / 100.0;
            let decimals = (x >> 40) as usize % 9;
            for text in [
                format!("{cents:.2}"),
                format!("{:.*}", decimals, (x % 1_000_000) as f64 / 7.0),
            ] {
                let expected: f64 = text.parse().unwrap();
                assert_eq!(parse_simple_decimal(&text), Some(expected), "{text}");
                assert_eq!(
                    parse_simple_decimal(&format!("-{text}")),
                    Some(-expected),
                    "-{text}"
                );
            }
        }
        assert_eq!(parse_simple_decimal("0.1"), Some(0.1));
        assert_eq!(parse_simple_decimal("$-5,032.58"), Some(-5032.58));
        assert_eq!(parse_simple_decimal("(5,032.58)"), Some(-5032.58));
        assert_eq!(parse_simple_decimal("1234567890123456"), None); // 16 digits: general path
        assert_eq!(parse_simple_decimal("1e5"), None);
        assert_eq!(parse_simple_decimal("1.2.3"), None);
        assert_eq!(parse_simple_decimal("(-5)"), None);
    }

    #[test]
    fn long_text_still_parses() {
        let long = format!("${}.50", "1".repeat(80));
        assert_eq!(
            c(&long),
            Some(format!("{}.50", "1".repeat(80)).parse().unwrap())
        );
        assert!(clean_number("x", &format!("({}", "9".repeat(90))).is_err());
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
