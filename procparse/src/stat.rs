//! `/proc/<pid>/stat`: `pid (comm) state ppid pgrp session ...` on one line (proc(5)). The
//! command name may hold spaces, parentheses and bytes that are not UTF-8, so the fields
//! after it start after the *last* `)`.

use std::fmt;

/// Fields 1 to 24 of `/proc/<pid>/stat` (proc(5) numbering); later fields are not read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stat {
    /// (1) The process id.
    pub pid: u32,
    /// (2) The command name without its parentheses (bytes that are not UTF-8 become U+FFFD).
    pub comm: String,
    /// (3) The state, one ASCII letter: `R`, `S`, `D`, `Z`, `T`, `t`, `X`, `I`, ...
    pub state: char,
    /// (4) The parent's pid (0 for pid 1 and kernel threads' parent).
    pub ppid: u32,
    /// (5) The process group.
    pub pgrp: u32,
    /// (6) The session.
    pub session: u32,
    /// (7) The controlling terminal's device number.
    pub tty_nr: i32,
    /// (8) The terminal's foreground process group (-1 without a terminal).
    pub tpgid: i32,
    /// (9) The kernel flags (`PF_*`).
    pub flags: u32,
    /// (10) Minor faults.
    pub minflt: u64,
    /// (11) Minor faults of waited-for children.
    pub cminflt: u64,
    /// (12) Major faults.
    pub majflt: u64,
    /// (13) Major faults of waited-for children.
    pub cmajflt: u64,
    /// (14) User-mode time in clock ticks.
    pub utime: u64,
    /// (15) Kernel-mode time in clock ticks.
    pub stime: u64,
    /// (16) User-mode time of waited-for children in clock ticks.
    pub cutime: i64,
    /// (17) Kernel-mode time of waited-for children in clock ticks.
    pub cstime: i64,
    /// (18) The scheduling priority as the kernel shows it.
    pub priority: i64,
    /// (19) The nice value (-20 to 19).
    pub nice: i64,
    /// (20) The number of threads.
    pub num_threads: i64,
    /// (21) Obsolete, always 0.
    pub itrealvalue: i64,
    /// (22) When the process started, in clock ticks since boot: with the pid, its identity.
    pub starttime: u64,
    /// (23) Virtual memory size in bytes.
    pub vsize: u64,
    /// (24) Resident set size in pages.
    pub rss: i64,
}

impl Stat {
    /// Whether the process still runs: not a zombie (`Z`) and not dead (`X`, `x`).
    pub fn is_live(&self) -> bool {
        !matches!(self.state, 'Z' | 'X' | 'x')
    }
}

/// Why a `/proc/<pid>/stat` text could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StatError {
    /// No `(` before a `)` around the command name.
    NoCommand,
    /// The pid before the command name is not a number.
    BadPid(String),
    /// Fewer than 24 fields.
    Missing { field: usize },
    /// Field `field` (proc(5) numbering) is not a number of its type.
    BadField { field: usize, value: String },
}

impl fmt::Display for StatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StatError::NoCommand => write!(f, "no `(command)` after the pid"),
            StatError::BadPid(pid) => write!(f, "bad pid `{pid}`"),
            StatError::Missing { field } => write!(f, "field {field} is missing"),
            StatError::BadField { field, value } => write!(f, "field {field} is bad: `{value}`"),
        }
    }
}

impl std::error::Error for StatError {}

/// Parses the text of `/proc/<pid>/stat` (read as bytes: a command name need not be UTF-8).
/// Fields after the 24th (rss) are ignored; a trailing newline or spaces are fine.
pub fn parse(text: &[u8]) -> Result<Stat, StatError> {
    let open = text.iter().position(|&b| b == b'(');
    let close = text.iter().rposition(|&b| b == b')');
    let (Some(open), Some(close)) = (open, close) else {
        return Err(StatError::NoCommand);
    };
    if close < open {
        return Err(StatError::NoCommand);
    }
    let pid_text = String::from_utf8_lossy(&text[..open]);
    let pid = pid_text
        .trim()
        .parse::<u32>()
        .map_err(|_| StatError::BadPid(pid_text.trim().to_string()))?;
    let comm = String::from_utf8_lossy(&text[open + 1..close]).into_owned();
    let rest = String::from_utf8_lossy(&text[close + 1..]);
    let mut fields = Fields {
        words: rest.split_ascii_whitespace(),
        next: 3,
    };
    let state_word = fields.word()?;
    let mut chars = state_word.chars();
    let state = match (chars.next(), chars.next()) {
        (Some(c), None) if c.is_ascii_alphabetic() => c,
        _ => {
            return Err(StatError::BadField {
                field: 3,
                value: state_word.to_string(),
            });
        }
    };
    Ok(Stat {
        pid,
        comm,
        state,
        ppid: fields.number()?,
        pgrp: fields.number()?,
        session: fields.number()?,
        tty_nr: fields.number()?,
        tpgid: fields.number()?,
        flags: fields.number()?,
        minflt: fields.number()?,
        cminflt: fields.number()?,
        majflt: fields.number()?,
        cmajflt: fields.number()?,
        utime: fields.number()?,
        stime: fields.number()?,
        cutime: fields.number()?,
        cstime: fields.number()?,
        priority: fields.number()?,
        nice: fields.number()?,
        num_threads: fields.number()?,
        itrealvalue: fields.number()?,
        starttime: fields.number()?,
        vsize: fields.number()?,
        rss: fields.number()?,
    })
}

/// The fields after the command name, numbered as in proc(5).
struct Fields<'a, I: Iterator<Item = &'a str>> {
    words: I,
    next: usize,
}

