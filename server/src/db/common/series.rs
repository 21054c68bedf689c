//! Metric series: checking a batch, the in-memory cache of series ids (so a known series costs
//! no query; bounded by `limits.series_cache`), planning the rows of an ingest, and grouping
//! query answers into series.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use wire::metrics::ValueListJson;

use super::check_text;
use crate::db::{DbError, MetricQuery, SeriesPoints};

/// Longest host, plugin, type, instance or data-source name: collectd's own limit, and what
/// MySQL's unique key over the six identifying columns allows.
const METRIC_NAME_MAX: usize = 128;
/// Longest data-source type (`gauge`, `derive`, ...).
const DSTYPE_MAX: usize = 32;

/// Series ids by identity (the six names joined by NUL, which no name may contain). Shared by
/// the clones of a store; filled only with series whose rows are committed.
#[derive(Clone, Default)]
pub struct SeriesCache(Arc<Mutex<HashMap<String, i64>>>);

/// A series not in the cache: inserted (or looked up) inside the ingest's transaction.
pub struct NewSeries<'b> {
    pub host: &'b str,
    pub plugin: &'b str,
    pub plugin_instance: &'b str,
    pub type_: &'b str,
    pub type_instance: &'b str,
    pub dsname: &'b str,
    pub dstype: &'b str,
}

impl NewSeries<'_> {
    /// The six identifying names, in the column order of the statements.
    pub fn identity(&self) -> [&str; 6] {
        let NewSeries {
            host,
            plugin,
            plugin_instance,
            type_,
            type_instance,
            dsname,
            ..
        } = *self;
        [host, plugin, plugin_instance, type_, type_instance, dsname]
    }
}

/// Where a value's series id comes from.
#[derive(Clone, Copy)]
enum SeriesRef {
    Known(i64),
    New(usize),
}

/// The rows an ingest stores, planned against the cache before the transaction starts.
pub struct IngestPlan<'b> {
    /// Series to resolve in the transaction, each once, in first-seen order.
    pub new_series: Vec<NewSeries<'b>>,
    new_keys: Vec<String>,
    rows: Vec<(SeriesRef, f64, Option<f64>)>,
}

/// One value as stored: series id, Unix time, value (`None` = unknown).
pub type ValueRow = (i64, f64, Option<f64>);

impl SeriesCache {
    /// Checks the whole batch (nothing is stored if any value list is bad), then plans one row
    /// per value; non-finite values are stored as unknown (NULL).
    pub fn plan<'b>(&self, batch: &'b [ValueListJson]) -> Result<IngestPlan<'b>, DbError> {
        for (i, list) in batch.iter().enumerate() {
            check_list(list).map_err(|e| DbError::Invalid(format!("value list {i}: {e}")))?;
        }
        let mut plan = IngestPlan {
            new_series: Vec::new(),
            new_keys: Vec::new(),
            rows: Vec::new(),
        };
        plan.rows
            .reserve(batch.iter().map(|list| list.values.len()).sum());
        let mut fresh: HashMap<String, usize> = HashMap::new();
        let mut key = String::new();
        let known = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        for list in batch {
            key.clear();
            for part in [
                &list.host,
                &list.plugin,
                &list.plugin_instance,
                &list.type_,
                &list.type_instance,
            ] {
                key.push_str(part);
                key.push('\0');
            }
            let prefix = key.len();
            for ((value, dsname), dstype) in
                list.values.iter().zip(&list.dsnames).zip(&list.dstypes)
            {
                key.truncate(prefix);
                key.push_str(dsname);
                let series = if let Some(&id) = known.get(key.as_str()) {
                    SeriesRef::Known(id)
                } else if let Some(&index) = fresh.get(key.as_str()) {
                    SeriesRef::New(index)
                } else {
                    let index = plan.new_series.len();
                    fresh.insert(key.clone(), index);
                    plan.new_keys.push(key.clone());
                    plan.new_series.push(NewSeries {
                        host: &list.host,
                        plugin: &list.plugin,
                        plugin_instance: &list.plugin_instance,
                        type_: &list.type_,
                        type_instance: &list.type_instance,
                        dsname,
                        dstype,
                    });
                    SeriesRef::New(index)
                };
                plan.rows
                    .push((series, list.time, value.filter(|v| v.is_finite())));
            }
        }
        Ok(plan)
    }

    /// Remembers the ids of the plan's new series, once their transaction has committed. The
    /// cache holds at most `max` series: when they would not fit, it starts again empty (the
    /// series it forgets cost one lookup each until they are remembered again).
    pub fn remember(&self, plan: IngestPlan<'_>, ids: &[i64], max: usize) {
        let mut known = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if known.len() + plan.new_keys.len() > max {
            tracing::info!(
                series = known.len(),
                "metric series cache full (limits.series_cache = {max}): emptied"
            );
            known.clear();
        }
        known.extend(plan.new_keys.into_iter().zip(ids.iter().copied()).take(max));
    }

    /// How many series ids are remembered.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .len()
    }
}

