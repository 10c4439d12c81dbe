// Worker-thread entry: loads the engine and runs one generation at a time off the server's event loop, streaming
// events back as messages. The protocol types live in workerEngine.ts (the main-thread side).

import { parentPort, workerData } from 'node:worker_threads';
import type { ChatOptions } from '../generate/chat.js';
import { openEngine, type LocalEngine, type OpenEngineOptions } from '../generate/service.js';
import type { FromWorker, ToWorker } from './workerEngine.js';

const port = parentPort!;
const { dir, opts } = workerData as { dir: string; opts: Omit<OpenEngineOptions, 'onLoadProgress'> };
const send = (m: FromWorker) => port.postMessage(m);
const wireError = (e: unknown) => ({ name: (e as Error)?.name ?? 'Error', message: (e as Error)?.message ?? String(e) });
const running = new Map<number, AbortController>();
/** While generations run, the batch's status (running, waiting, KV blocks) also goes out twice a second. */
let ticker: ReturnType<typeof setInterval> | null = null;

async function generate(engine: LocalEngine, id: number, messages: unknown[], options: ChatOptions): Promise<void> {
  const ctl = new AbortController();
  running.set(id, ctl);
  // Status goes out at phase changes and per prefill chunk, so /health can report progress without asking.
  const status = () => send({ op: 'status', status: engine.status() });
  ticker ??= setInterval(status, 500);
  try {
    const opts = { ...options, signal: ctl.signal, onPrompt: status, onPrefillProgress: status };
    for await (const event of engine.stream(messages, opts)) send({ op: 'event', id, event });
    send({ op: 'end', id });
  } catch (e) {
    send({ op: 'error', id, error: wireError(e) });
  } finally {
    running.delete(id);
    if (running.size === 0 && ticker) {
      clearInterval(ticker);
      ticker = null;
    }
    status();
  }
}

async function main(): Promise<void> {
  let engine: LocalEngine;
  try {
    engine = await openEngine(dir, { ...opts, onLoadProgress: (p) => send({ op: 'loadProgress', ...p }) });
  } catch (e) {
    send({ op: 'failed', error: wireError(e) });
    return;
  }
  port.on('message', (m: ToWorker) => {
    if (m.op === 'chat') void generate(engine, m.id, m.messages, m.options);
    else if (m.op === 'cancel') running.get(m.id)?.abort();
    else if (m.op === 'gc') (globalThis as { gc?: () => void }).gc?.();
    else if (m.op === 'close') {
      for (const c of running.values()) c.abort();
      void engine.close().finally(() => port.close());
    }
  });
  send({ op: 'ready', info: engine.info });
}

void main();
