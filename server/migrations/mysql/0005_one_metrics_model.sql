-- Metric values in per-series chunks, as on SQLite (its migration 0003): an ingest stages its
-- values as one packed row of metric_staged, and the ingest that brings the staged values to
-- 128 Ki moves them into one metric_chunks row per series (src/db/common/metrics.rs). A row per
-- value cost a row and an index entry per value (~250,000 values/s). The rows of metric_values
-- move into chunks when the server migrates (src/db/common/upgrade.rs), values bit for bit.
--
-- Packed by the server (src/db/common/chunks.rs), little-endian, a NaN value meaning unknown:
--   metric_staged.data:  per value series_id (i64), time (f64, Unix s), value (f64)
--   metric_chunks.data:  per value time (f64), value (f64), ordered by time
--
-- No foreign key from metric_chunks to metric_series: InnoDB checks one with a shared lock on
-- the series row, which an ingest upserting that series holds exclusively, while it waits for
-- the flush's lock on metric_staged (a deadlock). Series are never deleted.

CREATE TABLE metric_staged (
    id   BIGINT   NOT NULL AUTO_INCREMENT PRIMARY KEY,
    data LONGBLOB NOT NULL
) ENGINE = InnoDB;

-- One series' values of one flush: n values with times from first to last.
CREATE TABLE metric_chunks (
    series_id BIGINT   NOT NULL,
    first     DOUBLE   NOT NULL,
    last      DOUBLE   NOT NULL,
    n         BIGINT   NOT NULL,
    data      LONGBLOB NOT NULL,
    KEY metric_chunks_series_last (series_id, last)
) ENGINE = InnoDB;
