/**
 * Writes the golden saga histories under test/fixtures/verify/ (see test/support/verify-fixtures.ts).
 * Run once per saga version that instances may be stored on, and commit the files:
 *   node --conditions=sagaflow-source --import tsx test/support/make-verify-fixtures.ts
 */
import { writeFileSync } from 'node:fs';
import { fixtureSets, recordExport } from './verify-fixtures.js';

for (const set of fixtureSets) {
  const { lines, instances } = await recordExport(set.saga, set.scenarios);
  const file = new URL(`../fixtures/verify/${set.file}`, import.meta.url);
  writeFileSync(file, `${lines.join('\n')}\n`);
  process.stdout.write(`${set.file}: ${instances.length} instances, ${instances.reduce((n, i) => n + i.history.length, 0)} history rows\n`);
}
