//! The payload of a `log_chunks` row (migration 0009, issue 16): the records of one part of a
//! batch of one (host, source, file generation), ordered by time, packed and compressed with
//! zstd level 1 (the measurement is in `server/Cargo.toml`). Packed, little-endian, after a
//! format byte ([`FORMAT`]), each record is:
//!
//! `offset` i64, `time` f64, flags u8 (1: time from read, 2: truncated, 4: parse error,
//! 8: the path of the record before, 16: fields of a preset), `truncated_bytes` i64 if flag
//! 2, then `path` unless flag 8, `message`, then the preset as one byte (1 nginx, 2 apache) if
//! flag 16 or else `fields`, and, if flag 4, `parse_error`; each text a u32 length and UTF-8
//! bytes.
//!
//! Format 1 (chunks written before format 2) held each record's field index after `fields`;
//! it is still read. Format 2 leaves it out: it was a third of the bytes packed and
//! compressed per nginx record, and a query asking for fields makes it from `fields`.
//! Format 3 adds flag 16: a record whose fields a preset reads in its message
//! ([`LogFields::Preset`]) stores the preset's byte instead of their text (the rest of an
//! nginx record's packed bytes), and format 2 chunks are read as before.
//!
//! The payload is read back from the database only, but a damaged one is an error
//! ([`DbError::Invalid`]), never a panic.

use wire::logs::Preset;

use crate::db::DbError;
use crate::db::logs::{LogFields, NewLogRecord};

/// The packing this module writes.
const FORMAT: u8 = 3;
/// The packing before presets: read, no longer written (format 3 reads it the same way).
const FORMAT_WITHOUT_PRESETS: u8 = 2;
/// The packing before, with a field index per record: read, no longer written.
const FORMAT_WITH_INDEX: u8 = 1;
/// The zstd level: 1, the fastest, was also the smallest on log lines (`server/Cargo.toml`).
const LEVEL: i32 = 1;
/// Most records a chunk holds: a record's id is its chunk's id × 2^16 + its index.
pub const CHUNK_RECORDS: usize = 1 << 16;
/// Most packed bytes of one chunk (before compression): a chunk fits one statement below
/// MariaDB's default `max_allowed_packet` (16 MiB) even when it does not compress.
pub const CHUNK_BYTES: usize = 4 << 20;
/// Most seconds from a chunk's earliest record to its latest: a query of records from time `t`
/// on reads the chunks whose earliest time is from `t - CHUNK_SPAN` on, one index range.
pub const CHUNK_SPAN: f64 = 3600.0;

const TIME_FROM_READ: u8 = 1;
const TRUNCATED: u8 = 2;
const PARSE_ERROR: u8 = 4;
/// Format 2: the record's path is the record before's (not packed again).
const SAME_PATH: u8 = 8;
/// Format 3: the record's fields are a preset's, packed as its byte.
const PRESET_FIELDS: u8 = 16;

/// A preset's byte in a chunk.
fn preset_byte(preset: Preset) -> u8 {
    match preset {
        Preset::Nginx => 1,
        Preset::Apache => 2,
    }
}

/// The preset of a byte [`preset_byte`] wrote.
fn preset_of(byte: u8) -> Option<Preset> {
    match byte {
        1 => Some(Preset::Nginx),
        2 => Some(Preset::Apache),
        _ => None,
    }
}

/// A stored record as packed in a chunk, its texts borrowed from the unpacked payload.
#[derive(Debug, Clone, PartialEq)]
pub struct PackedRecord<'a> {
    /// Byte offset in the file generation.
    pub offset: i64,
    /// Unix seconds.
    pub time: f64,
    /// `time` is the read time.
    pub time_from_read: bool,
    /// Bytes dropped from a long record.
    pub truncated_bytes: Option<i64>,
    /// The file's path when read.
    pub path: &'a str,
    /// The message.
    pub message: &'a str,
    /// The fields: a JSON object's text, or a preset's.
    pub fields: LogFields<'a>,
    /// The fields' index (`logs::field_index`) of a format 1 chunk; `None` in format 2.
    pub field_index: Option<&'a str>,
    /// Why the format did not parse it.
    pub parse_error: Option<&'a str>,
}

/// The packed size of a record, before compression.
pub fn packed_len(record: &NewLogRecord<'_>) -> usize {
    8 + 8
        + 1
        + 8
        + 4 * 4
        + record.path.len()
        + record.message.len()
        + record.fields.stored_len()
        + record.parse_error.as_deref().map_or(0, str::len)
}

fn push_text(out: &mut Vec<u8>, text: &str) {
    // A record's texts are limited far below 4 GiB (wire::logs::MAX_BATCH_BYTES).
    out.extend_from_slice(&(text.len() as u32).to_le_bytes());
    out.extend_from_slice(text.as_bytes());
}

