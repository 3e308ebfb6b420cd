import { MemorySagaRepository } from '../../src/memory/saga-repository.js';
import { sagaRuntimeSuite } from '../support/saga-runtime-suite.js';

sagaRuntimeSuite('memory', async (clock) => {
  const repository = new MemorySagaRepository({ clock });
  // In memory a "restart" keeps the same storage object: hand out the same repository.
  return { repository, reopen: () => repository, dispose: async () => {} };
});
