-- Leases: one owner at a time for each reader of the log (the bus relay) and each saga partition.
-- `epoch` grows by one at every change of owner; a holder proves it still owns a lease by its epoch
-- (fencing): steps lock the lease row FOR SHARE and checkpoints are saved only with the current epoch.
CREATE TABLE __SCHEMA__.leases (
  name        text PRIMARY KEY,
  owner       text,
  epoch       bigint NOT NULL DEFAULT 0,
  expires_at  timestamptz NOT NULL DEFAULT '-infinity',
  updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Settings every daemon on this schema must agree on (the number of saga partitions).
CREATE TABLE __SCHEMA__.settings (
  key    text PRIMARY KEY,
  value  text NOT NULL
);
