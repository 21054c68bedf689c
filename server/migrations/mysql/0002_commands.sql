-- Commands fanned out to gearman agents (seed "REST API"), the agents' sessions on the replicas,
-- and cron runs. Boot jobs keep their rows and meaning: `kind` = 'boot', status pending/done/failed.

-- A job is a boot job or a command; for a command `spec` holds the request (JSON) and
-- `deadline` ends the wait for answers.
ALTER TABLE jobs
    ADD COLUMN kind ENUM('boot', 'command') NOT NULL DEFAULT 'boot',
    ADD COLUMN method VARCHAR(128) NULL,
    ADD COLUMN deadline DATETIME(6) NULL,
    ADD COLUMN max_concurrency BIGINT NULL;

-- host_job gains the command states (queued, sent, lost) next to the boot ones, the replica
-- that sent it, the claim round that took it, and the agent's result (JSON).
ALTER TABLE host_job
    MODIFY status ENUM('pending', 'done', 'failed', 'queued', 'sent', 'lost') NOT NULL DEFAULT 'pending',
    ADD COLUMN replica VARCHAR(128) NULL,
    ADD COLUMN claim VARCHAR(36) NULL,
    ADD COLUMN result MEDIUMTEXT NULL,
    ADD KEY host_job_status (status),
    ADD KEY host_job_claim (claim);

-- The gearman connection of each host: which replica holds it (one row per host; a new
-- connection replaces the row). `session` tells two connections of the same replica apart.
CREATE TABLE agent_sessions (
    hostname     VARCHAR(256) NOT NULL PRIMARY KEY,
    replica      VARCHAR(128) NOT NULL,
    session      VARCHAR(36)  NOT NULL,
    version      VARCHAR(128) NOT NULL DEFAULT '',
    address      VARCHAR(64)  NOT NULL DEFAULT '',
    connected_at DATETIME(6)  NOT NULL,
    seen_at      DATETIME(6)  NOT NULL,
    KEY agent_sessions_replica (replica)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Runs of cron entries as the agents report them; run_id is unique per host.
CREATE TABLE cron_runs (
    id         BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    hostname   VARCHAR(256) NOT NULL,
    cron_id    VARCHAR(128) NOT NULL,
    run_id     VARCHAR(128) NOT NULL,
    scheduled  BIGINT       NOT NULL,
    started    DOUBLE       NOT NULL,
    finished   DOUBLE       NOT NULL,
    result     MEDIUMTEXT   NOT NULL,
    gmt_create DATETIME(6)  NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    UNIQUE KEY cron_runs_run (hostname, run_id),
    KEY cron_runs_host_started (hostname, started)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
