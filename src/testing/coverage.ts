/**
 * Statechart coverage of the saga test kit: with `SAGAFLOW_COVERAGE_DIR` set, every step a kit spec applies to
 * its saga is traced (the transitions taken, the states active after) and appended to
 * `<dir>/<saga>.<pid>.jsonl`; `sagaflow test-coverage <saga>` reads the directory back and reports what the
 * project's own kit tests exercised against the statechart and its generated paths.
 */
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { AnyMachineSnapshot, EventObject } from 'xstate';
import { restoreSnapshot } from '../core/saga/decider.js';
import type { SagaDefinition } from '../core/saga/define-saga.js';
import { sagaStates, sagaTransitions, traceStep } from '../core/saga/transitions.js';
import type { SagaPath } from './paths.js';

/** The environment variable naming the directory the kit records coverage in. */
export const COVERAGE_DIR_ENV = 'SAGAFLOW_COVERAGE_DIR';

/** One recorded step. */
interface CoverageLine {
  saga: string;
  transitions: string[];
  states: string[];
}

/**
 * Records one applied step of `saga` when `SAGAFLOW_COVERAGE_DIR` is set (a no-op otherwise): the step is
 * traced again from the instance's snapshot before it (`undefined` for the start).
 */
export function recordCoverage(saga: SagaDefinition, key: string, before: unknown, event: EventObject, env: NodeJS.ProcessEnv = process.env): void {
  const dir = env[COVERAGE_DIR_ENV];
  if (!dir) return;
  const snapshot: AnyMachineSnapshot | undefined = before === undefined ? undefined : restoreSnapshot(saga, before);
  const trace = traceStep(saga, snapshot, event, key);
  mkdirSync(dir, { recursive: true });
  const line: CoverageLine = { saga: saga.name, transitions: trace.transitions, states: trace.states };
  appendFileSync(path.join(dir, `${saga.name}.${process.pid}.jsonl`), `${JSON.stringify(line)}\n`);
}

/** What the kit tests exercised of one saga, read from a coverage directory. */
export function readCoverage(dir: string, saga: string): { transitions: Set<string>; states: Set<string>; steps: number } {
  const transitions = new Set<string>();
  const states = new Set<string>();
  let steps = 0;
  if (!existsSync(dir)) return { transitions, states, steps };
  for (const file of readdirSync(dir).filter((f) => f.startsWith(`${saga}.`) && f.endsWith('.jsonl'))) {
    for (const text of readFileSync(path.join(dir, file), 'utf8').split('\n')) {
      if (!text.trim()) continue;
      const line = JSON.parse(text) as CoverageLine;
      if (line.saga !== saga) continue;
      steps++;
      for (const t of line.transitions) transitions.add(t);
      for (const s of line.states) states.add(s);
    }
  }
  return { transitions, states, steps };
}

/** The report of `sagaflow test-coverage`. */
export interface CoverageReport {
  saga: string;
  /** Steps the kit recorded. */
  steps: number;
  states: { total: number; exercised: string[]; missed: string[] };
  transitions: {
    total: number;
    /** Transitions no generated path reaches (unreachable with the saga's own events and guards). */
    unreachable: string[];
    exercised: string[];
    /** Reachable transitions no kit test took. */
    missed: string[];
    /** Exercised share of the reachable transitions, 0–100. */
    percent: number;
  };
  /** Generated paths with a transition no kit test took. */
  pathsNotExercised: Array<{ name: string; missed: string[] }>;
}

/** Compares what the kit recorded with the statechart and its generated paths. */
export function coverageReport(saga: SagaDefinition, recorded: ReturnType<typeof readCoverage>, paths: readonly SagaPath[]): CoverageReport {
  const all = sagaTransitions(saga).map((t) => t.id);
  const reachable = new Set(paths.flatMap((p) => p.transitions));
  const states = sagaStates(saga);
  const exercised = all.filter((t) => recorded.transitions.has(t));
  const missed = all.filter((t) => reachable.has(t) && !recorded.transitions.has(t));
  const reachableCount = all.filter((t) => reachable.has(t)).length;
  return {
    saga: saga.name,
    steps: recorded.steps,
    states: { total: states.length, exercised: states.filter((s) => recorded.states.has(s)), missed: states.filter((s) => !recorded.states.has(s)) },
    transitions: {
      total: all.length,
      unreachable: all.filter((t) => !reachable.has(t)),
      exercised,
      missed,
      percent: reachableCount === 0 ? 100 : Math.floor((1000 * (reachableCount - missed.length)) / reachableCount) / 10,
    },
    pathsNotExercised: paths
      .map((p) => ({ name: p.name, missed: [...new Set(p.transitions.filter((t) => !recorded.transitions.has(t)))] }))
      .filter((p) => p.missed.length > 0),
  };
}
