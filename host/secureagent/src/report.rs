//! The check's report: as text, readable like AIDE's (summary, "Added entries:", "Removed
//! entries:", "Changed entries:" with AIDE's `f > ... m . H     : /path` lines, then the old
//! and new values), and the same as JSON (`--json`), the shape later sent to Polaris.

use std::fmt::Write as _;

use serde::Serialize;

use crate::compare::{Changed, Findings};
use crate::entry::Entry;
use crate::rules::{Attr, AttrSet, FileKind};

/// The baseline a check used.
#[derive(Debug, Clone, Serialize)]
pub struct BaselineInfo {
    /// Its file.
    pub path: String,
    /// SHA-256 (hex) of the file as read.
    pub digest: String,
    /// The digest stored beside it when it was written (`None`: no digest file).
    pub stored_digest: Option<String>,
}

/// One attribute of a changed entry.
#[derive(Debug, Clone, Serialize)]
pub struct AttrChange {
    pub name: &'static str,
    pub old: String,
    pub new: String,
}

/// One reported entry.
#[derive(Debug, Clone, Serialize)]
pub struct EntryReport {
    pub path: String,
    /// AIDE's file type letter.
    #[serde(rename = "type")]
    pub kind: char,
    /// AIDE's summary string (`f > ... m . H     `).
    pub summary: String,
    /// Changed entries: what changed. Unreadable entries: nothing.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<AttrChange>,
    /// Unreadable entries: why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Counts of a check.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub entries: usize,
    pub added: usize,
    pub removed: usize,
    pub changed: usize,
    pub unreadable: usize,
    pub duration_s: f64,
}

/// A whole check report.
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    pub start: String,
    pub root_prefix: String,
    pub baseline: BaselineInfo,
    pub summary: Summary,
    pub added: Vec<EntryReport>,
    pub removed: Vec<EntryReport>,
    pub changed: Vec<EntryReport>,
    pub unreadable: Vec<EntryReport>,
    /// AIDE's exit code (1 added, 2 removed, 4 changed).
    pub exit_code: u8,
    /// `--update`: the SHA-256 of the baseline written after the check.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_baseline_digest: Option<String>,
}

/// AIDE's summary string of a changed entry (`YlZbpugamcinHAXSEC`).
fn summary_string(change: &Changed) -> String {
    let (old, new) = (&change.old, &change.new);
    let checked = AttrSet(old.attrs.0 & new.attrs.0);
    let mut s = String::with_capacity(18);
    s.push(if old.kind == new.kind {
        new.kind.letter()
    } else {
        '!'
    });
    let letter = |attr: Attr, c: char| {
        if !checked.has(attr) {
            ' '
        } else if change.attrs.contains(&attr) {
            c
        } else {
            '.'
        }
    };
    s.push(letter(Attr::Linkname, 'l'));
    s.push(if !checked.has(Attr::Size) {
        ' '
    } else {
        match new.size.cmp(&old.size) {
            std::cmp::Ordering::Equal => '=',
            std::cmp::Ordering::Less => '<',
            std::cmp::Ordering::Greater => '>',
        }
    });
    for (attr, c) in [
        (Attr::Blocks, 'b'),
        (Attr::Perm, 'p'),
        (Attr::Uid, 'u'),
        (Attr::Gid, 'g'),
        (Attr::Atime, 'a'),
        (Attr::Mtime, 'm'),
        (Attr::Ctime, 'c'),
        (Attr::Inode, 'i'),
        (Attr::Links, 'n'),
    ] {
        s.push(letter(attr, c));
    }
    let hashes = Attr::HASHES;
    let hashed = old.kind == FileKind::File && new.kind == FileKind::File;
    s.push(if !hashed || !hashes.iter().any(|a| checked.has(*a)) {
        ' '
    } else if hashes.iter().any(|a| change.attrs.contains(a)) {
        'H'
    } else {
        '.'
    });
    for (attr, c) in [(Attr::Acl, 'A'), (Attr::Xattrs, 'X'), (Attr::Selinux, 'S')] {
        s.push(letter(attr, c));
    }
    s.push(' '); // E: ext2 attributes are not read.
    s.push(letter(Attr::Caps, 'C'));
    s
}

fn plain(entry: &Entry, fill: char) -> EntryReport {
    let mut summary = String::with_capacity(18);
    summary.push(entry.kind.letter());
    summary.extend(std::iter::repeat_n(fill, 17));
    EntryReport {
        path: entry.path_str(),
        kind: entry.kind.letter(),
        summary,
        attributes: Vec::new(),
        error: None,
    }
}

