//! Dataset files: sktime/aeon `.ts`, UCR label-first text, `.arff`.
//!
//! [`load`] reads one file into a [`Dataset`]; [`load_split`] reads a
//! train/test pair so that both share one class mapping and one length.
//! The `parse_*` functions do the same from text already in memory.
//!
//! # Formats
//!
//! The format is chosen by extension — `.ts`, `.arff` — and otherwise (`.txt`,
//! `.tsv`, `.csv`, none) by content: a first non-blank line starting with
//! `%` or `@relation` is ARFF, one starting with `#` or `@` is `.ts`, anything
//! else is UCR label-first text (comma- or whitespace-separated, detected per
//! file). The format modules' docs (`ts.rs`, `ucr.rs`, `arff.rs`) show each layout.
//!
//! # Values
//!
//! Values are parsed as f64 and rounded to f32, exactly like aeon's loaders
//! followed by MiniRocket's `astype(float32)`. Missing values (`?`, `NaN`) and
//! values that are infinite or overflow f32 are errors: imputation is a
//! modelling choice the caller should make explicitly.
//!
//! # Padding
//!
//! Series may differ in length (between series, and between the channels of
//! one `.ts` series). Every channel is **zero-padded at the end** to
//! the dataset's longest channel, as aeon's `Padder` with `fill_value=0`
//! does; [`Dataset::lengths`] keeps each series' original length (its longest
//! channel), so the padding can be told apart from real zeros. [`load_split`]
//! pads train and test to the longer of the two.
//!
//! # Classes
//!
//! Labels are kept as text and mapped to `u16` indices into
//! [`Dataset::class_names`], which is sorted: by numeric value if every label
//! is a finite number (so `2` < `10`; `1` and `1.0` stay distinct classes),
//! otherwise lexicographically. The class set is the header's when it declares
//! one (`.ts` `@classLabel`, the ARFF nominal class), else the labels found.

mod arff;
mod error;
mod parsed;
mod ts;
mod ucr;

use std::{
    fs,
    path::Path,
    string::{String, ToString},
    vec::Vec,
};

pub use error::{DatasetError, printable};
use parsed::{ClassList, Parsed};

use crate::series::SeriesView;

/// A labelled set of (possibly multichannel) series, zero-padded to one length.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// `@problemName`, else the file stem.
    pub name: String,
    /// Channels per series.
    pub n_channels: usize,
    /// The longest series' length; shorter series are zero-padded at the end.
    pub length: usize,
    /// `n_series × n_channels × length` values, laid out `[series][channel][t]`.
    pub values: Vec<f32>,
    /// Each series' original length (its longest channel), before padding.
    pub lengths: Vec<usize>,
    /// Each series' 1-based line in its file (for messages about a value).
    pub lines: Vec<usize>,
    /// Class index of each series, into `class_names`.
    pub labels: Vec<u16>,
    /// Class index → original label text, in sorted order (see the module doc).
    pub class_names: Vec<String>,
}

impl Dataset {
    /// The values as a [`SeriesView`].
    ///
    /// # Panics
    ///
    /// If the public fields were changed so that `values` no longer holds
    /// `len() × n_channels × length` values (never for a loaded dataset).
    pub fn view(&self) -> SeriesView<'_, f32> {
        match SeriesView::new(&self.values, self.len(), self.n_channels, self.length) {
            Ok(v) => v,
            Err(e) => panic!("dataset {} has an inconsistent shape: {e}", self.name),
        }
    }

    /// Number of series.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True if there are no series (never for a loaded dataset).
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Number of classes (including classes declared but absent from the data).
    pub fn n_classes(&self) -> usize {
        self.class_names.len()
    }

    /// All channels of series `i` (`n_channels × length` values, channel-major).
    ///
    /// # Panics
    ///
    /// If `i >= self.len()`, like slice indexing.
    pub fn series(&self, i: usize) -> &[f32] {
        let n = self.n_channels * self.length;
        &self.values[i * n..(i + 1) * n]
    }

    /// True if no series was padded.
    pub fn is_equal_length(&self) -> bool {
        self.lengths.iter().all(|&l| l == self.length)
    }

    /// Zero-pads every channel at the end to `length` time steps.
    ///
    /// Returns [`DatasetError::PadTooShort`] (and leaves the dataset as it
    /// was) if `length` is shorter than the current length.
    pub fn pad_to(&mut self, length: usize) -> Result<(), DatasetError> {
        let old = self.length;
        if length < old {
            return Err(DatasetError::PadTooShort {
                name: self.name.clone(),
                length: old,
                requested: length,
            });
        }
        if length == old {
            return Ok(());
        }
        let rows = self.len() * self.n_channels;
        self.values.resize(rows * length, 0.0);
        // Move rows back to front, so that no row is overwritten before it moved.
        for r in (0..rows).rev() {
            self.values.copy_within(r * old..(r + 1) * old, r * length);
            self.values[r * length + old..(r + 1) * length].fill(0.0);
        }
        self.length = length;
        Ok(())
    }
}

