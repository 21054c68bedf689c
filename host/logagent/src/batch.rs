//! The records the agent holds between reading and delivery, and the batches it hands to the
//! writers. They serialise to exactly the JSON of `wire::logs::LogBatch` and `LogRecord` (the
//! same keys in the same order, the fields as a sorted object), but cost fewer allocations:
//! the source, file and path are shared, and a record the nginx/Apache matcher parsed keeps
//! its fields as spans of its message instead of a map with a `String` per key and value.

use std::ops::Range;
use std::sync::Arc;

use serde::ser::{Serialize, SerializeMap, SerializeStruct, Serializer};
use serde_json::{Map, Value};
use wire::logs::SourceStatus;

use crate::parse::combined::Spans;

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
    /// The preset's field names by span (`None`: not a field) and which spans are numbers.
    pub preset: &'static Preset,
    /// The spans, as [`Spans`], narrowed to `u32` (a record is at most 16 MiB).
    pub spans: [Range<u32>; 9],
}

/// A combined preset's names, and the order the fields are written in (by name, as the sorted
/// map of `Fields::Map` writes them).
#[derive(Debug, PartialEq)]
pub struct Preset {
    /// Names by span index.
    pub names: [Option<&'static str>; 9],
    /// Span indexes of the fields, sorted by name.
    pub order: &'static [usize],
    /// Span indexes whose text is written as a number when it is one.
    pub numbers: &'static [usize],
}

impl Combined {
    /// The spans of `spans` (every one within a message of at most `u32::MAX` bytes).
    pub fn new(preset: &'static Preset, spans: Spans) -> Option<Combined> {
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
        if !self.preset.numbers.contains(&i) {
            return None;
        }
        self.text(message, i).parse::<u64>().ok()
    }
}

impl Record {
    /// The field `name` as a `u64`, if the record has it and it is one.
    pub fn field_u64(&self, name: &str) -> Option<u64> {
        match &self.fields {
            Fields::Map(map) => map.get(name).and_then(Value::as_u64),
            Fields::Combined(c) => {
                let i = *c
                    .preset
                    .numbers
                    .iter()
                    .find(|i| c.preset.names[**i] == Some(name))?;
                c.number(&self.message, i)
            }
        }
    }

    /// The number of fields.
    pub fn field_count(&self) -> usize {
        match &self.fields {
            Fields::Map(map) => map.len(),
            Fields::Combined(c) => c.preset.order.len(),
        }
    }
}

/// What one delivery carries, as `wire::logs::LogBatch`.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Batch {
    pub records: Vec<Record>,
    pub sources: Vec<SourceStatus>,
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
        match &self.fields {
            Fields::Map(map) => s.serialize_field("fields", map)?,
            Fields::Combined(c) => s.serialize_field(
                "fields",
                &CombinedFields {
                    fields: c,
                    message: &self.message,
                },
            )?,
        }
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
        let mut map = serializer.serialize_map(Some(c.preset.order.len()))?;
        for &i in c.preset.order {
            let Some(name) = c.preset.names[i] else {
                continue;
            };
            match c.number(self.message, i) {
                Some(n) => map.serialize_entry(name, &n)?,
                None => map.serialize_entry(name, c.text(self.message, i))?,
            }
        }
        map.end()
    }
}
