// First-in first-out admission: one generation at a time per model, waiting requests served in arrival order, a
// waiter whose client leaves is dropped from the line, and the line has a length limit (429 beyond it).

import { ApiError } from './protocol.js';

interface Waiter {
  readonly grant: () => void;
  readonly fail: (e: Error) => void;
}

export class FifoQueue {
  private busy = false;
  private readonly line: Waiter[] = [];

  constructor(private readonly maxWaiting: number) {}

  /** Requests waiting (not counting the one running). */
  get waiting(): number {
    return this.line.length;
  }

  get running(): boolean {
    return this.busy;
  }

  /** Wait for the turn; resolves to a release function that must be called exactly once. */
  acquire(signal?: AbortSignal): Promise<() => void> {
    if (signal?.aborted) return Promise.reject(abortError());
    if (!this.busy) {
      this.busy = true;
      return Promise.resolve(this.releaser());
    }
    if (this.line.length >= this.maxWaiting) return Promise.reject(new ApiError(429, `the server is busy: ${this.line.length} requests are already waiting`, null, 'queue_full'));
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        const i = this.line.indexOf(w);
        if (i >= 0) this.line.splice(i, 1);
        reject(abortError());
      };
      const w: Waiter = {
        grant: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve(this.releaser());
        },
        fail: reject,
      };
      this.line.push(w);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Refuse everyone waiting (shutdown). */
  drain(reason: Error): void {
    for (const w of this.line.splice(0)) w.fail(reason);
  }

  private releaser(): () => void {
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const next = this.line.shift();
      if (next) next.grant();
      else this.busy = false;
    };
  }
}

export function abortError(): Error {
  const e = new Error('the client went away');
  e.name = 'AbortError';
  return e;
}
