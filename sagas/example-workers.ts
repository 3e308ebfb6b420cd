/**
 * The services the example sagas talk to, as workers (`defineHandler`): an agent pool that assigns and
 * releases agents, agents that do tasks and answer invitations, and a notifier. `sagaflow run --demo` runs
 * them in process next to the sagas, with {@link startDemoTraffic} publishing tasks and collaborations, so
 * sagas complete (and sometimes compensate) end to end. In production each would be a service of its own,
 * run with `createWorker` from `sagaflow/worker`; see docs/workers.md.
 */
import { defineHandler, type Reply } from 'sagaflow';
import { agentAssigned, agentAssignmentRequested, agentInvited, agentReleaseRequested, notificationRequested } from './domain-events.js';

const agents = ['agent-ada', 'agent-grace', 'agent-linus', 'agent-barbara'];
const pick = (seed: string) => agents[[...seed].reduce((h, c) => (h * 31 + c.charCodeAt(0)) >>> 0, 7) % agents.length]!;
const sleep = (ms: number, signal: AbortSignal) => new Promise<void>((resolve) => {
  const t = setTimeout(resolve, ms);
  signal.addEventListener('abort', () => clearTimeout(t), { once: true });
});

/** The agent pool: assigns an agent to a task (`agent.assignment.requested` → `agent.assigned`). */
export const agentPool = defineHandler({
  name: 'agent-pool',
  handles: 'agent.assignment.requested',
  schema: agentAssignmentRequested,
  handle: (command): Reply => ({ type: 'agent.assigned', data: { taskId: command.data.taskId, agentId: pick(`${command.data.taskId}:${command.data.attempt}`) } }),
});

/** The agent pool's compensation: frees an agent (`agent.release.requested` → `agent.released`). */
export const agentRelease = defineHandler({
  name: 'agent-release',
  handles: 'agent.release.requested',
  schema: agentReleaseRequested,
  handle: (command): Reply => ({ type: 'agent.released', data: { taskId: command.data.taskId, agentId: command.data.agentId } }),
});

/**
 * The agents: an assigned agent works a little, then reports `task.completed` — or `task.failed` for one task
 * in five (by its id), which makes TaskProcessing compensate (release the agent, re-queue or give up).
 */
export const taskRunner = defineHandler({
  name: 'task-runner',
  handles: 'agent.assigned',
  schema: agentAssigned,
  handle: async (event, ctx): Promise<Reply> => {
    const { taskId, agentId } = event.data;
    await sleep(100 + (taskId.length * 37) % 400, ctx.signal);
    const unlucky = [...taskId].reduce((h, c) => h + c.charCodeAt(0), 0) % 5 === 0;
    return unlucky
      ? { type: 'task.failed', data: { taskId, error: 'the agent hit an error', failedBy: agentId } }
      : { type: 'task.completed', data: { taskId, completedBy: agentId, durationMs: 250 } };
  },
});

/** The agents' side of a collaboration: an invited agent joins (`agent.invited` → `agent.joined`). */
export const invitations = defineHandler({
  name: 'invitations',
  handles: 'agent.invited',
  schema: agentInvited,
  handle: (command): Reply => ({ type: 'agent.joined', data: { collaborationId: command.data.collaborationId, agentId: command.data.agentId } }),
});

/** Notifications: logged (a real one would page or mail); no reply. */
export const notifier = defineHandler({
  name: 'notifier',
  handles: 'notification.requested',
  schema: notificationRequested,
  handle: (command, ctx) => {
    ctx.logger.info({ topic: command.data.topic, severity: command.data.severity }, command.data.message);
  },
});

/** Every example worker. */
export const exampleWorkers = [agentPool, agentRelease, taskRunner, invitations, notifier] as const;

/** What {@link startDemoTraffic} publishes through. */
export type DemoPublish = (event: { type: string; streamId: string; data: Record<string, unknown> }) => Promise<unknown>;

/**
 * Publishes a task every `taskEveryMs` and a collaboration every fifth task, until the returned function is
 * called. For `sagaflow run --demo`.
 */
export function startDemoTraffic(publish: DemoPublish, options: { taskEveryMs?: number; onError?: (err: unknown) => void } = {}): () => void {
  let n = 0;
  const timer = setInterval(() => {
    n++;
    const taskId = `demo-task-${Date.now().toString(36)}-${n}`;
    const sends: Array<Promise<unknown>> = [publish({ type: 'task.created', streamId: taskId, data: { taskId, taskType: n % 2 ? 'review' : 'summarize', priority: n % 3, maxAttempts: 2, slaMs: 60_000 } })];
    if (n % 5 === 0) {
      const collaborationId = `demo-collab-${Date.now().toString(36)}-${n}`;
      sends.push(publish({ type: 'collaboration.requested', streamId: collaborationId, data: { collaborationId, agentIds: agents.slice(0, 2 + (n % 3)), joinTimeoutMs: 60_000 } }));
    }
    Promise.all(sends).catch((err: unknown) => options.onError?.(err));
  }, options.taskEveryMs ?? 1000);
  timer.unref?.();
  return () => clearInterval(timer);
}
