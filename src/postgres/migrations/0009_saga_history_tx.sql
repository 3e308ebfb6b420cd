-- Saga transitions as a gap-free feed (the WebSocket bridge, the dashboard, waitFor): every history row records
-- the transaction that wrote it, as `events.tx_id` does. Saga steps begin with the store's append lock (ADR 0006),
-- so the same bound (`readBoundSql`) tells when every row below a transaction id is final, and a follower of
-- `(tx_id, seq)` never skips a step that commits late. `seq` alone is allocation order and would skip it.
-- Added without a table rewrite: rows written before this migration keep NULL (they are history, not live).
ALTER TABLE __SCHEMA__.saga_history ADD COLUMN tx_id xid8;
ALTER TABLE __SCHEMA__.saga_history ALTER COLUMN tx_id SET DEFAULT pg_current_xact_id();
CREATE INDEX saga_history_tx_idx ON __SCHEMA__.saga_history (tx_id, seq);
