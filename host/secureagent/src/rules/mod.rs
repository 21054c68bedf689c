//! The rules file in AIDE's syntax: selection lines (`/path GROUP`, `!/path`, `=/path`,
//! `=/path/`, restricted forms `/path f,d GROUP`), group definitions (`Name = p+i+sha256`),
//! comments. `@@define` and the other macro lines are left out (refused with their line
//! number); AIDE's option lines (`database_in=...`, `root_prefix=...`) are ignored with a
//! warning, since secureagent's TOML configuration holds those. [`select`] decides, per path,
//! which rule applies.

pub mod attrs;
pub mod select;

use std::collections::HashMap;

use regex::bytes::{Regex, RegexBuilder};

pub use attrs::{Attr, AttrSet};
pub use select::{FileKind, Rules};

/// Largest rules file.
pub const MAX_RULES_BYTES: usize = 1024 * 1024;
/// Most selection lines.
pub const MAX_RULES: usize = 10_000;
/// Most group definitions.
pub const MAX_GROUPS: usize = 1_000;
/// Largest compiled regular expression of one rule.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// AIDE configuration options: ignored in a rules file, with a warning.
const AIDE_OPTIONS: &[&str] = &[
    "database",
    "database_in",
    "database_out",
    "database_new",
    "database_attrs",
    "database_add_metadata",
    "report_url",
    "report_level",
    "report_format",
    "report_detailed_init",
    "report_quiet",
    "report_append",
    "report_grouped",
    "report_summarize_changes",
    "report_ignore_added_attrs",
    "report_ignore_removed_attrs",
    "report_ignore_changed_attrs",
    "report_force_attrs",
    "report_ignore_e2fsattrs",
    "report_base16",
    "gzip_dbout",
    "root_prefix",
    "config_version",
    "acl_no_symlink_follow",
    "warn_dead_symlinks",
    "log_level",
    "num_workers",
    "verbose",
    "grouped",
    "summarize_changes",
    "report_attributes",
    "ignore_list",
    "rule_log_level",
];

/// A rules file that cannot be used: the line and what is wrong with it.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("line {line}: {message}")]
pub struct RuleError {
    /// 1-based line number (0: the file as a whole).
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// A line the parser accepted but that does not do all it says (an unsupported attribute,
/// an AIDE option).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleWarning {
    /// 1-based line number.
    pub line: usize,
    /// What was ignored.
    pub message: String,
}

/// What a selection line does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuleKind {
    /// `/regex attrs`: matching entries and their children.
    Regular,
    /// `=regex attrs`: matching entries only (and their children when the regex ends in `/`).
    Equals,
    /// `!regex`: matching entries and their children are not checked.
    Negative,
}

/// One selection line.
#[derive(Clone, Debug)]
pub struct Rule {
    /// What it does.
    pub kind: RuleKind,
    /// The pattern as written (after `%XX` decoding).
    pub pattern: String,
    /// `^(?:pattern)`.
    pub regex: Regex,
    /// The pattern up to its first special character: where the rule can match at all.
    pub literal: Vec<u8>,
    /// File types it is restricted to (`None`: all).
    pub types: Option<Vec<FileKind>>,
    /// What is checked (empty for a negative rule).
    pub attrs: AttrSet,
    /// Its line in the file.
    pub line: usize,
}

fn err(line: usize, message: impl Into<String>) -> RuleError {
    RuleError {
        line,
        message: message.into(),
    }
}

/// Decodes AIDE's two-digit URL escapes (`%20`).
fn url_decode(s: &str, line: usize) -> Result<String, RuleError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| {
                    err(
                        line,
                        format!("bad %-escape in `{s}` (two hex digits expected)"),
                    )
                })?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| err(line, format!("`{s}` decodes to invalid UTF-8")))
}

/// The part of a pattern before its first regex special character.
fn literal_prefix(pattern: &str) -> Vec<u8> {
    let end = pattern
        .find([
            '.', '[', ']', '(', ')', '*', '+', '?', '{', '}', '|', '^', '$', '\\',
        ])
        .unwrap_or(pattern.len());
    pattern.as_bytes()[..end].to_vec()
}

fn parse_types(field: &str, line: usize) -> Result<Vec<FileKind>, RuleError> {
    let mut types = Vec::new();
    for t in field.split(',') {
        match t {
            "0" => return Ok(Vec::new()),
            _ => types.push(FileKind::from_letter(t).ok_or_else(|| {
                err(
                    line,
                    format!("unknown file type `{t}` (f, d, l, c, b, p, s, D, P or 0)"),
                )
            })?),
        }
    }
    Ok(types)
}

