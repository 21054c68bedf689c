//! The running agent: a thread that scans the sources' globs, reads the files that grew and
//! fills a batch, and a sender thread that hands it to the writers (Polaris, syslog or both)
//! while the next batch is read (`agent/run`); offsets are committed only once every writer
//! acknowledged (`agent/deliver`: per-writer progress, poison batches split). While a writer
//! fails the same batch is tried again with back-off and nothing more is read than the one
//! batch ahead: the files are the buffer. Files that rotated away and were deleted before they were read
//! are counted in `lost_bytes`. `-T` runs the same reading once, committing nothing.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use wire::logs::SourceStatus;

use crate::batch::{Batch, Record};
use crate::config::{Config, SourceConfig};
use crate::pack::Packer;
use crate::parse::Format;
use crate::record::Multiline;
use crate::state::{SavedFile, State};
use crate::tail::{self, Reopened, Tracked};
use deliver::InFlight;
use size::json_size;

mod deliver;
mod run;
mod scan;
mod size;

/// A file generation: its source, device and inode.
type Key = (usize, u64, u64);

/// A configured source, ready to parse, with its counters.
struct Source {
    config: SourceConfig,
    /// Its name, shared by its records.
    name: Arc<str>,
    format: Format,
    multiline: Option<Multiline>,
    status: SourceStatus,
}

/// One file as the control socket shows it.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct FileView {
    /// Its source.
    pub source: String,
    /// Its path.
    pub path: String,
    /// The generation id.
    pub file: String,
    /// Bytes acknowledged.
    pub offset: u64,
    /// Bytes read.
    pub read: u64,
    /// Size when last looked at.
    pub size: u64,
    /// Whether a descriptor is open.
    pub open: bool,
    /// Rotated away or deleted, being read to its end.
    pub gone: bool,
}

/// What the control socket answers.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize, PartialEq)]
pub struct Snapshot {
    /// The sources.
    pub sources: Vec<SourceStatus>,
    /// Their files.
    pub files: Vec<FileView>,
    /// The sink's last error while it fails.
    pub sink_error: Option<String>,
}

/// The agent's reading state.
pub struct Agent {
    config: Config,
    sources: Vec<Source>,
    files: HashMap<Key, Tracked>,
    /// Saved generations not yet found again, by (source name, dev, ino).
    saved: HashMap<(String, u64, u64), SavedFile>,
    state: Option<State>,
    /// While `run` runs: the committer thread, which owns `state`.
    committer: Option<std::sync::mpsc::Sender<run::Commit>>,
    /// Whether acknowledged offsets are saved (not under `-T`).
    commit: bool,
    first_scan: bool,
    /// No offsets were saved at start (the first run): `from_start = false` sources begin
    /// at the end of the files found by the first scan.
    fresh: bool,
    to_save: Vec<SavedFile>,
    to_forget: Vec<String>,
    buf: Vec<u8>,
    /// Batches back from the senders that are not committed yet, in the order they were
    /// read: the first failed and waits for its next try, the others came back after it.
    waiting: VecDeque<InFlight>,
    /// The files of the batches at the senders, by batch id.
    sent_keys: HashMap<u64, Vec<Key>>,
    /// The next batch, read while the one before is delivered.
    ahead: Option<InFlight>,
    sink_error: Option<String>,
    /// Writes a batch's records into Polaris's compressed body as they are taken, when every
    /// writer posts that body (the batch then holds no records).
    packer: Option<Packer>,
    /// The counters Polaris was last told of, and when.
    told: (Vec<Counters>, Instant),
    /// What the control socket shows, refreshed by the loop.
    pub snapshot: Arc<Mutex<Snapshot>>,
}

