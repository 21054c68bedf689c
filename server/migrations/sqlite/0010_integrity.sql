-- Integrity reports of the hosts' secureagent (issue 17) and their findings. A host's accepted
-- baseline digest is the `baseline_digest` of its latest `init` or `update` report; a check
-- whose baseline differs is stored with `baseline_ok = 0` and `reason`, and stays so whatever
-- comes later. Acknowledging records who and when, on findings and on flagged reports. The
-- same logical schema as mysql/ and postgres/ (`change` is reserved on MySQL: `change_kind`).

CREATE TABLE integrity_reports (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    report_key       TEXT    NOT NULL UNIQUE,   -- a UUID drawn at insert, to read the id back
    host             TEXT    NOT NULL,          -- the client certificate's host
    kind             TEXT    NOT NULL,          -- init / check / update
    baseline_digest  TEXT    NOT NULL,          -- used (check) or written (init, update)
    previous_digest  TEXT,                      -- update: the baseline its check used
    accepted_digest  TEXT,                      -- the host's accepted digest when it arrived
    baseline_ok      INTEGER NOT NULL,
    reason           TEXT,                      -- why not ok
    started          REAL    NOT NULL,          -- Unix seconds
    duration_s       REAL    NOT NULL,
    entries          INTEGER NOT NULL,
    added            INTEGER NOT NULL,
    removed          INTEGER NOT NULL,
    changed          INTEGER NOT NULL,
    unreadable       INTEGER NOT NULL,
    findings         INTEGER NOT NULL,          -- findings stored
    findings_dropped INTEGER NOT NULL,          -- findings the agent left out
    received_at      TEXT    NOT NULL,
    acknowledged_by  TEXT,                      -- a flagged report's acknowledgement
    acknowledged_at  TEXT
) STRICT;
CREATE INDEX integrity_reports_host ON integrity_reports (host, id);

CREATE TABLE integrity_findings (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    report_id       INTEGER NOT NULL REFERENCES integrity_reports (id) ON DELETE CASCADE,
    host            TEXT    NOT NULL,
    path            TEXT    NOT NULL,
    change_kind     TEXT    NOT NULL,           -- added / removed / changed
    attribute       TEXT,
    old_value       TEXT,
    new_value       TEXT,
    acknowledged_by TEXT,
    acknowledged_at TEXT
) STRICT;
CREATE INDEX integrity_findings_host ON integrity_findings (host, id);
CREATE INDEX integrity_findings_report ON integrity_findings (report_id);
