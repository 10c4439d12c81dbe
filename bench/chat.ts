// The chat benchmark: `npm run bench:chat [-- --turns 3 --side 448 --gen 16 --no-server --json]`. A multi-turn
// conversation with one image in turn 1, re-sent in full every turn (as chat clients do), on the 2B shape (random
// weights, q4_0, cpu): time to first token per turn with the caches (prefix reuse and vision features) off and on,
// run back to back per turn, through the library (generate/chat.ts) and through the OpenAI-compatible server (HTTP,
// streaming). The prompt is built by a scripted processor (Qwen chat layout, synthetic pixels), so no tokenizer is
// needed.

import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CpuBackend } from '../src/backend/cpu/index.js';
import { streamChat, type ChatOptions, type ChatProcessor } from '../src/generate/chat.js';
import { loadModel, type Qwen3VL } from '../src/generate/engine.js';
import { LocalEngine, type ChatEngine } from '../src/generate/service.js';
import { VisionCache } from '../src/generate/visionCache.js';
import type { ChatMessage, PreparedInputs } from '../src/processor/index.js';
import { ChatServer } from '../src/server/app.js';
import { genCheckpoint } from '../src/tools/genCheckpoint.js';
import { benchArgs } from './common.js';

const { opt, num, flag } = benchArgs('npm run bench:chat -- [options]: time to first token per chat turn, caches off and on', {
  turns: { value: 'N', default: '3', help: 'chat turns (the image is in turn 1)' },
  side: { value: 'PX', default: '448', help: "the image's side" },
  gen: { value: 'N', default: '16', help: 'tokens generated per turn' },
  threads: { value: 'N', default: '0', help: 'CPU threads (0: all)' },
  ckpt: { value: 'DIR', default: '.cache/bench/2B-L28-q4_0', help: 'the checkpoint (made if missing: random 2B weights, q4_0)' },
  json: { help: 'print the rows as JSON' },
  'no-server': { help: 'leave out the turns through the HTTP server' },
});
const TURNS = num('turns');
const SIDE = num('side');
const GEN = num('gen');
const THREADS = num('threads') || os.availableParallelism();
const CKPT = path.resolve(opt('ckpt')!);
const JSON_OUT = flag('json');
const SERVER = !flag('no-server');

const IM_START = 151644;
const IM_END = 151645;
const NL = 198;

/** Token ids of a text: stable per word, in the ordinary vocabulary range. */
function textIds(s: string): number[] {
  return s.split(/\s+/).filter(Boolean).map((w) => 1000 + ([...w].reduce((h, c) => (h * 31 + c.charCodeAt(0)) >>> 0, 7) % 90000));
}

/** Qwen's chat layout with image placeholders expanded; an assistant message's text is its token ids as `<id>`. */
function scriptedProcessor(m: Qwen3VL): ChatProcessor {
  const c = m.config;
  const patch = c.vision.patchSize;
  const g = SIDE / patch;
  const perImage = (g * g) / c.vision.spatialMergeSize ** 2;
  const patchDim = m.vision.patchDim;
  const drawn = new Map<string, Float32Array>();
  return {
    tokenizer: {
      encode: (s: string) => textIds(s),
      decode: (ids: readonly number[]) => ids.map((i) => `<${i}>`).join(''),
      tokenToId: (s: string) => ({ '<|im_end|>': IM_END, '<|im_start|>': IM_START })[s],
      isSpecial: (id: number) => id >= 151643,
      tokenBytes: (id: number) => new TextEncoder().encode(`<${id}>`),
    },
    async prepare(messages: readonly ChatMessage[]): Promise<PreparedInputs> {
      const ids: number[] = [];
      const pixels: Float32Array[] = [];
      for (const msg of messages) {
        ids.push(IM_START, ...textIds(msg.role), NL);
        const parts = typeof msg.content === 'string' ? [{ type: 'text', text: msg.content }] : (msg.content as { type: string; text?: string; image?: string }[]);
        for (const p of parts) {
          if (p.type === 'image') {
            ids.push(c.visionStartTokenId, ...Array<number>(perImage).fill(c.imageTokenId), c.visionEndTokenId);
            // Drawn once per image (a real processor decodes and resizes each turn: that cost is not what is measured here).
            const key = String(p.image);
            if (!drawn.has(key)) {
              const seed = textIds(key)[0];
              drawn.set(key, Float32Array.from({ length: g * g * patchDim }, (_, i) => Math.sin(i * 0.37 + seed)));
            }
            pixels.push(drawn.get(key)!);
          } else if (msg.role === 'assistant') {
            ids.push(...[...(p.text ?? '').matchAll(/<(\d+)>/g)].map((x) => Number(x[1])));
          } else ids.push(...textIds(p.text ?? ''));
        }
        ids.push(IM_END, NL);
      }
      ids.push(IM_START, ...textIds('assistant'), NL);
      const out: PreparedInputs = { inputIds: ids, mmTokenTypeIds: ids.map((i) => (i === c.imageTokenId ? 1 : 0)), text: '' };
      if (pixels.length) {
        out.pixelValues = pixels.length === 1 ? pixels[0] : new Float32Array(pixels.reduce((n, p) => n + p.length, 0));
        if (pixels.length > 1) pixels.reduce((o, p) => (out.pixelValues!.set(p, o), o + p.length), 0);
        out.imageGridThw = pixels.map(() => [1, g, g]);
      }
      return out;
    },
  };
}

