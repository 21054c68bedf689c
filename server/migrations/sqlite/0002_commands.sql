-- Commands fanned out to gearman agents (seed "REST API"), the agents' sessions on the replicas,
-- and cron runs. Boot jobs keep their rows and meaning: `kind` = 'boot', status pending/done/failed.

-- A job is a boot job or a command; for a command `spec` holds the request (JSON) and
-- `deadline` ends the wait for answers.
ALTER TABLE jobs ADD COLUMN kind TEXT NOT NULL DEFAULT 'boot' CHECK (kind IN ('boot', 'command'));
ALTER TABLE jobs ADD COLUMN method TEXT;
ALTER TABLE jobs ADD COLUMN deadline TEXT;
ALTER TABLE jobs ADD COLUMN max_concurrency INTEGER;

-- host_job gains the command states (queued, sent, lost) next to the boot ones, the replica
-- that sent it, the claim round that took it, and the agent's result (JSON). SQLite cannot
-- change a CHECK constraint in place: the table is rebuilt (nothing references it).
CREATE TABLE host_job_new (
    id         TEXT    NOT NULL UNIQUE,
    job_id     TEXT    NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    host_id    INTEGER NOT NULL REFERENCES hosts (id) ON DELETE CASCADE,
    status     TEXT    NOT NULL DEFAULT 'pending'
               CHECK (status IN ('pending', 'done', 'failed', 'queued', 'sent', 'lost')),
    handed_out INTEGER NOT NULL DEFAULT 0,
    errcode    INTEGER,
    message    TEXT,
    gmt_create TEXT    NOT NULL DEFAULT CURRENT_TIMESTAMP,
    gmt_modify TEXT    NOT NULL DEFAULT CURRENT_TIMESTAMP,
    replica    TEXT,
    claim      TEXT,
    result     TEXT,
    PRIMARY KEY (host_id, job_id)
) STRICT;
INSERT INTO host_job_new (id, job_id, host_id, status, handed_out, errcode, message, gmt_create, gmt_modify)
    SELECT id, job_id, host_id, status, handed_out, errcode, message, gmt_create, gmt_modify FROM host_job;
DROP TABLE host_job;
ALTER TABLE host_job_new RENAME TO host_job;
CREATE INDEX host_job_job ON host_job (job_id);
CREATE INDEX host_job_status ON host_job (status);
CREATE INDEX host_job_claim ON host_job (claim);

-- The gearman connection of each host: which replica holds it (one row per host; a new
-- connection replaces the row). `session` tells two connections of the same replica apart.
CREATE TABLE agent_sessions (
    hostname     TEXT NOT NULL PRIMARY KEY,
    replica      TEXT NOT NULL,
    session      TEXT NOT NULL,
    version      TEXT NOT NULL DEFAULT '',
    address      TEXT NOT NULL DEFAULT '',
    connected_at TEXT NOT NULL,
    seen_at      TEXT NOT NULL
) STRICT;
CREATE INDEX agent_sessions_replica ON agent_sessions (replica);

-- Runs of cron entries as the agents report them; run_id is unique per host.
CREATE TABLE cron_runs (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    hostname   TEXT    NOT NULL,
    cron_id    TEXT    NOT NULL,
    run_id     TEXT    NOT NULL,
    scheduled  INTEGER NOT NULL,
    started    REAL    NOT NULL,
    finished   REAL    NOT NULL,
    result     TEXT    NOT NULL,
    gmt_create TEXT    NOT NULL DEFAULT CURRENT_TIMESTAMP,
    UNIQUE (hostname, run_id)
) STRICT;
CREATE INDEX cron_runs_host_started ON cron_runs (hostname, started);
