// First-in first-out admission: up to `slots` generations at once (the scheduler batches them), waiting requests
// served in arrival order, a waiter whose client leaves is dropped from the line, and the line has a length limit.

import { ApiError } from './protocol.js';

interface Waiter {
  readonly grant: () => void;
  readonly fail: (e: Error) => void;
}

export class FifoQueue {
  private active = 0;
  private readonly line: Waiter[] = [];

  constructor(
    private readonly maxWaiting: number,
    /** Generations allowed at once. */
    readonly slots = 1,
  ) {}

  /** Requests waiting (not counting the one running). */
  get waiting(): number {
    return this.line.length;
  }

  /** Generations running now. */
  get running(): number {
    return this.active;
  }

  /** Wait for the turn; resolves to a release function that must be called exactly once. */
  acquire(signal?: AbortSignal): Promise<() => void> {
    if (signal?.aborted) return Promise.reject(abortError());
    if (this.active < this.slots) {
      this.active++;
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
      else this.active--;
    };
  }
}

export function abortError(): Error {
  const e = new Error('the client went away');
  e.name = 'AbortError';
  return e;
}
