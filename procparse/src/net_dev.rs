//! `/proc/net/dev`: two header lines, then `name: 8 receive counters 8 transmit counters` per
//! interface. What each plugin reports of them (collectd's four pairs, `ip -s link`'s eight)
//! stays in the plugin.

use std::fmt;

/// The 16 counters of one interface, in the kernel's column order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Bytes received.
    pub rx_bytes: u64,
    /// Packets received.
    pub rx_packets: u64,
    /// Receive errors.
    pub rx_errors: u64,
    /// Received packets dropped.
    pub rx_dropped: u64,
    /// Receive FIFO overruns.
    pub rx_fifo: u64,
    /// Receive framing errors.
    pub rx_frame: u64,
    /// Compressed packets received.
    pub rx_compressed: u64,
    /// Multicast packets received.
    pub rx_multicast: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
    /// Packets sent.
    pub tx_packets: u64,
    /// Transmit errors.
    pub tx_errors: u64,
    /// Packets dropped on the way out.
    pub tx_dropped: u64,
    /// Transmit FIFO overruns.
    pub tx_fifo: u64,
    /// Collisions.
    pub tx_collisions: u64,
    /// Carrier losses.
    pub tx_carrier: u64,
    /// Compressed packets sent.
    pub tx_compressed: u64,
}

/// How many counters an interface line has.
pub const COUNTERS: usize = 16;

impl Counters {
    /// The counters in the kernel's column order.
    pub fn from_columns(c: [u64; COUNTERS]) -> Counters {
        Counters {
            rx_bytes: c[0],
            rx_packets: c[1],
            rx_errors: c[2],
            rx_dropped: c[3],
            rx_fifo: c[4],
            rx_frame: c[5],
            rx_compressed: c[6],
            rx_multicast: c[7],
            tx_bytes: c[8],
            tx_packets: c[9],
            tx_errors: c[10],
            tx_dropped: c[11],
            tx_fifo: c[12],
            tx_collisions: c[13],
            tx_carrier: c[14],
            tx_compressed: c[15],
        }
    }

    /// The counters in the kernel's column order (the inverse of [`Counters::from_columns`]).
    pub fn columns(&self) -> [u64; COUNTERS] {
        [
            self.rx_bytes,
            self.rx_packets,
            self.rx_errors,
            self.rx_dropped,
            self.rx_fifo,
            self.rx_frame,
            self.rx_compressed,
            self.rx_multicast,
            self.tx_bytes,
            self.tx_packets,
            self.tx_errors,
            self.tx_dropped,
            self.tx_fifo,
            self.tx_collisions,
            self.tx_carrier,
            self.tx_compressed,
        ]
    }
}

/// One interface line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Interface<'a> {
    /// The interface name, e.g. `eth0`.
    pub name: &'a str,
    /// Its counters.
    pub counters: Counters,
}

/// Why an interface line could not be read; `line` is 1-based.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NetDevError {
    /// Nothing before the `:`.
    EmptyName { line: usize },
    /// Not 16 counters after the name.
    CounterCount {
        line: usize,
        name: String,
        found: usize,
    },
    /// A counter that is not a whole number that fits in 64 bits.
    BadCounter {
        line: usize,
        name: String,
        value: String,
    },
}

impl fmt::Display for NetDevError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NetDevError::EmptyName { line } => write!(f, "line {line}: no interface name"),
            NetDevError::CounterCount { line, name, found } => write!(
                f,
                "line {line}: `{name}` has {found} counters, not {COUNTERS}"
            ),
            NetDevError::BadCounter { line, name, value } => {
                write!(f, "line {line}: `{name}` has a bad counter `{value}`")
            }
        }
    }
}

impl std::error::Error for NetDevError {}

/// Parses `/proc/net/dev` line by line, in the kernel's order. Lines without a `:` (the two
/// headers, blank lines) are not interfaces and yield nothing; an interface line that is not
/// a name and exactly 16 counters yields an error, so that a caller can skip it (as collectd
/// does) without misreading its columns. A long name may touch its first counter
/// (`wg0:1234 ...`): the name ends at the first `:`, which an interface name cannot contain.
pub fn parse(text: &str) -> impl Iterator<Item = Result<Interface<'_>, NetDevError>> {
    text.lines()
        .enumerate()
        .filter_map(|(index, line)| Some(parse_line(index + 1, line.split_once(':')?)))
}

/// The interfaces that parse, in order, skipping lines that do not.
pub fn parse_lenient(text: &str) -> impl Iterator<Item = Interface<'_>> {
    parse(text).filter_map(Result::ok)
}

