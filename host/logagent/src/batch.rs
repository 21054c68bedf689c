//! The records the agent holds between reading and delivery, and the batches it hands to the
//! writers. They serialise to exactly the JSON of `wire::logs::LogBatch` and `LogRecord` (the
//! same keys in the same order, the fields as a sorted object), or grouped by file
//! ([`write_grouped`]: `LogBatch`'s `files`, what Polaris is sent), but cost fewer allocations:
//! the source, file and path are shared, and a record the nginx/Apache matcher parsed keeps
//! its fields as spans of its message instead of a map with a `String` per key and value.

use std::ops::Range;
use std::sync::Arc;

use serde::ser::{Serialize, SerializeMap, SerializeStruct, Serializer};
use serde_json::{Map, Value};
use wire::json_text::push_str;
use wire::logs::combined::Spans;
use wire::logs::preset::FieldValue;
use wire::logs::{Preset, SourceStatus};

use crate::pack::Packed;

/// One record, as `wire::logs::LogRecord` (see there for what each field means).
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub source: Arc<str>,
    pub file: Arc<str>,
    pub offset: u64,
    pub path: Arc<str>,
    pub time: f64,
    pub time_from_read: bool,
    pub message: String,
    pub fields: Fields,
    pub truncated_bytes: Option<u64>,
    pub parse_error: Option<String>,
}

/// A record's fields.
#[derive(Debug, Clone, PartialEq)]
pub enum Fields {
    /// Fields as the formats without spans give them.
    Map(Map<String, Value>),
    /// A combined-log line's fields: spans of the record's message.
    Combined(Combined),
}

/// The fields of a line the combined matcher parsed, in the message's bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct Combined {
    /// The preset: which span is which field, and which are numbers.
    pub preset: Preset,
    /// The spans, as [`Spans`], narrowed to `u32` (a record is at most 16 MiB).
    pub spans: [Range<u32>; 9],
}

impl Combined {
    /// The spans of `spans` (every one within a message of at most `u32::MAX` bytes).
    pub fn new(preset: Preset, spans: Spans) -> Option<Combined> {
        let narrow = |r: &Range<usize>| -> Option<Range<u32>> {
            Some(u32::try_from(r.start).ok()?..u32::try_from(r.end).ok()?)
        };
        let mut out: [Range<u32>; 9] = Default::default();
        for (o, s) in out.iter_mut().zip(spans.iter()) {
            *o = narrow(s)?;
        }
        Some(Combined { preset, spans: out })
    }

    /// The text of span `i` in `message`.
    fn text<'a>(&self, message: &'a str, i: usize) -> &'a str {
        let r = &self.spans[i];
        message.get(r.start as usize..r.end as usize).unwrap_or("")
    }

    /// The number span `i` holds, when it is a number field and a `u64`.
    fn number(&self, message: &str, i: usize) -> Option<u64> {
        self.preset.number(i, self.text(message, i))
    }

    /// Writes the fields as the JSON object `serde_json` writes for their map.
    fn write(&self, out: &mut Vec<u8>, message: &str) {
        self.preset.write_fields(out, |i| self.text(message, i));
    }
}

impl Record {
    /// The preset that read its fields, when the combined matcher did: its group names the
    /// preset and it is sent without them.
    pub fn preset(&self) -> Option<Preset> {
        match &self.fields {
            Fields::Combined(c) => Some(c.preset),
            Fields::Map(_) => None,
        }
    }

    /// The field `name` as a `u64`, if the record has it and it is one.
    pub fn field_u64(&self, name: &str) -> Option<u64> {
        match &self.fields {
            Fields::Map(map) => map.get(name).and_then(Value::as_u64),
            Fields::Combined(c) => {
                let i = *c
                    .preset
                    .numbers()
                    .iter()
                    .find(|i| c.preset.names()[**i] == Some(name))?;
                c.number(&self.message, i)
            }
        }
    }

    /// The number of fields.
    pub fn field_count(&self) -> usize {
        match &self.fields {
            Fields::Map(map) => map.len(),
            Fields::Combined(c) => c.preset.order().len(),
        }
    }
}

/// What one delivery carries, as `wire::logs::LogBatch` (its `records` shape), or its records
/// packed: Polaris's compressed body, written as they were read (`pack`), when every writer
/// posts that body.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Batch {
    /// The records, unless `packed` holds them.
    pub records: Vec<Record>,
    pub sources: Vec<SourceStatus>,
    #[serde(skip)]
    pub packed: Option<Packed>,
}

impl Batch {
    /// How many records it holds.
    pub fn len(&self) -> usize {
        self.packed
            .as_ref()
            .map_or(self.records.len(), |packed| packed.records)
    }

