//! A decimal text as PostgreSQL's `numeric_in` stores it, without calling numeric_in: the
//! binary jsonb writer writes each answer number this way (numeric_in per value cost a C call,
//! a C string and a palloc).
//!
//! The steps are numeric_in's (`set_var_from_str`, then `make_result`): the decimal digits are
//! grouped into base-10000 digits aligned on the decimal point, leading and trailing zero
//! groups are stripped (a zero is positive, of weight 0), `dscale` is the number of digits after
//! the point less the exponent (at least 0), and the short header is used when dscale <= 63 and
//! -64 <= weight <= 63. The extension's property test holds the bytes equal to numeric_in's.

/// The most decimal digits [`numeric_body`] takes (f64's shortest text has at most 17, an i64
/// at most 19); longer text is left to numeric_in.
pub const MAX_DECIMAL_DIGITS: usize = 40;

use crate::numeric::header::*;

/// A numeric's bytes after its varlena header: the header word(s), then the base-10000 digits,
/// in native byte order (as numeric_in writes them in memory).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumericBody {
    bytes: [u8; 4 + 2 * (MAX_DECIMAL_DIGITS / 4 + 2)],
    len: usize,
}

impl NumericBody {
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    fn push_u16(&mut self, v: u16) {
        self.bytes[self.len..self.len + 2].copy_from_slice(&v.to_ne_bytes());
        self.len += 2;
    }
}

/// numeric_in's result for `text` of the form `-?[0-9]+(\.[0-9]*)?(e[+-]?[0-9]+)?` (what zmij,
/// serde_json's float formatter, and integer formatting write; zmij writes `e+` before a
/// positive exponent), without the varlena header; None for any other text, more than
/// [`MAX_DECIMAL_DIGITS`] digits or an exponent beyond ±1000 (a float's stay within ±324): the
/// caller then calls numeric_in.
pub fn numeric_body(text: &str) -> Option<NumericBody> {
    let bytes = text.as_bytes();
    let negative = bytes.first() == Some(&b'-');
    let start = usize::from(negative);
    // First pass: the mantissa's extent, the weight of its first digit in decimal places
    // (numeric_in's dweight) and its digits after the point (its dscale).
    let (mut at, mut count) = (start, 0usize);
    let (mut dweight, mut dscale) = (-1i32, 0i32);
    let mut point = false;
    while let Some(&b) = bytes.get(at) {
        match b {
            b'0'..=b'9' => {
                count += 1;
                if point {
                    dscale += 1;
                } else {
                    dweight += 1;
                }
            }
            b'.' if !point && count > 0 => point = true,
            _ => break,
        }
        at += 1;
    }
    if count == 0 || count > MAX_DECIMAL_DIGITS {
        return None;
    }
    let mantissa = &bytes[start..at];
    if let Some(b'e' | b'E') = bytes.get(at) {
        let exponent: i32 = exponent(&bytes[at + 1..])?;
        dweight += exponent;
        dscale = (dscale - exponent).max(0);
    } else if at != bytes.len() {
        return None;
    }
    // Base-10000 digits aligned so that the point falls between them: `offset` zeros before
    // the first decimal digit, zeros after the last to fill the last group.
    let weight = if dweight >= 0 {
        (dweight + 4) / 4 - 1
    } else {
        -((-dweight - 1) / 4 + 1)
    };
    let offset = ((weight + 1) * 4 - (dweight + 1)) as usize;
    let mut base = [0u16; MAX_DECIMAL_DIGITS / 4 + 2];
    let (mut groups, mut group, mut filled) = (0usize, 0u16, offset);
    for &b in mantissa.iter().filter(|&&b| b != b'.') {
        group = group * 10 + u16::from(b - b'0');
        filled += 1;
        if filled == 4 {
            base[groups] = group;
            (groups, group, filled) = (groups + 1, 0, 0);
        }
    }
    if filled > 0 {
        base[groups] = group * 10u16.pow(4 - filled as u32);
        groups += 1;
    }
    let (mut first, mut last) = (0usize, groups);
    let mut weight = weight;
    while first < last && base[first] == 0 {
        first += 1;
        weight -= 1;
    }
    while last > first && base[last - 1] == 0 {
        last -= 1;
    }
    let negative = negative && first < last;
    if first == last {
        weight = 0;
    }
    let mut body = NumericBody {
        bytes: [0; 4 + 2 * (MAX_DECIMAL_DIGITS / 4 + 2)],
        len: 0,
    };
    if dscale <= NUMERIC_SHORT_DSCALE_MAX
        && (NUMERIC_SHORT_WEIGHT_MIN..=NUMERIC_SHORT_WEIGHT_MAX).contains(&weight)
    {
        let sign = if negative { NUMERIC_SHORT_SIGN_MASK } else { 0 };
        let weight_sign = if weight < 0 {
            NUMERIC_SHORT_WEIGHT_SIGN_MASK
        } else {
            0
        };
        body.push_u16(
            NUMERIC_SHORT
                | sign
                | ((dscale as u16) << NUMERIC_SHORT_DSCALE_SHIFT)
                | weight_sign
                | (weight as u16 & NUMERIC_SHORT_WEIGHT_MASK),
        );
    } else {
        let sign = if negative { NUMERIC_NEG } else { 0 };
        body.push_u16(sign | (dscale as u16 & NUMERIC_DSCALE_MASK));
        body.push_u16(weight as i16 as u16);
    }
    for &d in &base[first..last] {
        body.push_u16(d);
    }
    Some(body)
}

