//! Bytes into records: lines are cut at `\n` (a trailing `\r` dropped), joined by a multiline
//! rule, and held to `max_record_bytes`: the head is kept and the bytes past it are counted in
//! the record's `truncated`, never dropped silently. A 10 MiB line never costs more memory
//! than `max_record_bytes`. Records are contiguous: each ends where the next begins, so the
//! end of the last record sent is the offset to commit.

use std::time::{Duration, Instant};

use regex::Regex;

/// How lines make a multiline record.
#[derive(Debug, Clone)]
pub enum Multiline {
    /// A line matching it starts a record; other lines continue the one before.
    Start(Regex),
    /// A line matching it continues the record before; other lines start one.
    Continue(Regex),
}

/// One record's bytes and where it lies in its file.
#[derive(Debug, Clone, PartialEq)]
pub struct RawRecord {
    /// Offset of its first byte.
    pub offset: u64,
    /// Offset just past its last byte (its newline included).
    pub end: u64,
    /// Its text (lines joined with `\n`), at most `max_record_bytes`.
    pub text: Vec<u8>,
    /// Bytes dropped from its end.
    pub truncated: u64,
}

/// The lines and record being assembled from one file generation.
#[derive(Debug)]
pub struct Assembler {
    max: usize,
    multiline: Option<Multiline>,
    /// The line being read (its end not seen yet).
    line: RawRecord,
    /// The multiline record being built, and when a line last joined it.
    pending: Option<(RawRecord, Instant)>,
}

impl Assembler {
    /// An assembler for bytes starting at `offset`.
    pub fn new(max: usize, multiline: Option<Multiline>, offset: u64) -> Assembler {
        Assembler {
            max,
            multiline,
            line: empty(offset),
            pending: None,
        }
    }

    /// Takes `data` (the file's next bytes) and pushes every record it completes onto `out`.
    pub fn feed(&mut self, data: &[u8], out: &mut Vec<RawRecord>) {
        let mut rest = data;
        while !rest.is_empty() {
            let (part, ended) = match memchr(rest) {
                Some(i) => (&rest[..i], i + 1),
                None => (rest, rest.len()),
            };
            let room = self.max.saturating_sub(self.line.text.len());
            let kept = part.len().min(room);
            self.line.text.extend_from_slice(&part[..kept]);
            self.line.truncated += (part.len() - kept) as u64;
            self.line.end += ended as u64;
            let complete = ended > part.len();
            rest = &rest[ended..];
            if complete {
                if self.line.text.last() == Some(&b'\r') && self.line.truncated == 0 {
                    self.line.text.pop();
                }
                let next = empty(self.line.end);
                let line = std::mem::replace(&mut self.line, next);
                self.line_done(line, out);
            }
        }
    }

    fn line_done(&mut self, line: RawRecord, out: &mut Vec<RawRecord>) {
        let Some(rule) = &self.multiline else {
            out.push(line);
            return;
        };
        let Some((mut pending, _)) = self.pending.take() else {
            self.pending = Some((line, Instant::now()));
            return;
        };
        let text = String::from_utf8_lossy(&line.text);
        let joins = match rule {
            Multiline::Start(start) => !start.is_match(&text),
            Multiline::Continue(cont) => cont.is_match(&text),
        };
        if joins {
            self.append(&mut pending, line);
            self.pending = Some((pending, Instant::now()));
        } else {
            out.push(pending);
            self.pending = Some((line, Instant::now()));
        }
    }

    fn append(&self, record: &mut RawRecord, line: RawRecord) {
        let mut bytes = Vec::with_capacity(line.text.len() + 1);
        bytes.push(b'\n');
        bytes.extend_from_slice(&line.text);
        let room = self.max.saturating_sub(record.text.len());
        let kept = bytes.len().min(room);
        record.text.extend_from_slice(&bytes[..kept]);
        record.truncated += (bytes.len() - kept) as u64 + line.truncated;
        record.end = line.end;
    }

    /// Emits a multiline record no line joined for `after` (its flush timeout).
    pub fn flush_older(&mut self, after: Duration, out: &mut Vec<RawRecord>) {
        if self
            .pending
            .as_ref()
            .is_some_and(|(_, t)| t.elapsed() >= after)
            && let Some((record, _)) = self.pending.take()
        {
            out.push(record);
        }
    }

