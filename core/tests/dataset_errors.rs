//! Bad input gives a typed error naming the file and the line, never a panic.
#![cfg(feature = "std")]

use std::{
    path::{Path, PathBuf},
    sync::atomic::{AtomicUsize, Ordering},
};

use rocknet_core::dataset::{DatasetError, load, load_split};

/// A file under the temp dir, removed on drop; the name is unique per
/// process and call so parallel tests don't collide.
struct TempFile(PathBuf);

impl TempFile {
    fn new(name: &str, contents: &[u8]) -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("rocknet-dataset-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, contents).unwrap();
        Self(path)
    }
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
        if let Some(dir) = self.0.parent() {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

fn shipped(rel: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../data")
        .join(rel);
    std::fs::read_to_string(p).unwrap()
}

/// Loads `contents` saved as `name`; returns the error and its message.
fn load_err(name: &str, contents: &str) -> (DatasetError, String) {
    let f = TempFile::new(name, contents.as_bytes());
    let e = load(f.path()).expect_err("loading should fail");
    let msg = e.to_string();
    assert!(msg.contains(name), "message does not name the file: {msg}");
    (e, msg)
}

/// `msg` names `line` right after the file name.
fn names_line(msg: &str, name: &str, line: usize) -> bool {
    msg.contains(&format!("{name}:{line}:"))
}

#[test]
fn truncated_ts_last_line() {
    // GunPoint_TRAIN.ts, its last line (69) cut in the middle of the values.
    let text = shipped("GunPoint/GunPoint_TRAIN.ts");
    let cut = text.trim_end().rfind(',').unwrap() - 400;
    let (e, msg) = load_err("GunPoint_cut.ts", &text[..cut]);
    assert!(
        matches!(e, DatasetError::Truncated { line: 69, .. }),
        "{msg}"
    );
    assert!(names_line(&msg, "GunPoint_cut.ts", 69), "{msg}");
    assert!(msg.contains("class label"), "{msg}");
}

#[test]
fn truncated_multivariate_line() {
    // A BasicMotions series cut after its third channel (but ending in a label-like text).
    let text = shipped("BasicMotions/BasicMotions_TRAIN.ts");
    let mut lines: Vec<&str> = text.lines().collect();
    let third = lines[13].split(':').take(3).collect::<Vec<_>>().join(":");
    lines[13] = &third;
    let (e, msg) = load_err("BM.ts", &lines.join("\n"));
    assert!(
        matches!(e, DatasetError::Truncated { line: 14, .. }),
        "{msg}"
    );
    assert!(msg.contains("6 channel(s)"), "{msg}");
}

#[test]
fn non_numeric_value() {
    let text =
        "@problemName X\n@univariate true\n@classLabel true 1 2\n@data\n1,2,3:1\n1,2,abc,4:2\n";
    let (e, msg) = load_err("nonnum.ts", text);
    assert!(
        matches!(e, DatasetError::NonNumeric { line: 6, column: 5, ref text, .. } if text == "abc"),
        "{msg}"
    );
    assert!(
        msg.contains("nonnum.ts:6:5: channel 1, value 3: expected a finite number, found `abc`"),
        "{msg}"
    );
}

#[test]
fn label_not_declared() {
    let text = shipped("ItalyPowerDemand/ItalyPowerDemand_TRAIN.ts").replacen(":2\n", ":3\n", 1);
    let line = text.lines().position(|l| l.ends_with(":3")).unwrap() + 1;
    let (e, msg) = load_err("IPD.ts", &text);
    assert!(
        matches!(e, DatasetError::UnknownLabel { line: l, ref label, .. } if l == line && label == "3"),
        "{msg}"
    );
    assert!(names_line(&msg, "IPD.ts", line), "{msg}");
    assert!(
        msg.contains("`3`") && msg.contains("[1, 2]") && msg.contains("@classLabel"),
        "{msg}"
    );
}

#[test]
fn missing_data_line() {
    let text = "# c\n@problemName X\n@classLabel true a b\n1,2:a\n";
    let (e, msg) = load_err("nodata.ts", text);
    // Line 4 is a series where a header line or `@data` was expected.
    assert!(matches!(e, DatasetError::Header { line: 4, .. }), "{msg}");
    assert!(msg.contains("@data"), "{msg}");
    let (e, msg) = load_err("nodata2.ts", "@problemName X\n@classLabel true a\n\n");
    assert!(matches!(e, DatasetError::NoData { line: 3, .. }), "{msg}");
    assert!(names_line(&msg, "nodata2.ts", 3), "{msg}");
    let (e, msg) = load_err(
        "nodata.arff",
        "@relation x\n@attribute a numeric\n@attribute c {x}\n",
    );
    assert!(matches!(e, DatasetError::NoData { line: 3, .. }), "{msg}");
}

#[test]
fn question_mark_value() {
    let text = "@classLabel true a\n@missing true\n@data\n1,2:3,4:a\n1,2:3,?:a\n";
    let (e, msg) = load_err("miss.ts", text);
    assert!(
        matches!(
            e,
            DatasetError::MissingValue {
                line: 5,
                column: 7,
                ..
            }
        ),
        "{msg}"
    );
    assert!(msg.contains("miss.ts:5:7: channel 2, value 2"), "{msg}");
    assert!(msg.contains("missing values are not supported"), "{msg}");
    let (e, msg) = load_err("miss.txt", "1,2,3\n2,NaN,1\n");
    assert!(
        matches!(
            e,
            DatasetError::MissingValue {
                line: 2,
                column: 3,
                ..
            }
        ),
        "{msg}"
    );
}

#[test]
fn ragged_ucr() {
    // FaceAll_TRAIN with one value removed from line 7.
    let text = shipped("FaceAll/FaceAll_TRAIN.txt");
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let cut = lines[6].rfind(',').unwrap();
    lines[6].truncate(cut);
    let (e, msg) = load_err("FaceAll_ragged.txt", &lines.join("\n"));
    assert!(
        matches!(
            e,
            DatasetError::LengthMismatch {
                line: 7,
                got: 130,
                expected: 131,
                ..
            }
        ),
        "{msg}"
    );
    assert!(names_line(&msg, "FaceAll_ragged.txt", 7), "{msg}");
    // Whitespace-separated, too.
    let (e, msg) = load_err("ragged.tsv", "1\t0.5\t0.25\n\n2\t1\n");
    assert!(
        matches!(
            e,
            DatasetError::LengthMismatch {
                line: 3,
                got: 1,
                expected: 2,
                ..
            }
        ),
        "{msg}"
    );
}

#[test]
fn unequal_length_in_equal_length_ts() {
    let text = shipped("GunPoint/GunPoint_TEST.ts");
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    // Drop the first value of line 25.
    let first_comma = lines[24].find(',').unwrap();
    lines[24].replace_range(..=first_comma, "");
    let (e, msg) = load_err("GP.ts", &lines.join("\n"));
    assert!(
        matches!(
            e,
            DatasetError::LengthMismatch {
                line: 25,
                got: 149,
                expected: 150,
                ..
            }
        ),
        "{msg}"
    );
    assert!(msg.contains("@seriesLength 150"), "{msg}");
}

#[test]
fn declared_dimensions_mismatch() {
    let text =
        shipped("BasicMotions/BasicMotions_TEST.ts").replace("@dimensions 6", "@dimensions 5");
    let (e, msg) = load_err("BM5.ts", &text);
    assert!(
        matches!(
            e,
            DatasetError::ChannelCount {
                line: 14,
                got: 6,
                expected: 5,
                ..
            }
        ),
        "{msg}"
    );
}

#[test]
fn test_label_unknown_to_train() {
    let train = TempFile::new("tr.txt", b"1,0.1,0.2\n2,0.3,0.4\n");
    let test = TempFile::new("te.txt", b"1,0.1,0.2\n\n3,0.5,0.6\n");
    let e = load_split(train.path(), test.path()).unwrap_err();
    let msg = e.to_string();
    assert!(
        matches!(e, DatasetError::UnknownLabel { line: 3, .. }),
        "{msg}"
    );
    assert!(names_line(&msg, "te.txt", 3), "{msg}");
    assert!(
        msg.contains("tr.txt"),
        "the message names the training file: {msg}"
    );

    // Same with `.ts`: the test header declares the class, the training file does not.
    let train = TempFile::new("tr.ts", b"@classLabel true a b\n@data\n1:a\n2:b\n");
    let test = TempFile::new("te.ts", b"@classLabel true a b c\n@data\n1:a\n2:c\n");
    let e = load_split(train.path(), test.path()).unwrap_err();
    let msg = e.to_string();
    assert!(
        matches!(e, DatasetError::UnknownLabel { line: 4, .. }),
        "{msg}"
    );
    assert!(names_line(&msg, "te.ts", 4), "{msg}");
}

#[test]
fn split_pads_to_common_length() {
    let train = TempFile::new("tr2.ts", b"@classLabel true a b\n@data\n1,2:a\n3:b\n");
    let test = TempFile::new("te2.txt", b"b,1,2,3\n");
    let (a, b) = load_split(train.path(), test.path()).unwrap();
    assert_eq!((a.length, b.length), (3, 3));
    assert_eq!(a.values, [1., 2., 0., 3., 0., 0.]);
    assert_eq!(a.lengths, [2, 1]);
    assert_eq!(b.labels, [1]);
    assert_eq!(b.class_names, ["a", "b"]);
}

#[test]
fn file_not_found() {
    let missing = std::env::temp_dir().join("rocknet-dataset-no-such-file/GunPoint_TRAIN.ts");
    let e = load(&missing).unwrap_err();
    assert!(
        matches!(e, DatasetError::Io { ref source, .. } if source.kind() == std::io::ErrorKind::NotFound)
    );
    assert!(
        e.to_string()
            .contains("rocknet-dataset-no-such-file/GunPoint_TRAIN.ts"),
        "{e}"
    );
    let e = load_split(&missing, &missing).unwrap_err();
    assert!(matches!(e, DatasetError::Io { .. }));
}

#[test]
fn not_utf8() {
    let f = TempFile::new("latin1.arff", b"% ok\n% caf\xe9\n@relation x\n");
    let e = load(f.path()).unwrap_err();
    let msg = e.to_string();
    assert!(
        matches!(
            e,
            DatasetError::NotUtf8 {
                line: 2,
                column: 6,
                ..
            }
        ),
        "{msg}"
    );
    assert!(names_line(&msg, "latin1.arff", 2), "{msg}");
}

#[test]
fn empty_files() {
    let (e, _) = load_err("empty.ts", "");
    assert!(matches!(e, DatasetError::Empty { .. }));
    let (e, _) = load_err("blank.txt", "\n  \n");
    assert!(matches!(e, DatasetError::Empty { .. }));
    let (e, msg) = load_err("nothing.ts", "@classLabel true a\n@data\n");
    assert!(matches!(e, DatasetError::NoSeries { line: 2, .. }), "{msg}");
}

#[test]
fn unsupported_headers() {
    let (e, msg) = load_err(
        "stamps.ts",
        "#x\n@timestamps TRUE\n@classLabel true a\n@data\n",
    );
    assert!(
        matches!(e, DatasetError::Unsupported { line: 2, .. }),
        "{msg}"
    );
    assert!(msg.contains("not supported"), "{msg}");
    let (e, msg) = load_err("reg.ts", "@targetlabel true\n@data\n1,2:0.5\n");
    assert!(
        matches!(e, DatasetError::Unsupported { line: 1, .. }),
        "{msg}"
    );
    let (e, msg) = load_err("nolab.ts", "@classLabel false\n@data\n1,2\n");
    assert!(
        matches!(e, DatasetError::Unsupported { line: 1, .. }),
        "{msg}"
    );
    // Unknown keywords are ignored.
    let f = TempFile::new(
        "extra.ts",
        b"@source somewhere\n@classLabel true a\n@data\n1:a\n",
    );
    assert_eq!(load(f.path()).unwrap().len(), 1);
}

#[test]
fn non_finite_values_are_refused_with_file_and_line() {
    for (text, kind) in [
        ("inf", "finite"),
        ("-Infinity", "finite"),
        ("3.5e38", "finite"), // beyond f32
        ("nan", "missing"),
        ("NaN", "missing"),
    ] {
        let body = format!("@classLabel true a b\n@data\n1,2,3:a\n4,{text},6:b\n");
        let (e, msg) = load_err("nonfinite.ts", &body);
        assert!(names_line(&msg, "nonfinite.ts", 4), "{text}: {msg}");
        assert!(msg.contains(text), "{text}: {msg}");
        match kind {
            "finite" => assert!(
                matches!(e, DatasetError::NonNumeric { .. }),
                "{text}: {e:?}"
            ),
            _ => assert!(
                matches!(e, DatasetError::MissingValue { .. }),
                "{text}: {e:?}"
            ),
        }
    }
}

#[test]
fn quoted_file_content_is_escaped() {
    // An escape sequence, a bell and a carriage return in a value and a label.
    let (_, msg) = load_err("esc.txt", "1,2,3\n1,\u{1b}[2J\u{7}x\r,3\n");
    assert!(!msg.chars().any(|c| c.is_control() && c != '\n'), "{msg:?}");
    assert!(msg.contains("\\u{1b}[2J\\u{7}x"), "{msg}");
    let train = TempFile::new("esc_tr.ts", b"@classLabel true a b\n@data\n1,2:a\n");
    let test = TempFile::new("esc_te.txt", "\u{1b}]0;title\u{7},1,2\n".as_bytes());
    let msg = load_split(train.path(), test.path())
        .unwrap_err()
        .to_string();
    assert!(!msg.chars().any(char::is_control), "{msg:?}");
    assert!(msg.contains("\\u{1b}]0;title\\u{7}"), "{msg}");
}

#[test]
fn each_series_keeps_its_line() {
    let f = TempFile::new(
        "lines.ts",
        b"# c\n@classLabel true a b\n@data\n1,2,3:a\n\n4,5,6:b\n7,8,9:a\n",
    );
    let d = load(f.path()).unwrap();
    assert_eq!(d.lines, [4, 6, 7]);
    let f = TempFile::new("lines.txt", b"a,1,2\n\nb,3,4\n");
    assert_eq!(load(f.path()).unwrap().lines, [1, 3]);
}
