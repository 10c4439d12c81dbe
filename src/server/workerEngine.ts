// The server's engine: the model runs in a worker_threads Worker, so a long prefill never blocks the HTTP event
// loop (health checks, new requests, disconnects are still seen). Events come back as messages.

import { Worker } from 'node:worker_threads';
import type { ChatEvent, ChatOptions } from '../generate/chat.js';
import type { ChatEngine, EngineInfo, EngineStatus, OpenEngineOptions } from '../generate/service.js';

interface WireError {
  readonly name: string;
  readonly message: string;
}

export type ToWorker = { op: 'chat'; id: number; messages: unknown[]; options: ChatOptions } | { op: 'cancel'; id: number } | { op: 'gc' } | { op: 'close' };

export type FromWorker =
  | { op: 'ready'; info: EngineInfo }
  | { op: 'failed'; error: WireError }
  | { op: 'loadProgress'; loadedBytes: number; totalBytes: number }
  | { op: 'status'; status: EngineStatus }
  | { op: 'event'; id: number; event: ChatEvent }
  | { op: 'end'; id: number }
  | { op: 'error'; id: number; error: WireError };

/** An error thrown in the worker, re-created here with its original name (InputError, SamplingError, …). */
export class EngineError extends Error {
  constructor(name: string, message: string) {
    super(message);
    this.name = name;
  }
}

type Msg = Extract<FromWorker, { id: number }>;

/** Messages of one generation, consumed by its async generator. */
class Channel {
  private readonly items: (Msg | Error)[] = [];
  private wake: (() => void) | null = null;

  push(m: Msg | Error): void {
    this.items.push(m);
    this.wake?.();
    this.wake = null;
  }

  async next(): Promise<Msg | Error> {
    while (this.items.length === 0) await new Promise<void>((r) => (this.wake = r));
    return this.items.shift()!;
  }
}

/** A crashed worker is replaced this many times per minute at most; beyond that the engine stays down. */
const MAX_RESTARTS_PER_MINUTE = 3;

/** Start a worker and load the checkpoint in it; rejects with the load error (bad folder, broken weights). */
function spawnWorker(dir: string, opts: OpenEngineOptions): Promise<{ worker: Worker; info: EngineInfo }> {
  const { onLoadProgress, ...rest } = opts;
  const worker = new Worker(new URL('./worker.js', import.meta.url), { workerData: { dir, opts: rest } });
  return new Promise((resolve, reject) => {
    const onMessage = (m: FromWorker) => {
      if (m.op === 'loadProgress') onLoadProgress?.(m);
      else if (m.op === 'ready') done(() => resolve({ worker, info: m.info }));
      else if (m.op === 'failed') done(() => reject(new EngineError(m.error.name, m.error.message)), true);
    };
    const onError = (e: Error) => done(() => reject(e));
    const onExit = (code: number) => done(() => reject(new EngineError('WorkerExited', `the inference worker exited while loading (code ${code})`)));
    const done = (f: () => void, terminate = false) => {
      worker.off('message', onMessage).off('error', onError).off('exit', onExit);
      if (terminate) void worker.terminate();
      f();
    };
    worker.on('message', onMessage).on('error', onError).on('exit', onExit);
  });
}

export class WorkerEngine implements ChatEngine {
  private nextId = 1;
  private readonly channels = new Map<number, Channel>();
  private current: EngineStatus = { phase: 'idle', prefill: null };
  private dead: Error | null = null;
  private closing = false;
  /** Set while a replacement worker loads after a crash; requests wait for it. */
  private restarting: Promise<void> | null = null;
  private readonly restarts: number[] = [];

  private constructor(
    private worker: Worker,
    readonly info: EngineInfo,
    private readonly dir: string,
    private readonly opts: OpenEngineOptions,
  ) {
    this.attach(worker);
  }

  static async start(dir: string, opts: OpenEngineOptions = {}): Promise<WorkerEngine> {
    const { worker, info } = await spawnWorker(dir, opts);
    return new WorkerEngine(worker, info, dir, opts);
  }

