//! UCR archive text files: one series per line, label first, then the values.
//!
//! The separator is detected once per file from the first non-blank line: a
//! comma if it has one (the 2015 archive's `FaceAll_TRAIN` style), else runs
//! of whitespace (spaces or tabs: the `Coffee_TRAIN.txt` and 2018 `.tsv`
//! styles). Files must be equal-length, and univariate.

use std::{format, string::ToString};

use super::{DatasetError, parsed::Parsed, parsed::parse_value};

#[derive(Clone, Copy)]
enum Sep {
    Comma,
    Whitespace,
}

/// Parses a UCR text file; `file` names it in errors, `stem` is the dataset name.
pub(crate) fn parse(file: &str, stem: &str, text: &str) -> Result<Parsed, DatasetError> {
    let mut out = Parsed::new(file, stem.to_string());
    out.n_channels = 1;
    let mut sep = None;
    // (length, line) of the first series.
    let mut first: Option<(usize, usize)> = None;
    let mut last_line = 0;
    for (i, raw_line) in text.lines().enumerate() {
        let line_no = i + 1;
        last_line = line_no;
        let line = raw_line.trim();
        if line.is_empty() {
            continue;
        }
        let sep = *sep.get_or_insert(if line.contains(',') {
            Sep::Comma
        } else {
            Sep::Whitespace
        });
        // One iterator type for both separators (no per-line boxing).
        let comma = matches!(sep, Sep::Comma);
        let mut tokens = line
            .split(move |c: char| if comma { c == ',' } else { c.is_whitespace() })
            .filter(move |t| comma || !t.is_empty());
        let label = tokens.next().unwrap_or("").trim();
        if label.is_empty() {
            return Err(DatasetError::Truncated {
                file: file.to_string(),
                line: line_no,
                expected: "a class label as field 1".to_string(),
                found: "an empty field".to_string(),
            });
        }
        let mut len = 0;
        for (t, token) in tokens.enumerate() {
            let v = parse_value(file, line_no, raw_line, token, || {
                format!("field {} (value {})", t + 2, t + 1)
            })?;
            out.push_value(v);
            len += 1;
        }
        match first {
            None if len == 0 => {
                return Err(DatasetError::Truncated {
                    file: file.to_string(),
                    line: line_no,
                    expected: "a class label followed by the values".to_string(),
                    found: format!("only the label `{label}`"),
                });
            }
            None => first = Some((len, line_no)),
            Some((n, l)) if n != len => {
                return Err(DatasetError::LengthMismatch {
                    file: file.to_string(),
                    line: line_no,
                    channel: 1,
                    got: len,
                    expected: n,
                    reason: format!(
                        "the series on line {l} has {n}; UCR text files must be equal-length"
                    ),
                });
            }
            Some(_) => {}
        }
        out.end_channel(len);
        out.end_series(label, line_no);
    }
    if out.n_series() == 0 {
        return Err(DatasetError::NoSeries {
            file: file.to_string(),
            line: last_line,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::parsed::ClassList;
    use std::string::String;

    #[test]
    fn comma_and_whitespace() {
        let p = parse("u", "u", "1,0.5,1.5\n-1, 2 ,3\n").unwrap();
        let d = p
            .finish(&ClassList::new(["-1", "1"], String::new()))
            .unwrap();
        assert_eq!(d.values, [0.5, 1.5, 2.0, 3.0]);
        assert_eq!(d.labels, [1, 0]);
        let p = parse("u", "u", "  1.0e+00\t 0.5  1.5\n\n 0.0e+00 2\t3\n").unwrap();
        let classes = p.own_classes();
        assert_eq!(classes.names, ["0.0e+00", "1.0e+00"]);
        let d = p.finish(&classes).unwrap();
        assert_eq!(d.values, [0.5, 1.5, 2.0, 3.0]);
        assert_eq!(d.labels, [1, 0]);
    }

    #[test]
    fn errors() {
        let e = parse("u.txt", "u", "1,2,3\n1,2\n").unwrap_err();
        assert!(matches!(
            e,
            DatasetError::LengthMismatch {
                line: 2,
                got: 1,
                expected: 2,
                ..
            }
        ));
        let e = parse("u.txt", "u", "1,2,3\n1,2,b\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "u.txt:2:5: field 3 (value 2): expected a finite number, found `b`"
        );
        let e = parse("u.txt", "u", "1,2,3\n1,2,\n").unwrap_err();
        assert!(e.to_string().ends_with("found an empty field"), "{e}");
        let e = parse("u.txt", "u", "1\n").unwrap_err();
        assert!(matches!(e, DatasetError::Truncated { line: 1, .. }));
        let e = parse("u.txt", "u", ",1,2\n").unwrap_err();
        assert!(matches!(e, DatasetError::Truncated { line: 1, .. }));
        let e = parse("u.txt", "u", "1 2 NaN\n").unwrap_err();
        assert!(matches!(
            e,
            DatasetError::MissingValue {
                line: 1,
                column: 5,
                ..
            }
        ));
        let e = parse("u.txt", "u", "\n\n").unwrap_err();
        assert!(matches!(e, DatasetError::NoSeries { .. }));
    }
}
