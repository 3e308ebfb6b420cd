import { describe, expect, it } from 'vitest';
import { AttemptTracker, type Cuttable } from '../../src/core/bus/attempt-tracker.js';

function attempt(log: Array<[string, boolean]>, name: string): Cuttable {
  return { cut: (timedOut) => log.push([name, timedOut]), prev: undefined, next: undefined, deadline: 0, list: undefined };
}
const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('AttemptTracker: one timer for many deadlines', () => {
  it('cuts each attempt at its own deadline, never one that was removed', async () => {
    const stop = new AbortController();
    const tracker = new AttemptTracker(stop.signal);
    const log: Array<[string, boolean]> = [];
    const long = attempt(log, 'long');
    const short = attempt(log, 'short');
    const done = attempt(log, 'done');
    tracker.add(long, 400);
    tracker.add(short, 60);
    tracker.add(done, 60);
    tracker.remove(done);
    expect(tracker.size).toBe(2);
    await wait(150);
    expect(log).toEqual([['short', true]]);
    await wait(400);
    expect(log).toEqual([['short', true], ['long', true]]);
    expect(tracker.size).toBe(0);
  });

  it('cuts everything in flight when the stop signal aborts, and new attempts at once', () => {
    const stop = new AbortController();
    const tracker = new AttemptTracker(stop.signal);
    const log: Array<[string, boolean]> = [];
    tracker.add(attempt(log, 'a'), 10_000);
    tracker.add(attempt(log, 'b'), 20_000);
    stop.abort(new Error('stopping'));
    expect(log).toEqual([['a', false], ['b', false]]);
    tracker.add(attempt(log, 'late'), 10_000);
    expect(log.at(-1)).toEqual(['late', false]);
    expect(tracker.size).toBe(0);
  });
});
