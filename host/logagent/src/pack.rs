//! Polaris's body of a batch, written as the batch's records are taken and compressed as it
//! grows, so that a batch on its way holds its compressed body and not its records. The body
//! is `wire::logs::LogBatch` JSON grouped by file (`{"files":[...],"sources":[...]}`, the text
//! of the tests' reference `batch::write_grouped`) in zstd frames of about [`FRAME_BYTES`] of
//! text each (frames one after the other are one zstd stream: Polaris reads them as one body,
//! `Content-Encoding: zstd`); the sources' states are the last frame, written again at each
//! try.

use std::io::Read as _;

use wire::logs::{LogBatch, SourceStatus};

use crate::batch::{Fields, Group, Record, end_grouped, write_group_head, write_in_group};

/// Text compressed at a time: large enough for zstd to find the repeats of log lines, small
/// enough that the text waiting to be compressed, and zstd's room for it (545 kB of the
/// agent's 2.7 MB heap with frames of 128 KiB), stay a small part of the agent's memory.
pub const FRAME_BYTES: usize = 64 * 1024;

/// zstd's fastest level but the negative ones. Level -2 on the agent, on Polaris's chunks or
/// both was within the run-to-run noise of benchmark P5 (42-48 MiB/s either way), and made
/// Polaris's database 23% larger when used for its chunks.
const LEVEL: i32 = 1;

/// A batch's compressed body.
#[derive(Debug, Clone, PartialEq)]
pub struct Packed {
    /// zstd frames: the records (`{"files":[...]`), then the sources' states once
    /// [`Packed::end`] ran.
    pub body: Vec<u8>,
    /// Where the records' frames end in `body`.
    records_end: usize,
    /// Records in it.
    pub records: usize,
}

impl Packed {
    /// Ends the body with `sources` (the states of a try before replaced).
    pub fn end(&mut self, sources: &[SourceStatus]) -> anyhow::Result<()> {
        self.body.truncate(self.records_end);
        let mut text = Vec::new();
        end_grouped(&mut text, sources)?;
        self.body.extend(zstd::bulk::compress(&text, LEVEL)?);
        Ok(())
    }

    /// Its records again, read back from the body (to split a batch Polaris refused).
    pub fn records(&self) -> anyhow::Result<Vec<Record>> {
        let mut text = Vec::new();
        zstd::stream::read::Decoder::new(&self.body[..self.records_end])?.read_to_end(&mut text)?;
        text.push(b'}');
        let batch: LogBatch = serde_json::from_slice(&text)?;
        Ok(batch
            .all_records()
            .into_iter()
            .map(|r| Record {
                source: r.source.into(),
                file: r.file.into(),
                offset: r.offset,
                path: r.path.into(),
                time: r.time,
                time_from_read: r.time_from_read,
                message: r.message,
                fields: Fields::Map(r.fields),
                truncated_bytes: r.truncated_bytes,
                parse_error: r.parse_error,
            })
            .collect())
    }
}

/// Writes the records of one batch after the other into its compressed body.
pub struct Packer {
    /// One compression context, kept from batch to batch.
    compressor: zstd::bulk::Compressor<'static>,
    /// Text not compressed yet.
    text: Vec<u8>,
    /// Where a frame is compressed to (kept: a buffer made and dropped per frame was mapped
    /// and unmapped each time, as the agent asks of large allocations).
    frame: Vec<u8>,
    /// The frames so far.
    body: Vec<u8>,
    group: Option<Group>,
    records: usize,
    /// Bytes of text written since the last `finish`.
    written: usize,
}

impl Packer {
    /// A packer with nothing written.
    pub fn new() -> std::io::Result<Packer> {
        Ok(Packer {
            compressor: zstd::bulk::Compressor::new(LEVEL)?,
            text: Vec::new(),
            frame: Vec::new(),
            body: Vec::new(),
            group: None,
            records: 0,
            written: 0,
        })
    }

