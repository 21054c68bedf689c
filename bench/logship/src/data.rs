//! The generated logs: nginx "combined" lines spread over several files, the same bytes on
//! every run (a fixed-seed generator), in the shape of `/work/shared/peers/rsyslog.sh`'s data
//! with a sequence number at the end of each line, but in time order (the peer script draws
//! each line's minute and second at random, which no server writes and which costs a
//! time-indexed store dearly).

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

/// The generated files.
pub struct Data {
    /// The folder holding `access<N>.log`.
    pub dir: PathBuf,
    /// The files.
    pub files: Vec<PathBuf>,
    /// Lines in all of them.
    pub lines: u64,
    /// Bytes in all of them.
    pub bytes: u64,
}

/// A xorshift generator: the same sequence from the same seed.
struct Random(u64);

impl Random {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }

    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[self.below(from.len() as u64) as usize]
    }
}

const PATHS: &[&str] = &[
    "/",
    "/index.html",
    "/api/v1/hosts",
    "/static/app.js",
    "/packages/gearman-1.2.tgz",
    "/metrics",
    "/login",
    "/img/logo.png",
    "/api/v1/commands",
    "/favicon.ico",
];
const AGENTS: &[&str] = &[
    "curl/8.5.0",
    "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
    "Prometheus/2.42.0",
    "Wget/1.21.3",
    "python-requests/2.31.0",
];
const STATUSES: &[&str] = &["200", "200", "200", "304", "404", "500"];

/// Writes `mib` MiB of lines into `files` files under `dir` (kept when a previous run with
/// the same size left them complete: `dir/done` names the size).
pub fn generate(dir: &Path, mib: u64, files: usize) -> anyhow::Result<Data> {
    let marker = dir.join("done");
    let want = format!("{mib} {files}");
    let paths: Vec<PathBuf> = (0..files)
        .map(|f| dir.join(format!("access{f}.log")))
        .collect();
    if std::fs::read_to_string(&marker).ok().as_deref() == Some(want.as_str()) {
        return count(dir, paths);
    }
    std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    let mut random = Random(20_261_203);
    let per_file = mib * 1024 * 1024 / files as u64;
    let mut seq = 0u64;
    for path in &paths {
        let mut out = std::io::BufWriter::with_capacity(
            1 << 20,
            std::fs::File::create(path).with_context(|| format!("create {}", path.display()))?,
        );
        let mut written = 0u64;
        // Lines are written in time order, as a server writes its log: 250 lines a second
        // from 12:00:00, the same span in every file.
        let mut in_file = 0u64;
        let mut line = Vec::with_capacity(256);
        while written < per_file {
            line.clear();
            writeln!(
                line,
                "10.{}.{}.{} - - [03/Dec/2026:{:02}:{:02}:{:02} +0000] \"GET {} HTTP/1.1\" {} {} \"-\" \"{}\" seq={seq}",
                random.below(256),
                random.below(256),
                random.below(256),
                12 + in_file / 250 / 3600,
                in_file / 250 / 60 % 60,
                in_file / 250 % 60,
                random.pick(PATHS),
                random.pick(STATUSES),
                100 + random.below(99_900),
                random.pick(AGENTS),
            )?;
            out.write_all(&line)?;
            written += line.len() as u64;
            seq += 1;
            in_file += 1;
        }
        out.flush()?;
    }
    std::fs::write(&marker, want)?;
    count(dir, paths)
}

fn count(dir: &Path, files: Vec<PathBuf>) -> anyhow::Result<Data> {
    let (mut lines, mut bytes) = (0u64, 0u64);
    for path in &files {
        let text = std::fs::read(path).with_context(|| format!("read {}", path.display()))?;
        lines += text.iter().filter(|b| **b == b'\n').count() as u64;
        bytes += text.len() as u64;
    }
    Ok(Data {
        dir: dir.to_path_buf(),
        files,
        lines,
        bytes,
    })
}
