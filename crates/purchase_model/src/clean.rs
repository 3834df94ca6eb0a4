//! The cleaning rule for numbers that arrive as text (money, percent, plain numbers).
//!
//! The rule is strict wherever a reading would be ambiguous (README, "Cleaning rule", has it as a
//! table; `python/pg_purchase/cleaning.py` implements the same table for the exporter and the
//! parity oracle):
//!
//! * blanks (space, tab, newline, CR, form feed, VT) around the value are ignored; blank text is
//!   missing;
//! * a value wrapped in parentheses is negative, and may not carry a sign inside;
//! * otherwise one optional sign, before or right after one optional `$`;
//! * digits with an optional decimal part; thousands separators (`,`) only in groups of three
//!   before the decimal point;
//! * one optional `%` after the digits (not together with `$`);
//! * an exponent (`1.5e-3`) only on a plain number (no `$`, `%`, separator or parentheses);
//! * nothing else: no inner blanks, no second sign or currency sign, no `NaN`/`inf`, and the
//!   value must be finite.

use super::error::{PipelineError, Result};

/// The blanks trimmed from both ends of a value, and only these.
pub const BLANKS: &[char] = &[' ', '\t', '\n', '\r', '\x0c', '\x0b'];

/// Whether `b` is one of [`BLANKS`] (all ASCII).
#[inline(always)]
fn is_blank_byte(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0c | 0x0b)
}

/// `text.trim_matches(BLANKS)`, byte by byte: every blank is ASCII, so the cut points are
/// character boundaries, and no `char` is decoded (this runs on every text value scored).
#[inline]
pub fn trim_blanks(text: &str) -> &str {
    let bytes = text.as_bytes();
    let Some(start) = bytes.iter().position(|&b| !is_blank_byte(b)) else {
        return "";
    };
    let end = bytes
        .iter()
        .rposition(|&b| !is_blank_byte(b))
        .map_or(start, |e| e + 1);
    &text[start..end]
}

/// Whether `text` is empty or only [`BLANKS`]: a missing value. Usually decided by the first byte.
#[inline]
pub fn is_blank(text: &str) -> bool {
    text.bytes().all(is_blank_byte)
}

/// Cleans and parses one text value. `Ok(None)` means missing (empty or blank text).
pub fn clean_number(column: &str, text: &str) -> Result<Option<f64>> {
    let trimmed = trim_blanks(text);
    if trimmed.is_empty() {
        return Ok(None);
    }
    let parsed = Shape::read(trimmed.as_bytes()).map_err(|problem| bad(column, text, problem))?;
    let value = parsed.value();
    if value.is_finite() {
        Ok(Some(value))
    } else {
        Err(bad(column, text, "out of range"))
    }
}

/// A value that follows the rule, as borrowed pieces of its text.
struct Shape<'a> {
    negative: bool,
    /// The integer digits, possibly with `,` separators (validated).
    integer: &'a [u8],
    fraction: &'a [u8],
    /// The exponent as written after `e`, sign included.
    exponent: &'a [u8],
}

impl<'a> Shape<'a> {
    fn read(bytes: &'a [u8]) -> std::result::Result<Shape<'a>, &'static str> {
        let (parenthesized, body) = match bytes {
            [b'(', inner @ .., b')'] => (true, inner),
            [b'(', ..] | [.., b')'] => return Err("unbalanced parenthesis"),
            _ => (false, bytes),
        };
        let mut at = 0;
        let peek = |at: usize| body.get(at).copied();
        let sign_at = |at: usize| match peek(at) {
            Some(b'-') => Some(true),
            Some(b'+') => Some(false),
            _ => None,
        };
        // One sign, before or right after one `$`.
        let mut sign = sign_at(at);
        if sign.is_some() {
            at += 1;
        }
        let dollar = peek(at) == Some(b'$');
        if dollar {
            at += 1;
            if sign.is_none() {
                sign = sign_at(at);
                if sign.is_some() {
                    at += 1;
                }
            }
        }
        let (signed, negative) = (sign.is_some(), sign == Some(true));
        if parenthesized && signed {
            return Err("a signed number inside parentheses is ambiguous");
        }

        let int_start = at;
        let mut separated = false;
        let mut group = 0usize;
        while let Some(b) = peek(at) {
            match b {
                b'0'..=b'9' => group += 1,
                b',' => {
                    // The first group has 1-3 digits, every later one exactly 3.
                    let first_ok = !separated && (1..=3).contains(&group);
                    if !(first_ok || (separated && group == 3)) {
                        return Err("thousands separators must group three digits");
                    }
                    separated = true;
                    group = 0;
                }
                _ => break,
            }
            at += 1;
        }
        if separated && group != 3 {
            return Err("thousands separators must group three digits");
        }
        let integer = &body[int_start..at];
        let mut fraction: &[u8] = &[];
        if peek(at) == Some(b'.') {
            at += 1;
            let start = at;
            while matches!(peek(at), Some(b'0'..=b'9')) {
                at += 1;
            }
            fraction = &body[start..at];
        }
        if integer.is_empty() && fraction.is_empty() {
            return Err("not a number");
        }
        let mut exponent: &[u8] = &[];
        if matches!(peek(at), Some(b'e' | b'E')) {
            if dollar || parenthesized || separated {
                return Err("an exponent is allowed only on a plain number");
            }
            let start = at + 1;
            at = start;
            if matches!(peek(at), Some(b'+' | b'-')) {
                at += 1;
            }
            let digits = at;
            while matches!(peek(at), Some(b'0'..=b'9')) {
                at += 1;
            }
            if at == digits {
                return Err("not a number");
            }
            exponent = &body[start..at];
        }
        if peek(at) == Some(b'%') {
            if dollar || !exponent.is_empty() {
                return Err("not a number");
            }
            at += 1;
        }
        if at != body.len() {
            return Err("not a number");
        }
        Ok(Shape {
            negative: negative || parenthesized,
            integer,
            fraction,
            exponent,
        })
    }

