import { MemoryEventStore } from '../../src/memory/event-store.js';
import { eventStoreSuite } from '../support/event-store-suite.js';

eventStoreSuite('memory', async (options) => ({ store: new MemoryEventStore(options), dispose: async () => {} }));