/// An exponent's digits after the `e` (optionally signed), within ±1000.
fn exponent(bytes: &[u8]) -> Option<i32> {
    let (negative, digits) = match bytes.first() {
        Some(b'-') => (true, &bytes[1..]),
        Some(b'+') => (false, &bytes[1..]),
        _ => (false, bytes),
    };
    if digits.is_empty() || digits.len() > 4 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let value = digits
        .iter()
        .fold(0i32, |v, d| v * 10 + i32::from(d - b'0'));
    if value > 1000 {
        return None;
    }
    Some(if negative { -value } else { value })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<u16> {
        numeric_body(text)
            .unwrap()
            .as_bytes()
            .chunks(2)
            .map(|c| u16::from_ne_bytes([c[0], c[1]]))
            .collect()
    }

    /// Layouts worked out by hand from numeric.c (and checked there with
    /// `SELECT numeric_send('...')`, whose fields are the same).
    #[test]
    fn known_layouts() {
        // 0: positive, weight 0, dscale 0, no digits.
        assert_eq!(words("0"), [0x8000]);
        // 0.0 and -0.0: dscale 1, positive.
        assert_eq!(words("0.0"), [0x8000 | (1 << 7)]);
        assert_eq!(words("-0.0"), [0x8000 | (1 << 7)]);
        // 1 and 1.0.
        assert_eq!(words("1"), [0x8000, 1]);
        assert_eq!(words("1.0"), [0x8000 | (1 << 7), 1]);
        // -12345.678: weight 1, digits 1 2345 6780, dscale 3.
        assert_eq!(
            words("-12345.678"),
            [0x8000 | 0x2000 | (3 << 7) | 1, 1, 2345, 6780]
        );
        // 0.001: weight -1, digit 10, dscale 3.
        assert_eq!(words("0.001"), [0x8000 | (3 << 7) | 0x40 | 0x3F, 10]);
        // 1.5e-7 = 0.00000015: weight -2 (digits 0015 in the second group), dscale 8.
        assert_eq!(words("1.5e-7"), [0x8000 | (8 << 7) | 0x40 | 0x3E, 15]);
        // 1e16: weight 4, one digit 1, dscale 0.
        assert_eq!(words("1e16"), [0x8000 | 4, 1]);
        assert_eq!(words("1e+16"), words("1e16"));
        assert_eq!(words("1.5E+300"), words("1.5e300"));
        // 5e-324: dscale 324 > 63, the long header; weight -81.
        assert_eq!(words("5e-324"), [324, (-81i16) as u16, 5]);
        // 1.7976931348623157e308: weight 77 > 63, the long header.
        let w = words("1.7976931348623157e308");
        assert_eq!(&w[..2], &[0, 77]);
        assert_eq!(&w[2..], &[1, 7976, 9313, 4862, 3157]);
        // Integers of business_outcome's range.
        assert_eq!(words("-2147483648"), [0x8000 | 0x2000 | 2, 21, 4748, 3648]);
        assert_eq!(words("100"), [0x8000, 100]);
        assert_eq!(words("10000"), [0x8000 | 1, 1]);
        // The short header's edges: dscale 63 (short) and 64 (long); weight 63 and 64.
        assert_eq!(words("1e-63"), [0x8000 | (63 << 7) | 0x40 | 0x30, 10]);
        assert_eq!(words("1e-64"), [64, (-16i16) as u16, 1]);
        assert_eq!(words("1e252"), [0x8000 | 63, 1]);
        assert_eq!(words("1e256"), [0, 64, 1]);
    }

    #[test]
    fn other_text_is_left_to_numeric_in() {
        for text in [
            "", "-", ".5", "1e", "1e+", "1x", "NaN", "inf", " 1", "1 ", "1e1001", "1..2",
        ] {
            assert_eq!(numeric_body(text), None, "{text:?}");
        }
        assert!(numeric_body(&"9".repeat(MAX_DECIMAL_DIGITS)).is_some());
        assert_eq!(numeric_body(&"9".repeat(MAX_DECIMAL_DIGITS + 1)), None);
    }

    /// Decodes a body back to (negative, weight, dscale, digits).
    fn decode(body: &NumericBody) -> (bool, i16, u16, Vec<i16>) {
        let w: Vec<u16> = body
            .as_bytes()
            .chunks(2)
            .map(|c| u16::from_ne_bytes([c[0], c[1]]))
            .collect();
        if w[0] & NUMERIC_SHORT != 0 {
            let h = w[0];
            let weight = (h & NUMERIC_SHORT_WEIGHT_MASK) as i16
                | if h & NUMERIC_SHORT_WEIGHT_SIGN_MASK != 0 {
                    !0x3F
                } else {
                    0
                };
            let digits = w[1..].iter().map(|&d| d as i16).collect();
            (
                h & NUMERIC_SHORT_SIGN_MASK != 0,
                weight,
                (h >> NUMERIC_SHORT_DSCALE_SHIFT) & 0x3F,
                digits,
            )
        } else {
            let digits = w[2..].iter().map(|&d| d as i16).collect();
            (
                w[0] & NUMERIC_NEG != 0,
                w[1] as i16,
                w[0] & NUMERIC_DSCALE_MASK,
                digits,
            )
        }
    }

    proptest::proptest! {
        // No regression files written into the tree (as property_tests.rs).
        #![proptest_config(proptest::prelude::ProptestConfig {
            failure_persistence: None,
            ..proptest::prelude::ProptestConfig::default()
        })]
        /// Every finite f64's shortest text, plain (`{}`) and scientific (`{:e}`), encodes to
        /// base-10000 digits of exactly its value (read back by `numeric::numeric_to_f64`), no
        /// leading or trailing zero digit, and numeric_in's dscale: the digits after the point
        /// less the exponent.
        #[test]
        fn encodes_the_exact_value_and_scale(bits in proptest::prelude::any::<u64>()) {
            let v = f64::from_bits(bits);
            proptest::prop_assume!(v.is_finite());
            for text in [format!("{v}"), format!("{v:e}")] {
                let Some(body) = numeric_body(&text) else {
                    proptest::prop_assert!(text.replace(['-', '.'], "").split('e').next().unwrap().len() > MAX_DECIMAL_DIGITS, "{}", text);
                    continue;
                };
                let (negative, weight, dscale, digits) = decode(&body);
                let back = crate::numeric::numeric_to_f64(negative, weight, &digits).unwrap();
                proptest::prop_assert_eq!(back, v.abs() * if negative { -1.0 } else { 1.0 }, "{}", text);
                proptest::prop_assert!(digits.first() != Some(&0) && digits.last() != Some(&0));
                proptest::prop_assert!(digits.iter().all(|d| (0..10000).contains(d)));
                let (mantissa, exponent) = text.split_once('e').unwrap_or((&text, "0"));
                let after = mantissa.split_once('.').map_or(0, |(_, f)| f.len()) as i32;
                let want = (after - exponent.parse::<i32>().unwrap()).max(0);
                proptest::prop_assert_eq!(i32::from(dscale), want, "{}", text);
            }
        }
    }
}