/// Loads one dataset file, with its own class list (see the module doc for
/// format detection, padding and class order).
pub fn load(path: &Path) -> Result<Dataset, DatasetError> {
    let parsed = read_parsed(path)?;
    let classes = parsed.own_classes();
    parsed.finish(&classes)
}

/// Loads a train/test pair: the class list comes from the training file (its
/// declared classes, else its labels), and both sets are padded to the
/// longer of the two lengths.
///
/// A test label unknown to the training file is a
/// [`DatasetError::UnknownLabel`] naming the test file and line.
pub fn load_split(train: &Path, test: &Path) -> Result<(Dataset, Dataset), DatasetError> {
    split(read_parsed(train)?, read_parsed(test)?)
}

/// Parses a file's text, choosing the format by `name`'s extension and the
/// content (see the module doc). `name` is used in errors and, minus its
/// extension, as the dataset name when the file gives none.
pub fn parse(name: &str, text: &str) -> Result<Dataset, DatasetError> {
    own(parse_any(name, text)?)
}

/// Parses the text of an sktime/aeon `.ts` file (`name` is used in errors).
pub fn parse_ts(name: &str, text: &str) -> Result<Dataset, DatasetError> {
    own(ts::parse(name, &stem(name), strip(name, text)?)?)
}

/// Parses the text of a UCR label-first file (`name` is used in errors).
pub fn parse_ucr(name: &str, text: &str) -> Result<Dataset, DatasetError> {
    own(ucr::parse(name, &stem(name), strip(name, text)?)?)
}

/// Parses the text of an `.arff` file (`name` is used in errors).
pub fn parse_arff(name: &str, text: &str) -> Result<Dataset, DatasetError> {
    own(arff::parse(name, &stem(name), strip(name, text)?)?)
}

/// Parses a train/test pair from text, as [`load_split`] does from files.
pub fn parse_split(
    train_name: &str,
    train_text: &str,
    test_name: &str,
    test_text: &str,
) -> Result<(Dataset, Dataset), DatasetError> {
    split(
        parse_any(train_name, train_text)?,
        parse_any(test_name, test_text)?,
    )
}

fn own(parsed: Parsed) -> Result<Dataset, DatasetError> {
    let classes = parsed.own_classes();
    parsed.finish(&classes)
}

fn split(train: Parsed, test: Parsed) -> Result<(Dataset, Dataset), DatasetError> {
    if train.n_channels != test.n_channels {
        return Err(DatasetError::SplitChannels {
            train: train.file,
            test: test.file,
            train_channels: train.n_channels,
            test_channels: test.n_channels,
        });
    }
    let mut classes: ClassList = train.own_classes();
    classes.origin = std::format!("the classes of the training file {}", train.file);
    let mut train = train.finish(&classes)?;
    let mut test = test.finish(&classes)?;
    let length = train.length.max(test.length);
    train.pad_to(length)?;
    test.pad_to(length)?;
    Ok((train, test))
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Format {
    Ts,
    Ucr,
    Arff,
}

fn read_parsed(path: &Path) -> Result<Parsed, DatasetError> {
    let file = path.display().to_string();
    let bytes = fs::read(path).map_err(|source| DatasetError::Io {
        file: file.clone(),
        source,
    })?;
    let text = match std::str::from_utf8(&bytes) {
        Ok(t) => t,
        Err(e) => {
            let valid = &bytes[..e.valid_up_to()];
            let line = valid.iter().filter(|&&b| b == b'\n').count() + 1;
            let line_start = valid.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
            // The prefix is valid UTF-8 by construction; count characters.
            let column =
                std::str::from_utf8(&valid[line_start..]).map_or(1, |s| s.chars().count() + 1);
            return Err(DatasetError::NotUtf8 { file, line, column });
        }
    };
    parse_any(&file, text)
}

fn parse_any(file: &str, text: &str) -> Result<Parsed, DatasetError> {
    let text = strip(file, text)?;
    let stem = stem(file);
    match detect(file, text) {
        Format::Ts => ts::parse(file, &stem, text),
        Format::Ucr => ucr::parse(file, &stem, text),
        Format::Arff => arff::parse(file, &stem, text),
    }
}

/// Removes a byte-order mark; rejects whitespace-only text.
fn strip<'a>(file: &str, text: &'a str) -> Result<&'a str, DatasetError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.trim().is_empty() {
        return Err(DatasetError::Empty {
            file: file.to_string(),
        });
    }
    Ok(text)
}

