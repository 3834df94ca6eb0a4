//! A PostgreSQL `numeric` as f64 from its stored digits, without its text.
//!
//! A numeric is `(-1)^sign * Σ d_i * 10000^(weight - i)` with base-10000 digits `d_i`. The text
//! path (numeric_normalize, then Rust's correctly rounded parse) gives the f64 nearest that exact
//! decimal value; so does this, by construction:
//! - when the value is an integer of at most 2^53 times a power of ten 10^e with |e| <= 22, both
//!   factors are exact f64s and one IEEE multiplication or division rounds the exact value
//!   correctly (Clinger's fast path) — the common case of data with a few decimals;
//! - otherwise the exact decimal digits (at most [`MAX_DIGITS`]) go to Rust's correctly
//!   rounded parser in scientific form, on the stack;
//! - beyond that, or when the value is beyond f64's range, `None`: the caller takes the text
//!   path (which also keeps out-of-range values as text for the cleaning error).

/// The most decimal digits decoded on the stack (longer numerics take the text path).
pub const MAX_DIGITS: usize = 256;

/// numeric.c's header bits (not exported by PostgreSQL's headers), for PostgreSQL 15's layout:
/// the extension's in-place decoder and [`crate::numeric_in`]'s encoder share them.
pub mod header {
    pub const NUMERIC_SIGN_MASK: u16 = 0xC000;
    pub const NUMERIC_NEG: u16 = 0x4000;
    pub const NUMERIC_SHORT: u16 = 0x8000;
    pub const NUMERIC_SPECIAL: u16 = 0xC000;
    pub const NUMERIC_EXT_SIGN_MASK: u16 = 0xF000;
    pub const NUMERIC_NAN: u16 = 0xC000;
    pub const NUMERIC_DSCALE_MASK: u16 = 0x3FFF;
    pub const NUMERIC_SHORT_SIGN_MASK: u16 = 0x2000;
    pub const NUMERIC_SHORT_DSCALE_SHIFT: u16 = 7;
    pub const NUMERIC_SHORT_DSCALE_MAX: i32 = 63;
    pub const NUMERIC_SHORT_WEIGHT_SIGN_MASK: u16 = 0x0040;
    pub const NUMERIC_SHORT_WEIGHT_MASK: u16 = 0x003F;
    pub const NUMERIC_SHORT_WEIGHT_MIN: i32 = -64;
    pub const NUMERIC_SHORT_WEIGHT_MAX: i32 = 63;
}

/// The powers of ten up to 10^22, all exact in f64.
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// The f64 nearest the numeric with sign `negative`, `weight` and base-10000 `digits` (as
/// stored: each 0..=9999), or `None` when the caller must use the text path (more than
/// [`MAX_DIGITS`] digits, a digit out of range, or a value beyond f64's range). Zero is +0.0,
/// as the text "0" parses.
pub fn numeric_to_f64(negative: bool, weight: i16, digits: &[i16]) -> Option<f64> {
    if digits.iter().any(|&d| !(0..=9999).contains(&d)) {
        return None;
    }
    // Drop zero base-10000 digits at both ends (PostgreSQL stores none, but a value is a value).
    let first = digits.iter().position(|&d| d != 0);
    let Some(first) = first else {
        return Some(0.0);
    };
    let last = digits.iter().rposition(|&d| d != 0).unwrap_or(first);
    let digits = &digits[first..=last];
    let weight = i32::from(weight) - first as i32;
    // Exponent of the last base-10000 digit's unit, in decimal.
    let exp10 = 4 * (weight - (digits.len() as i32 - 1));
    let sign = if negative { -1.0 } else { 1.0 };

    // Fast path: an integer mantissa of at most 19 decimal digits.
    if digits.len() <= 4 {
        let mut m: u64 = 0;
        for &d in digits {
            m = m * 10_000 + d as u64;
        }
        let mut e = exp10;
        while m.is_multiple_of(10) {
            m /= 10;
            e += 1;
        }
        if m <= 1 << 53 && (-22..=22).contains(&e) {
            let m = m as f64;
            let v = if e >= 0 {
                m * POW10[e as usize]
            } else {
                m / POW10[(-e) as usize]
            };
            return Some(sign * v);
        }
    }

    // General path: the exact digits in scientific form, parsed correctly rounded.
    if digits.len() * 4 > MAX_DIGITS {
        return None;
    }
    let mut buf = [0u8; MAX_DIGITS + 16];
    let mut n = 0;
    if negative {
        buf[n] = b'-';
        n += 1;
    }
    for &d in digits {
        let d = d as u16;
        for unit in [1000, 100, 10, 1] {
            buf[n] = b'0' + ((d / unit) % 10) as u8;
            n += 1;
        }
    }
    buf[n] = b'e';
    n += 1;
    let mut e = itoa_i32(exp10);
    let e = e.as_bytes();
    buf[n..n + e.len()].copy_from_slice(e);
    n += e.len();
    // Only ASCII digits, '-' and 'e' were written.
    let text = std::str::from_utf8(&buf[..n]).ok()?;
    let v: f64 = text.parse().ok()?;
    v.is_finite().then_some(v)
}