thread_local! {
    /// A compressor per thread, kept: making one per chunk allocated (and the kernel
    /// cleared) its tables for every chunk stored.
    static COMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Compressor<'static>>> =
        const { std::cell::RefCell::new(None) };
}

fn compress(data: &[u8]) -> std::io::Result<Vec<u8>> {
    COMPRESSOR.with(|cell| {
        let mut cell = cell.borrow_mut();
        let compressor = match cell.as_mut() {
            Some(compressor) => compressor,
            None => cell.insert(zstd::bulk::Compressor::new(LEVEL)?),
        };
        compressor.compress(data)
    })
}

/// Packs and compresses records (of one host, source and file, in time order).
pub fn pack<'a: 'b, 'b>(
    records: impl IntoIterator<Item = &'b NewLogRecord<'a>>,
) -> Result<Vec<u8>, DbError> {
    let mut out = vec![FORMAT];
    let mut last_path: Option<&str> = None;
    for record in records {
        let same_path = last_path == Some(&*record.path);
        out.extend_from_slice(&record.offset.to_le_bytes());
        out.extend_from_slice(&record.time.to_le_bytes());
        let mut flags = 0;
        if record.time_from_read {
            flags |= TIME_FROM_READ;
        }
        if record.truncated_bytes.is_some() {
            flags |= TRUNCATED;
        }
        if record.parse_error.is_some() {
            flags |= PARSE_ERROR;
        }
        if same_path {
            flags |= SAME_PATH;
        }
        if let LogFields::Preset(_) = record.fields {
            flags |= PRESET_FIELDS;
        }
        out.push(flags);
        if let Some(bytes) = record.truncated_bytes {
            out.extend_from_slice(&bytes.to_le_bytes());
        }
        if !same_path {
            push_text(&mut out, &record.path);
            last_path = Some(&*record.path);
        }
        push_text(&mut out, &record.message);
        match &record.fields {
            LogFields::Json(text) => push_text(&mut out, text),
            LogFields::Preset(preset) => out.push(preset_byte(*preset)),
        }
        if let Some(error) = &record.parse_error {
            push_text(&mut out, error);
        }
    }
    compress(&out).map_err(|error| DbError::Invalid(format!("compressing a log chunk: {error}")))
}

/// Decompresses a chunk's payload; read it with [`records`].
pub fn unpack(data: &[u8]) -> Result<Vec<u8>, DbError> {
    let packed = zstd::stream::decode_all(data)
        .map_err(|error| DbError::Invalid(format!("a stored log chunk: {error}")))?;
    match packed.first() {
        Some(&FORMAT | &FORMAT_WITHOUT_PRESETS | &FORMAT_WITH_INDEX) => Ok(packed),
        other => Err(DbError::Invalid(format!(
            "a stored log chunk of format {other:?}, not {FORMAT}"
        ))),
    }
}

/// The records of a decompressed payload, in the order packed; an error ends it.
pub fn records(packed: &[u8]) -> Records<'_> {
    Records {
        rest: packed.get(1..).unwrap_or_default(),
        with_index: packed.first() == Some(&FORMAT_WITH_INDEX),
        last_path: None,
    }
}

/// The iterator [`records`] returns.
pub struct Records<'a> {
    rest: &'a [u8],
    /// A format 1 payload: each record holds its field index.
    with_index: bool,
    /// The path of the record before.
    last_path: Option<&'a str>,
}

fn damaged() -> DbError {
    DbError::Invalid("a stored log chunk is cut short or not UTF-8".into())
}

impl<'a> Records<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DbError> {
        if self.rest.len() < n {
            return Err(damaged());
        }
        let (head, rest) = self.rest.split_at(n);
        self.rest = rest;
        Ok(head)
    }

    fn eight(&mut self) -> Result<[u8; 8], DbError> {
        self.take(8)?.try_into().map_err(|_| damaged())
    }

    fn text(&mut self) -> Result<&'a str, DbError> {
        let len: [u8; 4] = self.take(4)?.try_into().map_err(|_| damaged())?;
        let bytes = self.take(u32::from_le_bytes(len) as usize)?;
        std::str::from_utf8(bytes).map_err(|_| damaged())
    }

    fn next_record(&mut self) -> Result<PackedRecord<'a>, DbError> {
        let offset = i64::from_le_bytes(self.eight()?);
        let time = f64::from_le_bytes(self.eight()?);
        let flags = self.take(1)?[0];
        let truncated_bytes = if flags & TRUNCATED != 0 {
            Some(i64::from_le_bytes(self.eight()?))
        } else {
            None
        };
        let path = if flags & SAME_PATH != 0 && !self.with_index {
            self.last_path.ok_or_else(damaged)?
        } else {
            self.text()?
        };
        self.last_path = Some(path);
        let message = self.text()?;
        let fields = if flags & PRESET_FIELDS != 0 {
            LogFields::Preset(preset_of(self.take(1)?[0]).ok_or_else(damaged)?)
        } else {
            LogFields::Json(self.text()?.into())
        };
        let field_index = if self.with_index {
            Some(self.text()?)
        } else {
            None
        };
        let parse_error = if flags & PARSE_ERROR != 0 {
            Some(self.text()?)
        } else {
            None
        };
        Ok(PackedRecord {
            offset,
            time,
            time_from_read: flags & TIME_FROM_READ != 0,
            truncated_bytes,
            path,
            message,
            fields,
            field_index,
            parse_error,
        })
    }
}

