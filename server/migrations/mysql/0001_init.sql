-- Polaris schema, MySQL / MariaDB. Times are DATETIME(6) in UTC (sqlx sets the session time
-- zone to +00:00). utf8mb4_bin: names compare byte for byte, as on SQLite and PostgreSQL.
-- The same logical schema as sqlite/ and postgres/.

-- Hosts, as their BootAgent reports them (seed "Server database").
CREATE TABLE hosts (
    id         BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    hostname   VARCHAR(256) NOT NULL,
    region     VARCHAR(64)  NOT NULL DEFAULT 'unknown',
    status     ENUM('unknown', 'online', 'offline') NOT NULL DEFAULT 'unknown',
    step       BIGINT       NOT NULL DEFAULT 600,   -- seconds between reports
    version    VARCHAR(128) NOT NULL DEFAULT '',    -- BootAgent version
    last_seen  DATETIME(6)  NULL,
    gmt_create DATETIME(6)  NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    gmt_modify DATETIME(6)  NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    UNIQUE KEY hosts_hostname (hostname),
    KEY hosts_region (region)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Plugins (seed; not used yet).
CREATE TABLE plugins (
    id         BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    name       VARCHAR(128) NOT NULL,
    version    VARCHAR(64)  NOT NULL,
    gmt_create DATETIME(6)  NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    gmt_modify DATETIME(6)  NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- The agents a host's BootAgent manages, as last reported (replaced by every report).
CREATE TABLE host_agents (
    host_id    BIGINT       NOT NULL,
    name       VARCHAR(128) NOT NULL,
    version    VARCHAR(128) NOT NULL,
    status     ENUM('stoped', 'running', 'fatal', 'killed') NOT NULL,
    uptime     BIGINT       NOT NULL DEFAULT 0,
    gmt_modify DATETIME(6)  NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    PRIMARY KEY (host_id, name),
    CONSTRAINT host_agents_host FOREIGN KEY (host_id) REFERENCES hosts (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Boot jobs: `spec` is the BootJob as JSON, its `id` the job's id.
CREATE TABLE jobs (
    id         VARCHAR(64) NOT NULL PRIMARY KEY,
    action     VARCHAR(16) NOT NULL,
    spec       MEDIUMTEXT  NOT NULL,
    gmt_create DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- A job on one host; `id` is what that host's agent sees and reports back.
CREATE TABLE host_job (
    id         VARCHAR(36) NOT NULL,
    job_id     VARCHAR(64) NOT NULL,
    host_id    BIGINT      NOT NULL,
    status     ENUM('pending', 'done', 'failed') NOT NULL DEFAULT 'pending',
    handed_out BIGINT      NOT NULL DEFAULT 0,
    errcode    BIGINT      NULL,
    message    MEDIUMTEXT  NULL,
    gmt_create DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    gmt_modify DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    PRIMARY KEY (host_id, job_id),
    UNIQUE KEY host_job_id (id),
    KEY host_job_job (job_id),
    CONSTRAINT host_job_job FOREIGN KEY (job_id) REFERENCES jobs (id) ON DELETE CASCADE,
    CONSTRAINT host_job_host FOREIGN KEY (host_id) REFERENCES hosts (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Metrics: one row per series (collectd's identity plus data source), one per value. The six
-- identifying columns of 128 characters make the longest unique key InnoDB allows (3072 bytes).
CREATE TABLE metric_series (
    id              BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    host            VARCHAR(128) NOT NULL,
    plugin          VARCHAR(128) NOT NULL,
    plugin_instance VARCHAR(128) NOT NULL DEFAULT '',
    type            VARCHAR(128) NOT NULL,
    type_instance   VARCHAR(128) NOT NULL DEFAULT '',
    dsname          VARCHAR(128) NOT NULL,
    dstype          VARCHAR(32)  NOT NULL,
    UNIQUE KEY metric_series_identity (host, plugin, plugin_instance, type, type_instance, dsname)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE metric_values (
    series_id BIGINT NOT NULL,
    time      DOUBLE NOT NULL,  -- Unix seconds
    value     DOUBLE NULL,      -- NULL = unknown (collectd's NaN)
    KEY metric_values_series_time (series_id, time),
    CONSTRAINT metric_values_series FOREIGN KEY (series_id) REFERENCES metric_series (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
