-- Event retention (EVENT_STORE_RETENTION_DAYS): expired events are deleted, or moved here when
-- EVENT_STORE_RETENTION_MODE=archive. Same columns as `events`, no constraints beyond the key: an archive
-- is read by people and exports, never by the log's readers.
CREATE TABLE __SCHEMA__.events_archive (
  position        bigint PRIMARY KEY,
  tx_id           xid8 NOT NULL,
  event_id        uuid NOT NULL,
  stream_id       text NOT NULL,
  version         integer NOT NULL,
  type            text NOT NULL,
  aggregate_type  text NOT NULL,
  data            jsonb NOT NULL,
  metadata        jsonb NOT NULL,
  occurred_at     timestamptz NOT NULL,
  recorded_at     timestamptz NOT NULL,
  archived_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX events_archive_occurred_at_idx ON __SCHEMA__.events_archive (occurred_at);
