-- The audit log of operator changes made through the HTTP API (who = the API token's name, what, on what, why,
-- the outcome, before/after). Append-only: a trigger refuses UPDATE, DELETE and TRUNCATE, so a row once written
-- stays as written (short of dropping the trigger, which needs the table owner).
CREATE TABLE __SCHEMA__.audit (
  id      uuid PRIMARY KEY,
  at      timestamptz NOT NULL,
  actor   text NOT NULL,
  action  text NOT NULL,
  target  text NOT NULL,
  reason  text NOT NULL,
  outcome text NOT NULL,
  before  jsonb,
  after   jsonb
);
CREATE INDEX audit_at_idx ON __SCHEMA__.audit (at, id);

CREATE FUNCTION __SCHEMA__.audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'the audit log is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER audit_no_update_or_delete BEFORE UPDATE OR DELETE ON __SCHEMA__.audit
  FOR EACH ROW EXECUTE FUNCTION __SCHEMA__.audit_append_only();
CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON __SCHEMA__.audit
  FOR EACH STATEMENT EXECUTE FUNCTION __SCHEMA__.audit_append_only();