  /** Crash restarts the limit counts: those within a minute before the latest one. */
  get restartCount(): number {
    return this.restarts.length;
  }

  private attach(worker: Worker): void {
    worker.on('message', (m: FromWorker) => {
      if (m.op === 'status') this.current = m.status;
      else if ('id' in m) this.channels.get(m.id)?.push(m);
    });
    let handled = false;
    const die = (e: Error) => {
      if (handled) return; // 'error' is followed by 'exit'
      handled = true;
      this.current = { phase: 'idle', prefill: null };
      // Generations in flight are lost with the worker's memory: each ends with this error (a 500 to its client).
      for (const c of this.channels.values()) c.push(e);
      if (this.closing) {
        this.dead ??= e;
        return;
      }
      this.restart(e);
    };
    worker.on('error', (e) => die(new EngineError('WorkerCrashed', `the inference worker crashed: ${e.message}`)));
    worker.on('exit', (code) => die(new EngineError('WorkerExited', `the inference worker exited (code ${code})`)));
  }

  /** Replace a crashed worker (the model loads again), unless it keeps crashing: then the engine stays down. */
  private restart(cause: Error): void {
    const now = Date.now();
    while (this.restarts.length && now - this.restarts[0] > 60_000) this.restarts.shift();
    if (this.restarts.length >= MAX_RESTARTS_PER_MINUTE) {
      this.dead = new EngineError(cause.name, `${cause.message}; it crashed ${MAX_RESTARTS_PER_MINUTE + 1} times within a minute, so it is not restarted again`);
      return;
    }
    this.restarts.push(now);
    console.error(`qwen3-vl: ${cause.message}; restarting it (the model loads again)`);
    this.restarting = spawnWorker(this.dir, { ...this.opts, onLoadProgress: undefined }).then(
      ({ worker }) => {
        this.worker = worker;
        this.attach(worker);
        this.restarting = null;
      },
      (e: Error) => {
        this.dead = e;
        this.restarting = null;
      },
    );
  }

  status(): EngineStatus {
    return this.current;
  }

  get alive(): boolean {
    return this.dead === null;
  }

  async *stream(messages: readonly unknown[], options: ChatOptions): AsyncGenerator<ChatEvent> {
    if (this.restarting) await this.restarting;
    if (this.dead) throw this.dead;
    const { signal, onPrompt: _p, onPrefillProgress: _q, ...cloneable } = options;
    const id = this.nextId++;
    const ch = new Channel();
    this.channels.set(id, ch);
    let finished = false;
    const cancel = () => this.post({ op: 'cancel', id });
    signal?.addEventListener('abort', cancel, { once: true });
    try {
      this.post({ op: 'chat', id, messages: [...messages], options: cloneable });
      if (signal?.aborted) cancel();
      for (;;) {
        const m = await ch.next();
        if (m instanceof Error) throw m;
        if (m.op === 'end') break;
        if (m.op === 'error') throw new EngineError(m.error.name, m.error.message);
        yield m.event;
      }
      finished = true;
    } finally {
      signal?.removeEventListener('abort', cancel);
      // The consumer stopped early (client gone, error while writing): stop the work too.
      if (!finished) cancel();
      this.channels.delete(id);
    }
  }

  /** Ask the worker to collect garbage (only where Node runs with --expose-gc; leak measurements). */
  gc(): void {
    this.post({ op: 'gc' });
  }

  async close(): Promise<void> {
    this.closing = true;
    if (this.restarting) await this.restarting;
    if (this.dead) return;
    const exited = new Promise<void>((r) => this.worker.once('exit', () => r()));
    this.post({ op: 'close' });
    const t = setTimeout(() => void this.worker.terminate(), 5000);
    await exited;
    clearTimeout(t);
  }

  private post(m: ToWorker): void {
    if (!this.dead) this.worker.postMessage(m);
  }
}
