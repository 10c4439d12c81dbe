// The page side of worker.browser.ts: the engine in a module worker (/worker.js) driven through WorkerEngine;
// images cross as a transferred ImageBitmap and a transferred byte buffer.
import type { ChatEvent } from '../../src/generate/chat.js';
import { WorkerEngine } from '../../src/web/client.js';
import type { ChatCase } from './chatCase.js';

export interface WorkerChatResult {
  readonly backend: string;
  readonly events: ChatEvent[];
  readonly text: string;
  readonly tokens: number[];
  /** Byte lengths of the page's image bytes and bitmap width after sending (0: moved to the worker). */
  readonly afterSend: { bytes: number; bitmapWidth: number };
  readonly prompt: number;
  /** Longest gap between 10 ms timer ticks on the page while the worker generated. */
  readonly maxGapMs: number;
}

const start = () => new WorkerEngine(new Worker('/worker.js', { type: 'module' }));

const api = {
  async chat(url: string, c: ChatCase): Promise<WorkerChatResult> {
    const engine = start();
    try {
      const info = await engine.load(url, { cache: false });
      const [first, second] = c.images.map((b) => new Uint8Array(b));
      const bitmap = await createImageBitmap(new Blob([first], { type: 'image/png' }), { colorSpaceConversion: 'none', premultiplyAlpha: 'none', imageOrientation: 'from-image' });
      const events: ChatEvent[] = [];
      let prompt = 0;
      let last = performance.now();
      let maxGapMs = 0;
      const tick = setInterval(() => {
        const now = performance.now();
        maxGapMs = Math.max(maxGapMs, now - last);
        last = now;
      }, 10);
      const messages = [{ role: 'user' as const, content: [{ type: 'image' as const, image: bitmap }, { type: 'image' as const, image: second }, { type: 'text' as const, text: c.prompt }] }];
      const it = engine.chat(messages, { maxTokens: c.maxTokens, temperature: 0, ...c.pixels, onPrompt: (n) => (prompt = n) });
      const afterSend = { bytes: -1, bitmapWidth: -1 };
      for await (const e of it) {
        if (afterSend.bytes < 0) Object.assign(afterSend, { bytes: second.byteLength, bitmapWidth: bitmap.width });
        events.push(e);
      }
      clearInterval(tick);
      const done = events.find((e) => e.type === 'done');
      const text = events.map((e) => (e.type === 'text' ? e.text : '')).join('');
      return { backend: info.backend, events, text, tokens: done?.type === 'done' ? [...done.tokens] : [], afterSend, prompt, maxGapMs };
    } finally {
      engine.terminate();
    }
  },

  /** Abort after the first streamed token: the worker stops and says why. */
  async cancel(url: string): Promise<{ finish: string; tokens: number; afterwards: string }> {
    const engine = start();
    try {
      await engine.load(url, { cache: false });
      const ac = new AbortController();
      let finish = 'none';
      let tokens = -1;
      for await (const e of engine.chat([{ role: 'user', content: 'Count to one hundred.' }], { maxTokens: 200, temperature: 0, signal: ac.signal })) {
        if (e.type === 'text') ac.abort();
        if (e.type === 'done') [finish, tokens] = [e.finishReason, e.tokens.length];
      }
      // The worker is free again: a short completion runs after the cancelled one.
      const r = await engine.complete([{ role: 'user', content: 'Hi' }], { maxTokens: 2, temperature: 0 });
      return { finish, tokens, afterwards: r.finishReason };
    } finally {
      engine.terminate();
    }
  },

  /** A folder picked by the user arrives as File objects: fetched here, loaded from them in the worker. */
  async folder(url: string, names: string[]): Promise<{ source: string; weightBytes: number; tokens: number[] }> {
    const files = await Promise.all(names.map(async (n) => new File([await (await fetch(`${url}${n}`)).blob()], n)));
    const engine = start();
    try {
      const info = await engine.load(files);
      const r = await engine.complete([{ role: 'user', content: 'Hi' }], { maxTokens: 3, temperature: 0 });
      return { source: info.source, weightBytes: info.weightBytes, tokens: [...r.tokens] };
    } finally {
      engine.terminate();
    }
  },

  /** An MP4 fetched as a Blob, sent to the worker (decoded there by WebCodecs). */
  async video(url: string, videoUrl: string, prompt: string): Promise<{ prompt: number; finish: string; tokens: number[] }> {
    const blob = await (await fetch(videoUrl)).blob();
    const engine = start();
    try {
      await engine.load(url, { cache: false });
      let n = 0;
      const r = await engine.complete([{ role: 'user', content: [{ type: 'video', video: blob }, { type: 'text', text: prompt }] }], { maxTokens: 2, temperature: 0, onPrompt: (k) => (n = k) });
      return { prompt: n, finish: r.finishReason, tokens: [...r.tokens] };
    } finally {
      engine.terminate();
    }
  },

  async errors(url: string): Promise<string[]> {
    const engine = start();
    const out: string[] = [];
    try {
      await engine.complete([{ role: 'user', content: 'Hi' }]).catch((e: Error) => out.push(`${e.name}: ${e.message}`));
      await engine.load(`${url}does-not-exist/`, { cache: false }).catch((e: Error) => out.push(`${e.name}: ${e.message}`));
      return out;
    } finally {
      engine.terminate();
    }
  },
};

export type WorkerApi = typeof api;
(globalThis as unknown as { qwen: WorkerApi }).qwen = api;
