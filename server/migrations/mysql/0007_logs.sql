-- Log records shipped by the hosts' logagent (issue 16) and the latest state of each host's log
-- sources. A record is stored once per (host, source, file, file_offset): the agent resends
-- what was not acknowledged, and the resend is a duplicate, not a second row. The same logical
-- schema as sqlite/ and postgres/. `offset` is a reserved word on PostgreSQL: the record's byte
-- offset is `file_offset`, a source's acknowledged bytes `read_offset`; `lag` is reserved on
-- MySQL 8: `lag_bytes`.

CREATE TABLE log_records (
    id              BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    host            VARCHAR(256) NOT NULL,
    source          VARCHAR(128) NOT NULL,
    file            CHAR(16)     NOT NULL,
    file_offset     BIGINT       NOT NULL,
    time            DOUBLE       NOT NULL,
    time_from_read  BIGINT       NOT NULL,
    path            TEXT         NOT NULL,
    message         LONGTEXT     NOT NULL,
    fields          LONGTEXT     NOT NULL,
    field_index     LONGTEXT     NOT NULL,
    bytes           BIGINT       NOT NULL,
    truncated_bytes BIGINT       NULL,
    parse_error     TEXT         NULL,
    received_at     DATETIME(6)  NOT NULL,
    UNIQUE KEY log_records_once (host, source, file, file_offset),
    KEY log_records_query (host, source, time),
    KEY log_records_time (time)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE log_sources (
    host              VARCHAR(256) NOT NULL,
    name              VARCHAR(128) NOT NULL,
    path              TEXT         NOT NULL,
    files             BIGINT       NOT NULL,
    open_files        BIGINT       NOT NULL,
    read_offset       BIGINT       NOT NULL,
    size              BIGINT       NOT NULL,
    lag_bytes         BIGINT       NOT NULL,
    state             VARCHAR(16)  NOT NULL,
    lost_bytes        BIGINT       NOT NULL,
    truncations       BIGINT       NOT NULL,
    parse_errors      BIGINT       NOT NULL,
    truncated_records BIGINT       NOT NULL,
    last_error        TEXT         NULL,
    updated           DATETIME(6)  NOT NULL,
    PRIMARY KEY (host, name)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
