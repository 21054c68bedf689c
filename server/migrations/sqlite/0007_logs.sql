-- Log records shipped by the hosts' logagent (issue 16) and the latest state of each host's log
-- sources. A record is stored once per (host, source, file, file_offset): the agent resends
-- what was not acknowledged, and the resend is a duplicate, not a second row. The same logical
-- schema as mysql/ and postgres/. `offset` is a reserved word on PostgreSQL: the record's byte
-- offset is `file_offset`, a source's acknowledged bytes `read_offset`. `field_index` makes
-- field equality a plain text search, the same on every backend (SQLite is built here without
-- its JSON functions): each top-level scalar field as a line `<name>=<value>` between newlines,
-- `\`, newline and (in names) `=` escaped with a backslash.

CREATE TABLE log_records (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    host            TEXT    NOT NULL,          -- the client certificate's host
    source          TEXT    NOT NULL,          -- the configured source's name
    file            TEXT    NOT NULL,          -- file generation: 16 lowercase hex digits
    file_offset     INTEGER NOT NULL,          -- byte offset of the record in that generation
    time            REAL    NOT NULL,          -- Unix seconds
    time_from_read  INTEGER NOT NULL,          -- 1: no timestamp, `time` is the read time
    path            TEXT    NOT NULL,
    message         TEXT    NOT NULL,
    fields          TEXT    NOT NULL,          -- JSON object
    field_index     TEXT    NOT NULL,          -- top-level scalar fields, one "\n<name>=<value>\n" line each
    bytes           INTEGER NOT NULL,          -- message + fields bytes, for retention by size
    truncated_bytes INTEGER,                   -- bytes the agent dropped from a long record
    parse_error     TEXT,
    received_at     TEXT    NOT NULL,
    UNIQUE (host, source, file, file_offset)
) STRICT;
CREATE INDEX log_records_query ON log_records (host, source, time);
CREATE INDEX log_records_time ON log_records (time);

-- Each host's sources as its agent last reported them (updated at every batch).
CREATE TABLE log_sources (
    host              TEXT    NOT NULL,
    name              TEXT    NOT NULL,
    path              TEXT    NOT NULL,
    files             INTEGER NOT NULL,
    open_files        INTEGER NOT NULL,
    read_offset       INTEGER NOT NULL,
    size              INTEGER NOT NULL,
    lag_bytes         INTEGER NOT NULL,
    state             TEXT    NOT NULL,
    lost_bytes        INTEGER NOT NULL,
    truncations       INTEGER NOT NULL,
    parse_errors      INTEGER NOT NULL,
    truncated_records INTEGER NOT NULL,
    last_error        TEXT,
    updated           TEXT    NOT NULL,
    PRIMARY KEY (host, name)
) STRICT;
