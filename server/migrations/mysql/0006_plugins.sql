-- Plugins managed from Polaris (issue 14): the catalogue of plugin releases (the seed's
-- `plugins` table, extended), where each plugin runs as the hosts' gearman agents report it
-- (their inventories: one row per host × agent × plugin, the files skipped, and per host and
-- agent when it last reported and whether it could be asked), and rollouts: one plugin action
-- for many hosts, carried out as single-host commands (`host_job`) with a concurrency limit and
-- a failure threshold. The same logical schema as sqlite/ and postgres/.

-- A plugin release an admin uploaded: the `.so` lies on the package server at `path` (under
-- the package root), with `<path>.minisig` beside it when `signed`.
ALTER TABLE plugins
    ADD COLUMN agent  VARCHAR(16)  NOT NULL DEFAULT 'gearman' CHECK (agent IN ('gearman', 'nodus')),
    ADD COLUMN abi    VARCHAR(32)  NOT NULL DEFAULT '',
    ADD COLUMN roles  VARCHAR(255) NOT NULL DEFAULT '[]',
    ADD COLUMN digest VARCHAR(80)  NOT NULL DEFAULT '',
    ADD COLUMN size   BIGINT       NOT NULL DEFAULT 0,
    ADD COLUMN path   VARCHAR(512) NOT NULL DEFAULT '',
    ADD COLUMN signed BIGINT       NOT NULL DEFAULT 0,
    ADD UNIQUE KEY plugins_release (agent, name, version);

-- Where each plugin runs: one row per host × agent × plugin, replaced whole by each inventory
-- that differs from the last. `state` is the worst of its instances', `reason` that instance's
-- reason; `instances` the agent's report (JSON, secret options already masked by the agent).
CREATE TABLE plugin_inventory (
    hostname  VARCHAR(256)  NOT NULL,
    agent     VARCHAR(16)   NOT NULL,
    name      VARCHAR(64)   NOT NULL,
    version   VARCHAR(64)   NOT NULL,
    abi       VARCHAR(32)   NOT NULL,
    roles     VARCHAR(255)  NOT NULL,
    file      VARCHAR(1024) NOT NULL,
    digest    VARCHAR(80)   NOT NULL,
    instances MEDIUMTEXT    NOT NULL,
    state     VARCHAR(16)   NOT NULL CHECK (state IN ('running', 'stopped', 'failing', 'penalised')),
    reason    TEXT          NULL,
    updated   DATETIME(6)   NOT NULL,
    PRIMARY KEY (hostname, agent, name),
    KEY plugin_inventory_plugin (name, version),
    KEY plugin_inventory_state (state)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Per host and agent: when its inventory last changed, why it could not be asked (`error`),
-- and how many items its report left out (`cut`).
CREATE TABLE plugin_agents (
    hostname VARCHAR(256) NOT NULL,
    agent    VARCHAR(16)  NOT NULL,
    error    TEXT         NULL,
    cut      BIGINT       NOT NULL DEFAULT 0,
    updated  DATETIME(6)  NOT NULL,
    PRIMARY KEY (hostname, agent)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Plugin files an agent did not load, with the one-line reason.
CREATE TABLE plugin_skipped (
    hostname VARCHAR(256)  NOT NULL,
    agent    VARCHAR(16)   NOT NULL,
    file     VARCHAR(1024) NOT NULL,
    reason   TEXT          NOT NULL,
    updated  DATETIME(6)   NOT NULL,
    KEY plugin_skipped_host (hostname)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- A rollout: one plugin action for many hosts. `command` is the single-host command every host
-- gets (JSON, `wire::Command`); at most `max_concurrency` hosts run at once; once more than
-- `max_errors` hosts failed or timed out it is `stopped`. `finished` is set when no host is
-- pending or running any more (a stopped rollout waits for the hosts in flight).
CREATE TABLE rollouts (
    id              VARCHAR(36)  NOT NULL PRIMARY KEY,
    action          VARCHAR(16)  NOT NULL
                    CHECK (action IN ('install', 'upgrade', 'remove', 'start', 'stop', 'configure')),
    agent           VARCHAR(16)  NOT NULL,
    plugin          VARCHAR(64)  NOT NULL,
    version         VARCHAR(64)  NULL,
    instance        VARCHAR(64)  NULL,
    method          VARCHAR(128) NOT NULL,
    command         MEDIUMTEXT   NOT NULL,
    max_concurrency BIGINT       NOT NULL,
    max_errors      BIGINT       NOT NULL,
    timeout         BIGINT       NOT NULL,
    state           VARCHAR(16)  NOT NULL DEFAULT 'running'
                    CHECK (state IN ('running', 'succeeded', 'stopped', 'failed')),
    reason          TEXT         NULL,
    created         DATETIME(6)  NOT NULL,
    finished        DATETIME(6)  NULL,
    KEY rollouts_finished (finished),
    KEY rollouts_created (created)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- One host of a rollout; `job_id` is the command (`jobs.id`, kind 'command') carrying its part.
CREATE TABLE rollout_hosts (
    rollout_id VARCHAR(36)  NOT NULL,
    hostname   VARCHAR(256) NOT NULL,
    position   BIGINT       NOT NULL,
    state      VARCHAR(16)  NOT NULL DEFAULT 'pending'
               CHECK (state IN ('pending', 'running', 'succeeded', 'failed', 'cancelled', 'timed_out')),
    job_id     VARCHAR(64)  NULL,
    retcode    BIGINT       NULL,
    message    TEXT         NULL,
    started    DATETIME(6)  NULL,
    finished   DATETIME(6)  NULL,
    PRIMARY KEY (rollout_id, hostname),
    KEY rollout_hosts_state (rollout_id, state),
    CONSTRAINT rollout_hosts_rollout FOREIGN KEY (rollout_id) REFERENCES rollouts (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
