-- Polaris schema, SQLite. Times are UTC text (RFC 3339 as sqlx writes them, or SQLite's
-- CURRENT_TIMESTAMP form for defaults). The same logical schema as mysql/ and postgres/.

-- Hosts, as their BootAgent reports them (seed "Server database").
CREATE TABLE hosts (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    hostname   TEXT    NOT NULL UNIQUE CHECK (length(hostname) BETWEEN 1 AND 256),
    region     TEXT    NOT NULL DEFAULT 'unknown',
    status     TEXT    NOT NULL DEFAULT 'unknown' CHECK (status IN ('unknown', 'online', 'offline')),
    step       INTEGER NOT NULL DEFAULT 600,   -- seconds between reports
    version    TEXT    NOT NULL DEFAULT '',    -- BootAgent version
    last_seen  TEXT,
    gmt_create TEXT    NOT NULL DEFAULT CURRENT_TIMESTAMP,
    gmt_modify TEXT    NOT NULL DEFAULT CURRENT_TIMESTAMP
) STRICT;
CREATE INDEX hosts_region ON hosts (region);

-- Plugins (seed; not used yet).
CREATE TABLE plugins (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT NOT NULL,
    version    TEXT NOT NULL,
    gmt_create TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
    gmt_modify TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
) STRICT;

-- The agents a host's BootAgent manages, as last reported (replaced by every report).
CREATE TABLE host_agents (
    host_id    INTEGER NOT NULL REFERENCES hosts (id) ON DELETE CASCADE,
    name       TEXT    NOT NULL,
    version    TEXT    NOT NULL,
    status     TEXT    NOT NULL CHECK (status IN ('stoped', 'running', 'fatal', 'killed')),
    uptime     INTEGER NOT NULL DEFAULT 0,
    gmt_modify TEXT    NOT NULL DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY (host_id, name)
) STRICT;

-- Boot jobs: `spec` is the BootJob as JSON, its `id` the job's id.
CREATE TABLE jobs (
    id         TEXT NOT NULL PRIMARY KEY,
    action     TEXT NOT NULL,
    spec       TEXT NOT NULL,
    gmt_create TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
) STRICT;

-- A job on one host; `id` is what that host's agent sees and reports back.
CREATE TABLE host_job (
    id         TEXT    NOT NULL UNIQUE,
    job_id     TEXT    NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    host_id    INTEGER NOT NULL REFERENCES hosts (id) ON DELETE CASCADE,
    status     TEXT    NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done', 'failed')),
    handed_out INTEGER NOT NULL DEFAULT 0,
    errcode    INTEGER,
    message    TEXT,
    gmt_create TEXT    NOT NULL DEFAULT CURRENT_TIMESTAMP,
    gmt_modify TEXT    NOT NULL DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY (host_id, job_id)
) STRICT;
CREATE INDEX host_job_job ON host_job (job_id);

-- Metrics: one row per series (collectd's identity plus data source), one per value.
CREATE TABLE metric_series (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    host            TEXT NOT NULL,
    plugin          TEXT NOT NULL,
    plugin_instance TEXT NOT NULL DEFAULT '',
    type            TEXT NOT NULL,
    type_instance   TEXT NOT NULL DEFAULT '',
    dsname          TEXT NOT NULL,
    dstype          TEXT NOT NULL,
    UNIQUE (host, plugin, plugin_instance, type, type_instance, dsname)
) STRICT;

CREATE TABLE metric_values (
    series_id INTEGER NOT NULL REFERENCES metric_series (id),
    time      REAL    NOT NULL,  -- Unix seconds
    value     REAL               -- NULL = unknown (collectd's NaN)
) STRICT;
CREATE INDEX metric_values_series_time ON metric_values (series_id, time);

-- New values land here, unindexed, and move to metric_values sorted, many at a time: SQLite's
-- WAL writes every page a commit changes, and values of many series inserted straight into the
-- index above would change a page each. Queries read both tables. No foreign key here, so
-- emptying it stays a truncation; the key is checked when rows move into metric_values.
CREATE TABLE metric_values_recent (
    series_id INTEGER NOT NULL,
    time      REAL    NOT NULL,
    value     REAL
) STRICT;
