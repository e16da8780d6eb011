//! What every format parser produces: series as read, before class mapping and padding.

use std::{
    collections::{BTreeMap, BTreeSet},
    format,
    string::{String, ToString},
    vec,
    vec::Vec,
};

use super::{Dataset, DatasetError};

/// Series as read from one file: values unpadded, labels as text.
#[derive(Debug)]
pub(crate) struct Parsed {
    /// The file name used in errors.
    pub file: String,
    /// `@problemName`, else the file stem.
    pub name: String,
    /// Channels per series (0 until the first series is pushed).
    pub n_channels: usize,
    /// Values as read: series after series, channel after channel, unpadded.
    raw: Vec<f32>,
    /// Length of each (series, channel), `n_series × n_channels`.
    chan_lens: Vec<usize>,
    /// Per series: index into `label_texts`.
    label_ids: Vec<u32>,
    /// Distinct label texts, in order of first appearance.
    label_texts: Vec<String>,
    label_index: BTreeMap<String, u32>,
    /// Per series: its 1-based line.
    lines: Vec<usize>,
    /// The class list the header declares (`@classLabel`, arff nominal class).
    pub declared: Option<ClassList>,
}

/// A class list and where it comes from (for error messages).
#[derive(Debug, Clone)]
pub(crate) struct ClassList {
    /// Class texts, deduplicated and sorted (see [`sort_classes`]).
    pub names: Vec<String>,
    /// e.g. "declared by `@classLabel` on line 18 of x.ts".
    pub origin: String,
    /// Class text → index into `names` (a file may have many series per class).
    index: BTreeMap<String, usize>,
}

impl ClassList {
    /// Sorted, deduplicated class list from label texts.
    pub fn new<'a>(labels: impl IntoIterator<Item = &'a str>, origin: String) -> Self {
        let names = sort_classes(labels);
        let index = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.clone(), i))
            .collect();
        Self {
            names,
            origin,
            index,
        }
    }

    /// The classes as one comma-separated string, shortened if very many.
    pub fn allowed(&self) -> String {
        const SHOWN: usize = 20;
        let mut s = self
            .names
            .iter()
            .take(SHOWN)
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(", ");
        if self.names.len() > SHOWN {
            s.push_str(&format!(", ... ({} in all)", self.names.len()));
        }
        s
    }

    /// True if `label` is one of the classes.
    pub fn contains(&self, label: &str) -> bool {
        self.index.contains_key(label)
    }
}

/// Deduplicates labels and sorts them: by numeric value if every label is a
/// finite number (so `2` < `10`), else lexicographically (by bytes).
///
/// Texts stay distinct even when they denote the same number (`1` vs `1.0`);
/// such ties are ordered by text so the order is deterministic.
pub(crate) fn sort_classes<'a>(labels: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    // BTreeSet: dedup + lexicographic order in one go.
    let set: BTreeSet<&str> = labels.into_iter().collect();
    let numeric: Option<Vec<(f64, &str)>> = set
        .iter()
        .map(|s| match s.trim().parse::<f64>() {
            Ok(v) if v.is_finite() => Some((v, *s)),
            _ => None,
        })
        .collect();
    match numeric {
        Some(mut pairs) => {
            // Stable sort keeps the lexicographic order among equal values.
            pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
            pairs.into_iter().map(|(_, s)| s.to_string()).collect()
        }
        None => set.into_iter().map(str::to_string).collect(),
    }
}

impl Parsed {
    /// An empty set of series read from `file`.
    pub fn new(file: &str, name: String) -> Self {
        Self {
            file: file.to_string(),
            name,
            n_channels: 0,
            raw: Vec::new(),
            chan_lens: Vec::new(),
            label_ids: Vec::new(),
            label_texts: Vec::new(),
            label_index: BTreeMap::new(),
            lines: Vec::new(),
            declared: None,
        }
    }

    /// Number of series pushed so far.
    pub fn n_series(&self) -> usize {
        self.lines.len()
    }

    /// Appends one value of the current series' current channel.
    #[inline]
    pub fn push_value(&mut self, v: f32) {
        self.raw.push(v);
    }

