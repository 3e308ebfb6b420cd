import { SingleBar, Presets } from 'cli-progress';
import type { Output } from './output.js';

/** A progress bar on a terminal (stderr), nothing otherwise; `tick()` after each item (`tick(n)` after n), or `set(done)`. */
export function progress(output: Output, total: number, label: string): { tick(n?: number): void; set(done: number): void; stop(): void } {
  if (!output.isTTY || total < 2) return { tick() {}, set() {}, stop() {} };
  const bar = new SingleBar({ format: `${label} [{bar}] {value}/{total} {eta_formatted}`, stream: process.stderr, hideCursor: true }, Presets.shades_classic);
  bar.start(total, 0);
  return { tick: (n = 1) => bar.increment(n), set: (done) => bar.update(done), stop: () => bar.stop() };
}
