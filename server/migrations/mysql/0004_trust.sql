-- Host identity (issue 12): enrollment tokens an admin creates (only their SHA-256 is kept) and
-- the client certificates the Polaris CA issued, by serial. A host's certificates stop working
-- the moment `revoked_at` is set, on every replica (each request and connection checks it).
-- Times are Unix seconds.
CREATE TABLE enrollment_tokens (
    token_hash CHAR(64)    NOT NULL PRIMARY KEY,
    region     VARCHAR(64) NULL,
    uses_left  BIGINT      NOT NULL,
    expires_at BIGINT      NOT NULL,
    created_at BIGINT      NOT NULL
);

CREATE TABLE host_certs (
    serial     VARCHAR(64)  NOT NULL PRIMARY KEY,
    hostname   VARCHAR(256) NOT NULL,
    not_after  BIGINT       NOT NULL,
    issued_at  BIGINT       NOT NULL,
    revoked_at BIGINT       NULL
);
CREATE INDEX host_certs_hostname ON host_certs (hostname);