fn parse_line<'a>(
    line: usize,
    (name, rest): (&'a str, &'a str),
) -> Result<Interface<'a>, NetDevError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(NetDevError::EmptyName { line });
    }
    let mut columns = [0u64; COUNTERS];
    let mut found = 0;
    for word in rest.split_whitespace() {
        let value = word
            .bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| word.parse::<u64>().ok())
            .flatten()
            .ok_or_else(|| NetDevError::BadCounter {
                line,
                name: name.to_string(),
                value: word.to_string(),
            })?;
        if let Some(slot) = columns.get_mut(found) {
            *slot = value;
        }
        found += 1;
    }
    if found != COUNTERS {
        return Err(NetDevError::CounterCount {
            line,
            name: name.to_string(),
            found,
        });
    }
    Ok(Interface {
        name,
        counters: Counters::from_columns(columns),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADERS: &str = "Inter-|   Receive                                                |  Transmit\n \
        face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n";

    fn all(text: &str) -> Vec<Result<Interface<'_>, NetDevError>> {
        parse(text).collect()
    }

    #[test]
    fn every_column_in_order() {
        let text = format!(
            "{HEADERS}    lo:   65462     915    0    0    0     0          0         0    65462     915    0    0    0     0       0          0\n  \
             eth0: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n"
        );
        let got = all(&text);
        assert_eq!(got.len(), 2);
        let lo = got[0].as_ref().unwrap();
        assert_eq!(
            (lo.name, lo.counters.rx_bytes, lo.counters.tx_packets),
            ("lo", 65462, 915)
        );
        let eth0 = got[1].as_ref().unwrap();
        assert_eq!(eth0.name, "eth0");
        let want: Vec<u64> = (1..=16).collect();
        assert_eq!(eth0.counters.columns().to_vec(), want);
        assert_eq!(eth0.counters.rx_multicast, 8);
        assert_eq!(eth0.counters.tx_bytes, 9);
        assert_eq!(eth0.counters.tx_compressed, 16);
        assert_eq!(
            Counters::from_columns(eth0.counters.columns()),
            eth0.counters
        );
    }

    #[test]
    fn a_long_name_touching_its_first_counter() {
        let got = all("wg0:1234567890 1 0 0 0 0 0 0 98765432 5 0 5 0 0 0 0\n");
        let wg = got[0].as_ref().unwrap();
        assert_eq!((wg.name, wg.counters.rx_bytes), ("wg0", 1_234_567_890));
        assert_eq!(wg.counters.tx_dropped, 5);
        // A 15-character name with its colon touching too.
        let got = all("averyveryverylo:1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16");
        assert_eq!(got[0].as_ref().unwrap().name, "averyveryverylo");
    }

    #[test]
    fn huge_counters() {
        let max = u64::MAX;
        let text = format!("x: {max} 0 0 0 0 0 0 0 0 0 0 0 0 0 0 {max}   \n");
        let x = parse_lenient(&text).next().unwrap();
        assert_eq!((x.counters.rx_bytes, x.counters.tx_compressed), (max, max));
        let err = all("x: 18446744073709551616 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0")[0].clone();
        assert!(
            matches!(err, Err(NetDevError::BadCounter { .. })),
            "{err:?}"
        );
    }

    #[test]
    fn bad_lines_are_errors_headers_are_nothing() {
        assert!(all(HEADERS).is_empty());
        assert!(all("\n\n   \n").is_empty());
        let errors: Vec<String> = all(
            "  eth0: 1 2 3\n: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n\
             e: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17\ne: 1 -2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n\
             e: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 +6\n",
        )
        .into_iter()
        .map(|r| r.unwrap_err().to_string())
        .collect();
        assert_eq!(
            errors,
            [
                "line 1: `eth0` has 3 counters, not 16",
                "line 2: no interface name",
                "line 3: `e` has 17 counters, not 16",
                "line 4: `e` has a bad counter `-2`",
                "line 5: `e` has a bad counter `+6`",
            ]
        );
        // The lenient reader keeps the good lines around bad ones.
        let text = "a: 1 2\nb: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n";
        let names: Vec<&str> = parse_lenient(text).map(|i| i.name).collect();
        assert_eq!(names, ["b"]);
    }

    #[test]
    fn the_real_file_parses() {
        let text = std::fs::read_to_string("/proc/net/dev").unwrap();
        let parsed: Vec<Interface> = parse(&text).map(Result::unwrap).collect();
        assert!(parsed.iter().any(|i| i.name == "lo"));
        assert_eq!(parsed.len(), text.lines().count() - 2);
    }
}
