//! The trace file: JSON lines, one per round and a final `{"drops": …}`
//! line, stored plain or zstd-compressed.
//!
//! The format follows the file name: a name ending in `.zst` is a zstd
//! stream ([`TraceFormat::Zstd`]), anything else plain JSON lines. The
//! compressed file decompresses to exactly the plain file's bytes. Its round
//! lines form one zstd frame, flushed (a block boundary) at the first round
//! end after every [`ZSTD_FLUSH_BYTES`] of lines, so a reader of a file cut
//! off by a crash decodes every round up to the last flush (a plain trace is
//! flushed every round). Flush points depend on the lines only, so the same
//! lines give the same compressed bytes. The final `drops` line is a frame of
//! its own, so whether the relay shut down cleanly shows in the file's tail.

use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;

/// zstd's compression level for traces: fast, and ~10× smaller than plain.
pub const ZSTD_LEVEL: i32 = 3;

/// A compressed trace is flushed at the first round end after this many
/// bytes of lines: flushing every round would cost ~50 % in size.
pub const ZSTD_FLUSH_BYTES: usize = 256 * 1024;

/// A zstd frame starts with these bytes (RFC 8878, 3.1.1).
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xB5, 0x2F, 0xFD];

/// How a trace file is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TraceFormat {
    /// zstd-compressed JSON lines (`trace.jsonl.zst`).
    Zstd,
    /// Plain JSON lines (`trace.jsonl`).
    Jsonl,
}

impl TraceFormat {
    /// The format of the file at `path` (by its name).
    pub fn of_path(path: &Path) -> Self {
        if path.extension().is_some_and(|e| e == "zst") {
            Self::Zstd
        } else {
            Self::Jsonl
        }
    }

    /// The trace's file name in a run directory.
    pub fn file_name(self) -> &'static str {
        match self {
            Self::Zstd => "trace.jsonl.zst",
            Self::Jsonl => "trace.jsonl",
        }
    }
}

/// Writes a trace in the format its name says.
pub enum TraceWriter {
    /// Plain JSON lines.
    Plain(BufWriter<File>),
    /// The zstd stream of the round lines (one frame).
    Zstd {
        /// The encoder.
        encoder: zstd::stream::write::Encoder<'static, BufWriter<File>>,
        /// Bytes of lines written since the last flush.
        unflushed: usize,
    },
}

impl TraceWriter {
    /// Creates (truncates) the trace at `path`.
    pub fn create(path: &Path) -> io::Result<Self> {
        let file = BufWriter::new(File::create(path)?);
        Ok(match TraceFormat::of_path(path) {
            TraceFormat::Jsonl => Self::Plain(file),
            TraceFormat::Zstd => Self::Zstd {
                encoder: zstd::stream::write::Encoder::new(file, ZSTD_LEVEL)?,
                unflushed: 0,
            },
        })
    }

    /// A round's line is complete: a plain trace is flushed; a compressed
    /// one once [`ZSTD_FLUSH_BYTES`] have gathered.
    pub fn end_round(&mut self) -> io::Result<()> {
        match self {
            Self::Plain(f) => f.flush(),
            Self::Zstd { unflushed, .. } if *unflushed < ZSTD_FLUSH_BYTES => Ok(()),
            Self::Zstd { .. } => self.flush(),
        }
    }

    /// Writes the last line (`{"drops": …}\n`) and closes the stream: in a
    /// compressed trace the round frame is finished and the line is a frame
    /// of its own.
    pub fn finish_with(self, last_line: &[u8]) -> io::Result<()> {
        match self {
            Self::Plain(mut f) => {
                f.write_all(last_line)?;
                f.flush()
            }
            Self::Zstd { encoder, .. } => {
                let file = encoder.finish()?;
                let mut last = zstd::stream::write::Encoder::new(file, ZSTD_LEVEL)?;
                last.write_all(last_line)?;
                last.finish()?.flush()
            }
        }
    }
}

impl Write for TraceWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Self::Plain(f) => f.write(buf),
            Self::Zstd { encoder, unflushed } => {
                let n = encoder.write(buf)?;
                *unflushed += n;
                Ok(n)
            }
        }
    }

    /// Plain: to the file. zstd: ends the block, so every byte written so
    /// far can be decoded from the file.
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Self::Plain(f) => f.flush(),
            Self::Zstd { encoder, unflushed } => {
                *unflushed = 0;
                encoder.flush()
            }
        }
    }
}