impl<'a> Iterator for Records<'a> {
    type Item = Result<PackedRecord<'a>, DbError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let record = self.next_record();
        if record.is_err() {
            self.rest = &[];
        }
        Some(record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record<'a>(offset: i64, message: &'a str, error: Option<&str>) -> NewLogRecord<'a> {
        NewLogRecord {
            source: "s".into(),
            file: "0123456789abcdef".into(),
            offset,
            path: "/var/log/x.log".into(),
            time: 1.5 + offset as f64,
            time_from_read: offset % 2 == 1,
            message: message.into(),
            fields: LogFields::Json("{\"a\":1}".into()),
            truncated_bytes: error.map(|_| 7),
            parse_error: error.map(Into::into),
        }
    }

    #[test]
    fn records_come_back_as_packed() {
        let mut other = record(20, "other path", None);
        other.path = "/var/log/y.log".into();
        let mut nginx = record(
            40,
            r#"::1 - - [04/Dec/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 5 "-" "curl""#,
            None,
        );
        nginx.fields = LogFields::Preset(Preset::Nginx);
        let mut apache = record(41, "not read by a preset", None);
        apache.fields = LogFields::Preset(Preset::Apache);
        let given = [
            record(0, "héllo", None),
            record(9, "", Some("bad json")),
            other,
            nginx,
            record(30, "back", None),
            apache,
        ];
        let packed = unpack(&pack(&given).unwrap()).unwrap();
        assert_eq!(packed[0], FORMAT);
        let back: Vec<PackedRecord> = records(&packed).collect::<Result<_, _>>().unwrap();
        assert_eq!(back.len(), 6);
        assert_eq!(
            back[3].fields.text(back[3].message),
            r#"{"body_bytes_sent":5,"http_referer":"-","http_user_agent":"curl","remote_addr":"::1","remote_user":"-","request":"GET / HTTP/1.1","status":200,"time_local":"04/Dec/2026:10:00:00 +0000"}"#
        );
        assert_eq!(back[5].fields.text(back[5].message), "{}");
        for (back, given) in back.iter().zip(&given) {
            assert_eq!(back.offset, given.offset);
            assert_eq!(back.time.to_bits(), given.time.to_bits());
            assert_eq!(back.time_from_read, given.time_from_read);
            assert_eq!(back.truncated_bytes, given.truncated_bytes);
            assert_eq!(back.message, &*given.message);
            assert_eq!(back.path, &*given.path);
            assert_eq!(back.fields, given.fields);
            assert_eq!(back.field_index, None);
            assert_eq!(back.parse_error, given.parse_error.as_deref());
        }
        let one = [record(0, "x", None)];
        assert!(packed_len(&one[0]) >= unpack(&pack(&one).unwrap()).unwrap().len() - 1);
    }

    #[test]
    fn a_damaged_payload_is_an_error() {
        assert!(unpack(b"not zstd").is_err());
        let packed = unpack(&pack(&[record(0, "hello", None)]).unwrap()).unwrap();
        let cut = &packed[..packed.len() - 2];
        let read: Vec<_> = records(cut).collect();
        assert_eq!(read.len(), 1);
        assert!(read[0].is_err());
        let other = zstd::bulk::compress(&[9, 1, 2], 1).unwrap();
        assert!(unpack(&other).is_err());
    }

    #[test]
    fn a_format_1_chunk_is_read_with_its_field_index() {
        let mut old = vec![FORMAT_WITH_INDEX];
        old.extend_from_slice(&5i64.to_le_bytes());
        old.extend_from_slice(&2.5f64.to_le_bytes());
        old.push(0);
        for text in ["/p", "msg", "{\"a\":1}", "\na=1\n"] {
            push_text(&mut old, text);
        }
        let packed = unpack(&zstd::bulk::compress(&old, 1).unwrap()).unwrap();
        let back: Vec<PackedRecord> = records(&packed).collect::<Result<_, _>>().unwrap();
        assert_eq!(back.len(), 1);
        assert_eq!((back[0].offset, back[0].message), (5, "msg"));
        assert_eq!(back[0].field_index, Some("\na=1\n"));
    }
}
