-- Metric values in per-series chunks. A staging flush used to copy every staged row into
-- metric_values and its (series_id, time) index: 131,072 index entries spread over every
-- series' index pages, slower as the table grew. Now an ingest stages its values as one packed
-- row, and a flush packs the staged values of each series into one metric_chunks row: one index
-- entry per series and flush. Queries read metric_values (rows written before this migration),
-- metric_staged and the chunks that overlap the queried range.
--
-- The values are packed by the server (src/db/common/chunks.rs), little-endian, a NaN value
-- meaning unknown (stored values are never NaN: collectd's NaN is stored as unknown):
--   metric_staged.data:  per value series_id (i64), time (f64, Unix s), value (f64)
--   metric_chunks.data:  per value time (f64), value (f64), ordered by time
-- Packing in SQL was measured and refused: SQLite's JSON keeps 15 significant digits (lossy)
-- and took ~100 ms per flush of 131,072 values; exact SQL (sorted rows in a table keyed by row
-- id, a chunk naming its run of rows) took ~60 ms (two sorts). Packed by the server, a flush
-- takes 30-40 ms in all, and a staged batch is one row instead of one per value.

CREATE TABLE metric_staged (
    id    INTEGER PRIMARY KEY,
    total INTEGER NOT NULL,  -- values staged in this row and all before it
    data  BLOB    NOT NULL
) STRICT;

-- One series' values of one flush: n values with times from first to last.
CREATE TABLE metric_chunks (
    series_id INTEGER NOT NULL REFERENCES metric_series (id),
    first     REAL    NOT NULL,
    last      REAL    NOT NULL,
    n         INTEGER NOT NULL,
    data      BLOB    NOT NULL
) STRICT;
CREATE INDEX metric_chunks_series_last ON metric_chunks (series_id, last);

-- Values staged by the previous version join the rows of metric_values.
INSERT INTO metric_values (series_id, time, value)
SELECT series_id, time, value FROM metric_values_recent ORDER BY series_id, time;
DROP TABLE metric_values_recent;
