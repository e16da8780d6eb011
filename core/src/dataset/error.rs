//! Typed loader errors: each names the file, and the line (and column) where it applies.

use std::{io, string::String};

/// Why a dataset file could not be loaded.
///
/// `file` is the path (or the name given to a `parse_*` function) exactly as
/// passed in; `line` and `column` are 1-based, columns counted in characters.
/// The `Display` text reads `file:line:column: what was expected, what was found`;
/// text quoted from a file (or a path) goes through [`printable`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DatasetError {
    /// The file could not be read (not found, permission denied, ...).
    #[error("{}: cannot read file: {source}", printable(.file))]
    Io {
        /// The path as given.
        file: String,
        /// The underlying I/O error.
        source: io::Error,
    },

    /// The file is not UTF-8 text.
    #[error("{}:{line}:{column}: invalid UTF-8 (expected a UTF-8/ASCII text file)", printable(.file))]
    NotUtf8 {
        /// The file.
        file: String,
        /// Line of the first invalid byte.
        line: usize,
        /// Column of the first invalid byte.
        column: usize,
    },

    /// The file holds nothing but whitespace (and comments).
    #[error("{}: file is empty (expected a header and/or data lines)", printable(.file))]
    Empty {
        /// The file.
        file: String,
    },

    /// A `.ts`/`.arff` file ends without an `@data` line.
    #[error("{}:{line}: end of file without an `@data` line (expected `@data` after the header)", printable(.file))]
    NoData {
        /// The file.
        file: String,
        /// The file's last line.
        line: usize,
    },

    /// The file has a header (and `@data`) but no series.
    #[error("{}:{line}: no series after this line (expected at least one data line)", printable(.file))]
    NoSeries {
        /// The file.
        file: String,
        /// The `@data` line (or last line).
        line: usize,
    },

    /// The file uses a feature this loader does not implement.
    #[error("{}:{line}: {} is not supported", printable(.file), printable(.what))]
    Unsupported {
        /// The file.
        file: String,
        /// The line declaring the feature.
        line: usize,
        /// The feature, e.g. "`@timeStamps true` (time-stamped series)".
        what: String,
    },

    /// A malformed header line.
    #[error("{}:{line}: invalid header: {}", printable(.file), printable(.message))]
    Header {
        /// The file.
        file: String,
        /// The header line.
        line: usize,
        /// What was expected and found.
        message: String,
    },

    /// A value that is not a finite number representable as f32.
    #[error("{}:{line}:{column}: {}: expected a finite number, found {}", printable(.file), printable(.field), quoted(&printable(.text)))]
    NonNumeric {
        /// The file.
        file: String,
        /// The data line.
        line: usize,
        /// Column of the value's first character.
        column: usize,
        /// Which value, e.g. "channel 2, value 17" or "field 5 (value 4)".
        field: String,
        /// The offending text.
        text: String,
    },

    /// A missing value (`?` or `NaN`).
    #[error("{}:{line}:{column}: {}: `{}` marks a missing value; missing values are not supported", printable(.file), printable(.field), printable(.text))]
    MissingValue {
        /// The file.
        file: String,
        /// The data line.
        line: usize,
        /// Column of the value.
        column: usize,
        /// Which value, as in [`DatasetError::NonNumeric`].
        field: String,
        /// `?`, `NaN`, ...
        text: String,
    },

    /// A data line ends before all its parts (channels, class label) were read.
    #[error("{}:{line}: truncated line: expected {}, found {}", printable(.file), printable(.expected), printable(.found))]
    Truncated {
        /// The file.
        file: String,
        /// The data line.
        line: usize,
        /// What the line should hold.
        expected: String,
        /// What it holds.
        found: String,
    },

    /// A series (channel) whose length contradicts the header or the other series.
    #[error("{}:{line}: channel {channel} has {got} values, expected {expected} ({})", printable(.file), printable(.reason))]
    LengthMismatch {
        /// The file.
        file: String,
        /// The data line.
        line: usize,
        /// 1-based channel (1 for univariate files).
        channel: usize,
        /// Values found.
        got: usize,
        /// Values expected.
        expected: usize,
        /// Where the expectation comes from.
        reason: String,
    },

    /// A series whose channel count contradicts the header or the other series.
    #[error("{}:{line}: series has {got} channels, expected {expected} ({})", printable(.file), printable(.reason))]
    ChannelCount {
        /// The file.
        file: String,
        /// The data line.
        line: usize,
        /// Channels found.
        got: usize,
        /// Channels expected.
        expected: usize,
        /// Where the expectation comes from.
        reason: String,
    },

    /// A class label outside the known class list.
    #[error("{}:{line}: class label `{}` is not one of [{}] ({})", printable(.file), printable(.label), printable(.allowed), printable(.origin))]
    UnknownLabel {
        /// The file holding the label.
        file: String,
        /// The data line.
        line: usize,
        /// The label text.
        label: String,
        /// The known classes, comma-separated (shortened if very many).
        allowed: String,
        /// Where the class list comes from, e.g. "declared by `@classLabel` on line 18".
        origin: String,
    },

    /// More classes than a `u16` label can index.
    #[error("{}: {count} classes, but at most 65536 are supported (labels are u16)", printable(.file))]
    TooManyClasses {
        /// The file.
        file: String,
        /// Distinct classes.
        count: usize,
    },

    /// Train and test files of [`load_split`](super::load_split) have different channel counts.
    #[error("{}: series have {test_channels} channels, but the training file {} has {train_channels}", printable(.test), printable(.train))]
    SplitChannels {
        /// The training file.
        train: String,
        /// The test file.
        test: String,
        /// Channels in the training file.
        train_channels: usize,
        /// Channels in the test file.
        test_channels: usize,
    },

    /// [`Dataset::pad_to`](super::Dataset::pad_to) asked for a length shorter than the series.
    #[error("dataset {}: cannot pad to length {requested}, its series are {length} long", printable(.name))]
    PadTooShort {
        /// The dataset's name (it may not come from a file).
        name: String,
        /// The dataset's current length.
        length: usize,
        /// The requested length.
        requested: usize,
    },
}

/// `text` with control characters (escape sequences, NUL, CR, …) escaped as
/// `\u{1b}`, so that quoting a file's content cannot drive the terminal;
/// line breaks and tabs stay, other characters (é, …) are kept as they are.
pub fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() && c != '\n' && c != '\t' {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// `found an empty field` reads better than ``found ``.
fn quoted(text: &str) -> String {
    if text.is_empty() {
        String::from("an empty field")
    } else {
        std::format!("`{text}`")
    }
}