interface Turn {
  turn: number;
  promptTokens: number;
  ttftOffS: number;
  ttftOnS: number;
  /** Prompt tokens taken from the prefix cache (caches on). */
  hitTokens: number;
  sameTokens: boolean;
  serverOffS?: number;
  serverOnS?: number;
  serverHitTokens?: number;
  serverSameText?: boolean;
}

if (!existsSync(path.join(CKPT, 'config.json'))) {
  console.error(`generating the 2B shape (q4_0, random weights) in ${CKPT} …`);
  await genCheckpoint({ out: CKPT, shape: '2B', dtype: 'q4_0' });
}
const backend = new CpuBackend({ threads: THREADS });
const readBwGBs = backend.measureReadBandwidth(1 << 28, 3);
const model = await loadModel(CKPT, { backend, visionCacheMb: 0 });
const proc = scriptedProcessor(model);
const cache = VisionCache.ofMb(256);
const questions = ['Describe this picture in detail.', 'What colours dominate the left half?', 'Write a short caption for it.'];
const history = { off: [] as ChatMessage[], on: [] as ChatMessage[] };
const rows: Turn[] = [];
const hits = () => model.scheduler.stats().prefix.hitTokens;

/** One turn: append the question, stream the answer, append it; seconds to the first event and the tokens. */
async function turn(which: 'off' | 'on', k: number): Promise<{ ttft: number; tokens: number[]; promptTokens: number; hit: number }> {
  const h = history[which];
  const q = questions[k % questions.length];
  h.push({ role: 'user', content: k === 0 ? [{ type: 'image', image: 'photo-1' }, { type: 'text', text: q }] : q });
  let promptTokens = 0;
  let ttft = -1;
  let text = '';
  let tokens: number[] = [];
  const hit0 = hits();
  const t0 = performance.now();
  const opts: ChatOptions = { temperature: 0, maxTokens: GEN, visionCache: which === 'on' ? cache : null, prefixCache: which === 'on', onPrompt: (n) => (promptTokens = n) };
  for await (const e of streamChat(model, proc, h, opts)) {
    if (ttft < 0) ttft = (performance.now() - t0) / 1000;
    if (e.type === 'text') text += e.text;
    if (e.type === 'done') tokens = [...e.tokens];
  }
  h.push({ role: 'assistant', content: text });
  return { ttft, tokens, promptTokens, hit: hits() - hit0 };
}

for (let k = 0; k < TURNS; k++) {
  // Alternate which runs first, so a load spike on this shared machine does not always land on the same side.
  const first = k % 2 ? await turn('on', k) : await turn('off', k);
  const second = k % 2 ? await turn('off', k) : await turn('on', k);
  const [off, on] = k % 2 ? [second, first] : [first, second];
  rows.push({ turn: k + 1, promptTokens: on.promptTokens, ttftOffS: off.ttft, ttftOnS: on.ttft, hitTokens: on.hit, sameTokens: off.tokens.join() === on.tokens.join() });
  console.error(`turn ${k + 1}: ${JSON.stringify(rows[k])}`);
}

/** The OpenAI-compatible server over this model (in this process): caches on, or off for every request. */
async function startServer(on: boolean): Promise<{ base: string; server: ChatServer }> {
  const local = new LocalEngine(model, proc, { id: 'bench-2B', dir: CKPT, modelType: model.config.modelType, contextLength: model.contextLength, backend: 'cpu' }, on ? VisionCache.ofMb(256) : null);
  // Closing the server must not dispose the shared model; off turns both caches off for every request.
  const engine: ChatEngine = { info: local.info, status: () => local.status(), stream: (m, o) => local.stream(m, on ? o : { ...o, prefixCache: false }), close: async () => {} };
  const server = new ChatServer({ engine, media: { allowRemote: false, allowedDirs: [], maxBytes: 64 << 20 } });
  const addr = await server.listen(0, '127.0.0.1');
  return { base: `http://127.0.0.1:${addr.port}`, server };
}

