/** Entry point for running the CLI from sources: `node --conditions=sagaflow-source --import tsx src/cli/main-entry.ts <command>`. */
import { main } from './main.js';

main(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`sagaflow: ${(err as Error)?.message ?? String(err)}\n`);
    process.exitCode = 1;
  },
);
