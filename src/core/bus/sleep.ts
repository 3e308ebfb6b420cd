/**
 * Waits `ms` or until `signal` aborts, whichever comes first; never rejects. Injected into the buses
 * (`sleep` option) so tests can replace real time with a fake.
 */
export type Sleep = (ms: number, signal?: AbortSignal) => Promise<void>;

/** Real-time {@link Sleep} backed by `setTimeout`. */
export const realSleep: Sleep = (ms, signal) =>
  new Promise<void>((resolve) => {
    if (signal?.aborted || ms <= 0) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
