//! The sktime/aeon `.ts` format.
//!
//! ```text
//! # comment
//! @problemName BasicMotions
//! @timeStamps false
//! @univariate false
//! @dimensions 6
//! @equalLength true
//! @seriesLength 100
//! @classLabel true Standing Running Walking Badminton
//! @data
//! 0.07,0.08,...:0.30,0.31,...:...:Standing
//! ```
//!
//! One line per series: channels separated by `:`, values by `,`, the last
//! `:`-field is the class label. Header keywords are case-insensitive;
//! unknown ones are ignored.

use std::{
    format,
    string::{String, ToString},
    vec::Vec,
};

use super::{
    DatasetError,
    parsed::{ClassList, Parsed, parse_value},
};

/// The header facts that constrain the data, each with its line.
#[derive(Default)]
struct Header {
    problem_name: Option<String>,
    univariate: Option<(bool, usize)>,
    dimensions: Option<(usize, usize)>,
    equal_length: Option<(bool, usize)>,
    series_length: Option<(usize, usize)>,
    class_labels: Option<(Vec<String>, usize)>,
}

/// Parses a `.ts` file's text; `file` names it in errors, `stem` is the
/// dataset name unless `@problemName` gives one.
pub(crate) fn parse(file: &str, stem: &str, text: &str) -> Result<Parsed, DatasetError> {
    let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l));
    let (header, data_line) = parse_header(file, &mut lines)?;

    let Some((class_labels, class_line)) = header.class_labels else {
        return Err(DatasetError::Unsupported {
            file: file.to_string(),
            line: data_line,
            what: "unlabelled data (no `@classLabel true <labels>` before `@data`)".to_string(),
        });
    };
    let classes = ClassList::new(
        class_labels.iter().map(String::as_str),
        format!("declared by `@classLabel` on line {class_line}"),
    );

    let name = header.problem_name.unwrap_or_else(|| stem.to_string());
    let mut out = Parsed::new(file, name);

    // Expected channel count and where that expectation comes from.
    let mut dims: Option<(usize, String)> = match (header.dimensions, header.univariate) {
        (Some((d, l)), _) => Some((d, format!("`@dimensions {d}` on line {l}"))),
        (None, Some((true, l))) => Some((1, format!("`@univariate true` on line {l}"))),
        _ => None,
    };
    // Expected length of every channel, if the file is declared equal-length.
    let mut fixed_len: Option<(usize, String)> = match (header.equal_length, header.series_length) {
        (Some((false, _)), _) => None,
        (_, Some((n, l))) => Some((n, format!("`@seriesLength {n}` on line {l}"))),
        _ => None,
    };
    let equal_declared = matches!(header.equal_length, Some((true, _)));
    if let (Some((true, ul)), Some((d, dl))) = (header.univariate, header.dimensions)
        && d != 1
    {
        return Err(DatasetError::Header {
            file: file.to_string(),
            line: ul.max(dl),
            message: format!(
                "`@univariate true` (line {ul}) contradicts `@dimensions {d}` (line {dl})"
            ),
        });
    }

    for (line_no, raw_line) in lines {
        let line = raw_line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let n_fields = line.bytes().filter(|&b| b == b':').count() + 1;
        let expected_dims = match &dims {
            Some((d, _)) => *d,
            None => n_fields - 1,
        };
        if n_fields < expected_dims + 1 || n_fields < 2 {
            return Err(DatasetError::Truncated {
                file: file.to_string(),
                line: line_no,
                expected: format!(
                    "{} channel(s) and a class label, separated by `:`",
                    expected_dims.max(1)
                ),
                found: format!("{n_fields} `:`-separated field(s)"),
            });
        }
        if n_fields > expected_dims + 1 {
            let reason = dims.as_ref().map_or(String::new(), |d| d.1.clone());
            return Err(DatasetError::ChannelCount {
                file: file.to_string(),
                line: line_no,
                got: n_fields - 1,
                expected: expected_dims,
                reason,
            });
        }
        if dims.is_none() {
            dims = Some((
                expected_dims,
                format!("as on line {line_no}, the first series"),
            ));
        }
        out.n_channels = expected_dims;

        let mut fields = line.split(':');
        for c in 0..expected_dims {
            // n_fields was counted above, so the field exists.
            let field = fields.next().unwrap_or("");
            let mut len = 0;
            for (t, token) in field.split(',').enumerate() {
                let v = parse_value(file, line_no, raw_line, token, || {
                    format!("channel {}, value {}", c + 1, t + 1)
                })?;
                out.push_value(v);
                len += 1;
            }
            if let Some((n, reason)) = &fixed_len
                && len != *n
            {
                return Err(DatasetError::LengthMismatch {
                    file: file.to_string(),
                    line: line_no,
                    channel: c + 1,
                    got: len,
                    expected: *n,
                    reason: reason.clone(),
                });
            }
            if equal_declared && fixed_len.is_none() {
                fixed_len = Some((
                    len,
                    format!(
                        "`@equalLength true`, and channel 1 on line {line_no} has {len} values"
                    ),
                ));
            }
            out.end_channel(len);
        }
        let label = fields.next().unwrap_or("").trim();
        out.end_declared_series(
            file,
            line_no,
            label,
            &classes,
            "a class label after the last `:`",
        )?;
    }

    out.finish_declared(file, data_line, classes)
}

