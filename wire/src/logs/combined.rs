//! A hand-written matcher for the nginx/Apache combined presets, exactly as strict as their
//! regexes (logagent's `parse::pattern::NGINX_COMBINED` and `APACHE_COMBINED`, which differ
//! only in which groups are named; logagent's tests hold it to them): it finds the same spans,
//! or says the line does not match, or — where the regex's Unicode classes (`\S`, `\d`) meet a
//! non-ASCII character — says it cannot tell, and the caller asks the regex. The regex costs
//! ~5,800 instructions per nginx line; this a few hundred. It is part of the wire contract:
//! Polaris reads a preset record's fields from its message with it (`preset`).
//!
//! The regex, group by group (each greedy run has exactly one way to match, so scanning left
//! to right without backtracking finds what the regex finds):
//! `^(\S+) (\S+) (\S+) \[([^\]]+)\] "((?:[^"\\]|\\.)*)" (\d{3}) (\d+|-) "(..)" "(..)"` and
//! anything after the last quote.

use std::ops::Range;

/// The spans of a matching line: address, ident, user, time, request, status, size,
/// referer, user agent (in the order of the regex's groups).
pub type Spans = [Range<usize>; 9];

/// What the matcher found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Match {
    /// The line matches, with these spans.
    Yes(Spans),
    /// The line does not match.
    No,
    /// A non-ASCII character where the regex's Unicode classes decide: ask the regex.
    Unsure,
}

/// Why the scan stopped early.
enum Stop {
    No,
    Unsure,
}

type Step<T> = Result<T, Stop>;

/// Matches `text` against the combined log format.
pub fn matches(text: &str) -> Match {
    match scan(text.as_bytes()) {
        Ok(spans) => Match::Yes(spans),
        Err(Stop::No) => Match::No,
        Err(Stop::Unsure) => Match::Unsure,
    }
}

fn scan(b: &[u8]) -> Step<Spans> {
    let mut at = 0;
    let addr = non_space(b, &mut at)?;
    literal(b, &mut at, b" ")?;
    let ident = non_space(b, &mut at)?;
    literal(b, &mut at, b" ")?;
    let user = non_space(b, &mut at)?;
    literal(b, &mut at, b" [")?;
    let time = bracketed(b, &mut at)?;
    literal(b, &mut at, b"] \"")?;
    let request = quoted(b, &mut at)?;
    literal(b, &mut at, b"\" ")?;
    let status = three_digits(b, &mut at)?;
    literal(b, &mut at, b" ")?;
    let size = size(b, &mut at)?;
    literal(b, &mut at, b" \"")?;
    let referer = quoted(b, &mut at)?;
    literal(b, &mut at, b"\" \"")?;
    let agent = quoted(b, &mut at)?;
    literal(b, &mut at, b"\"")?;
    Ok([
        addr, ident, user, time, request, status, size, referer, agent,
    ])
}

fn literal(b: &[u8], at: &mut usize, want: &[u8]) -> Step<()> {
    // Byte by byte: these literals are one to three bytes, shorter than a call to memcmp.
    for &w in want {
        if b.get(*at) != Some(&w) {
            return Err(Stop::No);
        }
        *at += 1;
    }
    Ok(())
}

/// The ASCII characters in the regex's `\s` (Unicode White_Space).
fn ascii_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0B | 0x0C | b'\r')
}

/// `\S+`: the longest run of non-space characters, at least one. A non-ASCII character (some
/// are spaces in Unicode) makes the answer the regex's.
fn non_space(b: &[u8], at: &mut usize) -> Step<Range<usize>> {
    let start = *at;
    while let Some(&c) = b.get(*at) {
        if c >= 0x80 {
            return Err(Stop::Unsure);
        }
        if ascii_space(c) {
            break;
        }
        *at += 1;
    }
    if *at == start {
        return Err(Stop::No);
    }
    Ok(start..*at)
}

/// `[^\]]+`: anything up to the first `]`, at least one byte.
fn bracketed(b: &[u8], at: &mut usize) -> Step<Range<usize>> {
    let start = *at;
    let len = b[start..].iter().position(|&c| c == b']').ok_or(Stop::No)?;
    if len == 0 {
        return Err(Stop::No);
    }
    *at = start + len;
    Ok(start..*at)
}

/// `(?:[^"\\]|\\.)*`: up to the first unescaped `"`; a backslash takes the next character,
/// which may be anything but a newline (the regex's `.`).
fn quoted(b: &[u8], at: &mut usize) -> Step<Range<usize>> {
    let start = *at;
    loop {
        match b.get(*at) {
            None => return Err(Stop::No),
            Some(b'"') => return Ok(start..*at),
            Some(b'\\') => match b.get(*at + 1) {
                None | Some(b'\n') => return Err(Stop::No),
                // A multi-byte character after the backslash: its continuation bytes are
                // neither `"` nor `\`, so the next steps take them one by one.
                Some(_) => *at += 2,
            },
            Some(_) => *at += 1,
        }
    }
}

/// `\d{3}` followed (the caller checks) by a space.
fn three_digits(b: &[u8], at: &mut usize) -> Step<Range<usize>> {
    let start = *at;
    for _ in 0..3 {
        match b.get(*at) {
            Some(c) if c.is_ascii_digit() => *at += 1,
            Some(c) if *c >= 0x80 => return Err(Stop::Unsure),
            _ => return Err(Stop::No),
        }
    }
    if b.get(*at).is_some_and(|c| *c >= 0x80) {
        return Err(Stop::Unsure);
    }
    Ok(start..*at)
}

/// `\d+|-` followed (the caller checks) by ` "`.
fn size(b: &[u8], at: &mut usize) -> Step<Range<usize>> {
    let start = *at;
    if b.get(start) == Some(&b'-') {
        *at += 1;
        return Ok(start..*at);
    }
    while let Some(&c) = b.get(*at) {
        if c >= 0x80 {
            return Err(Stop::Unsure);
        }
        if !c.is_ascii_digit() {
            break;
        }
        *at += 1;
    }
    if *at == start {
        return Err(Stop::No);
    }
    Ok(start..*at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spans_of_a_line() {
        let line = r#"203.0.113.9 - alice [04/Dec/2026:11:00:00 +0100] "GET /a?q=\"x\" HTTP/1.1" 404 153 "-" "curl/8.5.0" tail"#;
        let Match::Yes(spans) = matches(line) else {
            panic!("no match")
        };
        let got: Vec<&str> = spans.iter().map(|r| &line[r.clone()]).collect();
        assert_eq!(
            got,
            [
                "203.0.113.9",
                "-",
                "alice",
                "04/Dec/2026:11:00:00 +0100",
                r#"GET /a?q=\"x\" HTTP/1.1"#,
                "404",
                "153",
                "-",
                "curl/8.5.0"
            ]
        );
    }

    #[test]
    fn what_does_not_match_and_what_the_regex_decides() {
        assert_eq!(matches("GET / 200"), Match::No);
        assert_eq!(
            matches(r#"a - - [t] "r" 2000 1 "x" "y""#),
            Match::No,
            "four digits of status"
        );
        assert_eq!(
            matches(r#"a - - [t] "r\"#),
            Match::No,
            "a backslash at the end"
        );
        assert_eq!(
            matches("a\u{a0}b - - [t] \"r\" 200 1 \"x\" \"y\""),
            Match::Unsure
        );
        assert_eq!(
            matches("a - - [t] \"r\" 2\u{664}0 1 \"x\" \"y\""),
            Match::Unsure
        );
    }
}