    /// The correctly rounded double. Short values (the common money and percent shapes) take
    /// Clinger's fast path: at most 15 significant digits and 22 decimals make the value one
    /// correctly rounded division of two exactly representable numbers, the same double
    /// `str::parse` and Python's `float()` give. Anything longer goes through `str::parse`.
    fn value(&self) -> f64 {
        const POW10: [f64; 23] = [
            1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
            1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
        ];
        let magnitude = if self.exponent.is_empty() && self.fraction.len() < POW10.len() {
            let (mut mantissa, mut significant) = (0u64, 0u32);
            for &b in self.integer.iter().chain(self.fraction) {
                if b == b',' {
                    continue;
                }
                if significant > 0 || b != b'0' {
                    significant += 1;
                }
                mantissa = mantissa.wrapping_mul(10).wrapping_add(u64::from(b - b'0'));
            }
            (significant <= 15).then(|| mantissa as f64 / POW10[self.fraction.len()])
        } else {
            None
        };
        let magnitude = magnitude.unwrap_or_else(|| self.parse_long());
        if self.negative {
            -magnitude
        } else {
            magnitude
        }
    }

    fn parse_long(&self) -> f64 {
        let mut text = String::with_capacity(self.integer.len() + self.fraction.len() + 8);
        text.extend(
            self.integer
                .iter()
                .filter(|&&b| b != b',')
                .map(|&b| b as char),
        );
        if text.is_empty() {
            text.push('0');
        }
        if !self.fraction.is_empty() {
            text.push('.');
            text.extend(self.fraction.iter().map(|&b| b as char));
        }
        if !self.exponent.is_empty() {
            text.push('e');
            text.extend(self.exponent.iter().map(|&b| b as char));
        }
        // Only ASCII digits, '.', 'e' and a sign are left: parse cannot fail.
        text.parse().unwrap_or(f64::NAN)
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
        assert_eq!(c("-$5,032.58"), Some(-5032.58));
        assert_eq!(c("($5,032.58)"), Some(-5032.58));
        assert_eq!(c("($5,483.24)"), Some(-5483.24));
        assert_eq!(c(" $5,547.78 "), Some(5547.78));
        assert_eq!(c("$1,234,567.5"), Some(1234567.5));
        assert_eq!(c("$.5"), Some(0.5));
    }

    #[test]
    fn percent_and_plain() {
        assert_eq!(c("36.29%"), Some(36.29));
        assert_eq!(c("(5%)"), Some(-5.0));
        assert_eq!(c("14.75731742"), Some(14.75731742));
        assert_eq!(c("-3.5e-2"), Some(-0.035));
        assert_eq!(c("+7"), Some(7.0));
        assert_eq!(c("5."), Some(5.0));
        assert_eq!(c("1e-400"), Some(0.0));
    }

    /// Each ambiguous reading the old rule accepted silently, with what it gave.
    #[test]
    fn ambiguous_text_is_refused() {
        for bad in [
            "1.234,56",   // was 1.23456
            "1 234,56",   // was 123456
            "1,2,3",      // was 123
            "5 5",        // was 55
            "$$5",        // was 5
            "(+5)",       // was -5
            "(1,2)",      // was -12 (a point's text form)
            "1234,567",   // separator after four digits
            "1,234.5e3",  // exponent on a decorated number
            "$5%",        // currency and percent
            "5%%",        // two percent signs
            "+-5",        // two signs
            "-$-5",       // two signs around the currency sign
            "$ 5",        // inner blank
            "5\u{a0}000", // non-breaking space
            "\u{663}",    // a non-ASCII digit
            "1,234,56",   // short last group
            ",123",       // no first group
            "-(5)",       // sign outside parentheses
        ] {
            let err = clean_number("x12", bad).unwrap_err().to_string();
            assert!(err.contains("x12") && err.contains(bad), "{bad}: {err}");
        }
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
                assert_eq!(c(&text), Some(expected), "{text}");
                assert_eq!(c(&format!("-{text}")), Some(-expected), "-{text}");
                assert_eq!(c(&format!("({text})")), Some(-expected), "({text})");
            }
        }
        assert_eq!(c("0.1"), Some(0.1));
        assert_eq!(c("1234567890123456"), Some(1234567890123456.0)); // 16 digits: general path
        assert_eq!(c("123,456,789,012,345,678.25"), Some(123456789012345678.25));
    }

    #[test]
    fn long_text_still_parses() {
        let digits = "1".repeat(80);
        assert_eq!(
            c(&format!("${digits}.50")),
            Some(format!("{digits}.50").parse().unwrap())
        );
        assert!(clean_number("x", &format!("({}", "9".repeat(90))).is_err());
    }

    #[test]
    fn blanks_are_missing() {
        assert_eq!(c(""), None);
        assert_eq!(c("   "), None);
        assert_eq!(c("\t\n"), None);
    }

    #[test]
    fn garbage_is_an_error_naming_value_and_column() {
        for bad in [
            "abc", "$", "(5", "5)", "1.2.3", "NaN", "inf", "(-5)", "1e999", "--1", "()", ".", "1e",
            "e5",
        ] {
            let err = clean_number("x12", bad).unwrap_err();
            let msg = err.to_string();
            assert!(msg.contains("x12") && msg.contains(bad), "{bad}: {msg}");
        }
    }
}
