-- Dead letters: events a handler or the saga runtime gave up on, parked for operators.
CREATE TABLE __SCHEMA__.dead_letters (
  id               uuid PRIMARY KEY,
  handler_id       text NOT NULL,
  event_id         text NOT NULL,
  event_type       text NOT NULL,
  event            jsonb NOT NULL,
  error            jsonb NOT NULL,
  attempts         integer NOT NULL,
  first_failed_at  timestamptz NOT NULL,
  last_failed_at   timestamptz NOT NULL,
  status           text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'retried', 'discarded')),
  note             text,
  saga             text,
  saga_key         text,
  created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX dead_letters_status_idx ON __SCHEMA__.dead_letters (status, created_at);
CREATE INDEX dead_letters_saga_idx ON __SCHEMA__.dead_letters (saga, saga_key) WHERE saga IS NOT NULL;

-- Named checkpoints of catch-up readers (relay from the store to the bus, projections).
CREATE TABLE __SCHEMA__.checkpoints (
  name        text PRIMARY KEY,
  cursor      text NOT NULL,
  updated_at  timestamptz NOT NULL DEFAULT now()
);
