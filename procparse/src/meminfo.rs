//! `/proc/meminfo`: `Key:   value [kB]` lines, each as key → bytes (for `kB` lines) or a plain
//! count (lines without a unit, e.g. `HugePages_Total`). What each plugin computes from the
//! values (collectd's split, `free`'s summary) stays in the plugin.

use std::fmt;

/// What a line's number counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// The line ended in `kB` (the kernel means KiB): the value was multiplied by 1024.
    Bytes,
    /// The line had no unit (a count such as `HugePages_Total`): the value is as written.
    Count,
}

/// One line of `/proc/meminfo`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Line<'a> {
    /// The key as the kernel writes it, without the colon, e.g. `MemTotal` or `Active(anon)`.
    pub key: &'a str,
    /// Bytes for a `kB` line, the number itself for a count.
    pub value: u64,
    /// Whether `value` is bytes or a count.
    pub unit: Unit,
}

/// The lines of `/proc/meminfo` in the kernel's order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Meminfo<'a> {
    /// Every non-blank line, in order.
    pub lines: Vec<Line<'a>>,
}

impl<'a> Meminfo<'a> {
    /// The value of the first line named `key` (bytes or a count), if the kernel wrote one.
    pub fn get(&self, key: &str) -> Option<u64> {
        self.lines.iter().find(|l| l.key == key).map(|l| l.value)
    }
}

/// Why a `/proc/meminfo` text could not be read; each names the line (1-based) or key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MeminfoError {
    /// A non-blank line without the `:` after its key.
    NoColon { line: usize },
    /// A line whose key is empty (`: 5 kB`).
    EmptyKey { line: usize },
    /// A key with nothing after the colon.
    NoValue { key: String },
    /// A value that is not a whole number that fits in 64 bits.
    BadValue { key: String, value: String },
    /// A unit other than `kB`.
    UnknownUnit { key: String, unit: String },
    /// A `kB` value whose byte count does not fit in 64 bits.
    Overflow { key: String },
}

impl fmt::Display for MeminfoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MeminfoError::NoColon { line } => write!(f, "line {line}: no `:` after the key"),
            MeminfoError::EmptyKey { line } => write!(f, "line {line}: empty key"),
            MeminfoError::NoValue { key } => write!(f, "no value for `{key}`"),
            MeminfoError::BadValue { key, value } => write!(f, "bad value `{value}` for `{key}`"),
            MeminfoError::UnknownUnit { key, unit } => {
                write!(f, "unknown unit `{unit}` for `{key}`")
            }
            MeminfoError::Overflow { key } => write!(f, "`{key}` overflows 64 bits in bytes"),
        }
    }
}

impl std::error::Error for MeminfoError {}

/// Parses `/proc/meminfo`. The units rule the plugins use: `kB` means KiB and becomes bytes
/// (× 1024, an overflow is an error), no unit means a plain count, any other unit is an
/// error. Blank lines are skipped; words after the unit are ignored, as procps does. One bad
/// line fails the whole text: a misread value would be reported as a real one.
pub fn parse(text: &str) -> Result<Meminfo<'_>, MeminfoError> {
    let mut lines = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        if raw.trim().is_empty() {
            continue;
        }
        let line = index + 1;
        let (key, rest) = raw.split_once(':').ok_or(MeminfoError::NoColon { line })?;
        let key = key.trim();
        if key.is_empty() {
            return Err(MeminfoError::EmptyKey { line });
        }
        let owned = || key.to_string();
        let mut words = rest.split_whitespace();
        let number = words
            .next()
            .ok_or_else(|| MeminfoError::NoValue { key: owned() })?;
        let number = parse_u64(number).ok_or_else(|| MeminfoError::BadValue {
            key: owned(),
            value: number.to_string(),
        })?;
        let (value, unit) = match words.next() {
            None => (number, Unit::Count),
            Some("kB") => {
                let bytes = number
                    .checked_mul(1024)
                    .ok_or_else(|| MeminfoError::Overflow { key: owned() })?;
                (bytes, Unit::Bytes)
            }
            Some(unit) => {
                return Err(MeminfoError::UnknownUnit {
                    key: owned(),
                    unit: unit.to_string(),
                });
            }
        };
        lines.push(Line { key, value, unit });
    }
    Ok(Meminfo { lines })
}

