-- Plugins managed from Polaris (issue 14): the catalogue of plugin releases (the seed's
-- `plugins` table, extended), where each plugin runs as the hosts' gearman agents report it
-- (their inventories: one row per host × agent × plugin, the files skipped, and per host and
-- agent when it last reported and whether it could be asked), and rollouts: one plugin action
-- for many hosts, carried out as single-host commands (`host_job`) with a concurrency limit and
-- a failure threshold. The same logical schema as mysql/ and postgres/.

-- A plugin release an admin uploaded: the `.so` lies on the package server at `path` (under
-- the package root), with `<path>.minisig` beside it when `signed`.
ALTER TABLE plugins ADD COLUMN agent TEXT NOT NULL DEFAULT 'gearman'
    CHECK (agent IN ('gearman', 'nodus'));
ALTER TABLE plugins ADD COLUMN abi TEXT NOT NULL DEFAULT '';
ALTER TABLE plugins ADD COLUMN roles TEXT NOT NULL DEFAULT '[]';   -- JSON array: read, write, info
ALTER TABLE plugins ADD COLUMN digest TEXT NOT NULL DEFAULT '';    -- SHA256:<hex> of the file
ALTER TABLE plugins ADD COLUMN size INTEGER NOT NULL DEFAULT 0;    -- bytes
ALTER TABLE plugins ADD COLUMN path TEXT NOT NULL DEFAULT '';
ALTER TABLE plugins ADD COLUMN signed INTEGER NOT NULL DEFAULT 0;  -- 1: a signature is stored
CREATE UNIQUE INDEX plugins_release ON plugins (agent, name, version);

-- Where each plugin runs: one row per host × agent × plugin, replaced whole by each inventory
-- that differs from the last. `state` is the worst of its instances' (running < stopped <
-- failing < penalised), `reason` that instance's reason; `instances` the agent's report (JSON,
-- secret options already masked by the agent).
CREATE TABLE plugin_inventory (
    hostname  TEXT NOT NULL,
    agent     TEXT NOT NULL CHECK (agent IN ('gearman', 'nodus')),
    name      TEXT NOT NULL,
    version   TEXT NOT NULL,
    abi       TEXT NOT NULL,
    roles     TEXT NOT NULL,
    file      TEXT NOT NULL,
    digest    TEXT NOT NULL,
    instances TEXT NOT NULL,
    state     TEXT NOT NULL CHECK (state IN ('running', 'stopped', 'failing', 'penalised')),
    reason    TEXT,
    updated   TEXT NOT NULL,
    PRIMARY KEY (hostname, agent, name)
) STRICT;
CREATE INDEX plugin_inventory_plugin ON plugin_inventory (name, version);
CREATE INDEX plugin_inventory_state ON plugin_inventory (state);

-- Per host and agent: when its inventory last changed, why it could not be asked (`error`),
-- and how many items its report left out (`cut`).
CREATE TABLE plugin_agents (
    hostname TEXT    NOT NULL,
    agent    TEXT    NOT NULL CHECK (agent IN ('gearman', 'nodus')),
    error    TEXT,
    cut      INTEGER NOT NULL DEFAULT 0,
    updated  TEXT    NOT NULL,
    PRIMARY KEY (hostname, agent)
) STRICT;
CREATE INDEX plugin_agents_error ON plugin_agents (error);

-- Plugin files an agent did not load, with the one-line reason.
CREATE TABLE plugin_skipped (
    hostname TEXT NOT NULL,
    agent    TEXT NOT NULL CHECK (agent IN ('gearman', 'nodus')),
    file     TEXT NOT NULL,
    reason   TEXT NOT NULL,
    updated  TEXT NOT NULL
) STRICT;
CREATE INDEX plugin_skipped_host ON plugin_skipped (hostname);

-- A rollout: one plugin action for many hosts. `command` is the single-host command every host
-- gets (JSON, `wire::Command`); at most `max_concurrency` hosts run at once; once more than
-- `max_errors` hosts failed or timed out it is `stopped`. `finished` is set when no host is
-- pending or running any more (a stopped rollout waits for the hosts in flight).
CREATE TABLE rollouts (
    id              TEXT    NOT NULL PRIMARY KEY,
    action          TEXT    NOT NULL
                    CHECK (action IN ('install', 'upgrade', 'remove', 'start', 'stop', 'configure')),
    agent           TEXT    NOT NULL CHECK (agent IN ('gearman', 'nodus')),
    plugin          TEXT    NOT NULL,
    version         TEXT,
    instance        TEXT,
    method          TEXT    NOT NULL,
    command         TEXT    NOT NULL,
    max_concurrency INTEGER NOT NULL CHECK (max_concurrency >= 1),
    max_errors      INTEGER NOT NULL CHECK (max_errors >= 0),
    timeout         INTEGER NOT NULL,  -- seconds one host may take
    state           TEXT    NOT NULL DEFAULT 'running'
                    CHECK (state IN ('running', 'succeeded', 'stopped', 'failed')),
    reason          TEXT,
    created         TEXT    NOT NULL,
    finished        TEXT
) STRICT;
CREATE INDEX rollouts_finished ON rollouts (finished);
CREATE INDEX rollouts_created ON rollouts (created);

-- One host of a rollout; `job_id` is the command (`jobs.id`, kind 'command') carrying its part,
-- set when the host is begun (the command is made right after, or by the next round if the
-- replica that began it stopped in between).
CREATE TABLE rollout_hosts (
    rollout_id TEXT    NOT NULL REFERENCES rollouts (id) ON DELETE CASCADE,
    hostname   TEXT    NOT NULL,
    position   INTEGER NOT NULL,
    state      TEXT    NOT NULL DEFAULT 'pending'
               CHECK (state IN ('pending', 'running', 'succeeded', 'failed', 'cancelled', 'timed_out')),
    job_id     TEXT,
    retcode    INTEGER,
    message    TEXT,
    started    TEXT,
    finished   TEXT,
    PRIMARY KEY (rollout_id, hostname)
) STRICT;
CREATE INDEX rollout_hosts_state ON rollout_hosts (rollout_id, state);