impl IngestPlan<'_> {
    /// Whether the batch holds no value at all.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The number of values the batch holds.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// The rows with every series id filled in; `ids` holds the ids of `new_series`, in order.
    pub fn rows(&self, ids: &[i64]) -> Vec<ValueRow> {
        let id = |series| match series {
            SeriesRef::Known(id) => id,
            SeriesRef::New(index) => ids[index],
        };
        self.rows
            .iter()
            .map(|&(series, time, value)| (id(series), time, value))
            .collect()
    }
}

fn check_list(list: &ValueListJson) -> Result<(), DbError> {
    let (values, dsnames, dstypes) = (list.values.len(), list.dsnames.len(), list.dstypes.len());
    if values != dsnames || values != dstypes {
        return Err(DbError::Invalid(format!(
            "{values} values but {dsnames} dsnames and {dstypes} dstypes"
        )));
    }
    check_text("host", &list.host, true, METRIC_NAME_MAX)?;
    check_text("plugin", &list.plugin, true, METRIC_NAME_MAX)?;
    check_text(
        "plugin_instance",
        &list.plugin_instance,
        false,
        METRIC_NAME_MAX,
    )?;
    check_text("type", &list.type_, true, METRIC_NAME_MAX)?;
    check_text("type_instance", &list.type_instance, false, METRIC_NAME_MAX)?;
    for (dsname, dstype) in list.dsnames.iter().zip(&list.dstypes) {
        check_text("dsname", dsname, false, METRIC_NAME_MAX)?;
        check_text("dstype", dstype, true, DSTYPE_MAX)?;
    }
    if !list.time.is_finite() {
        return Err(DbError::Invalid("time is not a number".into()));
    }
    Ok(())
}

/// Checks a metrics query: a positive step, a finite range.
pub fn check_query(query: &MetricQuery) -> Result<(), DbError> {
    if !(query.step.is_finite() && query.step > 0.0) {
        return Err(DbError::Invalid(format!(
            "step {} is not a positive number of seconds",
            query.step
        )));
    }
    if !(query.from.is_finite() && query.to.is_finite()) {
        return Err(DbError::Invalid("the time range is not finite".into()));
    }
    Ok(())
}

/// One bucket of one series in a metrics query: the sum and count of its known values.
pub struct BucketRow {
    series_id: i64,
    plugin_instance: String,
    type_instance: String,
    dsname: String,
    dstype: String,
    bucket: i64,
    total: Option<f64>,
    n: i64,
}

/// A series a metrics query matches: its id and the names that tell it from the query's other
/// series.
#[derive(Clone, sqlx::FromRow)]
pub struct SeriesRow {
    /// The series' id.
    pub id: i64,
    plugin_instance: String,
    type_instance: String,
    dsname: String,
    dstype: String,
}

