//! Every dataset shipped in `data/` loads, with the shapes and values the files hold.
#![cfg(feature = "std")]

use std::path::PathBuf;

use rocknet_core::dataset::{Dataset, load, load_split};

fn data(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../data")
        .join(rel)
}

/// Expected shape of one split, and exact values copied from the file (as
/// f64 literals: the loader parses f64 and rounds to f32).
struct Expect {
    n: usize,
    first: f64,
    /// Last value of the first series (its last channel).
    last_of_first: f64,
    first_label: &'static str,
}

#[allow(clippy::too_many_arguments)]
fn check_pair(
    dir: &str,
    ext: &str,
    name: Option<&str>,
    channels: usize,
    length: usize,
    classes: &[&str],
    train: Expect,
    test: Expect,
) {
    let tr = data(&format!("{dir}/{dir}_TRAIN.{ext}"));
    let te = data(&format!("{dir}/{dir}_TEST.{ext}"));
    let (a, b) = load_split(&tr, &te).unwrap();
    let single = (load(&tr).unwrap(), load(&te).unwrap());
    for (d, e, own, split) in [
        (&a, &train, &single.0, "TRAIN"),
        (&b, &test, &single.1, "TEST"),
    ] {
        assert_eq!(
            d, own,
            "{dir}: load_split and load agree when nothing needs padding"
        );
        // `.ts` files name the problem; other formats take the file stem.
        match name {
            Some(n) => assert_eq!(d.name, n),
            None => assert_eq!(d.name, format!("{dir}_{split}")),
        }
        assert_eq!(d.len(), e.n, "{dir}: series");
        assert_eq!(d.n_channels, channels, "{dir}: channels");
        assert_eq!(d.length, length, "{dir}: length");
        assert!(d.is_equal_length());
        assert_eq!(d.lengths, vec![length; e.n]);
        assert_eq!(d.n_classes(), classes.len());
        assert_eq!(d.class_names, classes, "{dir}: class order");
        assert_eq!(d.values.len(), e.n * channels * length);
        let s = d.series(0);
        assert_eq!(s[0], e.first as f32, "{dir}: first value");
        assert_eq!(
            s[s.len() - 1],
            e.last_of_first as f32,
            "{dir}: last value of series 0"
        );
        assert_eq!(d.class_names[usize::from(d.labels[0])], e.first_label);
        let v = d.view();
        assert_eq!(
            (v.n_series(), v.n_channels(), v.length()),
            (e.n, channels, length)
        );
        // Every class index is in range and every class occurs in the training set.
        assert!(d.labels.iter().all(|&l| usize::from(l) < classes.len()));
    }
    for c in 0..classes.len() {
        assert!(
            a.labels.iter().any(|&l| usize::from(l) == c),
            "{dir}: class {c} unused"
        );
    }
}

fn ex(n: usize, first: f64, last_of_first: f64, first_label: &'static str) -> Expect {
    Expect {
        n,
        first,
        last_of_first,
        first_label,
    }
}

#[test]
fn gunpoint() {
    check_pair(
        "GunPoint",
        "ts",
        Some("GunPoint"),
        1,
        150,
        &["1", "2"],
        ex(50, -0.6478854, -0.63865722, "2"),
        ex(150, -1.1250133, -1.2184217, "1"),
    );
}

#[test]
fn italy_power_demand() {
    check_pair(
        "ItalyPowerDemand",
        "ts",
        Some("ItalyPowerDemand"),
        1,
        24,
        &["1", "2"],
        ex(67, -0.71051757, -0.26923494, "1"),
        ex(1029, 0.47297301, 1.2876634, "2"),
    );
}

#[test]
fn arrowhead() {
    check_pair(
        "ArrowHead",
        "ts",
        Some("ArrowHead"),
        1,
        251,
        &["0", "1", "2"],
        ex(36, -1.9630089, -1.9091529, "0"),
        ex(175, -1.9077772, -1.9250983, "0"),
    );
}

#[test]
fn basic_motions() {
    check_pair(
        "BasicMotions",
        "ts",
        Some("BasicMotions"),
        6,
        100,
        &["Badminton", "Running", "Standing", "Walking"],
        ex(40, 0.079106, -0.03196, "Standing"),
        ex(40, -0.740653, 0.02397, "Standing"),
    );
    // Channel boundaries: channel 2 of the first training series starts with
    // the value after the first `:` of its line.
    let d = load(&data("BasicMotions/BasicMotions_TRAIN.ts")).unwrap();
    let line = std::fs::read_to_string(data("BasicMotions/BasicMotions_TRAIN.ts")).unwrap();
    let first = line.lines().find(|l| l.contains(':')).unwrap();
    let ch2: f32 = first
        .split(':')
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(d.view().channel(0, 1)[0], ch2);
}

#[test]
fn coffee() {
    check_pair(
        "Coffee",
        "txt",
        None,
        1,
        286,
        &["0.0000000e+00", "1.0000000e+00"],
        ex(28, -0.51841899, -1.9360067, "0.0000000e+00"),
        ex(28, -0.57437159, -2.0111571, "0.0000000e+00"),
    );
}

#[test]
fn face_all() {
    let classes: Vec<String> = (1..=14).map(|i| i.to_string()).collect();
    let classes: Vec<&str> = classes.iter().map(String::as_str).collect();
    let d: Dataset = load(&data("FaceAll/FaceAll_TRAIN.txt")).unwrap();
    assert_eq!(d.name, "FaceAll_TRAIN");
    check_pair(
        "FaceAll",
        "txt",
        None,
        1,
        131,
        &classes,
        ex(560, -0.24759, -0.32731, "1"),
        ex(1690, -0.63738, -0.29668, "1"),
    );
}

#[test]
fn coffee_description_is_not_data() {
    // data/Coffee/Coffee.txt is the archive's prose description.
    let e = load(&data("Coffee/Coffee.txt")).unwrap_err();
    assert!(e.to_string().contains("Coffee.txt:1:"), "{e}");
}