    /// The file will not grow (rotated away, deleted, `-T`): the last line, even without its
    /// newline, and any multiline record are complete.
    pub fn finish(&mut self, out: &mut Vec<RawRecord>) {
        if self.line.end > self.line.offset {
            let next = empty(self.line.end);
            let line = std::mem::replace(&mut self.line, next);
            self.line_done(line, out);
        }
        if let Some((record, _)) = self.pending.take() {
            out.push(record);
        }
    }

    /// True while a multiline record waits for its next line or its timeout.
    pub fn has_pending(&self) -> bool {
        self.pending.is_some()
    }

    /// Where the bytes not yet in a record begin.
    pub fn start(&self) -> u64 {
        self.pending
            .as_ref()
            .map(|(r, _)| r.offset)
            .unwrap_or(self.line.offset)
    }

    /// True while bytes were read that no record holds yet.
    pub fn holds_bytes(&self) -> bool {
        self.pending.is_some() || self.line.end > self.line.offset
    }
}

fn empty(offset: u64) -> RawRecord {
    RawRecord {
        offset,
        end: offset,
        text: Vec::new(),
        truncated: 0,
    }
}

fn memchr(bytes: &[u8]) -> Option<usize> {
    memchr::memchr(b'\n', bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed_all(assembler: &mut Assembler, chunks: &[&[u8]]) -> Vec<RawRecord> {
        let mut out = Vec::new();
        for chunk in chunks {
            assembler.feed(chunk, &mut out);
        }
        out
    }

    #[test]
    fn lines_across_reads_with_offsets() {
        let mut a = Assembler::new(100, None, 10);
        let out = feed_all(&mut a, &[b"one\r\ntw", b"o\n", b"thr"]);
        assert_eq!(out.len(), 2);
        assert_eq!(
            (out[0].offset, out[0].end, &out[0].text[..]),
            (10, 15, &b"one"[..])
        );
        assert_eq!(
            (out[1].offset, out[1].end, &out[1].text[..]),
            (15, 19, &b"two"[..])
        );
        assert!(a.holds_bytes());
        let mut last = Vec::new();
        a.finish(&mut last);
        assert_eq!(
            (last[0].offset, last[0].end, &last[0].text[..]),
            (19, 22, &b"thr"[..])
        );
    }

    #[test]
    fn a_long_line_keeps_its_head_and_counts_the_rest() {
        let mut a = Assembler::new(64, None, 0);
        let big = vec![b'x'; 10 * 1024 * 1024];
        let mut out = feed_all(&mut a, &[&big, b"\nnext\n"]);
        assert_eq!(out.len(), 2);
        let first = out.remove(0);
        assert_eq!(first.text.len(), 64);
        assert_eq!(first.truncated, 10 * 1024 * 1024 - 64);
        assert_eq!(first.end, 10 * 1024 * 1024 + 1);
        assert_eq!(out[0].text, b"next");
    }

    #[test]
    fn a_stack_trace_is_one_record() {
        let start = Multiline::Start(Regex::new(r"^\d{4}-").unwrap());
        let mut a = Assembler::new(1000, Some(start), 0);
        let text = b"2026-12-04 boom\njava.lang.Error: x\n\tat A.b(A.java:1)\n\tat C.d(C.java:2)\n2026-12-04 next\n";
        let out = feed_all(&mut a, &[text]);
        assert_eq!(out.len(), 1);
        assert_eq!(
            String::from_utf8_lossy(&out[0].text),
            "2026-12-04 boom\njava.lang.Error: x\n\tat A.b(A.java:1)\n\tat C.d(C.java:2)"
        );
        assert_eq!(out[0].end, 71);
        assert!(a.has_pending());
        let mut flushed = Vec::new();
        a.flush_older(Duration::ZERO, &mut flushed);
        assert_eq!(flushed[0].text, b"2026-12-04 next");
        assert_eq!(flushed[0].offset, 71);
    }

    #[test]
    fn continuation_lines_and_a_capped_multiline_record() {
        let cont = Multiline::Continue(Regex::new(r"^\s").unwrap());
        let mut a = Assembler::new(10, Some(cont), 0);
        let out = feed_all(&mut a, &[b"head\n  more lines here\nnew\n"]);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].text, b"head\n  mor");
        assert_eq!(out[0].truncated, 12);
        assert_eq!(out[0].end, 23);
    }
}
