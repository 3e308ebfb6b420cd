import { describe, expect, it } from 'vitest';
import { activeStatePaths, activeTags, statesByPath } from '../../src/core/saga/active-states.js';
import { sagaGraph } from '../../src/core/saga/graph.js';
import { Trip } from '../support/trip-saga.js';

describe('active states of a state value', () => {
  it('names every active state by its dotted path, parents first', () => {
    expect(activeStatePaths('paid')).toEqual(['paid']);
    expect(activeStatePaths({ compensating: 'awaitingReply' })).toEqual(['compensating', 'compensating.awaitingReply']);
    expect(activeStatePaths({ p: { a: 'x', b: { c: 'd' } } })).toEqual(['p', 'p.a', 'p.a.x', 'p.b', 'p.b.c', 'p.b.c.d']);
    expect(activeStatePaths(null)).toEqual([]);
  });

  it('finds the tags of the active states from the saga graph (the stored snapshot does not keep them)', () => {
    const graph = sagaGraph(Trip.machine);
    expect([...statesByPath(graph).keys()]).toContain('compensating.awaitingReply');
    expect(activeTags(graph, { compensating: 'awaitingReply' })).toEqual(['compensating']);
    expect(activeTags(graph, 'failed')).toEqual(['failed']);
    expect(activeTags(graph, 'booked')).toEqual([]);
  });
});
