//! Every cross-reference into the documentation resolves inside the
//! repository: each `docs/<file>.md` (optionally `#anchor`) named in a
//! `.rs`, `.md`, `.toml`, `.sh` or `.yml` file, and each relative link of
//! `README.md` and `docs/*.md`, names a file that exists and, with an anchor,
//! a heading whose GitHub-style slug is that anchor. No reference to a design
//! document outside the repository may remain.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

/// File kinds whose text may cite the documentation.
const SCANNED_EXTENSIONS: [&str; 5] = ["rs", "md", "toml", "sh", "yml"];

/// Hidden directories that belong to the repository (other hidden ones —
/// `.git`, virtual environments, editor state — are never scanned).
const SCANNED_HIDDEN_DIRS: [&str; 3] = [".ci", ".cargo", ".github"];

/// Whether a directory holds the repository's own files, not build output
/// (`target`, `target-*`), run results or tool state.
fn is_scanned_dir(name: &str) -> bool {
    if name.starts_with('.') {
        return SCANNED_HIDDEN_DIRS.contains(&name);
    }
    !(name.starts_with("target") || name == "runs" || name == "node_modules")
}

/// Names of design notes that live outside the repository; a reader of the
/// repository cannot open them, so no file may cite them. Split so that this
/// file does not contain them itself.
fn outside_references() -> [String; 4] {
    [
        ["DESIGN", ".md"].concat(),
        ["DESIGN", " §"].concat(),
        ["DESIGN", "'s"].concat(),
        ["FIRMWARE", "-NOTES"].concat(),
    ]
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the coordinator crate sits in the repository root")
        .to_path_buf()
}

/// Every scanned file under `root`, sorted.
fn scanned_files(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        for entry in entries {
            let path = entry.expect("directory entry").path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if path.is_dir() {
                if is_scanned_dir(name) {
                    stack.push(path);
                }
            } else if path
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| SCANNED_EXTENSIONS.contains(&e))
            {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// GitHub's anchor for a heading: lower case, punctuation dropped (letters,
/// digits, `-`, `_` and spaces kept), spaces → `-`.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | ' '))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// Lines of a Markdown text outside fenced code blocks, with line numbers.
fn prose_lines(text: &str) -> Vec<(usize, &str)> {
    let mut in_fence = false;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
            continue;
        }
        if !in_fence {
            out.push((i + 1, line));
        }
    }
    out
}

/// The anchors of a Markdown text's headings (duplicates get `-1`, `-2`, …).
fn anchors(text: &str) -> Vec<String> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut out = Vec::new();
    for (_, line) in prose_lines(text) {
        let hashes = line.chars().take_while(|&c| c == '#').count();
        if !(1..=6).contains(&hashes) || !line[hashes..].starts_with(' ') {
            continue;
        }
        let base = slug(&line[hashes..].replace('`', ""));
        let n = seen.entry(base.clone()).or_insert(0);
        out.push(if *n == 0 {
            base.clone()
        } else {
            format!("{base}-{n}")
        });
        *n += 1;
    }
    out
}

/// A reference found in a file: where, and the target as written.
#[derive(Debug)]
struct Reference {
    file: PathBuf,
    line: usize,
    target: PathBuf,
    anchor: Option<String>,
    written: String,
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-')
}

fn is_anchor_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '-')
}

/// Every `docs/<name>.md[#anchor]` in `text`, resolved from the repository root.
fn docs_references(root: &Path, file: &Path, text: &str) -> Vec<Reference> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        for (at, _) in line.match_indices("docs/") {
            if line[..at].chars().next_back().is_some_and(is_name_char) {
                continue; // part of a longer name, e.g. `mydocs/`
            }
            let rest = &line[at + "docs/".len()..];
            let name_len = rest.chars().take_while(|&c| is_name_char(c)).count();
            if name_len == 0 || !rest[name_len..].starts_with(".md") {
                continue;
            }
            let path = &rest[..name_len + ".md".len()];
            let after = &rest[path.len()..];
            let anchor = after.strip_prefix('#').map(|a| {
                a.chars()
                    .take_while(|&c| is_anchor_char(c))
                    .collect::<String>()
            });
            let anchor = anchor.filter(|a| !a.is_empty());
            let written = match &anchor {
                Some(a) => format!("docs/{path}#{a}"),
                None => format!("docs/{path}"),
            };
            out.push(Reference {
                file: file.to_path_buf(),
                line: i + 1,
                target: root.join("docs").join(path),
                anchor,
                written,
            });
        }
    }
    out
}

/// Every relative Markdown link `[text](target[#anchor])` in `text`,
/// resolved from the file's directory (`#anchor` alone: the file itself).
fn markdown_links(file: &Path, text: &str) -> Vec<Reference> {
    let dir = file.parent().expect("a file has a directory");
    let mut out = Vec::new();
    for (line_no, line) in prose_lines(text) {
        for (at, _) in line.match_indices("](") {
            let rest = &line[at + 2..];
            let Some(end) = rest.find(')') else { continue };
            let written = &rest[..end];
            if written.contains("://") || written.starts_with("mailto:") || written.is_empty() {
                continue;
            }
            let (path, anchor) = match written.split_once('#') {
                Some((p, a)) => (p, Some(a.to_string())),
                None => (written, None),
            };
            let target = if path.is_empty() {
                file.to_path_buf()
            } else {
                dir.join(path)
            };
            out.push(Reference {
                file: file.to_path_buf(),
                line: line_no,
                target,
                anchor,
                written: written.to_string(),
            });
        }
    }
    out
}

