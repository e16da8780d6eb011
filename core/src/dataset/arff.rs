//! UCR/UEA `.arff` files, in their two shapes.
//!
//! Univariate (UCR): one numeric attribute per time step, then a nominal class:
//!
//! ```text
//! @relation GunPoint
//! @attribute att1 numeric
//! @attribute att2 numeric
//! @attribute target {1,2}
//! @data
//! -0.64,-0.64,2
//! ```
//!
//! Multivariate (UEA): one relational attribute holding one numeric attribute
//! per time step, then the class; each row is a quoted block whose channels
//! are separated by a literal `\n` (backslash, n):
//!
//! ```text
//! @attribute relationalAtt relational
//! @attribute att0 numeric
//! @end relationalAtt
//! @attribute activity {Standing,Running}
//! @data
//! '1,2,3\n4,5,6',Running
//! ```
//!
//! Keywords are case-insensitive, `%` starts a comment line. Sparse rows,
//! string/date attributes and numeric (regression) classes are rejected.

use std::{
    format,
    string::{String, ToString},
    vec::Vec,
};

use super::{
    DatasetError,
    parsed::{ClassList, Parsed, parse_value},
    ts::shorten,
};

/// One top-level attribute.
enum Kind {
    Numeric,
    Nominal(Vec<String>),
    /// Relational, with the number of numeric inner attributes.
    Relational(usize),
    Other(String),
}

struct Attr {
    name: String,
    kind: Kind,
    line: usize,
}

/// The row shape the header implies.
enum Shape {
    /// `n` numeric attributes, then the class.
    Flat(usize),
    /// One relational attribute with `n` time steps per channel, then the class.
    Relational(usize, String),
}

/// Parses an `.arff` file; `file` names it in errors, `stem` is the dataset name.
pub(crate) fn parse(file: &str, stem: &str, text: &str) -> Result<Parsed, DatasetError> {
    let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l));
    let (attrs, data_line) = parse_header(file, &mut lines)?;
    let (shape, class_attr) = shape_of(file, data_line, attrs)?;
    let Kind::Nominal(class_labels) = &class_attr.kind else {
        // shape_of only returns nominal class attributes.
        return Err(unsupported(
            file,
            class_attr.line,
            "a non-nominal class".to_string(),
        ));
    };
    let classes = ClassList::new(
        class_labels.iter().map(String::as_str),
        format!(
            "declared by class attribute `{}` on line {}",
            class_attr.name, class_attr.line
        ),
    );

    let mut out = Parsed::new(file, stem.to_string());
    let mut first_channels: Option<(usize, usize)> = None;
    for (line_no, raw_line) in lines {
        let line = raw_line.trim();
        if line.is_empty() || line.starts_with('%') {
            continue;
        }
        if line.starts_with('{') {
            return Err(unsupported(file, line_no, "a sparse ARFF row".to_string()));
        }
        let label = match &shape {
            Shape::Flat(n) => {
                out.n_channels = 1;
                flat_row(&mut out, *n, line_no, raw_line, line)?
            }
            Shape::Relational(n, rel_name) => {
                let (label, channels) =
                    relational_row(&mut out, *n, rel_name, line_no, raw_line, line)?;
                match first_channels {
                    None => first_channels = Some((channels, line_no)),
                    Some((c, l)) if c != channels => {
                        return Err(DatasetError::ChannelCount {
                            file: file.to_string(),
                            line: line_no,
                            got: channels,
                            expected: c,
                            reason: format!("as on line {l}, the first series"),
                        });
                    }
                    Some(_) => {}
                }
                out.n_channels = channels;
                label
            }
        };
        let label = unquote(label.trim());
        out.end_declared_series(
            file,
            line_no,
            label,
            &classes,
            "a class label as the last field",
        )?;
    }
    out.finish_declared(file, data_line, classes)
}

/// Reads `n` values and returns the rest of the row (the label).
fn flat_row<'a>(
    out: &mut Parsed,
    n: usize,
    line_no: usize,
    raw_line: &str,
    line: &'a str,
) -> Result<&'a str, DatasetError> {
    let file = out.file.clone();
    let mut fields = line.splitn(n + 1, ',');
    for t in 0..n {
        let Some(token) = fields.next() else {
            return Err(DatasetError::Truncated {
                file,
                line: line_no,
                expected: format!("{n} values and a class label"),
                found: format!("{t} field(s)"),
            });
        };
        let v = parse_value(&file, line_no, raw_line, token, || {
            format!("attribute {} (value {})", t + 1, t + 1)
        })?;
        out.push_value(v);
    }
    let Some(label) = fields.next() else {
        return Err(DatasetError::Truncated {
            file,
            line: line_no,
            expected: format!("{n} values and a class label"),
            found: format!("{n} values and no label"),
        });
    };
    let label = label.trim();
    if !is_quoted(label) && label.contains(',') {
        // More numbers than declared attributes.
        return Err(DatasetError::LengthMismatch {
            file,
            line: line_no,
            channel: 1,
            got: n + label.split(',').count() - 1,
            expected: n,
            reason: format!("{n} numeric `@attribute` lines before the class"),
        });
    }
    out.end_channel(n);
    Ok(label)
}

