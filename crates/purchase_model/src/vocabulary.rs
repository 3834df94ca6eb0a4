//! A category vocabulary with a lookup that compares one machine word per level instead of
//! calling memcmp: levels are short ("wednesday", "September"), so a length plus the first eight
//! bytes decide almost every comparison.

#[derive(Debug, Clone)]
pub struct Vocabulary {
    levels: Vec<String>,
    keys: Vec<(usize, u64)>,
}

fn key(s: &str) -> (usize, u64) {
    let mut word = [0u8; 8];
    let head = &s.as_bytes()[..s.len().min(8)];
    word[..head.len()].copy_from_slice(head);
    (s.len(), u64::from_le_bytes(word))
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