impl BucketRow {
    /// The row of one bucket of `series`: `total` and `n` sum and count its known values.
    pub fn new(series: &SeriesRow, bucket: i64, total: Option<f64>, n: i64) -> BucketRow {
        BucketRow {
            series_id: series.id,
            plugin_instance: series.plugin_instance.clone(),
            type_instance: series.type_instance.clone(),
            dsname: series.dsname.clone(),
            dstype: series.dstype.clone(),
            bucket,
            total,
            n,
        }
    }

    /// What [`series_points`] needs its rows ordered by: series, then bucket.
    pub fn order(&self) -> (i64, i64) {
        (self.series_id, self.bucket)
    }
}

/// Groups bucket rows (ordered by series, then bucket) into series with the average of each
/// bucket, series ordered by plugin instance, type instance and data-source name; buckets
/// without a known value are left out.
pub fn series_points(rows: Vec<BucketRow>, step: f64) -> Vec<SeriesPoints> {
    /// A bucket being summed: index, sum and count of its known values.
    type Sum = (i64, f64, i64);
    let mut out: Vec<(i64, SeriesPoints, Vec<Sum>)> = Vec::new();
    for row in rows {
        if out.last().is_none_or(|(id, _, _)| *id != row.series_id) {
            let series = SeriesPoints {
                plugin_instance: row.plugin_instance,
                type_instance: row.type_instance,
                dsname: row.dsname,
                dstype: row.dstype,
                points: Vec::new(),
            };
            out.push((row.series_id, series, Vec::new()));
        }
        let (Some(total), Some((_, _, sums))) = (row.total, out.last_mut()) else {
            continue;
        };
        match sums.last_mut() {
            Some((bucket, sum, count)) if *bucket == row.bucket => {
                *sum += total;
                *count += row.n;
            }
            _ => sums.push((row.bucket, total, row.n)),
        }
    }
    let mut series: Vec<SeriesPoints> = out
        .into_iter()
        .map(|(_, mut series, sums)| {
            let sums = sums.into_iter().filter(|&(_, _, count)| count > 0);
            series.points = sums
                .map(|(bucket, sum, count)| (bucket as f64 * step, sum / count as f64))
                .collect();
            series
        })
        .collect();
    series.sort_by(|a, b| {
        (&a.plugin_instance, &a.type_instance, &a.dsname).cmp(&(
            &b.plugin_instance,
            &b.type_instance,
            &b.dsname,
        ))
    });
    series
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(host: &str, dsnames: &[&str]) -> ValueListJson {
        ValueListJson {
            values: vec![Some(1.0); dsnames.len()],
            dstypes: vec!["gauge".into(); dsnames.len()],
            dsnames: dsnames.iter().map(|d| d.to_string()).collect(),
            time: 1.0,
            interval: 10.0,
            host: host.into(),
            plugin: "p".into(),
            plugin_instance: String::new(),
            type_: "t".into(),
            type_instance: String::new(),
        }
    }

    #[test]
    fn the_cache_never_holds_more_than_its_cap() {
        let cache = SeriesCache::default();
        let batch = [list("a", &["x", "y"])];
        let plan = cache.plan(&batch).unwrap();
        cache.remember(plan, &[1, 2], 3);
        assert_eq!(cache.len(), 2);
        // Two more do not fit beside the two known: the cache starts again with them.
        let batch = [list("b", &["x", "y"])];
        let plan = cache.plan(&batch).unwrap();
        assert_eq!(plan.new_series.len(), 2);
        cache.remember(plan, &[3, 4], 3);
        assert_eq!(cache.len(), 2);
        let batch = [list("c", &["1", "2", "3", "4", "5"])];
        let plan = cache.plan(&batch).unwrap();
        cache.remember(plan, &[5, 6, 7, 8, 9], 3);
        assert_eq!(cache.len(), 3);
        // Known series plan no new row.
        let batch = [list("c", &["1"])];
        assert!(cache.plan(&batch).unwrap().new_series.is_empty());
    }
}
