-- Log records in compressed chunks (issue 16): a row per (host, source, file generation, part of
-- a batch) instead of a row per record. A record is still stored once per (host, source, file,
-- offset): an ingest looks up the chunks of the same file whose offset range overlaps the
-- batch's (`log_chunks_file`), decompresses only those and drops the records already held.
-- `data` is packed and compressed by the server (src/db/common/log_pack.rs, zstd); `bytes` is
-- the records' message and fields bytes (what retention by size counts), `records` how many.
-- A record's id is its chunk's id * 65536 + its index in the chunk. A chunk's records are in
-- time order and span at most an hour, so a query's chunks are one range of `time_min`.
-- The rows of log_records (written before this migration) move into chunks when the server
-- migrates (src/db/common/log_upgrade.rs). The same logical schema as mysql/ and postgres/.

CREATE TABLE log_chunks (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    host         TEXT    NOT NULL,
    source       TEXT    NOT NULL,
    file         TEXT    NOT NULL,
    first_offset INTEGER NOT NULL,          -- its records' lowest offset
    last_offset  INTEGER NOT NULL,          -- and highest
    time_min     REAL    NOT NULL,
    time_max     REAL    NOT NULL,
    records      INTEGER NOT NULL,
    bytes        INTEGER NOT NULL,          -- message + fields bytes of its records
    received_at  TEXT    NOT NULL,
    data         BLOB    NOT NULL
) STRICT;
CREATE INDEX log_chunks_file ON log_chunks (host, source, file, last_offset);
CREATE INDEX log_chunks_query ON log_chunks (host, source, time_min);
CREATE INDEX log_chunks_time_min ON log_chunks (time_min);
CREATE INDEX log_chunks_time_max ON log_chunks (time_max);

-- One row per (host, source, file) ever stored: an ingest updates it first, which locks it
-- until commit, so that two replicas storing the same resend one after the other see each
-- other's chunks (PostgreSQL's and MySQL's default isolation would let both miss them).
CREATE TABLE log_files (
    host   TEXT NOT NULL,
    source TEXT NOT NULL,
    file   TEXT NOT NULL,
    PRIMARY KEY (host, source, file)
) STRICT, WITHOUT ROWID;
