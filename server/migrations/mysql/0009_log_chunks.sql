-- Log records in compressed chunks (issue 16): a row per (host, source, file generation, part of
-- a batch) instead of a row per record. A record is still stored once per (host, source, file,
-- offset): an ingest looks up the chunks of the same file whose offset range overlaps the
-- batch's (`log_chunks_file`), decompresses only those and drops the records already held.
-- `data` is packed and compressed by the server (src/db/common/log_pack.rs, zstd); `bytes` is
-- the records' message and fields bytes (what retention by size counts), `records` how many.
-- A record's id is its chunk's id * 65536 + its index in the chunk. A chunk's records are in
-- time order and span at most an hour, so a query's chunks are one range of `time_min`.
-- The rows of log_records (written before this migration) move into chunks when the server
-- migrates (src/db/common/log_upgrade.rs). The same logical schema as sqlite/ and postgres/.

CREATE TABLE log_chunks (
    id           BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    host         VARCHAR(256) NOT NULL,
    source       VARCHAR(128) NOT NULL,
    file         CHAR(16)     NOT NULL,
    first_offset BIGINT       NOT NULL,
    last_offset  BIGINT       NOT NULL,
    time_min     DOUBLE       NOT NULL,
    time_max     DOUBLE       NOT NULL,
    records      BIGINT       NOT NULL,
    bytes        BIGINT       NOT NULL,
    received_at  DATETIME(6)  NOT NULL,
    data         LONGBLOB     NOT NULL,
    KEY log_chunks_file (host, source, file, last_offset),
    KEY log_chunks_query (host, source, time_min),
    KEY log_chunks_time_min (time_min),
    KEY log_chunks_time_max (time_max)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- One row per (host, source, file): an ingest updates it first, which locks it until commit.
CREATE TABLE log_files (
    host   VARCHAR(256) NOT NULL,
    source VARCHAR(128) NOT NULL,
    file   CHAR(16)     NOT NULL,
    PRIMARY KEY (host, source, file)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
