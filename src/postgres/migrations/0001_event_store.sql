-- Event store: streams with optimistic concurrency, a gap-free global log, snapshots.
-- __SCHEMA__ is replaced by the quoted, allow-listed schema name.

CREATE TABLE __SCHEMA__.streams (
  stream_id   text PRIMARY KEY,
  version     integer NOT NULL,
  updated_at  timestamptz NOT NULL DEFAULT now()
);

-- position: allocation order (a sequence; commits can land out of this order).
-- tx_id: the writing transaction; readers of the global log read only below the oldest running
-- transaction (pg_snapshot_xmin) and order by (tx_id, position), so late commits are never skipped.
CREATE TABLE __SCHEMA__.events (
  position        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  tx_id           xid8 NOT NULL DEFAULT pg_current_xact_id(),
  event_id        uuid NOT NULL,
  stream_id       text NOT NULL,
  version         integer NOT NULL,
  type            text NOT NULL,
  aggregate_type  text NOT NULL,
  data            jsonb NOT NULL,
  metadata        jsonb NOT NULL,
  occurred_at     timestamptz NOT NULL,
  recorded_at     timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT events_event_id_key UNIQUE (event_id),
  CONSTRAINT events_stream_version_key UNIQUE (stream_id, version)
);

CREATE INDEX events_tx_position_idx ON __SCHEMA__.events (tx_id, position);
CREATE INDEX events_type_idx ON __SCHEMA__.events (type, position);
CREATE INDEX events_occurred_at_idx ON __SCHEMA__.events (occurred_at);
CREATE INDEX events_metadata_idx ON __SCHEMA__.events USING gin (metadata jsonb_path_ops);

CREATE TABLE __SCHEMA__.snapshots (
  stream_id   text PRIMARY KEY,
  version     integer NOT NULL,
  state       jsonb NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now()
);
