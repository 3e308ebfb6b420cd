-- The event log is the outbox: a saga step appends the events it emits to `events` in its own
-- transaction, so the `outbox` table and the mover that copied its rows into the log are gone.
-- Rows a previous version left unsent are appended here (once: skipped when their id is stored),
-- in their order per stream, after the stream's current version.
WITH unsent AS (
  SELECT o.seq, o.id, o.event, o.event->>'streamId' AS stream_id,
         row_number() OVER (PARTITION BY o.event->>'streamId' ORDER BY o.seq) AS n
  FROM __SCHEMA__.outbox o
  WHERE o.sent_at IS NULL AND NOT EXISTS (SELECT 1 FROM __SCHEMA__.events e WHERE e.event_id = o.id)
), counts AS (
  SELECT stream_id, count(*)::int AS c FROM unsent GROUP BY stream_id
), bumped AS (
  INSERT INTO __SCHEMA__.streams AS st (stream_id, version)
  SELECT stream_id, c FROM counts
  ON CONFLICT (stream_id) DO UPDATE SET version = st.version + EXCLUDED.version, updated_at = now()
  RETURNING st.stream_id, st.version
)
INSERT INTO __SCHEMA__.events (event_id, stream_id, version, type, aggregate_type, data, metadata, occurred_at)
SELECT u.id, u.stream_id, b.version - c.c + u.n::int, u.event->>'type', u.event->>'aggregateType', u.event->'data',
       u.event->'metadata', (u.event->>'timestamp')::timestamptz
FROM unsent u JOIN counts c USING (stream_id) JOIN bumped b USING (stream_id)
ORDER BY u.seq;

DROP TABLE __SCHEMA__.outbox;

-- Emitted events are found by the saga that emitted them (`sagas show`); the GIN index on metadata serves it.