/// A decimal u64 in the kernel's form: digits only (no sign, no `_`).
fn parse_u64(text: &str) -> Option<u64> {
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEBIAN12_HEAD: &str = "MemTotal:       24684092 kB\nMemFree:        23148960 kB\n\
        Active(anon):      27820 kB\nHugePages_Total:       0\nHugepagesize:       2048 kB\n";

    #[test]
    fn kb_lines_are_bytes_and_others_counts() {
        let m = parse(DEBIAN12_HEAD).unwrap();
        assert_eq!(m.lines.len(), 5);
        assert_eq!(m.get("MemTotal"), Some(24_684_092 * 1024));
        assert_eq!(m.get("Active(anon)"), Some(27_820 * 1024));
        assert_eq!(
            m.lines[3],
            Line {
                key: "HugePages_Total",
                value: 0,
                unit: Unit::Count
            }
        );
        assert_eq!(m.lines[4].unit, Unit::Bytes);
        assert_eq!(m.get("SwapTotal"), None);
    }

    #[test]
    fn blank_lines_trailing_spaces_and_extra_words() {
        let m = parse("\n  \nMemTotal:   5 kB   \r\n\t\nMemFree:7 kB ignored words\n").unwrap();
        assert_eq!(m.get("MemTotal"), Some(5120));
        assert_eq!(m.get("MemFree"), Some(7168));
        assert_eq!(parse("").unwrap(), Meminfo::default());
    }

    #[test]
    fn huge_numbers() {
        // The largest count is kept; the largest kB value that fits in bytes too.
        let max = u64::MAX;
        assert_eq!(parse(&format!("X: {max}\n")).unwrap().get("X"), Some(max));
        let fits = max / 1024;
        assert_eq!(
            parse(&format!("VmallocTotal: {fits} kB\n"))
                .unwrap()
                .get("VmallocTotal"),
            Some(fits * 1024)
        );
        assert_eq!(
            parse(&format!("VmallocTotal: {} kB\n", fits + 1)),
            Err(MeminfoError::Overflow {
                key: "VmallocTotal".into()
            })
        );
        let err = parse("MemTotal: 18446744073709551616 kB\n").unwrap_err();
        assert!(matches!(err, MeminfoError::BadValue { .. }), "{err}");
    }

    #[test]
    fn bad_lines_are_named() {
        let cases = [
            ("MemTotal 5 kB\n", "line 1: no `:` after the key"),
            ("A: 1\n: 5 kB\n", "line 2: empty key"),
            ("MemFree:\n", "no value for `MemFree`"),
            ("Cached: lots kB\n", "bad value `lots` for `Cached`"),
            ("Cached: -1 kB\n", "bad value `-1` for `Cached`"),
            ("Cached: +1 kB\n", "bad value `+1` for `Cached`"),
            ("Cached: 1 MB\n", "unknown unit `MB` for `Cached`"),
        ];
        for (text, want) in cases {
            assert_eq!(parse(text).unwrap_err().to_string(), want, "{text:?}");
        }
    }

    #[test]
    fn the_first_of_repeated_keys_wins_and_odd_keys_stay_as_written() {
        let m = parse("A: 1\nA: 2\nweird key (x): 3 kB\n").unwrap();
        assert_eq!(m.get("A"), Some(1));
        assert_eq!(m.get("weird key (x)"), Some(3072));
    }

    #[test]
    fn the_real_file_parses() {
        let text = std::fs::read_to_string("/proc/meminfo").unwrap();
        let m = parse(&text).unwrap();
        assert!(m.get("MemTotal").unwrap() > 0);
        assert_eq!(m.lines.len(), text.lines().count());
    }
}
