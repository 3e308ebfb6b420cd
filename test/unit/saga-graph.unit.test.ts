import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { assign, setup } from 'xstate';
import { sagaGraph, sagaMermaid } from '../../src/core/saga/graph.js';
import { CollaborationProcessManager, TaskProcessing } from '../../sagas/index.js';

const machine = setup({
  types: { context: {} as { n: number }, events: {} as { type: 'start' } | { type: 'ping' } | { type: 'stop' } },
  delays: { idleTimeout: 5000 },
  guards: { isBig: ({ context }) => context.n > 2 },
  actions: { bump: assign({ n: ({ context }) => context.n + 1 }) },
}).createMachine({
  id: 'demo.saga',
  context: { n: 0 },
  initial: 'idle',
  states: {
    idle: { on: { start: 'running' } },
    running: {
      initial: 'waiting',
      after: { idleTimeout: 'done' },
      on: { stop: 'done' },
      states: {
        waiting: { tags: ['busy'], on: { ping: { actions: 'bump' } }, always: { guard: 'isBig', target: 'full' } },
        full: {},
      },
    },
    done: { type: 'final', tags: ['compensated'] },
  },
});

describe('sagaGraph', () => {
  it('lists every state with parent, type, initial child and tags', () => {
    const g = sagaGraph(machine);
    expect(g.id).toBe('demo.saga');
    expect(g.nodes.map((n) => [n.id, n.parent, n.type])).toEqual([
      ['demo.saga', null, 'compound'],
      ['demo.saga.idle', 'demo.saga', 'atomic'],
      ['demo.saga.running', 'demo.saga', 'compound'],
      ['demo.saga.running.waiting', 'demo.saga.running', 'atomic'],
      ['demo.saga.running.full', 'demo.saga.running', 'atomic'],
      ['demo.saga.done', 'demo.saga', 'final'],
    ]);
    expect(g.nodes.find((n) => n.key === 'running')?.initial).toBe('demo.saga.running.waiting');
    expect(g.nodes.find((n) => n.key === 'waiting')?.tags).toEqual(['busy']);
    // The after transition's delayed raise shows as an entry action of its state.
    expect(g.nodes.find((n) => n.key === 'running')?.entry).toEqual(['xstate.raise']);
  });

  it('lists event, after and always edges once each, with guards, actions and targetless transitions', () => {
    const g = sagaGraph(machine);
    const edges = g.edges.map((e) => [e.kind, e.source.replace('demo.saga.', ''), e.target?.replace('demo.saga.', '') ?? null, e.event, e.delay, e.guard, e.actions]);
    expect(edges).toEqual([
      ['event', 'idle', 'running', 'start', null, null, []],
      ['event', 'running', 'done', 'stop', null, null, []],
      ['after', 'running', 'done', 'xstate.after.idleTimeout.demo.saga.running', 'idleTimeout', null, []],
      ['event', 'running.waiting', null, 'ping', null, null, ['bump']],
      ['always', 'running.waiting', 'running.full', null, null, 'isBig', []],
    ]);
    expect(JSON.parse(JSON.stringify(g))).toEqual(g);
  });
});

describe('sagaMermaid', () => {
  it('renders stateDiagram-v2 with nested blocks, initial and final markers and labelled edges', () => {
    const text = sagaMermaid(machine, { actions: true });
    const lines = text.trimEnd().split('\n');
    expect(lines[0]).toBe('stateDiagram-v2');
    expect(lines).toContain('  [*] --> idle');
    expect(lines).toContain('  state running {');
    expect(lines).toContain('    [*] --> running_waiting');
    expect(lines).toContain('    state "waiting (busy)" as running_waiting');
    expect(lines).toContain('  state "done (compensated)" as done');
    expect(lines).toContain('  done --> [*]');
    expect(lines).toContain('  running --> done : after idleTimeout');
    expect(lines).toContain('  running_waiting --> running_full : always [isBig]');
    expect(lines).toContain('  running_waiting --> running_waiting : ping / bump');
    // Mermaid ids never carry the dots of xstate ids.
    for (const l of lines) expect(l).not.toMatch(/ as [^ ]*\./);
  });

  it('separates the regions of a parallel state with -- and labels onDone edges "done"', () => {
    const parallel = setup({ types: { events: {} as { type: 'a.ok' } | { type: 'b.ok' } } }).createMachine({
      id: 'Trip',
      initial: 'booking',
      states: {
        booking: {
          type: 'parallel',
          states: {
            flight: { initial: 'pending', states: { pending: { on: { 'a.ok': 'booked' } }, booked: { type: 'final' } } },
            hotel: { initial: 'pending', states: { pending: { on: { 'b.ok': 'booked' } }, booked: { type: 'final' } } },
          },
          onDone: 'confirmed',
        },
        confirmed: { type: 'final' },
      },
    });
    const lines = sagaMermaid(parallel).trimEnd().split('\n');
    const block = lines.slice(lines.indexOf('  state booking {'), lines.indexOf('  }') + 1);
    expect(block.filter((l) => l.trim() === '--')).toHaveLength(1);
    expect(block.findIndex((l) => l.includes('as booking_hotel'))).toBeGreaterThan(block.findIndex((l) => l.trim() === '--'));
    expect(lines).toContain('  booking --> confirmed : done');
    expect(lines.some((l) => l.includes('xstate.done'))).toBe(false);
  });

  it('can hide guards and targetless transitions', () => {
    const text = sagaMermaid(machine, { guards: false, targetless: false });
    expect(text).toContain('running_waiting --> running_full : always\n');
    expect(text).not.toContain('ping');
  });

  it.each([
    ['task-processing', TaskProcessing.machine],
    ['collaboration-process-manager', CollaborationProcessManager.machine],
  ])('the %s README shows the diagram generated from its machine', (folder, m) => {
    const readme = readFileSync(new URL(`../../sagas/${folder}/README.md`, import.meta.url), 'utf8');
    expect(readme).toContain(`\`\`\`mermaid\n${sagaMermaid(m)}\`\`\``);
  });
});
