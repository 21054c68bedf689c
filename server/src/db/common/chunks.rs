//! The packed metric values of every backend (migrations `sqlite/0003`, `mysql/0005`,
//! `postgres/0005`): a staged batch is one blob of (series id, time, value) triples, and a flush turns the staged blobs into one chunk per
//! series, a blob of (time, value) pairs ordered by time. Everything is little-endian; a value
//! stored as NaN is unknown (a stored value is never NaN otherwise: non-finite values are stored
//! as unknown). Values keep their exact bits, which SQLite's JSON (15 digits) would not.
//!
//! Queries compute the buckets of packed values here ([`Buckets`]): `floor(time / step)`, the
//! sum and count of known values.

use std::collections::{BTreeMap, HashMap};

use super::series::{BucketRow, SeriesRow, ValueRow};
use crate::db::{DbError, MetricQuery};

/// The bits an unknown value is stored as (a quiet NaN).
const UNKNOWN: u64 = 0x7ff8_0000_0000_0000;
/// Bytes per staged value: series id, time, value.
const STAGED: usize = 24;
/// Bytes per chunk value: time, value.
const PAIR: usize = 16;
/// Values one chunk holds at most (1 MiB of data): a flush's chunks hold a few tens each, those
/// of a series' old value rows (`upgrade`) may hold millions in all.
pub const CHUNK_MAX: usize = 65_536;

fn value_bytes(value: Option<f64>) -> [u8; 8] {
    value.map_or(UNKNOWN, f64::to_bits).to_le_bytes()
}

fn value_from(bytes: &[u8]) -> Option<f64> {
    let value = f64_from(bytes);
    (!value.is_nan()).then_some(value)
}

fn f64_from(bytes: &[u8]) -> f64 {
    f64::from_le_bytes(bytes.try_into().expect("8 bytes"))
}

fn corrupt(what: &str, len: usize, size: usize) -> DbError {
    DbError::Invalid(format!(
        "stored {what} of {len} bytes is not a whole number of {size}-byte values"
    ))
}

/// Packs the values of one ingest as a staged blob (`metric_staged.data`).
pub fn pack_staged(rows: &[ValueRow]) -> Vec<u8> {
    let mut data = Vec::with_capacity(rows.len() * STAGED);
    for &(series, time, value) in rows {
        data.extend_from_slice(&series.to_le_bytes());
        data.extend_from_slice(&time.to_le_bytes());
        data.extend_from_slice(&value_bytes(value));
    }
    data
}

/// The values of a staged blob, in the order they were staged.
pub fn unpack_staged(data: &[u8]) -> Result<impl Iterator<Item = ValueRow> + '_, DbError> {
    if !data.len().is_multiple_of(STAGED) {
        return Err(corrupt("staged batch", data.len(), STAGED));
    }
    Ok(data.chunks_exact(STAGED).map(|value| {
        let series = i64::from_le_bytes(value[..8].try_into().expect("8 bytes"));
        (series, f64_from(&value[8..16]), value_from(&value[16..]))
    }))
}

/// One series' values of one flush, as a `metric_chunks` row.
pub struct Chunk {
    /// The series.
    pub series_id: i64,
    /// Its earliest time.
    pub first: f64,
    /// Its latest time.
    pub last: f64,
    /// Its number of values, known or not.
    pub n: i64,
    /// The packed (time, value) pairs, ordered by time.
    pub data: Vec<u8>,
}

