-- Records Polaris refused for good when the agent sent them alone (HTTP 400, retcode 3021):
-- the agent skips them, commits their offsets and reports how many per source (issue 16).
-- The same logical schema as the other backends.
ALTER TABLE log_sources ADD COLUMN rejected_records INTEGER NOT NULL DEFAULT 0;