/// Reads a quoted relational block of channels of `n` values; returns the
/// label text and the channel count.
fn relational_row<'a>(
    out: &mut Parsed,
    n: usize,
    rel_name: &str,
    line_no: usize,
    raw_line: &str,
    line: &'a str,
) -> Result<(&'a str, usize), DatasetError> {
    let file = out.file.clone();
    let truncated = |expected: &str, found: &str| DatasetError::Truncated {
        file: file.clone(),
        line: line_no,
        expected: expected.to_string(),
        found: found.to_string(),
    };
    let quote = match line.chars().next() {
        Some(q @ ('\'' | '"')) => q,
        _ => {
            return Err(truncated(
                "a quoted relational value ('c1v1,c1v2\\nc2v1,...')",
                &format!("`{}`", shorten(line)),
            ));
        }
    };
    let body_and_rest = &line[1..];
    let Some(end) = body_and_rest.find(quote) else {
        return Err(truncated(
            "a closing quote after the channels",
            "end of line",
        ));
    };
    let body = &body_and_rest[..end];
    let rest = body_and_rest[end + 1..].trim_start();
    let Some(label) = rest.strip_prefix(',') else {
        return Err(truncated(
            "`,` and a class label after the quoted channels",
            &format!("`{}`", shorten(rest)),
        ));
    };
    let mut channels = 0;
    for (c, chan) in body.split("\\n").enumerate() {
        let mut len = 0;
        for (t, token) in chan.split(',').enumerate() {
            let v = parse_value(&file, line_no, raw_line, token, || {
                format!("channel {}, value {}", c + 1, t + 1)
            })?;
            out.push_value(v);
            len += 1;
        }
        if len != n {
            return Err(DatasetError::LengthMismatch {
                file,
                line: line_no,
                channel: c + 1,
                got: len,
                expected: n,
                reason: format!("relational attribute `{rel_name}` has {n} numeric attributes"),
            });
        }
        out.end_channel(len);
        channels += 1;
    }
    Ok((label, channels))
}