/// Reads header lines up to and including `@data`; returns the header and
/// the `@data` line number.
fn parse_header<'a>(
    file: &str,
    lines: &mut impl Iterator<Item = (usize, &'a str)>,
) -> Result<(Header, usize), DatasetError> {
    let mut h = Header::default();
    let mut last_line = 0;
    let header_err = |line: usize, message: String| DatasetError::Header {
        file: file.to_string(),
        line,
        message,
    };
    for (line_no, raw_line) in lines.by_ref() {
        last_line = line_no;
        let line = raw_line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if !line.starts_with('@') {
            return Err(header_err(
                line_no,
                format!(
                    "expected an `@keyword` line or `@data` before the series, found `{}`",
                    shorten(line)
                ),
            ));
        }
        let (keyword, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        let rest = rest.trim();
        let keyword = keyword.to_ascii_lowercase();
        let bool_arg = |rest: &str| -> Result<bool, DatasetError> {
            let first = rest.split_whitespace().next().unwrap_or("");
            parse_bool(first).ok_or_else(|| {
                header_err(
                    line_no,
                    format!("expected `true` or `false` after `{keyword}`, found `{first}`"),
                )
            })
        };
        let count_arg = |rest: &str| -> Result<usize, DatasetError> {
            match rest.parse::<usize>() {
                Ok(n) if n > 0 => Ok(n),
                _ => Err(header_err(
                    line_no,
                    format!("expected a positive integer after `{keyword}`, found `{rest}`"),
                )),
            }
        };
        match keyword.as_str() {
            "@data" => return Ok((h, line_no)),
            "@problemname" if !rest.is_empty() => h.problem_name = Some(rest.to_string()),
            // Only `true` changes how the data reads; `false` falls through.
            "@timestamps" if bool_arg(rest)? => {
                return Err(DatasetError::Unsupported {
                    file: file.to_string(),
                    line: line_no,
                    what: "`@timeStamps true` (time-stamped series)".to_string(),
                });
            }
            "@univariate" => h.univariate = Some((bool_arg(rest)?, line_no)),
            "@dimensions" | "@dimension" => h.dimensions = Some((count_arg(rest)?, line_no)),
            "@equallength" => h.equal_length = Some((bool_arg(rest)?, line_no)),
            "@serieslength" => h.series_length = Some((count_arg(rest)?, line_no)),
            "@targetlabel" if bool_arg(rest)? => {
                return Err(DatasetError::Unsupported {
                    file: file.to_string(),
                    line: line_no,
                    what: "`@targetLabel true` (regression targets; only classification)"
                        .to_string(),
                });
            }
            "@classlabel" => {
                let mut tokens = rest.split_whitespace();
                if !bool_arg(tokens.next().unwrap_or(""))? {
                    return Err(DatasetError::Unsupported {
                        file: file.to_string(),
                        line: line_no,
                        what: "`@classLabel false` (unlabelled data; class labels are needed)"
                            .to_string(),
                    });
                }
                let labels: Vec<String> = tokens.map(str::to_string).collect();
                if labels.is_empty() {
                    return Err(header_err(
                        line_no,
                        "expected the class labels after `@classLabel true`".to_string(),
                    ));
                }
                h.class_labels = Some((labels, line_no));
            }
            // `@missing` is checked per value; other keywords don't change how
            // the data reads, so they are ignored.
            _ => {}
        }
    }
    if last_line == 0 {
        return Err(DatasetError::Empty {
            file: file.to_string(),
        });
    }
    Err(DatasetError::NoData {
        file: file.to_string(),
        line: last_line,
    })
}

fn parse_bool(s: &str) -> Option<bool> {
    if s.eq_ignore_ascii_case("true") {
        Some(true)
    } else if s.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// The start of a long line, for messages.
pub(crate) fn shorten(s: &str) -> String {
    const MAX: usize = 40;
    match s.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(body: &str) -> Result<Parsed, DatasetError> {
        parse("t.ts", "t", body)
    }

    const HEAD: &str = "@problemName P\n@univariate true\n@classLabel true a b\n@data\n";

    #[test]
    fn reads_header_and_series() {
        let p = ts(&format!("{HEAD}1,2,3:a\n4,5:b\n")).unwrap();
        assert_eq!(p.name, "P");
        let d = p
            .finish(&ClassList::new(["a", "b"], String::new()))
            .unwrap();
        assert_eq!(d.length, 3);
        assert_eq!(d.values, [1.0, 2.0, 3.0, 4.0, 5.0, 0.0]);
        assert_eq!(d.lengths, [3, 2]);
    }

    #[test]
    fn keywords_are_case_insensitive() {
        let p = ts("@PROBLEMNAME Q\n@ClassLabel TRUE x\n@DATA\n1:x\n").unwrap();
        assert_eq!(p.name, "Q");
    }

    #[test]
    fn header_errors() {
        let e = ts("@timeStamps true\n@classLabel true a\n@data\n1:a\n").unwrap_err();
        assert!(
            matches!(e, DatasetError::Unsupported { line: 1, .. }),
            "{e}"
        );
        let e = ts("@classLabel false\n@data\n1\n").unwrap_err();
        assert!(
            matches!(e, DatasetError::Unsupported { line: 1, .. }),
            "{e}"
        );
        let e = ts("@targetLabel true\n@data\n1:2.5\n").unwrap_err();
        assert!(
            matches!(e, DatasetError::Unsupported { line: 1, .. }),
            "{e}"
        );
        let e = ts("@data\n1:a\n").unwrap_err();
        assert!(
            matches!(e, DatasetError::Unsupported { line: 1, .. }),
            "{e}"
        );
        let e = ts("@dimensions x\n").unwrap_err();
        assert!(matches!(e, DatasetError::Header { line: 1, .. }), "{e}");
        let e = ts("@univariate true\n@dimensions 2\n@classLabel true a\n@data\n").unwrap_err();
        assert!(matches!(e, DatasetError::Header { line: 2, .. }), "{e}");
        let e = ts("# c\n@classLabel true a\n1,2:a\n").unwrap_err();
        assert!(matches!(e, DatasetError::Header { line: 3, .. }), "{e}");
        let e = ts("@classLabel true a\n@data\n\n").unwrap_err();
        assert!(matches!(e, DatasetError::NoSeries { line: 2, .. }), "{e}");
        let e = ts("# only a comment\n").unwrap_err();
        assert!(matches!(e, DatasetError::NoData { line: 1, .. }), "{e}");
    }

    #[test]
    fn declared_shape_is_checked() {
        let head = "@dimensions 2\n@equalLength true\n@seriesLength 2\n@classLabel true a\n@data\n";
        assert!(ts(&format!("{head}1,2:3,4:a\n")).is_ok());
        let e = ts(&format!("{head}1,2:3,4:5,6:a\n")).unwrap_err();
        assert!(matches!(
            e,
            DatasetError::ChannelCount {
                line: 6,
                got: 3,
                expected: 2,
                ..
            }
        ));
        let e = ts(&format!("{head}1,2:a\n")).unwrap_err();
        assert!(matches!(e, DatasetError::Truncated { line: 6, .. }), "{e}");
        let e = ts(&format!("{head}1,2:3:a\n")).unwrap_err();
        assert!(
            matches!(
                e,
                DatasetError::LengthMismatch {
                    line: 6,
                    channel: 2,
                    got: 1,
                    expected: 2,
                    ..
                }
            ),
            "{e}"
        );
        // Equal length declared without a length: the first series sets it.
        let e = ts("@equalLength true\n@classLabel true a\n@data\n1,2:a\n1:a\n").unwrap_err();
        assert!(
            matches!(e, DatasetError::LengthMismatch { line: 5, .. }),
            "{e}"
        );
        // Undeclared shape: the first series sets the channel count.
        let e = ts("@classLabel true a\n@data\n1:2:a\n1:a\n").unwrap_err();
        assert!(matches!(e, DatasetError::Truncated { line: 4, .. }), "{e}");
        let e = ts(&format!("{HEAD}1:2:a\n")).unwrap_err();
        assert!(
            matches!(e, DatasetError::ChannelCount { line: 5, .. }),
            "{e}"
        );
    }

    #[test]
    fn unequal_channels_pad_to_series_max() {
        let p = ts("@classLabel true a\n@data\n1,2,3:4:a\n5:6,7:a\n").unwrap();
        let d = p.finish(&ClassList::new(["a"], String::new())).unwrap();
        assert_eq!((d.n_channels, d.length), (2, 3));
        assert_eq!(d.lengths, [3, 2]);
        assert_eq!(d.values, [1., 2., 3., 4., 0., 0., 5., 0., 0., 6., 7., 0.]);
    }

    #[test]
    fn value_errors_name_line_and_column() {
        let e = ts(&format!("{HEAD}1,x,3:a\n")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "t.ts:5:3: channel 1, value 2: expected a finite number, found `x`"
        );
        let e = ts(&format!("{HEAD}1,2,?:a\n")).unwrap_err();
        assert!(
            matches!(
                e,
                DatasetError::MissingValue {
                    line: 5,
                    column: 5,
                    ..
                }
            ),
            "{e}"
        );
        let e = ts(&format!("{HEAD}1,2,3:\n")).unwrap_err();
        assert!(matches!(e, DatasetError::Truncated { line: 5, .. }), "{e}");
        let e = ts(&format!("{HEAD}1,2,3:c\n")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "t.ts:5: class label `c` is not one of [a, b] (declared by `@classLabel` on line 3)"
        );
    }
}