/// One chunk per series of `rows` (or more, of at most [`CHUNK_MAX`] values each), by series id,
/// each ordered by time (values of equal times in the order given).
pub fn chunks(rows: impl IntoIterator<Item = ValueRow>) -> Vec<Chunk> {
    let mut by_series: BTreeMap<i64, Vec<(f64, Option<f64>)>> = BTreeMap::new();
    for (series, time, value) in rows {
        by_series.entry(series).or_default().push((time, value));
    }
    let mut chunks = Vec::with_capacity(by_series.len());
    for (series_id, mut values) in by_series {
        // Stable: equal times keep their order. Times are finite (checked at ingest).
        values.sort_by(|a, b| a.0.total_cmp(&b.0));
        for values in values.chunks(CHUNK_MAX) {
            let mut data = Vec::with_capacity(values.len() * PAIR);
            for &(time, value) in values {
                data.extend_from_slice(&time.to_le_bytes());
                data.extend_from_slice(&value_bytes(value));
            }
            chunks.push(Chunk {
                series_id,
                first: values[0].0,
                last: values[values.len() - 1].0,
                n: values.len() as i64,
                data,
            });
        }
    }
    chunks
}

/// The (time, value) pairs of a chunk's blob.
pub fn unpack_chunk(data: &[u8]) -> Result<impl Iterator<Item = (f64, Option<f64>)> + '_, DbError> {
    if !data.len().is_multiple_of(PAIR) {
        return Err(corrupt("chunk", data.len(), PAIR));
    }
    Ok(data
        .chunks_exact(PAIR)
        .map(|pair| (f64_from(&pair[..8]), value_from(&pair[8..]))))
}

/// The buckets of a query over packed values: for each series and bucket that has a value in
/// the range (known or not), the sum and count of its known values.
pub struct Buckets {
    from: f64,
    to: f64,
    step: f64,
    sums: HashMap<(i64, i64), Sum>,
}

/// A bucket's known values so far: Neumaier's compensated sum (as SQLite's `SUM` of reals
/// computes it) and their count.
#[derive(Default)]
struct Sum {
    total: f64,
    compensation: f64,
    n: i64,
}

impl Buckets {
    /// No values yet, for the range and step of `query`.
    pub fn new(query: &MetricQuery) -> Buckets {
        Buckets {
            from: query.from,
            to: query.to,
            step: query.step,
            sums: HashMap::new(),
        }
    }

    /// Counts a value of `series` if its time is in the range.
    pub fn add(&mut self, series: i64, time: f64, value: Option<f64>) {
        if !(time >= self.from && time < self.to) {
            return;
        }
        let bucket = (time / self.step).floor() as i64;
        let sum = self.sums.entry((series, bucket)).or_default();
        if let Some(value) = value {
            let total = sum.total + value;
            sum.compensation += if sum.total.abs() >= value.abs() {
                (sum.total - total) + value
            } else {
                (value - total) + sum.total
            };
            sum.total = total;
            sum.n += 1;
        }
    }

