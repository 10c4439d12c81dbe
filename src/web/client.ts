// The page side of the engine worker: `WorkerEngine.load(url or files)` then `chat`/`complete` as on a loaded
// model, with progress and prompt callbacks, AbortSignal cancellation across the boundary, and the cache manager.
// ImageBitmaps and the buffers of raw images are transferred to the worker, not copied.

import type { ChatEvent, ChatResult } from '../generate/chat.js';
import type { CachedModel } from '../io/weightCache.js';
import type { ChatMessage } from '../processor/index.js';
import type { LoadedInfo, LoadProgress, Reply, Request, WorkerChatOptions, WorkerLoadOptions } from './protocol.js';

export type { LoadedInfo, LoadProgress, WorkerChatOptions, WorkerLoadOptions } from './protocol.js';

export interface ClientChatOptions extends WorkerChatOptions {
  readonly signal?: AbortSignal;
  /**
   * Move ImageBitmaps and whole-buffer byte arrays of the messages to the worker instead of copying them (default
   * true): the page's copies become unusable, so keep Blobs (or pass false) in a history that is sent again.
   */
  readonly transfer?: boolean;
  readonly onPrompt?: (tokens: number) => void;
  readonly onPrefillProgress?: (done: number, total: number) => void;
}

/** An error raised in the worker, with its name (e.g. InputLimitError) kept. */
export class WorkerError extends Error {
  constructor(
    override readonly name: string,
    message: string,
  ) {
    super(message);
  }
}

type Listener = (r: Reply) => void;

export class WorkerEngine {
  private nextId = 1;
  private readonly listeners = new Map<number, Listener>();
  /** Set once load() succeeds. */
  info: LoadedInfo | null = null;

  /** `worker`: one running src/web/worker.ts (default: started here, bundled by vite or any bundler that follows `new URL(…, import.meta.url)`). */
  constructor(readonly worker: Worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' })) {
    worker.onmessage = (e: MessageEvent<Reply>) => this.listeners.get(e.data.id)?.(e.data);
    worker.onerror = (e) => {
      const err: Reply = { id: 0, kind: 'error', name: 'WorkerError', message: `the engine worker failed: ${e.message || 'could not start (check that the worker script is served)'}` };
      for (const l of [...this.listeners.values()]) l(err);
    };
  }

  /** A checkpoint by URL (cached in the browser unless options.cache is false), or the files of a picked folder. */
  async load(source: string | readonly File[], options: WorkerLoadOptions & { onProgress?: (p: LoadProgress) => void } = {}): Promise<LoadedInfo> {
    const { onProgress, ...rest } = options;
    this.info = (await this.request({ op: 'load', id: 0, source, options: rest }, false, (r) => r.kind === 'progress' && onProgress?.(r.progress))) as LoadedInfo;
    return this.info;
  }

  /** Stream a reply: the same events as Qwen3VL.chat. Aborting `signal` stops generation in the worker. */
  async *chat(messages: readonly ChatMessage[], options: ClientChatOptions = {}): AsyncGenerator<ChatEvent> {
    const queue: Reply[] = [];
    let wake: (() => void) | null = null;
    const { id, done } = this.start('chat', messages, options, (r) => {
      queue.push(r);
      wake?.();
    });
    let finished = false;
    done.then(
      () => ((finished = true), wake?.()),
      () => ((finished = true), wake?.()),
    );
    try {
      for (;;) {
        const r = queue.shift();
        if (r?.kind === 'event') yield r.event;
        else if (!r) {
          if (finished) break;
          await new Promise<void>((ok) => (wake = ok));
          wake = null;
        }
      }
      await done; // rethrows the worker's error
    } finally {
      // A consumer that stops early (break) cancels the worker's generation too.
      if (!finished) this.post({ op: 'abort', id: this.nextId++, target: id });
    }
  }

  /** The whole reply at once. */
  async complete(messages: readonly ChatMessage[], options: ClientChatOptions = {}): Promise<ChatResult> {
    return (await this.start('complete', messages, options, () => {}).done) as ChatResult;
  }

  /** The weight cache (in the worker's origin, the same as the page's). */
  readonly cache = {
    list: () => this.request({ op: 'cache', id: 0, action: 'list' }) as Promise<CachedModel[]>,
    bytesUsed: () => this.request({ op: 'cache', id: 0, action: 'bytesUsed' }) as Promise<number>,
    delete: (url: string) => this.request({ op: 'cache', id: 0, action: 'delete', url }) as Promise<boolean>,
    clear: () => this.request({ op: 'cache', id: 0, action: 'clear' }) as Promise<null>,
  };

  /** Free the model's GPU memory (the worker stays, ready for another load). */
  async unload(): Promise<void> {
    await this.request({ op: 'unload', id: 0 });
    this.info = null;
  }

  /** Stop the worker. */
  terminate(): void {
    this.worker.terminate();
    const err: Reply = { id: 0, kind: 'error', name: 'AbortError', message: 'the engine worker was terminated' };
    for (const l of [...this.listeners.values()]) l(err);
  }

  private start(op: 'chat' | 'complete', messages: readonly ChatMessage[], options: ClientChatOptions, onReply: Listener) {
    const { signal, onPrompt, onPrefillProgress, transfer = true, ...rest } = options;
    const id = this.nextId++;
    signal?.throwIfAborted();
    const abort = () => this.post({ op: 'abort', id: this.nextId++, target: id });
    signal?.addEventListener('abort', abort, { once: true });
    const done = this.request({ op, id, messages, options: rest }, transfer, (r) => {
      if (r.kind === 'prompt') onPrompt?.(r.tokens);
      else if (r.kind === 'prefill') onPrefillProgress?.(r.done, r.total);
      else onReply(r);
    }, id).finally(() => signal?.removeEventListener('abort', abort));
    return { id, done };
  }

  private request(req: Request, transfer = false, onOther: Listener = () => {}, id = this.nextId++): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.listeners.set(id, (r) => {
        if (r.kind === 'result' || r.kind === 'error') {
          this.listeners.delete(id);
          if (r.kind === 'result') resolve(r.value);
          else reject(new WorkerError(r.name, r.message));
        } else onOther(r);
      });
      try {
        this.post({ ...req, id } as Request, transfer);
      } catch (e) {
        this.listeners.delete(id);
        reject(e);
      }
    });
  }

  private post(req: Request, transfer = false): void {
    this.worker.postMessage(req, transfer ? transferables(req) : []);
  }
}

/** ImageBitmaps and raw-image buffers in the messages: moved to the worker (the page's copies become unusable). */
function transferables(req: Request): Transferable[] {
  if (req.op !== 'chat' && req.op !== 'complete') return [];
  const out = new Set<Transferable>();
  const add = (x: unknown) => {
    if (typeof ImageBitmap !== 'undefined' && x instanceof ImageBitmap) out.add(x);
    else if (x instanceof Uint8Array && x.buffer instanceof ArrayBuffer && x.byteOffset === 0 && x.byteLength === x.buffer.byteLength) out.add(x.buffer);
    else if (x && typeof x === 'object' && 'data' in x && (x as { data: unknown }).data instanceof Uint8Array) add((x as { data: unknown }).data);
  };
  for (const m of req.messages) {
    if (typeof m.content === 'string') continue;
    for (const p of m.content ?? []) {
      if (p.type === 'image') add(p.image);
      else if (p.type === 'video') {
        const v = p.video as unknown;
        const frames = Array.isArray(v) ? v : v && typeof v === 'object' && 'frames' in v ? (v as { frames: unknown[] }).frames : [];
        frames.forEach(add);
      }
    }
  }
  return [...out];
}