    /// Ends a channel of `len` values (the last `len` pushed).
    pub fn end_channel(&mut self, len: usize) {
        self.chan_lens.push(len);
    }

    /// Ends a series of a file whose header declares `classes`: the label must
    /// be non-empty (`expected` says where it should have been) and one of
    /// them.
    pub fn end_declared_series(
        &mut self,
        file: &str,
        line: usize,
        label: &str,
        classes: &ClassList,
        expected: &str,
    ) -> Result<(), DatasetError> {
        if label.is_empty() {
            return Err(DatasetError::Truncated {
                file: file.to_string(),
                line,
                expected: expected.to_string(),
                found: "nothing".to_string(),
            });
        }
        if !classes.contains(label) {
            return Err(DatasetError::UnknownLabel {
                file: file.to_string(),
                line,
                label: label.to_string(),
                allowed: classes.allowed(),
                origin: classes.origin.clone(),
            });
        }
        self.end_series(label, line);
        Ok(())
    }

    /// Ends a file with a declared class list: at least one series.
    pub fn finish_declared(
        mut self,
        file: &str,
        data_line: usize,
        classes: ClassList,
    ) -> Result<Self, DatasetError> {
        if self.n_series() == 0 {
            return Err(DatasetError::NoSeries {
                file: file.to_string(),
                line: data_line,
            });
        }
        self.declared = Some(classes);
        Ok(self)
    }

    /// Ends a series: records its label and line. The caller has checked
    /// that exactly `n_channels` channels were ended since the last series.
    pub fn end_series(&mut self, label: &str, line: usize) {
        let id = match self.label_index.get(label) {
            Some(&id) => id,
            None => {
                // Fewer than 2^32 series fit in memory anyway, so this cannot wrap.
                let id = self.label_texts.len() as u32;
                self.label_texts.push(label.to_string());
                self.label_index.insert(label.to_string(), id);
                id
            }
        };
        self.label_ids.push(id);
        self.lines.push(line);
    }

    /// The class list this file defines on its own: the declared one, else
    /// the labels it uses.
    pub fn own_classes(&self) -> ClassList {
        match &self.declared {
            Some(c) => c.clone(),
            None => ClassList::new(
                self.label_texts.iter().map(String::as_str),
                format!("the labels found in {}", self.file),
            ),
        }
    }

    /// Maps labels through `classes` and zero-pads every series to the
    /// longest channel of the file.
    pub fn finish(self, classes: &ClassList) -> Result<Dataset, DatasetError> {
        if classes.names.len() > usize::from(u16::MAX) + 1 {
            return Err(DatasetError::TooManyClasses {
                file: self.file,
                count: classes.names.len(),
            });
        }
        let text_to_class: Vec<Option<u16>> = self
            .label_texts
            .iter()
            // Bounded by the check above.
            .map(|t| classes.index.get(t.as_str()).map(|&i| i as u16))
            .collect();
        let mut labels = Vec::with_capacity(self.label_ids.len());
        for (i, &id) in self.label_ids.iter().enumerate() {
            match text_to_class[id as usize] {
                Some(c) => labels.push(c),
                None => {
                    return Err(DatasetError::UnknownLabel {
                        file: self.file.clone(),
                        line: self.lines[i],
                        label: self.label_texts[id as usize].clone(),
                        allowed: classes.allowed(),
                        origin: classes.origin.clone(),
                    });
                }
            }
        }

        let n_channels = self.n_channels;
        let length = self.chan_lens.iter().copied().max().unwrap_or(0);
        let lengths: Vec<usize> = if n_channels == 0 {
            Vec::new()
        } else {
            self.chan_lens
                .chunks(n_channels)
                .map(|c| c.iter().copied().max().unwrap_or(0))
                .collect()
        };
        let values = if self.chan_lens.iter().all(|&l| l == length) {
            // Equal-length file: the values as read are already the final layout.
            self.raw
        } else {
            let mut values = vec![0.0f32; self.chan_lens.len() * length];
            let mut src = 0;
            for (k, &len) in self.chan_lens.iter().enumerate() {
                values[k * length..k * length + len].copy_from_slice(&self.raw[src..src + len]);
                src += len;
            }
            values
        };
        Ok(Dataset {
            name: self.name,
            n_channels,
            length,
            values,
            lengths,
            lines: self.lines,
            labels,
            class_names: classes.names.clone(),
        })
    }
}