impl Agent {
    /// An agent for `config` resuming from `state` (none: from the start, nothing saved).
    pub fn new(config: Config, state: Option<State>, commit: bool) -> anyhow::Result<Agent> {
        let mut sources = Vec::new();
        for source in &config.source {
            sources.push(Source {
                name: source.name.as_str().into(),
                format: source.format().map_err(anyhow::Error::msg)?,
                multiline: source.multiline().map_err(anyhow::Error::msg)?,
                status: SourceStatus {
                    name: source.name.clone(),
                    path: source.path.clone(),
                    state: "idle".into(),
                    ..SourceStatus::default()
                },
                config: source.clone(),
            });
        }
        let mut saved = HashMap::new();
        if let Some(state) = &state {
            for file in state.load()? {
                saved.insert((file.source.clone(), file.dev, file.ino), file);
            }
        }
        let fresh = saved.is_empty();
        Ok(Agent {
            config,
            sources,
            files: HashMap::new(),
            saved,
            state,
            committer: None,
            commit,
            first_scan: true,
            fresh,
            to_save: Vec::new(),
            to_forget: Vec::new(),
            buf: vec![0; tail::CHUNK],
            waiting: VecDeque::new(),
            sent_keys: HashMap::new(),
            ahead: None,
            sink_error: None,
            packer: None,
            told: (Vec::new(), Instant::now()),
            snapshot: Arc::new(Mutex::new(Snapshot::default())),
        })
    }

    fn rule(&self, source: usize) -> (usize, Option<Multiline>) {
        let s = &self.sources[source];
        (s.config.max_record_bytes, s.multiline.clone())
    }

    fn open_count(&self) -> usize {
        self.files.values().filter(|t| t.file.is_some()).count()
    }

    /// Makes room for one more descriptor: at the limit, every open file read to its end is
    /// closed in one pass (it is reopened when it grows); `false` when none could be.
    fn make_room(&mut self, open: &mut usize) -> bool {
        if *open < self.config.max_open_files {
            return true;
        }
        for t in self.files.values_mut() {
            if t.file.is_some() && !t.gone && t.read_pos >= t.size && t.ready.is_empty() {
                t.file = None;
            }
        }
        *open = self.open_count();
        *open < self.config.max_open_files
    }