/// Everything wrong with the documentation references under `root`, one
/// line per problem naming the file, the line and the reference.
fn problems(root: &Path) -> Vec<String> {
    let mut refs = Vec::new();
    let mut out = Vec::new();
    let forbidden = outside_references();
    for file in scanned_files(root) {
        let Ok(text) = fs::read_to_string(&file) else {
            continue;
        };
        let shown = file
            .strip_prefix(root)
            .unwrap_or(&file)
            .display()
            .to_string();
        for (i, line) in text.lines().enumerate() {
            for f in &forbidden {
                if line.contains(f.as_str()) {
                    out.push(format!(
                        "{shown}:{}: cites `{f}`, which is not in the repository",
                        i + 1
                    ));
                }
            }
        }
        refs.extend(docs_references(root, &file, &text));
        let rel = file.strip_prefix(root).unwrap_or(&file);
        let is_doc = rel == Path::new("README.md")
            || (rel.parent() == Some(Path::new("docs"))
                && rel.extension().is_some_and(|e| e == "md"));
        if is_doc {
            refs.extend(markdown_links(&file, &text));
        }
    }
    let mut headings: HashMap<PathBuf, Vec<String>> = HashMap::new();
    for r in refs {
        let shown = r.file.strip_prefix(root).unwrap_or(&r.file).display();
        if !r.target.exists() {
            out.push(format!(
                "{shown}:{}: `{}` names a file that does not exist",
                r.line, r.written
            ));
            continue;
        }
        let Some(anchor) = &r.anchor else { continue };
        if r.target.is_dir() {
            out.push(format!(
                "{shown}:{}: `{}` puts an anchor on a directory",
                r.line, r.written
            ));
            continue;
        }
        let known = headings
            .entry(r.target.clone())
            .or_insert_with(|| anchors(&fs::read_to_string(&r.target).unwrap_or_default()));
        if !known.contains(anchor) {
            out.push(format!(
                "{shown}:{}: `{}`: no heading with the anchor `#{anchor}` in {}",
                r.line,
                r.written,
                r.target.strip_prefix(root).unwrap_or(&r.target).display()
            ));
        }
    }
    // A link in README.md or docs/ is found both as a link and as a
    // `docs/…` name: report it once.
    out.sort();
    out.dedup();
    out
}

#[test]
fn every_documentation_reference_resolves() {
    let root = repo_root();
    assert!(root.join("docs").is_dir(), "no docs/ in {}", root.display());
    let found = problems(&root);
    assert!(
        found.is_empty(),
        "{} broken documentation reference(s):\n{}",
        found.len(),
        found.join("\n")
    );
}

#[test]
fn the_check_finds_broken_references() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let docs = "docs";
    fs::create_dir_all(root.join(docs)).unwrap();
    fs::write(
        root.join(docs).join("a.md"),
        "# Title\n\n## Round contract\n\n```\n## not a heading\n```\n\n## RockNet's FaceAll: 20 devices\n",
    )
    .unwrap();
    fs::write(
        root.join("README.md"),
        format!(
            "[ok]({docs}/a.md#round-contract) [ok](#top-level) [web](https://example.invalid/x.md)\n\
             [gone]({docs}/missing.md) [bad anchor]({docs}/a.md#not-a-heading)\n\n# Top level\n"
        ),
    )
    .unwrap();
    fs::create_dir_all(root.join("src")).unwrap();
    fs::write(
        root.join("src").join("lib.rs"),
        format!(
            "//! See {docs}/a.md#rocknets-faceall-20-devices and {docs}/a.md, and {docs}/b.md#x.\n\
             //! Not a reference: mydocs/a.md, {docs}/.\n//! {}\n",
            outside_references()[0]
        ),
    )
    .unwrap();
    let found = problems(root);
    let expect = [
        format!("README.md:2: `{docs}/missing.md` names a file that does not exist"),
        format!(
            "README.md:2: `{docs}/a.md#not-a-heading`: no heading with the anchor `#not-a-heading` in {docs}/a.md"
        ),
        format!("src/lib.rs:1: `{docs}/b.md#x` names a file that does not exist"),
        "src/lib.rs:3: cites".to_string(),
    ];
    for e in &expect {
        assert!(
            found.iter().any(|p| p.starts_with(e.as_str())),
            "expected a problem starting with {e:?}, found {found:#?}"
        );
    }
    assert_eq!(found.len(), expect.len(), "{found:#?}");
}

#[test]
fn slugs_follow_github() {
    assert_eq!(slug("Scaling: 1 to 20 devices"), "scaling-1-to-20-devices");
    assert_eq!(
        slug("RockNet's FaceAll deployment"),
        "rocknets-faceall-deployment"
    );
    assert_eq!(slug("f32 determinism"), "f32-determinism");
    assert_eq!(
        anchors("# A\n## A\n```\n# B\n```\n### `rocknet train`\n"),
        ["a", "a-1", "rocknet-train"]
    );
}
