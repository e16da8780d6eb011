//! Random datasets written in every format read back to the same values and labels.
#![cfg(feature = "std")]

use proptest::prelude::*;
use rocknet_core::dataset::{Dataset, parse, parse_split};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Fmt {
    TsUni,
    TsMulti,
    TsUnequal,
    UcrComma,
    UcrWhitespace,
    ArffUni,
    ArffMulti,
}

impl Fmt {
    fn ext(self) -> &'static str {
        match self {
            Fmt::TsUni | Fmt::TsMulti | Fmt::TsUnequal => "ts",
            Fmt::UcrComma => "txt",
            Fmt::UcrWhitespace => "tsv",
            Fmt::ArffUni | Fmt::ArffMulti => "arff",
        }
    }
    fn declares_classes(self) -> bool {
        !matches!(self, Fmt::UcrComma | Fmt::UcrWhitespace)
    }
}

/// One generated series: channels of values, and its label.
#[derive(Debug, Clone)]
struct Series {
    channels: Vec<Vec<f32>>,
    label: String,
}

#[derive(Debug, Clone)]
struct Spec {
    fmt: Fmt,
    /// All classes (declared by `.ts`/`.arff` headers even if unused).
    pool: Vec<String>,
    series: Vec<Series>,
}

fn value() -> impl Strategy<Value = f32> {
    prop_oneof![
        // Typical z-normalised data.
        (-5.0f32..5.0),
        // Any finite f32, including huge, tiny and subnormal magnitudes.
        any::<f32>().prop_filter("finite", |v| v.is_finite()),
        Just(0.0f32),
        Just(-0.0f32),
    ]
}

fn label_pool() -> impl Strategy<Value = Vec<String>> {
    let numeric = prop::collection::btree_set(-20i32..40, 1..6).prop_map(|s| {
        s.into_iter()
            .map(|i| {
                if i % 3 == 0 {
                    format!("{:.7e}", f64::from(i))
                } else {
                    i.to_string()
                }
            })
            .collect::<Vec<_>>()
    });
    let words = prop::collection::btree_set("[A-Za-z][A-Za-z0-9_]{0,5}", 1..6)
        .prop_map(|s| s.into_iter().collect::<Vec<_>>());
    prop_oneof![numeric, words]
}

fn fmt() -> impl Strategy<Value = Fmt> {
    prop_oneof![
        Just(Fmt::TsUni),
        Just(Fmt::TsMulti),
        Just(Fmt::TsUnequal),
        Just(Fmt::UcrComma),
        Just(Fmt::UcrWhitespace),
        Just(Fmt::ArffUni),
        Just(Fmt::ArffMulti),
    ]
}

fn spec() -> impl Strategy<Value = Spec> {
    (fmt(), label_pool(), 1usize..4, 1usize..16, 1usize..7).prop_flat_map(
        |(fmt, pool, ch, len, n)| {
            let ch = if matches!(fmt, Fmt::TsMulti | Fmt::TsUnequal | Fmt::ArffMulti) {
                ch
            } else {
                1
            };
            let chan_len = if fmt == Fmt::TsUnequal {
                1..=len
            } else {
                len..=len
            };
            let one = (
                prop::collection::vec(
                    chan_len.prop_flat_map(|l| prop::collection::vec(value(), l)),
                    ch,
                ),
                prop::sample::select(pool.clone()),
            )
                .prop_map(|(channels, label)| Series { channels, label });
            prop::collection::vec(one, n).prop_map(move |series| Spec {
                fmt,
                pool: pool.clone(),
                series,
            })
        },
    )
}

fn join(values: &[f32], sep: &str) -> String {
    values
        .iter()
        .map(|v| v.to_string())
        .collect::<Vec<_>>()
        .join(sep)
}

fn write(spec: &Spec) -> String {
    let ch = spec.series[0].channels.len();
    let len = spec.series[0].channels[0].len();
    let mut s = String::new();
    match spec.fmt {
        Fmt::TsUni | Fmt::TsMulti | Fmt::TsUnequal => {
            let equal = spec.fmt != Fmt::TsUnequal;
            s += "# generated\n@problemName Gen\n@timeStamps false\n@missing false\n";
            s += &format!("@univariate {}\n", ch == 1);
            if ch > 1 {
                s += &format!("@dimensions {ch}\n");
            }
            s += &format!("@equalLength {equal}\n");
            if equal {
                s += &format!("@seriesLength {len}\n");
            }
            s += &format!("@classLabel true {}\n@data\n", spec.pool.join(" "));
            for x in &spec.series {
                for c in &x.channels {
                    s += &join(c, ",");
                    s += ":";
                }
                s += &x.label;
                s += "\n";
            }
        }
        Fmt::UcrComma => {
            for x in &spec.series {
                s += &format!("{},{}\n", x.label, join(&x.channels[0], ","));
            }
        }
        Fmt::UcrWhitespace => {
            for x in &spec.series {
                s += &format!("  {}\t{}\n", x.label, join(&x.channels[0], "  "));
            }
        }
        Fmt::ArffUni | Fmt::ArffMulti => {
            s += "% generated\n@relation Gen\n";
            let multi = spec.fmt == Fmt::ArffMulti;
            if multi {
                s += "@attribute relationalAtt relational\n";
            }
            for t in 0..len {
                s += &format!(
                    "{}@attribute att{t} numeric\n",
                    if multi { " " } else { "" }
                );
            }
            if multi {
                s += "@end relationalAtt\n";
            }
            s += &format!("@attribute target {{{}}}\n\n@data\n", spec.pool.join(","));
            for x in &spec.series {
                if multi {
                    let chans: Vec<String> = x.channels.iter().map(|c| join(c, ",")).collect();
                    s += &format!("'{}',{}\n", chans.join("\\n"), x.label);
                } else {
                    s += &format!("{},{}\n", join(&x.channels[0], ","), x.label);
                }
            }
        }
    }
    s
}