    /// Reads from the files into a new batch (up to the configured limits); `None` when
    /// nothing is ready. An error (the packer's) ends the run: records taken from the files'
    /// queues are then in no batch, and are read again from the committed offsets.
    fn fill_batch(
        &mut self,
        at_eof_finish: bool,
        wants_status: &[bool],
    ) -> anyhow::Result<Option<InFlight>> {
        let mut batch = Batch::default();
        let mut taken = 0usize;
        let mut ends: HashMap<Key, (String, u64)> = HashMap::new();
        let mut bytes = 0usize;
        let now = crate::parse::time::now();
        let mut keys: Vec<Key> = self
            .files
            .iter()
            .filter(|(_, t)| {
                !t.ready.is_empty() || (!t.done && (t.gone || at_eof_finish || t.read_pos < t.size))
            })
            .map(|(k, _)| *k)
            .collect();
        keys.sort_by_key(|k| self.files.get(k).map(|t| t.active));
        let mut open = self.open_count();
        'files: for key in keys {
            loop {
                if taken >= self.config.batch_records || bytes >= self.config.batch_bytes {
                    break 'files;
                }
                let Some(t) = self.files.get_mut(&key) else {
                    continue 'files;
                };
                if !t.ready.is_empty() {
                    // The file's records go in together: its id and path shared by them.
                    let source = &mut self.sources[key.0];
                    let file: Arc<str> = t.id.as_str().into();
                    let path: Arc<str> = t.path.to_string_lossy().into();
                    let mut end = None;
                    while taken < self.config.batch_records && bytes < self.config.batch_bytes {
                        let Some(raw) = t.ready.pop_front() else {
                            break;
                        };
                        end = Some(raw.end);
                        let record = to_record(source, file.clone(), path.clone(), raw, now);
                        taken += 1;
                        match &mut self.packer {
                            Some(packer) => {
                                packer.push(&record)?;
                                bytes = packer.written();
                            }
                            None => {
                                bytes += json_size(&record);
                                batch.records.push(record);
                            }
                        }
                    }
                    if let Some(end) = end {
                        match ends.get_mut(&key) {
                            Some((id, e)) if *id == t.id => *e = end,
                            _ => {
                                ends.insert(key, (t.id.clone(), end));
                            }
                        }
                    }
                    continue;
                }
                if t.done {
                    continue 'files;
                }
                let want = t.gone || at_eof_finish || t.read_pos < t.size;
                if !want {
                    continue 'files;
                }
                if t.file.is_none() {
                    if !self.make_room(&mut open) {
                        continue 'files;
                    }
                    let Some(t) = self.files.get_mut(&key) else {
                        continue 'files;
                    };
                    match t.reopen() {
                        Ok(Reopened::Same) => open += 1,
                        Ok(Reopened::Replaced) if !t.gone => {
                            open += 1;
                            self.new_generation(key, "another file under the same inode");
                            continue;
                        }
                        _ if t.gone => {
                            t.file = None;
                            let lost = t.size.saturating_sub(t.read_pos);
                            self.sources[key.0].status.lost_bytes += lost;
                            t.finish();
                            t.done = true;
                            continue;
                        }
                        _ => continue 'files,
                    }
                }
                let Some(t) = self.files.get_mut(&key) else {
                    continue 'files;
                };
                match t.read_chunk(&mut self.buf) {
                    Ok(0) => {
                        if t.gone || at_eof_finish {
                            t.finish();
                            t.done = true;
                            t.file = None;
                            continue;
                        }
                        continue 'files;
                    }
                    Ok(_) => {}
                    Err(e) => {
                        self.sources[key.0].status.last_error =
                            Some(format!("{}: {e}", t.path.display()));
                        t.file = None;
                        continue 'files;
                    }
                }
            }
        }
        // Multiline records no line joined within their timeout are complete.
        for (key, t) in self.files.iter_mut() {
            let flush = Duration::from_millis(self.sources[key.0].config.multiline_flush_ms);
            if t.ready.is_empty() && t.assembler.has_pending() {
                let mut out = Vec::new();
                t.assembler.flush_older(flush, &mut out);
                t.ready.extend(out);
            }
        }
        if taken == 0 {
            return Ok(None);
        }
        batch.sources = self.source_statuses();
        if let Some(packer) = &mut self.packer {
            batch.packed = Some(packer.finish()?);
        }
        let ends = ends
            .into_iter()
            .map(|(k, (id, end))| (k, id, end))
            .collect();
        Ok(Some(InFlight::new(batch, ends, wants_status)))
    }

    /// The sources' states now.
    fn source_statuses(&self) -> Vec<SourceStatus> {
        let mut out: Vec<SourceStatus> = self.sources.iter().map(|s| s.status.clone()).collect();
        for status in &mut out {
            status.files = 0;
            status.open_files = 0;
            status.offset = 0;
            status.size = 0;
        }
        for t in self.files.values() {
            let s = &mut out[t.source];
            s.files += 1;
            s.open_files += u64::from(t.file.is_some());
            s.offset += t.committed;
            s.size += t.size.max(t.committed);
        }
        for s in &mut out {
            s.lag = s.size - s.offset;
            s.state = if self.sink_error.is_some() {
                "waiting".into()
            } else if s.last_error.is_some() {
                "error".into()
            } else if s.lag > 0 {
                "reading".into()
            } else {
                "idle".into()
            };
        }
        out
    }

    /// The batch was acknowledged: its offsets are committed, finished files retired.
    fn acknowledged(&mut self, ends: &[(Key, String, u64)]) -> anyhow::Result<()> {
        for (key, id, end) in ends {
            if let Some(t) = self.files.get_mut(key)
                && &t.id == id
            {
                t.committed = t.committed.max(*end);
                self.to_save.push(t.saved(&self.sources[key.0].config.name));
            }
        }
        let finished: Vec<Key> = self
            .files
            .iter()
            .filter(|(_, t)| t.done && t.ready.is_empty())
            .map(|(k, _)| *k)
            .collect();
        let in_flight_keys: Vec<Key> = self
            .waiting
            .iter()
            .chain(&self.ahead)
            .flat_map(|f| f.ends.iter().map(|e| e.0))
            .chain(self.sent_keys.values().flatten().copied())
            .collect();
        for key in finished {
            if in_flight_keys.contains(&key) {
                continue;
            }
            if let Some(t) = self.files.remove(&key) {
                self.to_save.retain(|s| s.id != t.id);
                self.to_forget.push(t.id);
            }
        }
        self.save()
    }

    /// Commits what is to save and forget: to the committer thread while `run` runs (in
    /// order, after the acknowledgements that made it), else at once.
    fn save(&mut self) -> anyhow::Result<()> {
        if !self.commit || (self.to_save.is_empty() && self.to_forget.is_empty()) {
            self.to_save.clear();
            self.to_forget.clear();
            return Ok(());
        }
        let commit = (
            std::mem::take(&mut self.to_save),
            std::mem::take(&mut self.to_forget),
        );
        if let Some(committer) = &self.committer {
            committer
                .send(commit)
                .map_err(|_| anyhow::anyhow!("the committer thread stopped"))?;
        } else if let Some(state) = &mut self.state {
            state.save(&commit.0, &commit.1)?;
        }
        Ok(())
    }

    fn refresh_snapshot(&self) {
        let files = self
            .files
            .values()
            .map(|t| FileView {
                source: self.sources[t.source].config.name.clone(),
                path: t.path.to_string_lossy().into_owned(),
                file: t.id.clone(),
                offset: t.committed,
                read: t.read_pos,
                size: t.size,
                open: t.file.is_some(),
                gone: t.gone,
            })
            .collect();
        if let Ok(mut snapshot) = self.snapshot.lock() {
            *snapshot = Snapshot {
                sources: self.source_statuses(),
                files,
                sink_error: self.sink_error.clone(),
            };
        }
    }

    /// A batch of no records telling Polaris of the sources, when their counters changed
    /// since it was last told (a loss, a truncation) or a minute has passed.
    fn status_batch(&self, wants_status: &[bool]) -> Option<InFlight> {
        let sources = self.source_statuses();
        let changed = counters(&sources) != self.told.0;
        if !changed && self.told.1.elapsed() < Duration::from_secs(STATUS_EVERY_S) {
            return None;
        }
        let batch = Batch {
            records: Vec::new(),
            sources,
            ..Batch::default()
        };
        Some(InFlight::new(batch, Vec::new(), wants_status))
    }

    /// `-T`: reads every source once from its saved offsets, to the end of each file, and
    /// hands each batch to `print`; commits nothing.
    pub fn read_once(&mut self, print: &mut dyn FnMut(&Record)) -> anyhow::Result<()> {
        self.scan();
        while let Some(flight) = self.fill_batch(true, &[])? {
            for record in &flight.batch.records {
                print(record);
            }
        }
        Ok(())
    }
}