/** One turn through HTTP: the whole conversation re-sent, streamed; seconds to the first chunk, and the answer. */
async function serverTurn(base: string, h: unknown[], k: number, image: string): Promise<{ ttft: number; text: string; hit: number }> {
  const q = questions[k % questions.length];
  h.push({ role: 'user', content: k === 0 ? [{ type: 'image_url', image_url: { url: image } }, { type: 'text', text: q }] : q });
  const hit0 = hits();
  const t0 = performance.now();
  const res = await fetch(`${base}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'bench-2B', messages: h, temperature: 0, max_tokens: GEN, stream: true }) });
  if (!res.ok || !res.body) throw new Error(`server: ${res.status} ${await res.text()}`);
  let ttft = -1;
  let text = '';
  let buf = '';
  for await (const part of res.body as unknown as AsyncIterable<Uint8Array>) {
    if (ttft < 0) ttft = (performance.now() - t0) / 1000;
    buf += Buffer.from(part).toString('utf8');
    for (let i = buf.indexOf('\n\n'); i >= 0; i = buf.indexOf('\n\n')) {
      const line = buf.slice(0, i).replace(/^data: /, '');
      buf = buf.slice(i + 2);
      if (line === '[DONE]') continue;
      const j = JSON.parse(line) as { choices?: { delta?: { content?: string } }[]; error?: { message: string } };
      if (j.error) throw new Error(`server: ${j.error.message}`);
      text += j.choices?.[0]?.delta?.content ?? '';
    }
  }
  h.push({ role: 'assistant', content: text });
  return { ttft, text, hit: hits() - hit0 };
}

if (SERVER) {
  // A real PNG as a data URL (the server reads and checks it); the scripted processor draws the 448² pixels from it.
  const png = `data:image/png;base64,${readFileSync(path.resolve('assets/demo.png')).toString('base64')}`;
  const servers = { off: await startServer(false), on: await startServer(true) };
  const hs = { off: [] as unknown[], on: [] as unknown[] };
  for (let k = 0; k < TURNS; k++) {
    const order: ('off' | 'on')[] = k % 2 ? ['on', 'off'] : ['off', 'on'];
    const r: Partial<Record<'off' | 'on', Awaited<ReturnType<typeof serverTurn>>>> = {};
    for (const w of order) r[w] = await serverTurn(servers[w].base, hs[w], k, png);
    Object.assign(rows[k], { serverOffS: r.off!.ttft, serverOnS: r.on!.ttft, serverHitTokens: r.on!.hit, serverSameText: r.off!.text === r.on!.text });
    console.error(`server turn ${k + 1}: ${JSON.stringify(rows[k])}`);
  }
  await Promise.all([servers.off.server.close(0), servers.on.server.close(0)].map((p) => p.catch(() => {})));
}

const isa = String(backend.capabilities().info.isa);
model.dispose();
const peakRssGiB = process.resourceUsage().maxRSS / 2 ** 20;
const pct = (x: number, of: number) => `${((100 * x) / of).toFixed(0)}%`;
if (JSON_OUT) {
  for (const r of rows) console.log(JSON.stringify({ ...r, side: SIDE, gen: GEN, isa, threads: THREADS, readBwGBs, peakRssGiB, visionCache: cache.stats() }));
} else {
  console.log(`chat TTFT: 2B shape, random weights, q4_0, cpu (${isa}, ${THREADS} threads, read bandwidth ${readBwGBs.toFixed(1)} GB/s), one ${SIDE}² image in turn 1, ${GEN} tokens per answer`);
  console.log('caches off: every turn re-encodes the image and prefills the whole conversation; on: prefix reuse (KV blocks of earlier turns) + vision-feature cache\n');
  console.log('| turn | prompt tokens | reused (prefix hit) | TTFT off s | TTFT on s | on ÷ turn 1 on | same tokens |\n|---|---|---|---|---|---|---|');
  for (const r of rows) console.log(`| ${r.turn} | ${r.promptTokens} | ${r.hitTokens} | ${r.ttftOffS.toFixed(2)} | ${r.ttftOnS.toFixed(2)} | ${pct(r.ttftOnS, rows[0].ttftOnS)} | ${r.sameTokens ? 'yes' : 'NO'} |`);
  if (SERVER) {
    console.log('\nthe same through the OpenAI-compatible server (HTTP, streaming, the conversation re-sent in full each turn; TTFT = first SSE chunk):\n');
    console.log('| turn | reused (prefix hit) | TTFT off s | TTFT on s | on ÷ turn 1 on | same text |\n|---|---|---|---|---|---|');
    for (const r of rows) console.log(`| ${r.turn} | ${r.serverHitTokens} | ${r.serverOffS!.toFixed(2)} | ${r.serverOnS!.toFixed(2)} | ${pct(r.serverOnS!, rows[0].serverOnS!)} | ${r.serverSameText ? 'yes' : 'NO'} |`);
  }
  const s = cache.stats();
  console.log(`\nlibrary vision cache: ${s.hits} hits, ${s.misses} misses, ${(s.bytes / 2 ** 20).toFixed(1)} MiB held; peak RSS ${peakRssGiB.toFixed(2)} GiB`);
}