fn stem(file: &str) -> String {
    Path::new(file)
        .file_stem()
        .map_or_else(|| file.to_string(), |s| s.to_string_lossy().into_owned())
}

fn detect(file: &str, text: &str) -> Format {
    let ext = Path::new(file)
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase());
    match ext.as_deref() {
        Some("ts") => return Format::Ts,
        Some("arff") => return Format::Arff,
        _ => {}
    }
    let first = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    let lower = first.get(..9).map(str::to_ascii_lowercase);
    if first.starts_with('%') || lower.as_deref() == Some("@relation") {
        Format::Arff
    } else if first.starts_with('#') || first.starts_with('@') {
        Format::Ts
    } else {
        Format::Ucr
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec;

    #[test]
    fn detects_formats() {
        assert_eq!(detect("a.TS", "1,2"), Format::Ts);
        assert_eq!(detect("a.arff", "1,2"), Format::Arff);
        assert_eq!(detect("a.txt", "\n  @RELATION x"), Format::Arff);
        assert_eq!(detect("a", "% c"), Format::Arff);
        assert_eq!(detect("a.txt", "#c\n@data"), Format::Ts);
        assert_eq!(detect("a.tsv", "1\t2"), Format::Ucr);
        assert_eq!(detect("a", "  1.0e+00 2"), Format::Ucr);
    }

    #[test]
    fn pad_to_moves_rows() {
        let mut d = Dataset {
            name: "d".into(),
            n_channels: 2,
            length: 2,
            values: vec![1., 2., 3., 4., 5., 6., 7., 8.],
            lengths: vec![2, 1],
            lines: vec![1, 2],
            labels: vec![0, 0],
            class_names: vec!["a".into()],
        };
        d.pad_to(3).unwrap();
        assert_eq!(d.values, [1., 2., 0., 3., 4., 0., 5., 6., 0., 7., 8., 0.]);
        assert_eq!(d.view().channel(1, 1), [7., 8., 0.]);
        assert!(!d.is_equal_length());
        let e = d.pad_to(2).unwrap_err();
        assert!(matches!(
            e,
            DatasetError::PadTooShort {
                length: 3,
                requested: 2,
                ..
            }
        ));
        assert_eq!(d.length, 3);
    }

    #[test]
    fn empty_and_bom() {
        let e = parse("e.txt", " \n\t\n").unwrap_err();
        assert!(matches!(e, DatasetError::Empty { .. }));
        assert_eq!(
            e.to_string(),
            "e.txt: file is empty (expected a header and/or data lines)"
        );
        let d = parse("b.txt", "\u{feff}1,2,3\n").unwrap();
        assert_eq!(d.values, [2.0, 3.0]);
        assert_eq!(d.name, "b");
    }

    #[test]
    fn split_shares_classes_and_length() {
        let (a, b) = parse_split("tr.txt", "2,1,2\n10,3,4\n", "te.txt", "10,5,6,7\n").unwrap();
        assert_eq!(a.class_names, ["2", "10"]);
        assert_eq!(b.class_names, a.class_names);
        assert_eq!(b.labels, [1]);
        assert_eq!((a.length, b.length), (3, 3));
        assert_eq!(a.values, [1., 2., 0., 3., 4., 0.]);
        assert_eq!(a.lengths, [2, 2]);
        let e = parse_split("tr.txt", "2,1,2\n", "te.txt", "5,6,7\n\n3,1,1\n").unwrap_err();
        assert!(
            matches!(&e, DatasetError::UnknownLabel { line: 1, .. }),
            "{e}"
        );
        assert!(
            e.to_string().starts_with("te.txt:1: class label `5`"),
            "{e}"
        );
        let e = parse_split(
            "tr.ts",
            "@dimensions 2\n@classLabel true a\n@data\n1:2:a\n",
            "te.txt",
            "a,1\n",
        )
        .unwrap_err();
        assert!(matches!(
            e,
            DatasetError::SplitChannels {
                train_channels: 2,
                test_channels: 1,
                ..
            }
        ));
    }
}