/// Seconds between two reports of the sources to Polaris when nothing changes.
const STATUS_EVERY_S: u64 = 60;

/// What a source reports that Polaris should hear of at once when it changes.
type Counters = (u64, u64, u64, u64, u64, u64, Option<String>);

fn counters(sources: &[SourceStatus]) -> Vec<Counters> {
    sources
        .iter()
        .map(|s| {
            (
                s.files,
                s.lost_bytes,
                s.truncations,
                s.parse_errors,
                s.truncated_records,
                s.rejected_records,
                s.last_error.clone(),
            )
        })
        .collect()
}

/// A raw record as the wire's record, parsed in its source's format.
fn to_record(
    source: &mut Source,
    file: Arc<str>,
    path: Arc<str>,
    raw: crate::record::RawRecord,
    now: f64,
) -> Record {
    let text = match String::from_utf8(raw.text) {
        Ok(text) => text,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    };
    let parsed = source.format.parse_owned(text);
    if parsed.parse_error.is_some() {
        source.status.parse_errors += 1;
    }
    if raw.truncated > 0 {
        source.status.truncated_records += 1;
    }
    Record {
        source: source.name.clone(),
        file,
        offset: raw.offset,
        path,
        time: parsed.time.unwrap_or(now),
        time_from_read: parsed.time.is_none(),
        message: parsed.message,
        fields: parsed.fields,
        truncated_bytes: (raw.truncated > 0).then_some(raw.truncated),
        parse_error: parsed.parse_error,
    }
}

fn fp_of(file: &std::fs::File, len: u64) -> std::io::Result<String> {
    Ok(tail::fingerprint(file, len)?.hash)
}

fn sleep_unless(stop: &AtomicBool, total: Duration) {
    let step = Duration::from_millis(50);
    let until = Instant::now() + total;
    while !stop.load(Ordering::Relaxed) && Instant::now() < until {
        std::thread::sleep(step.min(until.saturating_duration_since(Instant::now())));
    }
}