    /// Writes `record` (in a new group when it does not join the last one's: another file, or
    /// a record the combined matcher read after one it did not).
    pub fn push(&mut self, record: &Record) -> anyhow::Result<()> {
        let text = &mut self.text;
        let group = match self.group.take() {
            Some(group) if group.holds(record) => {
                text.push(b',');
                group
            }
            _ => {
                text.extend_from_slice(if self.records == 0 {
                    b"{\"files\":["
                } else {
                    b"]},"
                });
                let group = Group::of(record);
                write_group_head(text, &group);
                group
            }
        };
        write_in_group(text, record, self.group.insert(group))?;
        self.records += 1;
        if self.text.len() >= FRAME_BYTES {
            self.compress()?;
        }
        Ok(())
    }

    /// Bytes of JSON written since the last `finish` (the batch's size before compression).
    pub fn written(&self) -> usize {
        self.written + self.text.len()
    }

    /// The records written since the last `finish`.
    pub fn len(&self) -> usize {
        self.records
    }

    /// Whether no record was written since the last `finish`.
    pub fn is_empty(&self) -> bool {
        self.records == 0
    }

    /// The body of the records written since the last call (perhaps none); the packer
    /// starts over.
    pub fn finish(&mut self) -> anyhow::Result<Packed> {
        self.text.extend_from_slice(if self.records == 0 {
            b"{\"files\":[]"
        } else {
            b"]}]"
        });
        self.compress()?;
        let mut body = std::mem::take(&mut self.body);
        // Held until Polaris acknowledges: not the room it grew into.
        body.shrink_to_fit();
        let packed = Packed {
            records_end: body.len(),
            body,
            records: self.records,
        };
        self.group = None;
        self.records = 0;
        self.written = 0;
        Ok(packed)
    }