    /// The bucket rows, named after `series` (every series added must be in it).
    pub fn rows(self, series: &HashMap<i64, SeriesRow>) -> Vec<BucketRow> {
        self.sums
            .into_iter()
            .filter_map(|((id, bucket), sum)| {
                let total = (sum.n > 0).then_some(sum.total + sum.compensation);
                Some(BucketRow::new(series.get(&id)?, bucket, total, sum.n))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staged_values_keep_their_bits() {
        let rows = vec![
            (7, 1_700_000_000.013, Some(0.1 + 0.2)),
            (3, -5.5, None),
            (7, 1.0, Some(-0.0)),
            (i64::MAX, f64::MAX, Some(f64::MIN_POSITIVE)),
        ];
        let data = pack_staged(&rows);
        assert_eq!(data.len(), rows.len() * STAGED);
        let back: Vec<ValueRow> = unpack_staged(&data).unwrap().collect();
        assert_eq!(back.len(), rows.len());
        for (a, b) in rows.iter().zip(&back) {
            assert_eq!((a.0, a.1.to_bits()), (b.0, b.1.to_bits()));
            assert_eq!(a.2.map(f64::to_bits), b.2.map(f64::to_bits));
        }
        assert!(unpack_staged(&data[1..]).is_err());
    }

    #[test]
    fn chunks_group_by_series_and_sort_by_time() {
        let rows = vec![
            (2, 30.0, Some(3.0)),
            (1, 20.0, None),
            (2, 10.0, Some(1.0)),
            (2, 20.0, Some(2.0)),
            (2, 10.0, Some(1.5)),
        ];
        let chunks = chunks(rows);
        let ids: Vec<i64> = chunks.iter().map(|c| c.series_id).collect();
        assert_eq!(ids, [1, 2]);
        assert_eq!(
            (chunks[0].first, chunks[0].last, chunks[0].n),
            (20.0, 20.0, 1)
        );
        assert_eq!(
            unpack_chunk(&chunks[0].data).unwrap().collect::<Vec<_>>(),
            [(20.0, None)]
        );
        assert_eq!(
            (chunks[1].first, chunks[1].last, chunks[1].n),
            (10.0, 30.0, 4)
        );
        assert_eq!(
            unpack_chunk(&chunks[1].data).unwrap().collect::<Vec<_>>(),
            [
                (10.0, Some(1.0)),
                (10.0, Some(1.5)),
                (20.0, Some(2.0)),
                (30.0, Some(3.0))
            ]
        );
        assert!(unpack_chunk(&chunks[1].data[..15]).is_err());
    }

    #[test]
    fn long_series_split_into_chunks_of_at_most_chunk_max() {
        let n = CHUNK_MAX + 3;
        let rows = (0..n).rev().map(|i| (9, i as f64, Some(i as f64 * 0.5)));
        let chunks = chunks(rows);
        assert_eq!(chunks.len(), 2);
        assert_eq!((chunks[0].first, chunks[0].n), (0.0, CHUNK_MAX as i64));
        assert_eq!(chunks[0].last, (CHUNK_MAX - 1) as f64);
        assert_eq!(
            (chunks[1].first, chunks[1].last),
            (CHUNK_MAX as f64, (n - 1) as f64)
        );
        let back: Vec<_> = chunks
            .iter()
            .flat_map(|c| unpack_chunk(&c.data).unwrap())
            .collect();
        assert_eq!(back.len(), n);
        assert!(
            back.iter()
                .enumerate()
                .all(|(i, &(t, v))| t == i as f64 && v == Some(t * 0.5))
        );
    }

    /// A query of series `h/p/t` from `from` to `to` in buckets of `step` seconds.
    fn query(from: f64, to: f64, step: f64) -> MetricQuery {
        MetricQuery {
            host: "h".into(),
            plugin: "p".into(),
            plugin_instance: None,
            type_: "t".into(),
            type_instance: None,
            dsname: None,
            from,
            to,
            step,
        }
    }

    #[test]
    fn buckets_floor_and_skip_unknown_values() {
        let query = query(-20.0, 20.0, 10.0);
        let mut buckets = Buckets::new(&query);
        for (time, value) in [
            (-20.0, Some(1.0)),
            (-0.5, Some(2.0)),
            (0.0, None),
            (9.99, Some(4.0)),
            (9.99, Some(5.0)),
            (20.0, Some(100.0)),
            (-20.5, Some(100.0)),
        ] {
            buckets.add(1, time, value);
        }
        let mut sums: Vec<(i64, Option<f64>, i64)> = buckets
            .sums
            .iter()
            .map(|(&(_, bucket), sum)| {
                let total = (sum.n > 0).then_some(sum.total + sum.compensation);
                (bucket, total, sum.n)
            })
            .collect();
        sums.sort_by_key(|&(bucket, _, _)| bucket);
        assert_eq!(
            sums,
            [(-2, Some(1.0), 1), (-1, Some(2.0), 1), (0, Some(9.0), 2)]
        );
    }

    #[test]
    fn compensated_sums_keep_small_values() {
        let query = query(0.0, 10.0, 10.0);
        let mut buckets = Buckets::new(&query);
        for value in [1e16, 1.0, -1e16, 1.0] {
            buckets.add(1, 1.0, Some(value));
        }
        let sum = &buckets.sums[&(1, 0)];
        assert_eq!((sum.total + sum.compensation, sum.n), (2.0, 4));
    }
}
