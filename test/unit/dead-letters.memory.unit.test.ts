import { MemoryDeadLetters } from '../../src/memory/dead-letters.js';
import { deadLettersSuite } from '../support/dead-letters-suite.js';

deadLettersSuite('memory', async () => ({ letters: new MemoryDeadLetters(), dispose: async () => {} }));