/// Builds the report of a check.
pub fn build(
    findings: &Findings,
    start: String,
    root_prefix: String,
    baseline: BaselineInfo,
    duration_s: f64,
) -> CheckReport {
    CheckReport {
        start,
        root_prefix,
        baseline,
        summary: Summary {
            entries: findings.total,
            added: findings.added.len(),
            removed: findings.removed.len(),
            changed: findings.changed.len(),
            unreadable: findings.unreadable.len(),
            duration_s,
        },
        added: findings.added.iter().map(|e| plain(e, '+')).collect(),
        removed: findings.removed.iter().map(|e| plain(e, '-')).collect(),
        changed: findings
            .changed
            .iter()
            .map(|c| EntryReport {
                path: c.new.path_str(),
                kind: c.new.kind.letter(),
                summary: summary_string(c),
                attributes: c
                    .attrs
                    .iter()
                    .map(|a| AttrChange {
                        name: a.name(),
                        old: c.old.value(*a),
                        new: c.new.value(*a),
                    })
                    .collect(),
                error: None,
            })
            .collect(),
        unreadable: findings
            .unreadable
            .iter()
            .map(|e| EntryReport {
                error: e.unreadable.clone(),
                ..plain(e, '?')
            })
            .collect(),
        exit_code: findings.exit_code(),
        new_baseline_digest: None,
    }
}

const RULE: &str = "---------------------------------------------------";

fn section(out: &mut String, title: &str) {
    let _ = write!(out, "\n{RULE}\n{title}\n{RULE}\n\n");
}

fn kind_word(kind: char) -> &'static str {
    match FileKind::from_char(kind) {
        Some(FileKind::Dir) => "Directory",
        Some(FileKind::Symlink) => "Link",
        Some(FileKind::File) => "File",
        _ => "Entry",
    }
}

/// Splits a value into AIDE's 32-character report columns.
fn columns(value: &str) -> Vec<String> {
    let chars: Vec<char> = value.chars().collect();
    if chars.is_empty() {
        return vec![String::new()];
    }
    chars.chunks(32).map(|c| c.iter().collect()).collect()
}

/// The report as text, like AIDE's.
pub fn text(report: &CheckReport, version: &str) -> String {
    let mut out = String::new();
    let s = &report.summary;
    let _ = writeln!(
        out,
        "Start timestamp: {} (secureagent {version})",
        report.start
    );
    if report.exit_code == 0 {
        let _ = writeln!(
            out,
            "secureagent found NO differences between database and filesystem. Looks okay!!"
        );
    } else {
        let _ = writeln!(
            out,
            "secureagent found differences between database and filesystem!!"
        );
    }
    let _ = writeln!(out, "Root prefix: {}", report.root_prefix);
    let _ = write!(
        out,
        "\nSummary:\n  Total number of entries:\t{}\n  Added entries:\t\t{}\n  Removed entries:\t\t{}\n  Changed entries:\t\t{}\n  Unreadable entries:\t\t{}\n",
        s.entries, s.added, s.removed, s.changed, s.unreadable
    );
    for (title, list) in [
        ("Added entries:", &report.added),
        ("Removed entries:", &report.removed),
        ("Changed entries:", &report.changed),
    ] {
        if !list.is_empty() {
            section(&mut out, title);
            for e in list {
                let _ = writeln!(out, "{}: {}", e.summary, e.path);
            }
        }
    }
    if !report.unreadable.is_empty() {
        section(&mut out, "Unreadable entries:");
        for e in &report.unreadable {
            let _ = writeln!(
                out,
                "{}: {}: unreadable: {}",
                e.summary,
                e.path,
                e.error.as_deref().unwrap_or("")
            );
        }
    }
    if !report.changed.is_empty() {
        section(&mut out, "Detailed information about changes:");
        for e in &report.changed {
            let _ = writeln!(out, "{}: {}", kind_word(e.kind), e.path);
            for a in &e.attributes {
                let label = Attr::ALL
                    .iter()
                    .find(|x| x.name() == a.name)
                    .map_or(a.name, |x| x.label());
                let (old, new) = (columns(&a.old), columns(&a.new));
                for row in 0..old.len().max(new.len()) {
                    let o = old.get(row).map_or("", String::as_str);
                    let n = new.get(row).map_or("", String::as_str);
                    let head = if row == 0 {
                        format!(" {label:<10}: ")
                    } else {
                        " ".repeat(13)
                    };
                    let _ = writeln!(out, "{head}{o:<32} | {n}");
                }
            }
            out.push('\n');
        }
    }
    section(&mut out, "The baseline:");
    let b = &report.baseline;
    let verdict = match &b.stored_digest {
        Some(d) if *d == b.digest => "matches the digest stored at --init/--update".to_string(),
        Some(d) => format!("DIFFERS from the digest stored at --init/--update ({d})"),
        None => "no stored digest to compare with".to_string(),
    };
    let _ = writeln!(
        out,
        "{}\n SHA256    : {}\n             {verdict}",
        b.path, b.digest
    );
    if let Some(digest) = &report.new_baseline_digest {
        let _ = writeln!(
            out,
            "\nNew baseline written to {}\n SHA256    : {digest}",
            b.path
        );
    }
    let _ = writeln!(out, "\nRun time: {:.2} s", s.duration_s);
    out
}
