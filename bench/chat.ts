// The chat benchmark: `npm run bench:chat [-- --turns 3 --side 448 --gen 16 --json]`. A multi-turn conversation with
// one image in turn 1, re-sent in full every turn (as chat clients do), on the 2B shape (random weights, q4_0, cpu),
// through generate/chat.ts: time to first token per turn with the caches off and on, run back to back per turn.
// The prompt is built by a scripted processor (Qwen chat layout, synthetic pixels), so no tokenizer is needed.

import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CpuBackend } from '../src/backend/cpu/index.js';
import { streamChat, type ChatProcessor } from '../src/generate/chat.js';
import { loadModel, type Qwen3VL } from '../src/generate/engine.js';
import { VisionCache } from '../src/generate/visionCache.js';
import type { ChatMessage, PreparedInputs } from '../src/processor/index.js';
import { genCheckpoint } from '../src/tools/genCheckpoint.js';

const argv = process.argv.slice(2).filter((a) => a !== '--');
const opt = (name: string, def: string) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : def;
};
const TURNS = Number(opt('turns', '3'));
const SIDE = Number(opt('side', '448'));
const GEN = Number(opt('gen', '16'));
const THREADS = Number(opt('threads', '0')) || os.availableParallelism();
const CKPT = path.resolve(opt('ckpt', '.cache/bench/2B-L28-q4_0'));
const JSON_OUT = argv.includes('--json');

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
            const seed = textIds(String(p.image))[0];
            pixels.push(Float32Array.from({ length: g * g * patchDim }, (_, i) => Math.sin(i * 0.37 + seed)));
          } else if (msg.role === 'assistant') {
            ids.push(...[...(p.text ?? '').matchAll(/<(\d+)>/g)].map((x) => Number(x[1])));
          } else ids.push(...textIds(p.text ?? ''));
        }
        ids.push(IM_END, NL);
      }
      ids.push(IM_START, ...textIds('assistant'), NL);
      const out: PreparedInputs = { inputIds: ids, mmTokenTypeIds: ids.map((i) => (i === c.imageTokenId ? 1 : 0)), text: '' };
      if (pixels.length) {
        out.pixelValues = Float32Array.from(pixels.flatMap((p) => Array.from(p)));
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
  sameTokens: boolean;
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

/** One turn: append the question, stream the answer, append it; seconds to the first event and the tokens. */
async function turn(which: 'off' | 'on', k: number): Promise<{ ttft: number; tokens: number[]; promptTokens: number }> {
  const h = history[which];
  const q = questions[k % questions.length];
  h.push({ role: 'user', content: k === 0 ? [{ type: 'image', image: 'photo-1' }, { type: 'text', text: q }] : q });
  let promptTokens = 0;
  let ttft = -1;
  let text = '';
  let tokens: number[] = [];
  const t0 = performance.now();
  for await (const e of streamChat(model, proc, h, { temperature: 0, maxTokens: GEN, visionCache: which === 'on' ? cache : null, onPrompt: (n) => (promptTokens = n) })) {
    if (ttft < 0) ttft = (performance.now() - t0) / 1000;
    if (e.type === 'text') text += e.text;
    if (e.type === 'done') tokens = [...e.tokens];
  }
  h.push({ role: 'assistant', content: text });
  return { ttft, tokens, promptTokens };
}

for (let k = 0; k < TURNS; k++) {
  // Alternate which runs first, so a load spike on this shared machine does not always land on the same side.
  const first = k % 2 ? await turn('on', k) : await turn('off', k);
  const second = k % 2 ? await turn('off', k) : await turn('on', k);
  const [off, on] = k % 2 ? [second, first] : [first, second];
  rows.push({ turn: k + 1, promptTokens: on.promptTokens, ttftOffS: off.ttft, ttftOnS: on.ttft, sameTokens: off.tokens.join() === on.tokens.join() });
  console.error(`turn ${k + 1}: ${JSON.stringify(rows[k])}`);
}
const isa = String(backend.capabilities().info.isa);
model.dispose();
const peakRssGiB = process.resourceUsage().maxRSS / 2 ** 20;
if (JSON_OUT) {
  for (const r of rows) console.log(JSON.stringify({ ...r, side: SIDE, gen: GEN, isa, threads: THREADS, readBwGBs, peakRssGiB, visionCache: cache.stats() }));
} else {
  console.log(`chat TTFT: 2B shape, random weights, q4_0, cpu (${isa}, ${THREADS} threads, read bandwidth ${readBwGBs.toFixed(1)} GB/s), one ${SIDE}² image in turn 1, ${GEN} tokens per answer`);
  console.log('caches off: every turn re-encodes the image and prefills the whole conversation; on: vision-feature cache (prefix reuse not built yet)\n');
  console.log('| turn | prompt tokens | TTFT off s | TTFT on s | on ÷ turn 1 on | same tokens |\n|---|---|---|---|---|---|');
  for (const r of rows) console.log(`| ${r.turn} | ${r.promptTokens} | ${r.ttftOffS.toFixed(2)} | ${r.ttftOnS.toFixed(2)} | ${((100 * r.ttftOnS) / rows[0].ttftOnS).toFixed(0)}% | ${r.sameTokens ? 'yes' : 'NO'} |`);
  const s = cache.stats();
  console.log(`\nvision cache: ${s.hits} hits, ${s.misses} misses, ${(s.bytes / 2 ** 20).toFixed(1)} MiB held; peak RSS ${peakRssGiB.toFixed(2)} GiB`);
}
