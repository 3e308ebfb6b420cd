-- Saga instances: one row per (saga, key), versioned for optimistic concurrency.
-- A new instance is created with a plain INSERT, so two racing start events cannot both create it.
CREATE TABLE __SCHEMA__.saga_instances (
  saga                text NOT NULL,
  key                 text NOT NULL,
  version             integer NOT NULL,
  definition_version  integer NOT NULL,
  status              text NOT NULL,
  state               jsonb NOT NULL,
  context             jsonb NOT NULL,
  snapshot            jsonb NOT NULL,
  created_at          timestamptz NOT NULL,
  updated_at          timestamptz NOT NULL,
  PRIMARY KEY (saga, key)
);
CREATE INDEX saga_instances_status_idx ON __SCHEMA__.saga_instances (status, updated_at);
CREATE INDEX saga_instances_saga_idx ON __SCHEMA__.saga_instances (saga, created_at);

-- Inbox: an event id is applied to an instance at most once (the unique key is the proof).
CREATE TABLE __SCHEMA__.saga_inbox (
  saga        text NOT NULL,
  key         text NOT NULL,
  event_id    text NOT NULL,
  applied_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (saga, key, event_id)
);

-- History: every event applied to (or noted on) an instance, with its effects.
CREATE TABLE __SCHEMA__.saga_history (
  seq         bigserial PRIMARY KEY,
  saga        text NOT NULL,
  key         text NOT NULL,
  event_id    text NOT NULL,
  event_type  text NOT NULL,
  from_state  jsonb,
  to_state    jsonb,
  effects     jsonb NOT NULL,
  kind        text NOT NULL,
  note        text,
  at          timestamptz NOT NULL
);
CREATE INDEX saga_history_instance_idx ON __SCHEMA__.saga_history (saga, key, seq);

-- Outbox: events and commands emitted by steps, published after commit by the relay.
CREATE TABLE __SCHEMA__.outbox (
  seq         bigserial PRIMARY KEY,
  id          uuid NOT NULL UNIQUE,
  saga        text NOT NULL,
  key         text NOT NULL,
  event       jsonb NOT NULL,
  created_at  timestamptz NOT NULL,
  sent_at     timestamptz,
  attempts    integer NOT NULL DEFAULT 0,
  last_error  text
);
CREATE INDEX outbox_unsent_idx ON __SCHEMA__.outbox (seq) WHERE sent_at IS NULL;
CREATE INDEX outbox_instance_idx ON __SCHEMA__.outbox (saga, key, seq);

-- Durable timers: `after` delays and delayed raises, one per (saga, key, timer id).
CREATE TABLE __SCHEMA__.timers (
  saga        text NOT NULL,
  key         text NOT NULL,
  timer_id    text NOT NULL,
  event       jsonb NOT NULL,
  due_at      timestamptz NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (saga, key, timer_id)
);
CREATE INDEX timers_due_idx ON __SCHEMA__.timers (due_at);

-- Events that arrived before their instance (onMissing: 'park'); applied when it starts.
CREATE TABLE __SCHEMA__.saga_parked (
  saga        text NOT NULL,
  key         text NOT NULL,
  event_id    text NOT NULL,
  event       jsonb NOT NULL,
  parked_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (saga, key, event_id)
);