/// 1-based character column of `token` within `line`; `token` must be a
/// subslice of `line` (as produced by splitting it), else 1.
pub(crate) fn column(line: &str, token: &str) -> usize {
    let offset = (token.as_ptr() as usize).wrapping_sub(line.as_ptr() as usize);
    if offset > line.len() || token.len() > line.len() - offset {
        return 1;
    }
    line.get(..offset).map_or(1, |p| p.chars().count() + 1)
}

/// Parses one value; `token` is a subslice of `line` (for the column),
/// `field` describes the value for messages and is only built on error.
///
/// Values are parsed as f64 and then rounded to f32, as aeon/numpy do
/// (`float64` load, then `astype(float32)` in MiniRocket), so that golden
/// tests against the Python reference see bit-identical inputs.
#[inline]
pub(crate) fn parse_value(
    file: &str,
    line_no: usize,
    line: &str,
    token: &str,
    field: impl FnOnce() -> String,
) -> Result<f32, DatasetError> {
    let t = token.trim();
    if let Ok(v) = t.parse::<f64>() {
        let f = v as f32;
        if f.is_finite() {
            return Ok(f);
        }
    }
    let column = column(line, t);
    if t == "?" || t.eq_ignore_ascii_case("nan") {
        Err(DatasetError::MissingValue {
            file: file.to_string(),
            line: line_no,
            column,
            field: field(),
            text: t.to_string(),
        })
    } else {
        Err(DatasetError::NonNumeric {
            file: file.to_string(),
            line: line_no,
            column,
            field: field(),
            text: t.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_sort_numerically_when_all_numeric() {
        let c = sort_classes(["10", "2", "1", "-1", "2", "1.0"]);
        assert_eq!(c, ["-1", "1", "1.0", "2", "10"]);
        let c = sort_classes(["b", "10", "2", "a"]);
        assert_eq!(c, ["10", "2", "a", "b"]);
        // "nan" parses as f64 but is not a sortable number.
        let c = sort_classes(["2", "nan", "10"]);
        assert_eq!(c, ["10", "2", "nan"]);
    }

    #[test]
    fn column_is_char_based() {
        let line = "é,ab,c";
        let tok = line.split(',').nth(1).unwrap();
        assert_eq!(column(line, tok), 3);
        assert_eq!(column(line, "elsewhere"), 1);
    }

    #[test]
    fn values_and_missing() {
        let f = || String::from("v");
        // The second comma-separated token of `line`, as the parsers pass it.
        let second = |line: &'static str| line.split(',').nth(1).unwrap();
        assert_eq!(parse_value("f", 1, " 1.5", " 1.5", f).unwrap(), 1.5);
        let e = parse_value("f", 3, "1, ?", second("1, ?"), f).unwrap_err();
        assert!(matches!(
            e,
            DatasetError::MissingValue {
                line: 3,
                column: 4,
                ..
            }
        ));
        let e = parse_value("f", 3, "1,NaN", second("1,NaN"), f).unwrap_err();
        assert!(matches!(e, DatasetError::MissingValue { .. }));
        let e = parse_value("f", 3, "1,1e39", second("1,1e39"), f).unwrap_err();
        assert!(matches!(e, DatasetError::NonNumeric { .. }));
        let e = parse_value("f", 3, "1,-inf", second("1,-inf"), f).unwrap_err();
        assert!(matches!(e, DatasetError::NonNumeric { .. }));
        let e = parse_value("f", 3, "1,x", second("1,x"), f).unwrap_err();
        assert_eq!(
            e.to_string(),
            "f:3:3: v: expected a finite number, found `x`"
        );
    }
}
