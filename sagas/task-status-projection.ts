/**
 * Example projection: the status of every task, from the task events in the log — what the dashboard's
 * "tasks per status" counts read. Its table lives in the daemon's schema; each page of events and the
 * projection's checkpoint commit together, so every event counts exactly once.
 */
import { defineProjection } from 'sagaflow';

/** The status a task event moves a task to (agent.assigned: someone works on it). */
const statusOf: Record<string, string> = {
  'task.created': 'open',
  'task.requeued': 'open',
  'agent.assigned': 'assigned',
  'task.completed': 'completed',
  'task.failed': 'failed',
};

export const taskStatusProjection = defineProjection({
  name: 'task-status',
  handles: Object.keys(statusOf),
  setup: async ({ db, schema }) => {
    await db.query(`CREATE TABLE IF NOT EXISTS ${schema}.task_status (
      task_id text PRIMARY KEY, status text NOT NULL, position bigint NOT NULL, updated_at timestamptz NOT NULL)`);
  },
  reset: async ({ db, schema }) => {
    await db.query(`DELETE FROM ${schema}.task_status`);
  },
  apply: async (event, { db, schema }) => {
    const taskId = event.data.taskId;
    if (typeof taskId !== 'string') return;
    // Events arrive in log order, each once (the page commits with the checkpoint): the latest one wins.
    await db.query(
      `INSERT INTO ${schema}.task_status (task_id, status, position, updated_at) VALUES ($1, $2, $3, $4)
       ON CONFLICT (task_id) DO UPDATE SET status = EXCLUDED.status, position = EXCLUDED.position, updated_at = EXCLUDED.updated_at`,
      [taskId, statusOf[event.type], event.position, event.timestamp],
    );
  },
});

/** The example projections (loaded by the daemon with the example sagas). */
export const exampleProjections = [taskStatusProjection] as const;
