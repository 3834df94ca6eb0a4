//! Training columns as they are read: numbers, and text that turns out to be money, percent,
//! plain numbers or categories. Text is dictionary-encoded while it is read, and a column whose
//! every value so far cleans as a number also keeps the numbers, so one pass decides the kind
//! and memory stays at 12 bytes per text cell at most (8 once the kind is known).

use super::memory::try_grow;
use super::TrainError;
use crate::artifact::InputKind;
use crate::clean::{clean_number, is_blank};
use std::collections::HashMap;

/// The code of a missing category value.
pub const MISSING: u32 = u32::MAX;

/// A finished column.
#[derive(Debug, Clone, PartialEq)]
pub enum ColumnValues {
    /// Cleaned numbers; NaN marks a missing value.
    Numbers(Vec<f64>),
    /// Level codes into `levels` (sorted); `MISSING` marks a missing value.
    Levels {
        levels: Vec<String>,
        codes: Vec<u32>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub name: String,
    pub kind: InputKind,
    pub values: ColumnValues,
}

/// Heap bytes of a list of levels: each String's header and text.
fn levels_bytes(levels: &[String]) -> u64 {
    levels.iter().map(|l| 24 + l.capacity() as u64).sum()
}

impl Column {
    /// Heap bytes held, by capacity (the memory estimate's "rows as read").
    pub fn heap_bytes(&self) -> u64 {
        match &self.values {
            ColumnValues::Numbers(v) => 8 * v.capacity() as u64,
            ColumnValues::Levels { levels, codes } => {
                4 * codes.capacity() as u64 + levels_bytes(levels)
            }
        }
    }
}

/// Accumulates a numeric (SQL number type) column.
pub struct NumberColumn {
    name: String,
    values: Vec<f64>,
}

impl NumberColumn {
    pub fn new(name: &str) -> Self {
        NumberColumn {
            name: name.to_string(),
            values: Vec::new(),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn heap_bytes(&self) -> u64 {
        8 * self.values.capacity() as u64
    }

    pub fn push(&mut self, value: Option<f64>) -> Result<(), TrainError> {
        let name = &self.name;
        try_grow(&mut self.values, || {
            format!("the values of column \"{name}\"")
        })?;
        match value {
            Some(v) if v.is_infinite() => Err(TrainError::invalid_value(format!(
                "column \"{}\" holds {v} in training row {}; training needs finite numbers",
                self.name,
                self.values.len() + 1
            ))),
            // NaN is missing, as pandas and scikit-learn read it.
            Some(v) => {
                self.values.push(v);
                Ok(())
            }
            None => {
                self.values.push(f64::NAN);
                Ok(())
            }
        }
    }

    pub fn finish(self) -> Column {
        Column {
            name: self.name,
            kind: InputKind::Number,
            values: ColumnValues::Numbers(self.values),
        }
    }
}

/// Accumulates a text column; `kind` is the override from options.kinds, if any.
pub struct TextColumn {
    name: String,
    kind: Option<InputKind>,
    max_levels: usize,
    index: HashMap<String, u32>,
    levels: Vec<String>,
    /// None once the column has more than `max_levels` distinct values.
    codes: Option<Vec<u32>>,
    /// None once a value does not clean as a number.
    numbers: Option<Vec<f64>>,
    dollar: bool,
    percent: bool,
    rows: usize,
    /// Heap bytes of `levels` (kept up to date: `heap_bytes` runs per row).
    level_bytes: u64,
}

impl TextColumn {
    pub fn new(name: &str, kind: Option<InputKind>, max_levels: usize) -> Self {
        TextColumn {
            name: name.to_string(),
            kind,
            max_levels,
            index: HashMap::new(),
            levels: Vec::new(),
            codes: (kind.is_none() || kind == Some(InputKind::Category)).then(Vec::new),
            numbers: (kind != Some(InputKind::Category)).then(Vec::new),
            dollar: false,
            percent: false,
            rows: 0,
            level_bytes: 0,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Heap bytes held, by capacity; each level is held twice (list and index).
    pub fn heap_bytes(&self) -> u64 {
        self.codes.as_ref().map_or(0, |c| 4 * c.capacity() as u64)
            + self.numbers.as_ref().map_or(0, |n| 8 * n.capacity() as u64)
            + 2 * self.level_bytes
    }

    pub fn push(&mut self, value: Option<&str>) -> Result<(), TrainError> {
        self.rows += 1;
        let name = &self.name;
        let what = || format!("the values of column \"{name}\"");
        if let Some(numbers) = &mut self.numbers {
            try_grow(numbers, what)?;
        }
        if let Some(codes) = &mut self.codes {
            try_grow(codes, what)?;
        }
        let text = value.filter(|t| !is_blank(t));
        if let Some(numbers) = &mut self.numbers {
            match text.map(|t| (t, clean_number(&self.name, t))) {
                None => numbers.push(f64::NAN),
                Some((t, Ok(Some(v)))) => {
                    self.dollar |= t.contains('$');
                    self.percent |= t.contains('%');
                    numbers.push(v);
                }
                Some((_, Ok(None))) => numbers.push(f64::NAN),
                Some((_, Err(e))) => {
                    if self.kind.is_some() {
                        // Declared numeric in options.kinds: a value that is not one is an error.
                        return Err(TrainError::from(e));
                    }
                    self.numbers = None;
                }
            }
        }
        if let Some(codes) = &mut self.codes {
            let code = match text {
                None => MISSING,
                Some(t) => match self.index.get(t) {
                    Some(&c) => c,
                    None => {
                        let c = self.levels.len() as u32;
                        self.index.insert(t.to_string(), c);
                        self.levels.push(t.to_string());
                        self.level_bytes += levels_bytes(&self.levels[c as usize..]);
                        c
                    }
                },
            };
            codes.push(code);
            if self.levels.len() > self.max_levels {
                self.codes = None;
                self.index = HashMap::new();
                self.levels = Vec::new();
                self.level_bytes = 0;
            }
        }
        if self.codes.is_none() && self.numbers.is_none() {
            return Err(self.too_many_levels());
        }
        Ok(())
    }

    fn too_many_levels(&self) -> TrainError {
        TrainError::limit(
            format!(
                "column \"{}\" is read as a category and has more than {} distinct values (max_levels)",
                self.name, self.max_levels
            ),
            format!(
                "A key or free-text column should be left out with options.exclude ['{}']; raise options.max_levels only for a genuine category.",
                self.name
            ),
        )
    }

    pub fn finish(mut self) -> Result<Column, TrainError> {
        if let Some(numbers) = self.numbers.take() {
            let kind = match self.kind {
                Some(k) => k,
                None if self.dollar => InputKind::Money,
                None if self.percent => InputKind::Percent,
                None => InputKind::Number,
            };
            // A text column with no value at all is numeric (and dropped as all-missing later).
            if self.kind.is_some() || self.codes.is_none() || numbers.iter().any(|v| !v.is_nan()) {
                return Ok(Column {
                    name: self.name,
                    kind,
                    values: ColumnValues::Numbers(numbers),
                });
            }
        }
        let Some(codes) = self.codes.take() else {
            return Err(self.too_many_levels());
        };
        // Levels in sorted order (the encoder's order; the first is the dropped reference).
        let mut order: Vec<u32> = (0..self.levels.len() as u32).collect();
        order.sort_by(|&a, &b| self.levels[a as usize].cmp(&self.levels[b as usize]));
        let mut remap = vec![0u32; self.levels.len()];
        for (new, &old) in order.iter().enumerate() {
            remap[old as usize] = new as u32;
        }
        let levels = order
            .iter()
            .map(|&o| self.levels[o as usize].clone())
            .collect();
        let codes = codes
            .into_iter()
            .map(|c| {
                if c == MISSING {
                    MISSING
                } else {
                    remap[c as usize]
                }
            })
            .collect();
        Ok(Column {
            name: self.name,
            kind: InputKind::Category,
            values: ColumnValues::Levels { levels, codes },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(values: &[Option<&str>]) -> Column {
        let mut c = TextColumn::new("c", None, 5);
        for v in values {
            c.push(*v).unwrap();
        }
        c.finish().unwrap()
    }

    #[test]
    fn kinds_are_inferred_from_values() {
        let money = text(&[Some("$1,234.50"), Some("($5.00)"), None, Some("$-5.00 ")]);
        assert_eq!(money.kind, InputKind::Money);
        match money.values {
            ColumnValues::Numbers(v) => {
                assert_eq!(&v[..2], &[1234.5, -5.0]);
                assert!(v[2].is_nan());
                assert_eq!(v[3], -5.0);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(text(&[Some("12.5%"), Some("")]).kind, InputKind::Percent);
        assert_eq!(text(&[Some("14.75"), Some("3")]).kind, InputKind::Number);
        let cat = text(&[Some("tuesday"), Some("monday"), Some(" "), Some("tuesday")]);
        assert_eq!(
            cat.values,
            ColumnValues::Levels {
                levels: vec!["monday".into(), "tuesday".into()],
                codes: vec![1, 0, MISSING, 1]
            }
        );
    }

    #[test]
    fn too_many_levels_is_an_error_naming_the_column() {
        let mut c = TextColumn::new("customer_key", None, 3);
        let err = (0..10)
            .map(|i| c.push(Some(&format!("k{i}"))))
            .find_map(Result::err)
            .unwrap();
        assert!(err.message.contains("\"customer_key\""), "{}", err.message);
        // Numbers as text with many distinct values are fine.
        let mut n = TextColumn::new("x", None, 3);
        for i in 0..10 {
            n.push(Some(&format!("${i}.50"))).unwrap();
        }
        assert_eq!(n.finish().unwrap().kind, InputKind::Money);
    }

    #[test]
    fn a_declared_number_refuses_text() {
        let mut c = TextColumn::new("x", Some(InputKind::Number), 3);
        c.push(Some("1.5")).unwrap();
        assert!(c.push(Some("abc")).is_err());
    }
}