    fn compress(&mut self) -> std::io::Result<()> {
        self.frame.clear();
        self.frame
            .reserve(zstd::zstd_safe::compress_bound(self.text.len()));
        self.compressor
            .compress_to_buffer(&self.text, &mut self.frame)?;
        self.body.extend_from_slice(&self.frame);
        self.written += self.text.len();
        self.text.clear();
        // A long record (up to `max_record_bytes`) does not keep its room.
        if self.text.capacity() > 2 * FRAME_BYTES {
            self.text.shrink_to(FRAME_BYTES);
            self.frame = Vec::new();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use wire::logs::Preset;

    use super::*;
    use crate::batch::{Batch, write_grouped};
    use crate::parse::Format;

    fn records() -> Vec<Record> {
        let nginx = Format::new("nginx", None, None, None).unwrap();
        let files: [(Arc<str>, Arc<str>); 2] = [
            ("0123456789abcdef".into(), "/var/log/a.log".into()),
            ("fedcba9876543210".into(), "/var/log/\"b\".log".into()),
        ];
        (0..5000u64)
            .map(|i| {
                let (file, path) = &files[(i / 700 % 2) as usize];
                let line = format!(
                    "10.0.{}.{} - - [04/Dec/2026:10:00:{:02} +0000] \"GET /item/{i} HTTP/1.1\" \
                     200 {} \"-\" \"curl/8.5\"",
                    i % 7,
                    i % 250,
                    i % 60,
                    i * 3
                );
                let parsed = if i == 4321 {
                    nginx.parse_owned("not a combined line \"\\ é".into())
                } else {
                    nginx.parse_owned(line)
                };
                Record {
                    source: "web".into(),
                    file: file.clone(),
                    offset: i * 200,
                    path: path.clone(),
                    time: 1_764_842_400.0 + i as f64,
                    time_from_read: i % 3 == 0,
                    message: parsed.message,
                    fields: parsed.fields,
                    truncated_bytes: (i == 17).then_some(9),
                    parse_error: parsed.parse_error,
                }
            })
            .collect()
    }

    fn sources() -> Vec<SourceStatus> {
        vec![SourceStatus {
            name: "web".into(),
            state: "reading".into(),
            lag: 5,
            ..SourceStatus::default()
        }]
    }

    fn unzstd(body: &[u8]) -> Vec<u8> {
        zstd::stream::decode_all(body).unwrap()
    }

    #[test]
    fn the_packed_body_is_the_grouped_body_compressed() {
        let records = records();
        let mut packer = Packer::new().unwrap();
        for r in &records {
            packer.push(r).unwrap();
        }
        assert_eq!(packer.len(), records.len());
        let written = packer.written();
        let mut packed = packer.finish().unwrap();
        assert!(packer.is_empty());
        let mut none = packer.finish().unwrap();
        none.end(&sources()).unwrap();
        let none: LogBatch = serde_json::from_slice(&unzstd(&none.body)).unwrap();
        assert!(none.is_empty() && none.sources == sources());
        packed.end(&sources()).unwrap();
        let mut plain = Vec::new();
        write_grouped(&records, &mut plain).unwrap();
        assert_eq!(
            written + 3,
            plain.len(),
            "all but the three closing brackets"
        );
        end_grouped(&mut plain, &sources()).unwrap();
        assert_eq!(unzstd(&packed.body), plain, "the same text, byte for byte");
        assert!(
            packed.body.len() * 5 < plain.len(),
            "{} bytes packed of {}",
            packed.body.len(),
            plain.len()
        );
        // More than one frame: the text was compressed as it grew.
        assert!(plain.len() > 3 * FRAME_BYTES);
        // A later try replaces the states.
        let mut later = sources();
        later[0].state = "idle".into();
        packed.end(&later).unwrap();
        let body: LogBatch = serde_json::from_slice(&unzstd(&packed.body)).unwrap();
        assert_eq!(body.sources, later);
        assert_eq!(body.files.len(), 8, "a group per run of one file's records");
        assert_eq!(body.len(), records.len());
        assert!(body.files.iter().all(|f| f.preset == Some(Preset::Nginx)));
        let with_fields: Vec<u64> = body
            .files
            .iter()
            .flat_map(|f| &f.records)
            .filter(|r| r.fields.is_some())
            .map(|r| r.offset)
            .collect();
        assert_eq!(
            with_fields,
            [4321 * 200],
            "only the line the preset did not read carries its fields"
        );
    }

    #[test]
    fn a_line_the_preset_read_after_one_it_did_not_opens_a_group_with_the_preset() {
        let mut records = records();
        records[0] = records[4321].clone();
        records.truncate(3);
        let mut packer = Packer::new().unwrap();
        for r in &records {
            packer.push(r).unwrap();
        }
        let mut packed = packer.finish().unwrap();
        packed.end(&[]).unwrap();
        let body: LogBatch = serde_json::from_slice(&unzstd(&packed.body)).unwrap();
        let groups: Vec<(Option<Preset>, usize)> = body
            .files
            .iter()
            .map(|f| (f.preset, f.records.len()))
            .collect();
        assert_eq!(groups, [(None, 1), (Some(Preset::Nginx), 2)]);
        assert_eq!(body.files[0].records[0].fields, Some(Default::default()));
    }

    #[test]
    fn a_packed_batch_gives_its_records_back() {
        let records = records();
        let mut packer = Packer::new().unwrap();
        // Two batches from one packer: the second holds only its own records.
        for r in &records[..10] {
            packer.push(r).unwrap();
        }
        packer.finish().unwrap();
        for r in &records[10..] {
            packer.push(r).unwrap();
        }
        let mut batch = Batch {
            records: Vec::new(),
            sources: sources(),
            packed: Some(packer.finish().unwrap()),
        };
        assert_eq!(batch.len(), records.len() - 10);
        batch.unpack().unwrap();
        assert!(batch.packed.is_none());
        // The same JSON as the records sent (fields now as a map, in the same order).
        let back = serde_json::to_value(&batch.records).unwrap();
        assert_eq!(back, serde_json::to_value(&records[10..]).unwrap());
    }
}
