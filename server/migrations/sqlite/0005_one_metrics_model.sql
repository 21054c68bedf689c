-- One metrics model on every backend (MariaDB and PostgreSQL stage and chunk too, their
-- migration 0005). The staged rows no longer carry a running total: each server counts what it
-- staged since its last flush. Rows left in metric_values (databases written before 0003) move
-- into metric_chunks when the server migrates (src/db/common/upgrade.rs: packing exact doubles
-- is not possible in SQL), so queries read chunks and staged rows only.
ALTER TABLE metric_staged DROP COLUMN total;
