import { MemoryEventStore } from '../../src/memory/event-store.js';
import { aggregateRepositorySuite } from '../support/aggregate-repository-suite.js';

aggregateRepositorySuite('memory', async () => ({ store: new MemoryEventStore(), dispose: async () => {} }), 200);
