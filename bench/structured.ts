// Cost of structured outputs: decode tok/s of chat() with and without a JSON Schema on a random-weight checkpoint of
// a real shape (CPU backend), runs alternating A/B so both see the same machine load, plus the grammar's own host
// time per token. `npx vite-node bench/structured.ts -- --shape 2B --dtype q8_0 [--layers N] [--gen 64] [--reps 3]`
import { existsSync, mkdirSync, copyFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadModel } from '../src/generate/engine.js';
import { streamChat, type ChatOptions } from '../src/generate/chat.js';
import { GrammarConstraint } from '../src/generate/grammar.js';
import { genCheckpoint, SHAPES, type ShapeName } from '../src/tools/genCheckpoint.js';
import { fixturesRoot } from '../test/helpers/fixtures.js';
import { benchArgs } from './common.js';

const { opt, num, choice } = benchArgs('npx vite-node bench/structured.ts -- [options]: decode tok/s of chat() with and without a JSON Schema', {
  shape: { value: 'SHAPE', default: '2B', help: `model shape: ${Object.keys(SHAPES).join(', ')}` },
  dtype: { value: 'DTYPE', default: 'q8_0', help: 'weight format: bf16, q8_0 or q4_0' },
  layers: { value: 'N', help: "decoder layers (default: the shape's)" },
  gen: { value: 'N', default: '64', help: 'tokens generated per chat' },
  reps: { value: 'N', default: '3', help: 'A/B pairs' },
  cache: { value: 'DIR', default: '.cache/bench', help: 'where the random-weight checkpoint is kept' },
});
const shape = choice('shape', Object.keys(SHAPES) as ShapeName[]);
const dtype = choice('dtype', ['q8_0', 'q4_0', 'bf16']);
const layers = num('layers', SHAPES[shape].layers);
const GEN = num('gen');
const REPS = num('reps');
const dir = path.resolve(opt('cache')!, `${shape}-L${layers}-${dtype}-tok`);

if (!existsSync(path.join(dir, 'config.json'))) {
  mkdirSync(dir, { recursive: true });
  console.error(`generating ${shape} (${layers} layers, ${dtype}) in ${dir} …`);
  await genCheckpoint({ out: dir, shape, layers, dtype: dtype === 'bf16' ? 'bf16' : dtype });
}
// The grammar needs the real Qwen vocabulary: the fixtures' tokenizer files.
for (const f of ['tokenizer.json', 'tokenizer_config.json', 'preprocessor_config.json']) {
  const src = path.join(fixturesRoot, 'tiny-dense', f);
  if (!existsSync(path.join(dir, f))) copyFileSync(src, path.join(dir, f));
}

const model = await loadModel(dir, { backend: 'cpu' });
const schema = { type: 'object', properties: { title: { type: 'string' }, items: { type: 'array', items: { type: 'object', properties: { name: { type: 'string' }, qty: { type: 'integer' } }, required: ['name', 'qty'] } } }, required: ['title', 'items'] };
const messages = [{ role: 'user' as const, content: [{ type: 'text' as const, text: 'List the items on the receipt as JSON.' }] }];

/** Decode tok/s of one greedy chat: completion tokens after the first, over the time after the prefill. */
async function run(o: ChatOptions): Promise<{ tokS: number; tokens: number }> {
  let t0 = 0;
  let tokens = 0;
  for await (const e of streamChat(model, model.processor!, messages, { ...o, temperature: 0, maxTokens: GEN, onPrefillProgress: (d, t) => d >= t && (t0 = performance.now()) })) {
    if (e.type === 'usage') tokens = e.usage.completionTokens;
  }
  return { tokS: (tokens - 1) / ((performance.now() - t0) / 1000), tokens };
}

const plain: number[] = [];
const json: number[] = [];
const hostLogits: number[] = [];
let jsonTokens = 0;
await run({ responseFormat: { type: 'json_schema', schema } }); // compile the grammar and warm up once
for (let r = 0; r < REPS; r++) {
  plain.push((await run({})).tokS);
  // Host logits without a grammar (log-probabilities on): what the grammar path pays before its own work.
  hostLogits.push((await run({ logprobs: true })).tokS);
  const j = await run({ responseFormat: { type: 'json_schema', schema } });
  json.push(j.tokS);
  jsonTokens = j.tokens;
}
const best = (a: number[]) => Math.max(...a).toFixed(2);
const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
console.log(`\n${shape} (${layers} layers, ${dtype}), cpu backend, ${os.availableParallelism()} threads, ${cpu}; greedy, ${GEN} new tokens, best of ${REPS} (A/B alternating; machine shared, provisional)`);
console.log('| decode | tok/s |');
console.log('|---|---|');
console.log(`| free text, argmax on the backend | ${best(plain)} |`);
console.log(`| free text, logits to the host (logprobs on) | ${best(hostLogits)} |`);
console.log(`| JSON Schema (XGrammar mask, ${jsonTokens} tokens) | ${best(json)} |`);

// The grammar's own host work per token, without the model: mask + masked argmax + accept on random logit rows.
const g = await GrammarConstraint.create(model.processor!.tokenizer, { kind: 'json', schema, strict: true }, { vocabSize: model.config.text.vocabSize, stopIds: [151645, 151643] });
const row = new Float32Array(model.config.text.vocabSize);
let steps = 0;
let ms = 0;
for (let seq = 0; seq < 20; seq++) {
  for (let i = 0; i < 60 && !g.isTerminated(); i++) {
    for (let j = 0; j < row.length; j += 97) row[j] = Math.random();
    const t = performance.now();
    const next = i > 40 ? await g.closingArgmax(row) : await g.argmax(row);
    g.accept(next);
    ms += performance.now() - t;
    steps++;
  }
  g.reset();
}
console.log(`| grammar host work alone (mask + argmax + accept) | ${(ms / steps).toFixed(3)} ms/token over ${steps} tokens |`);
g.dispose();
model.dispose();
