-- Workers: the services that answer a saga's commands (ADR 0010). `workers` names each handler and the event
-- types it takes; `work_items` holds the commands each has still to answer. The worker feed (one reader of the
-- log, leased to one daemon) inserts a row per matching event; a worker claims rows with FOR UPDATE SKIP LOCKED
-- under a lease (`lease_token`, `available_at` = when the lease ends), and completes one by setting `outcome` in
-- the transaction that appends its replies. A lease that ends unanswered makes the row claimable again. Done rows
-- stay a while (so a feed that reads a page again after a crash does not enqueue it again), then are purged.
CREATE TABLE __SCHEMA__.workers (
  name          text PRIMARY KEY,
  handles       text[] NOT NULL,
  -- Events at or before this log cursor are not for this worker (it did not exist when they committed).
  from_cursor   text NOT NULL,
  max_attempts  integer NOT NULL,
  registered_at timestamptz NOT NULL DEFAULT now(),
  -- The last claim: when and by which worker process.
  seen_at       timestamptz,
  seen_by       text
);

CREATE TABLE __SCHEMA__.work_items (
  worker       text NOT NULL,
  event_id     uuid NOT NULL,
  position     bigint NOT NULL,
  attempts     integer NOT NULL DEFAULT 0,
  max_attempts integer NOT NULL,
  available_at timestamptz NOT NULL DEFAULT now(),
  lease_token  uuid,
  leased_by    text,
  last_error   jsonb,
  first_failed_at timestamptz,
  -- NULL while the command waits or is leased; 'completed' or 'dead-lettered' once done.
  outcome      text CHECK (outcome IN ('completed', 'dead-lettered')),
  done_at      timestamptz,
  created_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (worker, event_id)
);
CREATE INDEX work_items_due_idx ON __SCHEMA__.work_items (worker, available_at, position) WHERE outcome IS NULL;
CREATE INDEX work_items_done_idx ON __SCHEMA__.work_items (done_at) WHERE outcome IS NOT NULL;
