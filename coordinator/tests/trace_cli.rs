//! The run directory's compressed trace and `rocknet trace`: the quickstart
//! run with `--trace-format zstd` and `jsonl` gives the same lines; `rocknet
//! trace --jsonl` prints them back byte for byte; selections and the pcapng
//! export agree with counts taken from the plain lines.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn rocknet() -> Command {
    Command::new(env!("CARGO_BIN_EXE_rocknet"))
}

fn ok(out: Output) -> Vec<u8> {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Runs the quickstart (2 epochs) with `format`; its run directory.
fn run(out: &Path, format: &str) -> PathBuf {
    let cfg = Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/quickstart.toml");
    ok(rocknet()
        .arg("run")
        .arg(cfg)
        .args(["--epochs", "2", "--trace-format", format, "--out"])
        .arg(out)
        .output()
        .unwrap());
    std::fs::read_dir(out)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path()
}

fn lines(bytes: &[u8]) -> Vec<Value> {
    std::str::from_utf8(bytes)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// (block type, body) of every pcapng block, checking both length fields.
fn pcapng_blocks(bytes: &[u8]) -> Vec<(u32, &[u8])> {
    let u32_at = |i: usize| u32::from_le_bytes(bytes[i..i + 4].try_into().unwrap());
    let mut blocks = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let (kind, len) = (u32_at(at), u32_at(at + 4) as usize);
        assert_eq!(len % 4, 0, "block at {at}");
        assert_eq!(
            u32_at(at + len - 4) as usize,
            len,
            "trailing length at {at}"
        );
        blocks.push((kind, &bytes[at + 8..at + len - 4]));
        at += len;
    }
    assert_eq!(at, bytes.len());
    blocks
}

#[test]
fn both_trace_formats_hold_the_same_lines_and_rocknet_trace_prints_them() {
    let tmp = tempfile::tempdir().unwrap();
    let zdir = run(&tmp.path().join("z"), "zstd");
    let pdir = run(&tmp.path().join("p"), "jsonl");
    let plain = std::fs::read(pdir.join("trace.jsonl")).unwrap();
    assert!(!zdir.join("trace.jsonl").exists());
    let zst = zdir.join("trace.jsonl.zst");
    let mut unpacked = Vec::new();
    rocknet_linkmodel::trace_file::open(&zst)
        .unwrap()
        .read_to_end(&mut unpacked)
        .unwrap();
    assert_eq!(
        unpacked, plain,
        "decompressed trace differs from the plain one"
    );
    assert!(std::fs::metadata(&zst).unwrap().len() * 4 < plain.len() as u64);
    let report = |d: &Path| -> Value {
        serde_json::from_slice(&std::fs::read(d.join("report.json")).unwrap()).unwrap()
    };
    assert_eq!(report(&zdir)["weights_hash"], report(&pdir)["weights_hash"]);
    assert_eq!(report(&zdir)["network"], report(&pdir)["network"]);

    // Round trip: the run directory and either file print the same bytes.
    for path in [&zdir, &zst, &pdir.join("trace.jsonl")] {
        let printed = ok(rocknet()
            .arg("trace")
            .arg(path)
            .arg("--jsonl")
            .output()
            .unwrap());
        assert!(printed == plain, "rocknet trace {} differs", path.display());
    }

    // Selections, counted independently from the plain lines.
    let all = lines(&plain);
    let rounds: Vec<u64> = lines(&ok(rocknet()
        .arg("trace")
        .arg(&zdir)
        .args(["--round", "3..5"])
        .output()
        .unwrap()))
    .iter()
    .map(|v| v["round"].as_u64().unwrap())
    .collect();
    assert_eq!(rounds, [3, 4, 5]);
    let with_sample = all
        .iter()
        .filter(|v| {
            v["messages"]
                .as_array()
                .is_some_and(|m| m.iter().any(|m| m["kind"] == "sample"))
        })
        .count();
    let samples = lines(&ok(rocknet()
        .arg("trace")
        .arg(&zdir)
        .args(["--kind", "sample"])
        .output()
        .unwrap()));
    assert!(with_sample > 0);
    assert_eq!(samples.len(), with_sample);

    // pcapng: SHB, IDB (LINKTYPE_USER0), one EPB per delivery.
    let deliveries: Vec<(u64, &Value, &Value)> = all
        .iter()
        .flat_map(|v| {
            v["messages"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(move |m| {
                    m["to"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(move |t| (v["round"].as_u64().unwrap(), m, t))
                })
        })
        .collect();
    let out = tmp.path().join("t.pcapng");
    ok(rocknet()
        .arg("trace")
        .arg(&zdir)
        .arg("--pcapng")
        .arg(&out)
        .args(["--slot-us", "100"])
        .output()
        .unwrap());
    let bytes = std::fs::read(&out).unwrap();
    let blocks = pcapng_blocks(&bytes);
    assert_eq!(blocks[0].0, 0x0A0D_0D0A);
    assert_eq!(&blocks[0].1[..4], &0x1A2B_3C4Du32.to_le_bytes());
    assert_eq!(blocks[1].0, 1);
    assert_eq!(&blocks[1].1[..2], &147u16.to_le_bytes());
    let epbs: Vec<&[u8]> = blocks[2..]
        .iter()
        .map(|&(k, b)| {
            assert_eq!(k, 6);
            b
        })
        .collect();
    assert_eq!(epbs.len(), deliveries.len());
    // The last delivery: its fields and its emulated time.
    let (round, m, to) = *deliveries.last().unwrap();
    let epb = epbs.last().unwrap();
    let frame = &epb[20..];
    assert_eq!(frame.len(), 16);
    let u16_at = |i: usize| u64::from(u16::from_le_bytes(frame[i..i + 2].try_into().unwrap()));
    let u32_at = |i: usize| u64::from(u32::from_le_bytes(frame[i..i + 4].try_into().unwrap()));
    assert_eq!(u32_at(0), round);
    assert_eq!(u16_at(4), to[1].as_u64().unwrap());
    assert_eq!(u64::from(frame[6]), to[2].as_u64().unwrap());
    assert_eq!(u16_at(8), m["origin"].as_u64().unwrap());
    assert_eq!(u16_at(10), to[0].as_u64().unwrap());
    assert_eq!(u32_at(12), m["len"].as_u64().unwrap());
    let start: u64 = all
        .iter()
        .filter(|v| v["round"].as_u64().is_some_and(|r| r < round))
        .map(|v| v["duration_us"].as_u64().unwrap())
        .sum();
    let ts = (u64::from(u32::from_le_bytes(epb[4..8].try_into().unwrap())) << 32)
        | u64::from(u32::from_le_bytes(epb[8..12].try_into().unwrap()));
    assert_eq!(ts, start + to[1].as_u64().unwrap() * 100);
}