/// Whether a field is a list of file types (`f`, `d,f`, `0`).
fn is_types(field: &str) -> bool {
    field
        .split(',')
        .all(|t| t == "0" || FileKind::from_letter(t).is_some())
}

/// Parses a rules file. Returns the rules and the warnings about what was ignored.
pub fn parse(text: &str) -> Result<(Rules, Vec<RuleWarning>), RuleError> {
    if text.len() > MAX_RULES_BYTES {
        return Err(err(0, format!("rules file over {MAX_RULES_BYTES} bytes")));
    }
    let mut groups = attrs::builtin_groups();
    let mut rules = Vec::new();
    let mut warnings = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if trimmed.starts_with('@') {
            return Err(err(
                line,
                format!(
                    "macro lines (`{}`) are not supported",
                    trimmed.split_whitespace().next().unwrap_or(trimmed)
                ),
            ));
        }
        let first = trimmed.chars().next().unwrap_or(' ');
        if matches!(first, '/' | '!' | '=') {
            let rule = parse_selection(trimmed, line, &groups, &mut warnings)?;
            if rules.len() >= MAX_RULES {
                return Err(err(line, format!("more than {MAX_RULES} selection lines")));
            }
            rules.push(rule);
            continue;
        }
        let Some((name, expr)) = trimmed.split_once('=') else {
            return Err(err(
                line,
                format!(
                    "`{trimmed}` is neither a selection line (/, !, =) nor `Group = attributes`"
                ),
            ));
        };
        let name = name.trim();
        if AIDE_OPTIONS.contains(&name) {
            warnings.push(RuleWarning {
                line,
                message: format!("AIDE option `{name}` ignored (secureagent's configuration file holds the database, the root prefix and the report settings)"),
            });
            continue;
        }
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(err(
                line,
                format!("group name `{name}` is not alphanumeric"),
            ));
        }
        let mut w = Vec::new();
        let set = attrs::parse_expression(expr, &groups, &mut w).map_err(|m| err(line, m))?;
        warnings.extend(w.into_iter().map(|message| RuleWarning { line, message }));
        if groups.len() >= MAX_GROUPS + 6 && !groups.contains_key(name) {
            return Err(err(line, format!("more than {MAX_GROUPS} groups")));
        }
        groups.insert(name.to_string(), set);
    }
    Ok((Rules::new(rules), warnings))
}

fn parse_selection(
    text: &str,
    line: usize,
    groups: &HashMap<String, AttrSet>,
    warnings: &mut Vec<RuleWarning>,
) -> Result<Rule, RuleError> {
    let (kind, body) = match text.as_bytes()[0] {
        b'!' => (RuleKind::Negative, &text[1..]),
        b'=' => (RuleKind::Equals, &text[1..]),
        _ => (RuleKind::Regular, text),
    };
    let fields: Vec<&str> = body.split_whitespace().collect();
    let Some(raw_pattern) = fields.first() else {
        return Err(err(line, "a selection line needs a path"));
    };
    if !raw_pattern.starts_with('/') {
        return Err(err(
            line,
            format!("the path `{raw_pattern}` must start with `/`"),
        ));
    }
    let pattern = url_decode(raw_pattern, line)?;
    let (types, expr) = match (kind, &fields[1..]) {
        (RuleKind::Negative, []) => (None, None),
        (RuleKind::Negative, [t]) if is_types(t) => (Some(parse_types(t, line)?), None),
        (RuleKind::Negative, _) => {
            return Err(err(
                line,
                "a negative rule takes a path and optional file types only",
            ));
        }
        (_, [e]) => (None, Some(*e)),
        (_, [t, e]) if is_types(t) => (Some(parse_types(t, line)?), Some(*e)),
        (_, []) => {
            return Err(err(
                line,
                format!("`{raw_pattern}` needs an attribute expression or group"),
            ));
        }
        (_, _) => return Err(err(line, "expected `<path> [file types] <attributes>`")),
    };
    let attrs = match expr {
        Some(e) => {
            let mut w = Vec::new();
            let set = attrs::parse_expression(e, groups, &mut w).map_err(|m| err(line, m))?;
            warnings.extend(w.into_iter().map(|message| RuleWarning { line, message }));
            set
        }
        None => AttrSet::EMPTY,
    };
    let regex = RegexBuilder::new(&format!("^(?:{pattern})"))
        .unicode(false)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| err(line, format!("bad regular expression `{pattern}`: {e}")))?;
    Ok(Rule {
        kind,
        literal: literal_prefix(&pattern),
        pattern,
        regex,
        types: types.filter(|t| !t.is_empty()),
        attrs,
        line,
    })
}

#[cfg(test)]
mod tests;
