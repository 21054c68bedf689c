-- Integrity reports of the hosts' secureagent (issue 17) and their findings; see
-- sqlite/0010_integrity.sql. `change` is reserved here: `change_kind`.

CREATE TABLE integrity_reports (
    id               BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    report_key       CHAR(36)     NOT NULL,
    host             VARCHAR(256) NOT NULL,
    kind             VARCHAR(16)  NOT NULL,
    baseline_digest  CHAR(64)     NOT NULL,
    previous_digest  CHAR(64)     NULL,
    accepted_digest  CHAR(64)     NULL,
    baseline_ok      BIGINT       NOT NULL,
    reason           TEXT         NULL,
    started          DOUBLE       NOT NULL,
    duration_s       DOUBLE       NOT NULL,
    entries          BIGINT       NOT NULL,
    added            BIGINT       NOT NULL,
    removed          BIGINT       NOT NULL,
    changed          BIGINT       NOT NULL,
    unreadable       BIGINT       NOT NULL,
    findings         BIGINT       NOT NULL,
    findings_dropped BIGINT       NOT NULL,
    received_at      DATETIME(6)  NOT NULL,
    acknowledged_by  VARCHAR(128) NULL,
    acknowledged_at  DATETIME(6)  NULL,
    UNIQUE KEY integrity_reports_key (report_key),
    KEY integrity_reports_host (host, id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE integrity_findings (
    id              BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    report_id       BIGINT       NOT NULL,
    host            VARCHAR(256) NOT NULL,
    path            TEXT         NOT NULL,
    change_kind     VARCHAR(16)  NOT NULL,
    attribute       VARCHAR(32)  NULL,
    old_value       TEXT         NULL,
    new_value       TEXT         NULL,
    acknowledged_by VARCHAR(128) NULL,
    acknowledged_at DATETIME(6)  NULL,
    KEY integrity_findings_host (host, id),
    KEY integrity_findings_report (report_id),
    CONSTRAINT integrity_findings_report_fk FOREIGN KEY (report_id)
        REFERENCES integrity_reports (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
