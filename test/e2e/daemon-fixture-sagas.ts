/**
 * Sagas for the daemon e2e test: the bundled examples plus `Flaky`, whose `flaky.finish` step throws
 * while the file named by SAGAFLOW_E2E_BROKEN_FLAG exists — a handler failure an operator can fix
 * (delete the file) and then replay.
 */
import { existsSync } from 'node:fs';
import { assign, setup } from 'xstate';
import { z } from 'zod';
import { defineSaga } from 'sagaflow';

export { TaskProcessing, CollaborationProcessManager } from '../../sagas/index.js';

const data = z.object({ id: z.string().min(1) });
type FlakyEvent = { type: 'flaky.started' | 'flaky.finish'; data: { id: string } };

const machine = setup({
  types: {} as { context: { id: string; finished: boolean }; events: FlakyEvent; input: { key: string } },
}).createMachine({
  id: 'Flaky',
  initial: 'idle',
  context: ({ input }) => ({ id: input.key, finished: false }),
  states: {
    idle: { on: { 'flaky.started': 'waiting' } },
    waiting: {
      on: {
        'flaky.finish': {
          target: 'done',
          actions: assign(() => {
            const flag = process.env.SAGAFLOW_E2E_BROKEN_FLAG;
            if (flag && existsSync(flag)) throw new Error('downstream service is broken');
            return { finished: true };
          }),
        },
      },
    },
    done: { type: 'final' },
  },
});

export const Flaky = defineSaga({
  name: 'Flaky',
  version: 1,
  machine,
  events: { 'flaky.started': data, 'flaky.finish': data },
  correlate: { 'flaky.started': (e) => String(e.data.id), 'flaky.finish': (e) => String(e.data.id) },
  startedBy: ['flaky.started'],
});
