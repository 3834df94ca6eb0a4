//! A category vocabulary with a lookup that compares one machine word per level instead of
//! calling memcmp: levels are short ("wednesday", "September"), so a length plus the first eight
//! bytes decide almost every comparison.

#[derive(Debug, Clone)]
pub struct Vocabulary {
    levels: Vec<String>,
    keys: Vec<(usize, u64)>,
}

#[inline]
fn key(s: &str) -> (usize, u64) {
    let bytes = s.as_bytes();
    // One load for 8 bytes or more; shorter text byte by byte (no memcpy call per lookup).
    let word = match bytes.first_chunk::<8>() {
        Some(head) => u64::from_le_bytes(*head),
        None => bytes
            .iter()
            .enumerate()
            .fold(0u64, |w, (i, &b)| w | (u64::from(b) << (8 * i))),
    };
    (s.len(), word)
}

impl Vocabulary {
    pub fn new(levels: Vec<String>) -> Self {
        let keys = levels.iter().map(|l| key(l)).collect();
        Vocabulary { levels, keys }
    }

    /// The index of `text` among the levels (exact, case-sensitive match).
    #[inline]
    pub fn find(&self, text: &str) -> Option<usize> {
        let k = key(text);
        self.keys
            .iter()
            .zip(&self.levels)
            .position(|(lk, level)| *lk == k && (k.0 <= 8 || level == text))
    }

    pub fn levels(&self) -> &[String] {
        &self.levels
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_exact_levels_only() {
        let months: Vec<String> = [
            "April",
            "August",
            "December",
            "September",
            "Septembers",
            "a",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let v = Vocabulary::new(months.clone());
        for (i, m) in months.iter().enumerate() {
            assert_eq!(v.find(m), Some(i));
        }
        for miss in [
            "april",
            "Augus",
            "Septembe",
            "Septemberx",
            "",
            "December ",
            "b",
        ] {
            assert_eq!(v.find(miss), None, "{miss}");
        }
        assert_eq!(v.levels.len(), 6);
    }
}