/// A small stack string for an i32 exponent.
struct ExpText {
    buf: [u8; 12],
    start: usize,
}

impl ExpText {
    fn as_bytes(&mut self) -> &[u8] {
        &self.buf[self.start..]
    }
}

fn itoa_i32(v: i32) -> ExpText {
    let mut buf = [0u8; 12];
    let mut i = buf.len();
    let mut u = v.unsigned_abs();
    loop {
        i -= 1;
        buf[i] = b'0' + (u % 10) as u8;
        u /= 10;
        if u == 0 {
            break;
        }
    }
    if v < 0 {
        i -= 1;
        buf[i] = b'-';
    }
    ExpText { buf, start: i }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The decimal text `s` (digits with an optional '-', '.', and 'e' exponent) as PostgreSQL
    /// stores it: (negative, weight, base-10000 digits), leading and trailing zero digits
    /// stripped (numeric's normal form, what make_result stores).
    fn encode(s: &str) -> (bool, i16, Vec<i16>) {
        let (negative, s) = match s.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, s),
        };
        let (mantissa, exp) = match s.split_once(['e', 'E']) {
            Some((m, e)) => (m, e.parse::<i32>().unwrap()),
            None => (s, 0),
        };
        let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        let all: Vec<u8> = int.bytes().chain(frac.bytes()).map(|b| b - b'0').collect();
        // Value = all * 10^(exp - frac.len()); position of the decimal point after `point`
        // digits of `all`.
        let point = int.len() as i32 + exp;
        // Align to base 10000: pad left so that `point` is a multiple of 4.
        let pad_left = (4 - point.rem_euclid(4)) % 4;
        let mut d: Vec<u8> = vec![0; pad_left as usize];
        d.extend(&all);
        while !d.len().is_multiple_of(4) {
            d.push(0);
        }
        let groups: Vec<i16> = d
            .chunks(4)
            .map(|c| c.iter().fold(0i16, |a, &x| a * 10 + x as i16))
            .collect();
        let weight = (point + pad_left) / 4 - 1;
        let first = groups.iter().position(|&g| g != 0);
        match first {
            None => (false, 0, vec![]),
            Some(f) => {
                let l = groups.iter().rposition(|&g| g != 0).unwrap();
                (negative, (weight - f as i32) as i16, groups[f..=l].to_vec())
            }
        }
    }

    fn text_path(s: &str) -> Option<f64> {
        let v: f64 = s.parse().ok()?;
        v.is_finite().then_some(v)
    }

    fn check(s: &str) {
        let (neg, w, d) = encode(s);
        let ours = numeric_to_f64(neg, w, &d);
        match ours {
            // None only where the text path is used instead: too many digits, or out of range.
            None => assert!(
                d.len() * 4 > MAX_DIGITS || text_path(s).is_none(),
                "{s}: fell back although the text path gives {:?}",
                text_path(s)
            ),
            Some(v) => {
                let t = text_path(s).unwrap_or_else(|| panic!("{s}: decoded {v}, text path none"));
                // An exact zero is +0.0 whatever the text's sign (numeric has no -0, so
                // numeric_normalize writes "0"); a negative value that underflows is -0.0.
                let t = if d.is_empty() { 0.0 } else { t };
                assert_eq!(v.to_bits(), t.to_bits(), "{s}: {v:e} vs text {t:e}");
            }
        }
    }

    #[test]
    fn known_values() {
        for s in [
            "0",
            "-0",
            "1",
            "-1",
            "0.1",
            "12.34",
            "-0.000001",
            "9007199254740993",
            "9007199254740992",
            "123456789012345678901234567890",
            "1.7976931348623157e308",
            "1.7976931348623159e308",
            "2.2250738585072014e-308",
            "2.2250738585072011e-308",
            "4.9406564584124654e-324",
            "2.4703282292062327e-324",
            "2.4703282292062328e-324",
            "1e-400",
            "1e400",
            "1e22",
            "1e23",
            "1.00000000000000011102230246251565404236316680908203125",
            "1.00000000000000011102230246251565404236316680908203124",
            "1.00000000000000011102230246251565404236316680908203126",
            "0.30000000000000004",
            "99999999999999999999",
            "10000",
            "0.0001",
        ] {
            check(s);
        }
        // More digits than decoded on the stack: the text path.
        let long = format!("1.{}", "3".repeat(400));
        assert_eq!(
            numeric_to_f64(false, encode(&long).1, &encode(&long).2),
            None
        );
        check(&long);
    }

    /// Shortest form and near-halfway neighbours of a double: the hard rounding cases.
    fn variants(x: f64) -> Vec<String> {
        let short = format!("{x:e}");
        let (m, e) = short.split_once('e').unwrap();
        let m = if m.contains('.') {
            m.to_string()
        } else {
            format!("{m}.")
        };
        let mut out = vec![short.clone(), format!("{x:.25e}"), format!("{x:.40e}")];
        for tail in [
            "5",
            "49999999999",
            "50000000001",
            "4",
            "6",
            "0000000000000001",
        ] {
            out.push(format!("{m}{tail}e{e}"));
        }
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 60_000, ..ProptestConfig::default() })]

        /// Every double's bits (all binades, subnormals, ±0, the extremes).
        #[test]
        fn doubles_and_their_neighbours(bits in any::<u64>()) {
            let x = f64::from_bits(bits);
            if x.is_finite() {
                for s in variants(x) {
                    check(&s);
                }
            }
        }

        /// Random decimals: up to 60 digits, exponents across and beyond f64's range.
        #[test]
        fn random_decimals(neg in any::<bool>(), digits in "[0-9]{1,60}", point in 0usize..61, exp in -420i32..420) {
            let point = point.min(digits.len());
            let s = format!("{}{}.{}e{}", if neg { "-" } else { "" }, &digits[..point], &digits[point..], exp);
            let s = s.replace(".e", "e");
            let s = if s.starts_with('.') || s.starts_with("-.") { s.replacen('.', "0.", 1) } else { s };
            check(&s);
        }

        /// Powers of two at every binade edge, and one ulp either side.
        #[test]
        fn binade_edges(e in -1074i32..1024, delta in -1i64..=1) {
            let bits = if e >= -1022 { ((e + 1023) as u64) << 52 } else { 1u64 << (e + 1074) };
            let x = f64::from_bits((bits as i64 + delta) as u64);
            if x.is_finite() && x > 0.0 {
                for s in variants(x) {
                    check(&s);
                }
            }
        }
    }
}