/// Reads header lines up to and including `@data`.
fn parse_header<'a>(
    file: &str,
    lines: &mut impl Iterator<Item = (usize, &'a str)>,
) -> Result<(Vec<Attr>, usize), DatasetError> {
    let mut attrs: Vec<Attr> = Vec::new();
    // Open relational attribute: (index in attrs, numeric inner attributes).
    let mut open: Option<(usize, usize)> = None;
    let mut last_line = 0;
    let header_err = |line: usize, message: String| DatasetError::Header {
        file: file.to_string(),
        line,
        message,
    };
    for (line_no, raw_line) in lines.by_ref() {
        last_line = line_no;
        let line = raw_line.trim();
        if line.is_empty() || line.starts_with('%') {
            continue;
        }
        let (keyword, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        let rest = rest.trim();
        match keyword.to_ascii_lowercase().as_str() {
            "@relation" => {}
            "@data" => {
                if open.is_some() {
                    return Err(header_err(
                        line_no,
                        "expected `@end` closing the relational attribute before `@data`"
                            .to_string(),
                    ));
                }
                return Ok((attrs, line_no));
            }
            "@end" => match open.take() {
                Some((i, count)) => attrs[i].kind = Kind::Relational(count),
                None => {
                    return Err(header_err(
                        line_no,
                        "`@end` without an open relational attribute".to_string(),
                    ));
                }
            },
            "@attribute" => {
                let (name, ty) = split_name(rest).ok_or_else(|| {
                    header_err(
                        line_no,
                        format!(
                            "expected `@attribute <name> <type>`, found `{}`",
                            shorten(line)
                        ),
                    )
                })?;
                let kind = parse_kind(ty).map_err(|m| header_err(line_no, m))?;
                match (&mut open, kind) {
                    (Some((_, count)), Kind::Numeric) => *count += 1,
                    (Some(_), other) => {
                        return Err(unsupported(
                            file,
                            line_no,
                            format!(
                                "a non-numeric attribute `{name}` ({}) inside a relational attribute",
                                kind_name(&other)
                            ),
                        ));
                    }
                    (None, Kind::Relational(_)) => {
                        open = Some((attrs.len(), 0));
                        attrs.push(Attr {
                            name: name.to_string(),
                            kind: Kind::Relational(0),
                            line: line_no,
                        });
                    }
                    (None, kind) => attrs.push(Attr {
                        name: name.to_string(),
                        kind,
                        line: line_no,
                    }),
                }
            }
            _ => {
                return Err(header_err(
                    line_no,
                    format!(
                        "expected `@relation`, `@attribute`, `@end` or `@data`, found `{}`",
                        shorten(line)
                    ),
                ));
            }
        }
    }
    Err(DatasetError::NoData {
        file: file.to_string(),
        line: last_line,
    })
}

/// Checks the attributes form one of the two supported shapes.
fn shape_of(
    file: &str,
    data_line: usize,
    mut attrs: Vec<Attr>,
) -> Result<(Shape, Attr), DatasetError> {
    let Some(class) = attrs.pop() else {
        return Err(DatasetError::Header {
            file: file.to_string(),
            line: data_line,
            message: "expected `@attribute` lines before `@data`".to_string(),
        });
    };
    if !matches!(class.kind, Kind::Nominal(_)) {
        return Err(unsupported(
            file,
            class.line,
            format!(
                "a {} class attribute `{}` (the last attribute must be a nominal class `{{a,b,...}}`)",
                kind_name(&class.kind),
                class.name
            ),
        ));
    }
    if let [only] = attrs.as_slice()
        && let Kind::Relational(n) = only.kind
    {
        if n == 0 {
            return Err(DatasetError::Header {
                file: file.to_string(),
                line: only.line,
                message: format!(
                    "relational attribute `{}` has no numeric attributes",
                    only.name
                ),
            });
        }
        return Ok((Shape::Relational(n, only.name.clone()), class));
    }
    if let Some(bad) = attrs.iter().find(|a| !matches!(a.kind, Kind::Numeric)) {
        return Err(unsupported(
            file,
            bad.line,
            format!(
                "attribute `{}` of type {} (expected numeric attributes, or one relational attribute, then the class)",
                bad.name,
                kind_name(&bad.kind)
            ),
        ));
    }
    if attrs.is_empty() {
        return Err(DatasetError::Header {
            file: file.to_string(),
            line: class.line,
            message: "expected numeric attributes before the class attribute".to_string(),
        });
    }
    Ok((Shape::Flat(attrs.len()), class))
}

/// Splits `name type`, where the name may be quoted.
fn split_name(rest: &str) -> Option<(&str, &str)> {
    let (name, ty) = match rest.chars().next()? {
        q @ ('\'' | '"') => {
            let end = rest[1..].find(q)? + 1;
            (&rest[1..end], &rest[end + 1..])
        }
        _ => rest.split_once(char::is_whitespace)?,
    };
    let ty = ty.trim();
    (!ty.is_empty()).then_some((name, ty))
}

fn parse_kind(ty: &str) -> Result<Kind, String> {
    if let Some(list) = ty.strip_prefix('{') {
        let Some(list) = list.trim_end().strip_suffix('}') else {
            return Err(format!(
                "expected `}}` closing the nominal list `{}`",
                shorten(ty)
            ));
        };
        let labels: Vec<String> = split_nominal(list)
            .into_iter()
            .map(|s| unquote(s.trim()).to_string())
            .filter(|s| !s.is_empty())
            .collect();
        if labels.is_empty() {
            return Err("expected at least one class in `{...}`".to_string());
        }
        return Ok(Kind::Nominal(labels));
    }
    let word = ty
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    Ok(match word.as_str() {
        "numeric" | "real" | "integer" => Kind::Numeric,
        "relational" => Kind::Relational(0),
        _ => Kind::Other(word),
    })
}

/// Splits a nominal list at commas outside quotes.
fn split_nominal(list: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut quote = None;
    let mut start = 0;
    for (i, ch) in list.char_indices() {
        match (quote, ch) {
            (None, '\'' | '"') => quote = Some(ch),
            (Some(q), c) if c == q => quote = None,
            (None, ',') => {
                parts.push(&list[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&list[start..]);
    parts
}

fn is_quoted(s: &str) -> bool {
    s.len() >= 2
        && ((s.starts_with('\'') && s.ends_with('\'')) || (s.starts_with('"') && s.ends_with('"')))
}

fn unquote(s: &str) -> &str {
    if is_quoted(s) { &s[1..s.len() - 1] } else { s }
}

fn kind_name(k: &Kind) -> String {
    match k {
        Kind::Numeric => "numeric".to_string(),
        Kind::Nominal(_) => "nominal".to_string(),
        Kind::Relational(_) => "relational".to_string(),
        Kind::Other(w) => format!("`{w}`"),
    }
}

fn unsupported(file: &str, line: usize, what: String) -> DatasetError {
    DatasetError::Unsupported {
        file: file.to_string(),
        line,
        what,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arff(text: &str) -> Result<super::super::Dataset, DatasetError> {
        let p = parse("a.arff", "a", text)?;
        let classes = p.own_classes();
        p.finish(&classes)
    }

    #[test]
    fn univariate() {
        let d = arff(
            "% c\n@RELATION x\n@attribute t1 numeric\n@attribute 't 2' REAL\n\
             @attribute target {'b', a}\n\n@DATA\n1,2,a\n3, 4 ,'b'\n",
        )
        .unwrap();
        assert_eq!((d.len(), d.n_channels, d.length), (2, 1, 2));
        assert_eq!(d.values, [1.0, 2.0, 3.0, 4.0]);
        assert_eq!(d.class_names, ["a", "b"]);
        assert_eq!(d.labels, [0, 1]);
    }

    #[test]
    fn relational() {
        let d = arff(
            "@relation 'M'\n@attribute relationalAtt relational\n @attribute a0 numeric\n \
             @attribute a1 numeric\n@end relationalAtt\n@attribute activity {Standing,Running}\n\
             @data\n'1,2\\n3,4\\n5,6',Running\n\"7,8\\n9,10\\n11,12\", 'Standing'\n",
        )
        .unwrap();
        assert_eq!((d.len(), d.n_channels, d.length), (2, 3, 2));
        assert_eq!(d.series(1), [7.0, 8.0, 9.0, 10.0, 11.0, 12.0]);
        assert_eq!(d.labels, [0, 1]);
    }

    #[test]
    fn errors() {
        let head = "@relation x\n@attribute t1 numeric\n@attribute t2 numeric\n@attribute c {a,b}\n@data\n";
        let e = arff(&format!("{head}1,2,c\n")).unwrap_err();
        assert!(
            matches!(e, DatasetError::UnknownLabel { line: 6, .. }),
            "{e}"
        );
        let e = arff(&format!("{head}1,2\n")).unwrap_err();
        assert!(matches!(e, DatasetError::Truncated { line: 6, .. }), "{e}");
        let e = arff(&format!("{head}1,2,3,a\n")).unwrap_err();
        assert!(
            matches!(
                e,
                DatasetError::LengthMismatch {
                    line: 6,
                    got: 3,
                    ..
                }
            ),
            "{e}"
        );
        let e = arff(&format!("{head}1,?,a\n")).unwrap_err();
        assert!(
            matches!(
                e,
                DatasetError::MissingValue {
                    line: 6,
                    column: 3,
                    ..
                }
            ),
            "{e}"
        );
        let e = arff(&format!("{head}{{0 1}}\n")).unwrap_err();
        assert!(
            matches!(e, DatasetError::Unsupported { line: 6, .. }),
            "{e}"
        );
        let e = arff("@relation x\n@attribute t1 numeric\n@attribute c numeric\n@data\n1,2\n")
            .unwrap_err();
        assert!(
            matches!(e, DatasetError::Unsupported { line: 3, .. }),
            "{e}"
        );
        let e = arff("@relation x\n@attribute t1 string\n@attribute c {a}\n@data\n").unwrap_err();
        assert!(
            matches!(e, DatasetError::Unsupported { line: 2, .. }),
            "{e}"
        );
        let e = arff("@relation x\n@attribute t1 numeric\n@attribute c {a}\n").unwrap_err();
        assert!(matches!(e, DatasetError::NoData { line: 3, .. }), "{e}");
        let e = arff("@relation x\n@attribute c {a\n@data\n").unwrap_err();
        assert!(matches!(e, DatasetError::Header { line: 2, .. }), "{e}");
        let rel = "@relation x\n@attribute r relational\n@attribute a0 numeric\n@end r\n@attribute c {a}\n@data\n";
        let e = arff(&format!("{rel}'1\\n2',a\n'3',a\n")).unwrap_err();
        assert!(
            matches!(
                e,
                DatasetError::ChannelCount {
                    line: 8,
                    got: 1,
                    expected: 2,
                    ..
                }
            ),
            "{e}"
        );
        let e = arff(&format!("{rel}'1,2',a\n")).unwrap_err();
        assert!(
            matches!(
                e,
                DatasetError::LengthMismatch {
                    line: 7,
                    got: 2,
                    ..
                }
            ),
            "{e}"
        );
        let e = arff(&format!("{rel}'1\n")).unwrap_err();
        assert!(matches!(e, DatasetError::Truncated { line: 7, .. }), "{e}");
    }
}