    /// Whether it holds no record (the sources' states only).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Ends a packed body with the sources' states as they are now (those of a try before
    /// replaced).
    pub fn end_packed(&mut self) -> anyhow::Result<()> {
        match &mut self.packed {
            Some(packed) => packed.end(&self.sources),
            None => Ok(()),
        }
    }

    /// Its records, taken back from its packed body when it has one (which it then loses).
    pub fn unpack(&mut self) -> anyhow::Result<()> {
        if let Some(packed) = &self.packed {
            let records = packed.records()?;
            anyhow::ensure!(
                records.len() == packed.records,
                "{} records read back from a body of {}",
                records.len(),
                packed.records
            );
            self.records = records;
            self.packed = None;
        }
        Ok(())
    }
}

/// Writes the start of a `wire::logs::LogBatch` body holding `records` grouped by file
/// (`{"files":[...]`, each file's source, file and path once, its records after them), to be
/// ended by [`end_grouped`]. Records of one file that follow each other make one group, except
/// that a record the combined matcher read does not join a group without its preset (one whose
/// first record the matcher did not read). The agent writes bodies with `pack::Packer` (record
/// by record, compressed); this whole-batch writer is the tests' plain reference for it.
#[cfg(test)]
pub fn write_grouped(records: &[Record], out: &mut Vec<u8>) -> serde_json::Result<()> {
    out.extend_from_slice(b"{\"files\":[");
    let mut rest = records;
    let mut first = true;
    while let Some(head) = rest.first() {
        let group_of = Group::of(head);
        let n = rest
            .iter()
            .position(|r| !group_of.holds(r))
            .unwrap_or(rest.len());
        let (group, after) = rest.split_at(n);
        rest = after;
        if !first {
            out.push(b',');
        }
        first = false;
        write_group_head(out, &group_of);
        for (i, record) in group.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_in_group(out, record, &group_of)?;
        }
        out.extend_from_slice(b"]}");
    }
    out.push(b']');
    Ok(())
}

/// Ends a body [`write_grouped`] began, with the sources' states.
pub fn end_grouped(out: &mut Vec<u8>, sources: &[SourceStatus]) -> serde_json::Result<()> {
    out.extend_from_slice(b",\"sources\":");
    serde_json::to_writer(&mut *out, sources)?;
    out.push(b'}');
    Ok(())
}

/// What the records of one group of a grouped body share (`wire::logs::LogFile`): their
/// source, file and path, and the preset of the group's first record, if the combined matcher
/// read it (the group's records that preset read are then sent without their fields).
#[derive(Debug, Clone)]
pub struct Group {
    source: Arc<str>,
    file: Arc<str>,
    path: Arc<str>,
    preset: Option<Preset>,
}

impl Group {
    /// The group `r` opens.
    pub fn of(r: &Record) -> Group {
        Group {
            source: r.source.clone(),
            file: r.file.clone(),
            path: r.path.clone(),
            preset: r.preset(),
        }
    }

    /// Whether `r` joins it: the same file, path and source, and, if the matcher read it, the
    /// same preset.
    pub fn holds(&self, r: &Record) -> bool {
        let same = |a: &Arc<str>, b: &Arc<str>| Arc::ptr_eq(a, b) || a == b;
        same(&self.file, &r.file)
            && same(&self.path, &r.path)
            && same(&self.source, &r.source)
            && r.preset().is_none_or(|p| Some(p) == self.preset)
    }
}

/// Opens `group` (`wire::logs::LogFile`): its source, file and path, its `preset` if any,
/// then `"records":[`.
pub fn write_group_head(out: &mut Vec<u8>, group: &Group) {
    out.extend_from_slice(b"{\"source\":");
    push_str(out, &group.source);
    out.extend_from_slice(b",\"file\":");
    push_str(out, &group.file);
    out.extend_from_slice(b",\"path\":");
    push_str(out, &group.path);
    if let Some(preset) = group.preset {
        out.extend_from_slice(b",\"preset\":");
        push_str(out, preset.name());
    }
    out.extend_from_slice(b",\"records\":[");
}

/// Writes `r` as one of `group`'s records (`wire::logs::FileRecord`): without its fields
/// when the group's preset read them.
pub fn write_in_group(out: &mut Vec<u8>, r: &Record, group: &Group) -> serde_json::Result<()> {
    out.extend_from_slice(b"{\"offset\":");
    serde_json::to_writer(&mut *out, &r.offset)?;
    out.extend_from_slice(b",\"time\":");
    serde_json::to_writer(&mut *out, &r.time)?;
    if r.time_from_read {
        out.extend_from_slice(b",\"time_from_read\":true");
    }
    out.extend_from_slice(b",\"message\":");
    push_str(out, &r.message);
    match &r.fields {
        Fields::Combined(c) if group.preset == Some(c.preset) => {}
        Fields::Combined(c) => {
            out.extend_from_slice(b",\"fields\":");
            c.write(out, &r.message);
        }
        Fields::Map(map) => {
            out.extend_from_slice(b",\"fields\":");
            serde_json::to_writer(&mut *out, map)?;
        }
    }
    if let Some(n) = &r.truncated_bytes {
        out.extend_from_slice(b",\"truncated_bytes\":");
        serde_json::to_writer(&mut *out, n)?;
    }
    if let Some(e) = &r.parse_error {
        out.extend_from_slice(b",\"parse_error\":");
        push_str(out, e);
    }
    out.push(b'}');
    Ok(())
}

