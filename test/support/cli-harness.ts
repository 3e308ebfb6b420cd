import { main } from '../../src/cli/main.js';
import type { Output } from '../../src/cli/output.js';

/** Result of one in-process CLI run. */
export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `sagaflow <args>` in this process with captured output and the given environment. */
export async function runCli(args: string[], env: Record<string, string | undefined> = {}, cwd = process.cwd()): Promise<CliRun> {
  const out: string[] = [];
  const err: string[] = [];
  const output: Output = { out: (t) => void out.push(t), err: (t) => void err.push(t), isTTY: false };
  const code = await main(['node', 'sagaflow', ...args], { output, env, cwd });
  return { code, stdout: out.join('\n'), stderr: err.join('\n') };
}
