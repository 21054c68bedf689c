-- Plugins managed from Polaris (issue 14): the catalogue of plugin releases (the seed's
-- `plugins` table, extended), where each plugin runs as the hosts' gearman agents report it
-- (their inventories: one row per host × agent × plugin, the files skipped, and per host and
-- agent when it last reported and whether it could be asked), and rollouts: one plugin action
-- for many hosts, carried out as single-host commands (`host_job`) with a concurrency limit and
-- a failure threshold. The same logical schema as sqlite/ and mysql/.

-- A plugin release an admin uploaded: the `.so` lies on the package server at `path` (under
-- the package root), with `<path>.minisig` beside it when `signed`.
ALTER TABLE plugins
    ADD COLUMN agent  VARCHAR(16)  NOT NULL DEFAULT 'gearman' CHECK (agent IN ('gearman', 'nodus')),
    ADD COLUMN abi    VARCHAR(32)  NOT NULL DEFAULT '',
    ADD COLUMN roles  VARCHAR(255) NOT NULL DEFAULT '[]',
    ADD COLUMN digest VARCHAR(80)  NOT NULL DEFAULT '',
    ADD COLUMN size   BIGINT       NOT NULL DEFAULT 0,
    ADD COLUMN path   VARCHAR(512) NOT NULL DEFAULT '',
    ADD COLUMN signed BIGINT       NOT NULL DEFAULT 0;
CREATE UNIQUE INDEX plugins_release ON plugins (agent, name, version);

-- Where each plugin runs: one row per host × agent × plugin, replaced whole by each inventory
-- that differs from the last. `state` is the worst of its instances', `reason` that instance's
-- reason; `instances` the agent's report (JSON, secret options already masked by the agent).
CREATE TABLE plugin_inventory (
    hostname  VARCHAR(256)  NOT NULL,
    agent     VARCHAR(16)   NOT NULL CHECK (agent IN ('gearman', 'nodus')),
    name      VARCHAR(64)   NOT NULL,
    version   VARCHAR(64)   NOT NULL,
    abi       VARCHAR(32)   NOT NULL,
    roles     VARCHAR(255)  NOT NULL,
    file      VARCHAR(1024) NOT NULL,
    digest    VARCHAR(80)   NOT NULL,
    instances TEXT          NOT NULL,
    state     VARCHAR(16)   NOT NULL CHECK (state IN ('running', 'stopped', 'failing', 'penalised')),
    reason    TEXT,
    updated   TIMESTAMPTZ   NOT NULL,
    PRIMARY KEY (hostname, agent, name)
);
CREATE INDEX plugin_inventory_plugin ON plugin_inventory (name, version);
CREATE INDEX plugin_inventory_state ON plugin_inventory (state);

-- Per host and agent: when its inventory last changed, why it could not be asked (`error`),
-- and how many items its report left out (`cut`).
CREATE TABLE plugin_agents (
    hostname VARCHAR(256) NOT NULL,
    agent    VARCHAR(16)  NOT NULL CHECK (agent IN ('gearman', 'nodus')),
    error    TEXT,
    cut      BIGINT       NOT NULL DEFAULT 0,
    updated  TIMESTAMPTZ  NOT NULL,
    PRIMARY KEY (hostname, agent)
);

-- Plugin files an agent did not load, with the one-line reason.
CREATE TABLE plugin_skipped (
    hostname VARCHAR(256)  NOT NULL,
    agent    VARCHAR(16)   NOT NULL CHECK (agent IN ('gearman', 'nodus')),
    file     VARCHAR(1024) NOT NULL,
    reason   TEXT          NOT NULL,
    updated  TIMESTAMPTZ   NOT NULL
);
CREATE INDEX plugin_skipped_host ON plugin_skipped (hostname);

-- A rollout: one plugin action for many hosts. `command` is the single-host command every host
-- gets (JSON, `wire::Command`); at most `max_concurrency` hosts run at once; once more than
-- `max_errors` hosts failed or timed out it is `stopped`. `finished` is set when no host is
-- pending or running any more (a stopped rollout waits for the hosts in flight).
CREATE TABLE rollouts (
    id              VARCHAR(36)  NOT NULL PRIMARY KEY,
    action          VARCHAR(16)  NOT NULL
                    CHECK (action IN ('install', 'upgrade', 'remove', 'start', 'stop', 'configure')),
    agent           VARCHAR(16)  NOT NULL CHECK (agent IN ('gearman', 'nodus')),
    plugin          VARCHAR(64)  NOT NULL,
    version         VARCHAR(64),
    instance        VARCHAR(64),
    method          VARCHAR(128) NOT NULL,
    command         TEXT         NOT NULL,
    max_concurrency BIGINT       NOT NULL CHECK (max_concurrency >= 1),
    max_errors      BIGINT       NOT NULL CHECK (max_errors >= 0),
    timeout         BIGINT       NOT NULL,
    state           VARCHAR(16)  NOT NULL DEFAULT 'running'
                    CHECK (state IN ('running', 'succeeded', 'stopped', 'failed')),
    reason          TEXT,
    created         TIMESTAMPTZ  NOT NULL,
    finished        TIMESTAMPTZ
);
CREATE INDEX rollouts_finished ON rollouts (finished);
CREATE INDEX rollouts_created ON rollouts (created);

-- One host of a rollout; `job_id` is the command (`jobs.id`, kind 'command') carrying its part.
CREATE TABLE rollout_hosts (
    rollout_id VARCHAR(36)  NOT NULL REFERENCES rollouts (id) ON DELETE CASCADE,
    hostname   VARCHAR(256) NOT NULL,
    position   BIGINT       NOT NULL,
    state      VARCHAR(16)  NOT NULL DEFAULT 'pending'
               CHECK (state IN ('pending', 'running', 'succeeded', 'failed', 'cancelled', 'timed_out')),
    job_id     VARCHAR(64),
    retcode    BIGINT,
    message    TEXT,
    started    TIMESTAMPTZ,
    finished   TIMESTAMPTZ,
    PRIMARY KEY (rollout_id, hostname)
);
CREATE INDEX rollout_hosts_state ON rollout_hosts (rollout_id, state);