/// Opens the trace at `path` for reading its JSON lines (decompressed). A
/// compressed trace that ends mid-frame (its writer was killed) reads as far
/// as it was flushed, then fails with [`io::ErrorKind::UnexpectedEof`].
pub fn open(path: &Path) -> io::Result<Box<dyn BufRead>> {
    let f = File::open(path)?;
    Ok(match TraceFormat::of_path(path) {
        TraceFormat::Jsonl => Box::new(BufReader::new(f)),
        TraceFormat::Zstd => Box::new(BufReader::new(zstd::stream::read::Decoder::new(f)?)),
    })
}

/// Whether the trace's last line is a complete `{"drops": …}` line (its
/// writer shut down cleanly); reads only the file's tail (a trace can be
/// hundreds of MB).
pub fn ends_with_drops_line(path: &Path) -> bool {
    let Ok(tail) = read_tail(path, 64 * 1024) else {
        return false;
    };
    let last = match TraceFormat::of_path(path) {
        TraceFormat::Jsonl => tail,
        // The drops line is the last frame: the last magic from which the
        // rest decodes.
        TraceFormat::Zstd => match (0..tail.len().saturating_sub(3))
            .rev()
            .filter(|&i| tail[i..i + 4] == ZSTD_MAGIC)
            .find_map(|i| zstd::stream::decode_all(&tail[i..]).ok())
        {
            Some(text) => text,
            None => return false,
        },
    };
    let Some(body) = last.strip_suffix(b"\n") else {
        return false;
    };
    let start = body.iter().rposition(|&c| c == b'\n').map_or(0, |i| i + 1);
    body[start..].starts_with(b"{\"drops\"")
}

fn read_tail(path: &Path, len: u64) -> io::Result<Vec<u8>> {
    let mut f = File::open(path)?;
    let size = f.metadata()?.len();
    f.seek(SeekFrom::Start(size.saturating_sub(len)))?;
    let mut tail = Vec::new();
    f.read_to_end(&mut tail)?;
    Ok(tail)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROUNDS: [&str; 3] = [
        "{\"round\":0,\"messages\":[]}\n",
        "{\"round\":1,\"messages\":[]}\n",
        "{\"round\":2,\"messages\":[]}\n",
    ];
    const DROPS: &str = "{\"drops\":{\"rounds\":3}}\n";

    fn write(path: &Path, finish: bool) {
        let mut w = TraceWriter::create(path).unwrap();
        for r in ROUNDS {
            w.write_all(r.as_bytes()).unwrap();
            w.flush().unwrap();
        }
        if finish {
            w.finish_with(DROPS.as_bytes()).unwrap();
        } else {
            // A killed writer: what was flushed is on disk, nothing more.
            std::mem::forget(w);
        }
    }

    fn read_all(path: &Path) -> (String, Option<io::ErrorKind>) {
        let mut text = String::new();
        let err = open(path)
            .unwrap()
            .read_to_string(&mut text)
            .err()
            .map(|e| e.kind());
        (text, err)
    }

    #[test]
    fn both_formats_hold_the_same_lines() {
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("trace.jsonl");
        let zst = dir.path().join("trace.jsonl.zst");
        write(&plain, true);
        write(&zst, true);
        let expected = ROUNDS.concat() + DROPS;
        assert_eq!(std::fs::read_to_string(&plain).unwrap(), expected);
        assert_eq!(
            zstd::stream::decode_all(File::open(&zst).unwrap()).unwrap(),
            expected.as_bytes()
        );
        assert_eq!(read_all(&zst), (expected.clone(), None));
        assert_eq!(&std::fs::read(&zst).unwrap()[..4], &ZSTD_MAGIC);
        assert!(ends_with_drops_line(&plain));
        assert!(ends_with_drops_line(&zst));
    }

    #[test]
    fn a_killed_writers_trace_reads_to_its_last_flush() {
        let dir = tempfile::tempdir().unwrap();
        let zst = dir.path().join("trace.jsonl.zst");
        write(&zst, false);
        let (text, err) = read_all(&zst);
        assert_eq!(text, ROUNDS.concat());
        assert_eq!(err, Some(io::ErrorKind::UnexpectedEof));
        assert!(!ends_with_drops_line(&zst));
    }

    #[test]
    fn the_format_follows_the_name() {
        assert_eq!(
            TraceFormat::of_path(Path::new("r/trace.jsonl.zst")),
            TraceFormat::Zstd
        );
        assert_eq!(
            TraceFormat::of_path(Path::new("r/trace.jsonl")),
            TraceFormat::Jsonl
        );
        assert_eq!(
            TraceFormat::of_path(Path::new(TraceFormat::Zstd.file_name())),
            TraceFormat::Zstd
        );
    }
}