/// Sorted class list, computed independently of the loader.
fn sorted_classes(labels: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = labels.iter().map(|s| s.to_string()).collect();
    v.sort();
    v.dedup();
    if v.iter().all(|s| s.parse::<f64>().is_ok_and(f64::is_finite)) {
        v.sort_by(|a, b| {
            a.parse::<f64>()
                .unwrap()
                .total_cmp(&b.parse::<f64>().unwrap())
        });
    }
    v
}

/// The dataset the loader should produce from `spec`, padded to `length`
/// with classes `classes`.
fn expected(spec: &Spec, name: &str, length: usize, classes: &[String]) -> Dataset {
    let mut values = Vec::new();
    let mut lengths = Vec::new();
    for x in &spec.series {
        lengths.push(x.channels.iter().map(Vec::len).max().unwrap());
        for c in &x.channels {
            values.extend_from_slice(c);
            values.resize(values.len() + length - c.len(), 0.0);
        }
    }
    let labels = spec
        .series
        .iter()
        .map(|x| classes.iter().position(|c| *c == x.label).unwrap() as u16)
        .collect();
    // `write` puts one series per line, after the header: the last lines.
    let total = write(spec).lines().count();
    let lines = (total + 1 - spec.series.len()..=total).collect();
    Dataset {
        name: name.to_string(),
        n_channels: spec.series[0].channels.len(),
        length,
        values,
        lengths,
        lines,
        labels,
        class_names: classes.to_vec(),
    }
}

fn max_len(spec: &Spec) -> usize {
    spec.series
        .iter()
        .flat_map(|x| x.channels.iter().map(Vec::len))
        .max()
        .unwrap()
}

fn own_classes(spec: &Spec) -> Vec<String> {
    if spec.fmt.declares_classes() {
        sorted_classes(&spec.pool.iter().map(String::as_str).collect::<Vec<_>>())
    } else {
        sorted_classes(
            &spec
                .series
                .iter()
                .map(|x| x.label.as_str())
                .collect::<Vec<_>>(),
        )
    }
}

/// Exact comparison, with values compared bit for bit (so -0.0 ≠ 0.0).
fn assert_same(got: &Dataset, want: &Dataset) {
    let bits = |d: &Dataset| d.values.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(got), bits(want), "values");
    assert_eq!(got, want);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn roundtrip(spec in spec()) {
        let file = format!("gen_TRAIN.{}", spec.fmt.ext());
        let text = write(&spec);
        let got = parse(&file, &text).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        let name = if matches!(spec.fmt, Fmt::TsUni | Fmt::TsMulti | Fmt::TsUnequal) {
            "Gen"
        } else {
            "gen_TRAIN"
        };
        let want = expected(&spec, name, max_len(&spec), &own_classes(&spec));
        assert_same(&got, &want);
        prop_assert_eq!(got.view().n_series(), spec.series.len());
        prop_assert_eq!(got.is_equal_length(), got.lengths.iter().all(|&l| l == got.length));
    }

    #[test]
    fn split_roundtrip(train in spec(), test_series in prop::collection::vec(any::<prop::sample::Index>(), 1..5), extra in 0usize..4) {
        // A test set in the same format, made of training series (so its labels
        // are training labels), each channel `extra` values longer.
        let mut test = train.clone();
        test.series = test_series
            .iter()
            .map(|i| {
                let mut x = i.get(&train.series).clone();
                for c in &mut x.channels {
                    c.extend(std::iter::repeat_n(1.5f32, extra));
                }
                x
            })
            .collect();
        let (a, b) = parse_split(
            &format!("tr.{}", train.fmt.ext()),
            &write(&train),
            &format!("te.{}", test.fmt.ext()),
            &write(&test),
        )
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let classes = own_classes(&train);
        let length = max_len(&train).max(max_len(&test));
        let names = if train.fmt.ext() == "ts" { ("Gen", "Gen") } else { ("tr", "te") };
        assert_same(&a, &expected(&train, names.0, length, &classes));
        assert_same(&b, &expected(&test, names.1, length, &classes));
    }

    /// Arbitrary damage to a valid file never panics.
    #[test]
    fn damaged_files_do_not_panic(spec in spec(), cut in any::<prop::sample::Index>(), junk in "[0-9a-z,:.?@# \t\n'{}\\\\-]{0,6}") {
        let text = write(&spec);
        let mut at = cut.index(text.len() + 1);
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        let damaged = format!("{}{junk}{}", &text[..at], &text[at..]);
        let truncated = &text[..at];
        for t in [damaged.as_str(), truncated] {
            for name in ["x.ts", "x.arff", "x.txt", "x"] {
                let _ = parse(name, t);
            }
        }
    }
}

#[test]
fn generated_text_looks_like_the_archive() {
    // A fixed example of each writer, so a reader of this file sees the shapes.
    let spec = Spec {
        fmt: Fmt::ArffMulti,
        pool: vec!["a".into(), "b".into()],
        series: vec![Series {
            channels: vec![vec![1.0, 2.5], vec![-3.0, 4.0]],
            label: "b".into(),
        }],
    };
    let text = write(&spec);
    assert!(text.ends_with("@data\n'1,2.5\\n-3,4',b\n"), "{text}");
    let d = parse("m.arff", &text).unwrap();
    assert_eq!(d.values, [1.0, 2.5, -3.0, 4.0]);
}