impl<'a, I: Iterator<Item = &'a str>> Fields<'a, I> {
    fn word(&mut self) -> Result<&'a str, StatError> {
        let field = self.next;
        self.next += 1;
        self.words.next().ok_or(StatError::Missing { field })
    }

    fn number<T: std::str::FromStr>(&mut self) -> Result<T, StatError> {
        let field = self.next;
        let word = self.word()?;
        // No `+`: the kernel never writes one, and a `+` means the columns are not its.
        if word.starts_with('+') {
            return Err(StatError::BadField {
                field,
                value: word.to_string(),
            });
        }
        word.parse().map_err(|_| StatError::BadField {
            field,
            value: word.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A line as the kernel writes it, with `comm` and the 52 fields after it.
    fn line(comm: &str) -> String {
        format!(
            "4242 ({comm}) S 1 4242 4240 34816 4242 4194560 1234 56 7 8 310 205 -3 -4 20 -5 3 0 \
             987654 170000000 3000 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 \
             0 0 0 0 0 0 0\n"
        )
    }

    #[test]
    fn every_field_up_to_rss() {
        let s = parse(line("bash").as_bytes()).unwrap();
        assert_eq!(
            s,
            Stat {
                pid: 4242,
                comm: "bash".into(),
                state: 'S',
                ppid: 1,
                pgrp: 4242,
                session: 4240,
                tty_nr: 34816,
                tpgid: 4242,
                flags: 4194560,
                minflt: 1234,
                cminflt: 56,
                majflt: 7,
                cmajflt: 8,
                utime: 310,
                stime: 205,
                cutime: -3,
                cstime: -4,
                priority: 20,
                nice: -5,
                num_threads: 3,
                itrealvalue: 0,
                starttime: 987654,
                vsize: 170000000,
                rss: 3000,
            }
        );
        assert!(s.is_live());
    }

    #[test]
    fn names_with_parentheses_and_spaces() {
        for comm in [
            ") (",
            "a) (b",
            "x) S 1 2 3 (",
            "(",
            ")",
            "()",
            "",
            " ",
            "sp ace",
            "tab\there",
        ] {
            let s = parse(line(comm).as_bytes()).unwrap_or_else(|e| panic!("{comm:?}: {e}"));
            assert_eq!(s.comm, comm);
            assert_eq!(
                (s.state, s.ppid, s.starttime, s.rss),
                ('S', 1, 987654, 3000)
            );
        }
        // A newline in the name (prctl PR_SET_NAME allows it).
        assert_eq!(
            parse(line("two\nlines").as_bytes()).unwrap().comm,
            "two\nlines"
        );
    }

    #[test]
    fn names_that_are_not_utf8() {
        let mut bytes = b"7 (caf\xe9) R 1 7 7".to_vec();
        bytes.extend(" 0".repeat(21).as_bytes());
        let s = parse(&bytes).unwrap();
        assert_eq!((s.comm.as_str(), s.state, s.pgrp), ("caf\u{fffd}", 'R', 7));
    }

    #[test]
    fn huge_numbers() {
        let max = u64::MAX;
        let text = format!(
            "1 (x) S 1 1 1 0 -1 0 0 0 0 0 {max} {max} 0 0 0 0 1 0 {max} {max} 9223372036854775807"
        );
        let s = parse(text.as_bytes()).unwrap();
        assert_eq!(
            (s.utime, s.starttime, s.vsize, s.rss),
            (max, max, max, i64::MAX)
        );
        let text = format!("1 (x) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 0 0 1 0 {max}0 0 0");
        assert_eq!(
            parse(text.as_bytes()),
            Err(StatError::BadField {
                field: 22,
                value: format!("{max}0")
            })
        );
        let err = parse(b"4294967296 (x) S").unwrap_err();
        assert_eq!(err, StatError::BadPid("4294967296".into()));
    }

    #[test]
    fn missing_and_bad_fields() {
        let cases: [(&[u8], &str); 12] = [
            (b"", "no `(command)` after the pid"),
            (b"42 x S 1", "no `(command)` after the pid"),
            (b"42 )x( S 1", "no `(command)` after the pid"),
            (b"1 (x", "no `(command)` after the pid"),
            (b"(x) S 1", "bad pid ``"),
            (b"-1 (x) S 1", "bad pid `-1`"),
            (b"42 (x)", "field 3 is missing"),
            (b"42 (x) S 1 2   \n", "field 6 is missing"),
            (b"42 (x) SS 1", "field 3 is bad: `SS`"),
            // Found by fuzzing: a vertical tab is not a separator, and not a state either.
            (b"42 (x) \x0b 1", "field 3 is bad: `\x0b`"),
            (b"42 (x) 1 1", "field 3 is bad: `1`"),
            (b"42 (x) S +1", "field 4 is bad: `+1`"),
        ];
        for (text, want) in cases {
            let got = parse(text).unwrap_err().to_string();
            assert_eq!(got, want, "{:?}", String::from_utf8_lossy(text));
        }
        let negative_ppid = line("x").replacen("S 1 ", "S -1 ", 1);
        assert_eq!(
            parse(negative_ppid.as_bytes()),
            Err(StatError::BadField {
                field: 4,
                value: "-1".into()
            })
        );
    }

    #[test]
    fn zombies_and_dead_are_not_live() {
        for (state, live) in [
            ('R', true),
            ('I', true),
            ('T', true),
            ('Z', false),
            ('X', false),
        ] {
            let text = line("x").replacen(") S ", &format!(") {state} "), 1);
            assert_eq!(parse(text.as_bytes()).unwrap().is_live(), live, "{state}");
        }
    }

    #[test]
    fn this_process() {
        let text = std::fs::read("/proc/self/stat").unwrap();
        let s = parse(&text).unwrap();
        assert_eq!(s.pid, std::process::id());
        assert!(s.is_live() && s.starttime > 0 && s.rss > 0);
    }
}
