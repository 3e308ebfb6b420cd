import { MemoryBroker, MemoryEventBus } from '../../src/memory/event-bus.js';
import { eventBusSuite, type TestBus } from '../support/event-bus-suite.js';

eventBusSuite('memory', async () => {
  const broker = new MemoryBroker();
  const buses: TestBus[] = [];
  return {
    createBus: async ({ deadLetters }) => {
      const bus = new MemoryEventBus({ broker, deadLetters });
      buses.push(bus);
      return bus;
    },
    dispose: async () => {
      for (const b of buses) await b.stop({ drainTimeoutMs: 100 });
    },
  };
});