impl Record {
    fn serialize_fields<S: SerializeStruct>(&self, s: &mut S) -> Result<(), S::Error> {
        match &self.fields {
            Fields::Map(map) => s.serialize_field("fields", map),
            Fields::Combined(c) => s.serialize_field(
                "fields",
                &CombinedFields {
                    fields: c,
                    message: &self.message,
                },
            ),
        }
    }
}

impl Serialize for Record {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let len = 8
            + usize::from(self.truncated_bytes.is_some())
            + usize::from(self.parse_error.is_some());
        let mut s = serializer.serialize_struct("LogRecord", len)?;
        s.serialize_field("source", &*self.source)?;
        s.serialize_field("file", &*self.file)?;
        s.serialize_field("offset", &self.offset)?;
        s.serialize_field("path", &*self.path)?;
        s.serialize_field("time", &self.time)?;
        s.serialize_field("time_from_read", &self.time_from_read)?;
        s.serialize_field("message", &self.message)?;
        self.serialize_fields(&mut s)?;
        if let Some(n) = &self.truncated_bytes {
            s.serialize_field("truncated_bytes", n)?;
        }
        if let Some(e) = &self.parse_error {
            s.serialize_field("parse_error", e)?;
        }
        s.end()
    }
}

/// Combined fields with the message their spans are in.
struct CombinedFields<'a> {
    fields: &'a Combined,
    message: &'a str,
}

impl Serialize for CombinedFields<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let c = self.fields;
        let mut map = serializer.serialize_map(Some(c.preset.order().len()))?;
        for (name, value) in c.preset.entries(|i| c.text(self.message, i)) {
            match value {
                FieldValue::Number(n, _) => map.serialize_entry(name, &n)?,
                FieldValue::Text(text) => map.serialize_entry(name, text)?,
            }
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::Format;

    fn record(
        file: &Arc<str>,
        path: &Arc<str>,
        offset: u64,
        line: &str,
        format: &Format,
    ) -> Record {
        let parsed = format.parse_owned(line.to_string());
        Record {
            source: "web".into(),
            file: file.clone(),
            offset,
            path: path.clone(),
            time: 1_764_806_400.25,
            time_from_read: offset == 0,
            message: parsed.message,
            fields: parsed.fields,
            truncated_bytes: (offset == 7).then_some(3),
            parse_error: parsed.parse_error,
        }
    }

    #[test]
    fn the_grouped_body_holds_the_records_of_the_plain_one() {
        let nginx = Format::new("nginx", None, None, None).unwrap();
        let (a, b): (Arc<str>, Arc<str>) = ("0123456789abcdef".into(), "fedcba9876543210".into());
        let (pa, pb): (Arc<str>, Arc<str>) = ("/var/log/a.log".into(), "/var/log/\"b\".log".into());
        let line =
            r#"203.0.113.9 - - [04/Dec/2026:11:00:00 +0100] "GET / HTTP/1.1" 200 612 "-" "curl/8""#;
        let records = vec![
            record(&a, &pa, 0, line, &nginx),
            record(&a, &pa, 7, "not \"nginx\"\u{1}", &nginx),
            record(&b, &pb, 3, line, &nginx),
            record(&a, &pa, 90, line, &nginx),
        ];
        let sources = vec![SourceStatus {
            name: "web".into(),
            state: "reading".into(),
            ..SourceStatus::default()
        }];
        let mut body = Vec::new();
        write_grouped(&records, &mut body).unwrap();
        end_grouped(&mut body, &sources).unwrap();
        let grouped: wire::logs::LogBatch = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            grouped.files.len(),
            3,
            "a file's records that follow each other group"
        );
        assert!(grouped.records.is_empty());
        let plain = Batch {
            records,
            sources,
            ..Batch::default()
        };
        let plain: wire::logs::LogBatch =
            serde_json::from_slice(&serde_json::to_vec(&plain).unwrap()).unwrap();
        assert_eq!(grouped.sources, plain.sources);
        assert_eq!(grouped.all_records(), plain.records);
        let mut empty = Vec::new();
        write_grouped(&[], &mut empty).unwrap();
        end_grouped(&mut empty, &[]).unwrap();
        let none: wire::logs::LogBatch = serde_json::from_slice(&empty).unwrap();
        assert!(none.is_empty());
    }
}
