// GPU benchmark of the WebGPU backend on random weights of the published shapes (made on the GPU): vision tower
// for a 448² and a 1024² image, time to first token of an image+text prompt, batch-1 decode, next to the
// transformers anchors (shared/device/anchors.md) and the bandwidth roofline. Usage:
//   node bench.mjs [--models 2B,4B,8B] [--kernels | --kernels-only] [--profile] [--unfused] [--decode 32] [--decode-reps 5]
//                  [--dawn toggle,toggle] [--sgmat] [--attn-flash] [--no-fit] [--json out.json]
//                  [--precision fast] [--quant q4_0] [--sides 448,1024]
// --precision fast: f16 tensor cores for prefill and vision (with --kernels: the tilings swept first, best kept).
// --quant q4_0: the text layers' matrices as q4_0 (the 4-bit MoE models); --sides: image sizes to run.
// --plan: print the GPU bytes of each model's weights (no GPU needed) and exit.
// --sgmat: opt into f16 subgroup matrices for large matmuls (WebGpuOptions.subgroupMatrix).
import { writeFileSync } from 'node:fs';
import { createWebGpuBackend } from '../../src/backend/webgpu/index.js';
import type { WebGpuBackend } from '../../src/backend/webgpu/backend.js';
import { decodeGreedyMany } from '../../src/generate/greedy.js';
import { noTrace } from '../../src/nn/trace.js';
import { shapeConfig } from './shapes.js';
import { decodeBytes, randomModel, weightBytes } from './randomModel.js';
import { type FastChoice, attentionBench, decodeStepBench, fastBench, matmulBench, pagedBench } from './kernels.js';
import { readFileSync, existsSync } from 'node:fs';

const args = process.argv.slice(2);
const opt = (k: string, d: string) => (args.includes(k) ? args[args.indexOf(k) + 1] : d);
const models = opt('--models', '2B').split(',');
const decodeN = Number(opt('--decode', '32'));
const decodeReps = Number(opt('--decode-reps', '5'));
const jsonOut = opt('--json', '');
/** Dawn toggles, e.g. --dawn allow_unsafe_apis,skip_validation,disable_robustness */
const dawn = opt('--dawn', '');
const kernelsOnly = args.includes('--kernels-only');
/** Route linearEx/qkvPost through their contract-op compositions (backend/fused.ts), as before fusion landed. */
const unfused = args.includes('--unfused');
const sgmat = args.includes('--sgmat');
/** Many-row attention on the 64×64-tile kernel (attn_flash) for every head size, as before attn_rows. */
const noFit = args.includes('--no-fit');
const attnFlash = args.includes('--attn-flash');
const fast = opt('--precision', 'exact') === 'fast';
const quant = opt('--quant', '') === 'q4_0' ? ('q4_0' as const) : undefined;
const sides = opt('--sides', '448,1024').split(',').map(Number);
/** The fast-matmul tiling fastBench found best (kept for the later models' backends). */
let fastChoice: FastChoice | null = null;
const COPY_BW = 3.8e12; // device copy bandwidth measured with PyTorch (anchors.md)

/** transformers 5.17 on the same card (anchors.md): vision ms, TTFT ms, decode tok/s. */
const ANCHORS: Record<string, Record<number, [number, number, number]>> = {
  '2B': { 448: [32.1, 62.15, 10.6], 1024: [26.27, 72.61, 12.8] },
  '4B': { 448: [17.15, 54.1, 11.7], 1024: [21.09, 65.34, 12.0] },
  '8B': { 448: [19.15, 64.73, 27.3], 1024: [28.22, 77.71, 25.6] },
  '30B-A3B': { 448: [16.59, 87.89, 10.3] },
  '235B-A22B': {},
};
const PROMPT: Record<number, number> = { 448: 270, 1024: 1098 };

const now = () => performance.now();
if (args.includes('--plan')) {
  for (const m of models) {
    const bytes = weightBytes(shapeConfig(m), quant);
    console.log(`${m} ${quant ?? 'bf16'}: ${(bytes / 1e9).toFixed(2)} GB (${(bytes / 2 ** 30).toFixed(2)} GiB) of weights on the GPU`);
  }
  process.exit(0);
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const log = (...a: unknown[]) => console.log(...a);

function rand(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = ((s >>> 0) / 2 ** 32) * 2 - 1;
  }
  return out;
}

async function benchModel(name: string, kernels: boolean) {
  const cfg = shapeConfig(name);
  const b = (await createWebGpuBackend({
    subgroupMatrix: sgmat || fast,
    precision: fast ? 'fast' : 'exact',
    ...(dawn ? { dawnFlags: [`enable-dawn-features=${dawn}${sgmat || fast ? ',vulkan_enable_f16_on_nvidia' : ''}`] } : {}),
  })) as WebGpuBackend;
  if (attnFlash) b.rt.attnRowsMaxHd = 0;
  if (noFit) b.rt.matmulFit = false;
  if (sgmat) log(`[${name}] subgroup matrices: ${b.rt.subgroupMatrix} (${JSON.stringify({ f16Matrix16: b.rt.info.f16Matrix16, features: b.rt.info.deviceFeatures })})`);
  if (fast) log(`[${name}] precision fast: ${b.rt.fast}`);
  // The kernels fastBench found best: from this run, or from an earlier process (--fast-choice file).
  const choiceFile = opt('--fast-choice', '');
  if (fast && !fastChoice && choiceFile && existsSync(choiceFile)) fastChoice = JSON.parse(readFileSync(choiceFile, 'utf8')) as FastChoice;
  if (fast && fastChoice) Object.assign(b.rt, { fastTile: fastChoice.tile, fastMatmul: fastChoice.matmul, fastAttn: fastChoice.attn });
  if (fast) log(`[${name}] fast kernels: ${b.rt.fastMatmul} ${b.rt.fastTile.join('x')}, attention ${b.rt.fastAttn}`);
  const t0 = now();
  const model = randomModel(b, cfg, 1, quant);
  if (unfused) {
    const x = b as unknown as { linearEx?: unknown; qkvPost?: unknown };
    x.linearEx = undefined;
    x.qkvPost = undefined;
  }
  await b.sync();
  log(`[${name}] random weights on GPU in ${(now() - t0).toFixed(0)} ms, ${(b.rt.bytesAllocated / 2 ** 30).toFixed(2)} GiB`);
  const rows: Record<string, number | string>[] = [];
  const out: Record<string, unknown> = { model: name, rows, gpuBytes: b.rt.bytesAllocated };
  if (kernels && fast) {
    const shapes = [[4096, 3072, 1024], [4096, 1024, 4096], [4096, 4096, 1024], [1098, 12288, 2048], [1098, 2048, 6144], [270, 2048, 2048], [270, 6144, 4096], [270, 24576, 4096], [784, 3456, 1152], [784, 4304, 1152], [1024, 4096, 4096]];
    const r = await fastBench(b, shapes);
    fastChoice = r.best;
    if (choiceFile) writeFileSync(choiceFile, JSON.stringify(r.best));
    out.fast = r.rows;
    out.fastChoice = r.best;
    for (const x of r.rows) log(`[${name}] fast`, JSON.stringify(x));
    log(`[${name}] fast kernels kept: ${JSON.stringify(r.best)}`);
  } else if (kernels) {
    out.decodeStep = await decodeStepBench(b, cfg, 300);
    for (const r of out.decodeStep as object[]) log(`[${name}] decode step`, JSON.stringify(r));
    out.matmul = [];
    // Generic shapes, then the vision tower at 1024² (4096 patches, hidden 1024: qkv, mlp up, mlp down) and text prefill.
    // 8B text prefill of 270 tokens (qkv, o, gate|up, down) and its vision tower at 448² (784 patches: qkv, MLP up).
    const shapes = [[1024, 4096, 4096], [4096, 4096, 1024], [4096, 3072, 1024], [4096, 1024, 4096], [1098, 12288, 2048], [270, 2048, 2048]];
    shapes.push([270, 6144, 4096], [270, 4096, 4096], [270, 24576, 4096], [270, 4096, 12288], [784, 3456, 1152], [784, 4304, 1152]);
    for (const [m, n, k] of shapes) {
      (out.matmul as unknown[]).push(await matmulBench(b, m, n, k));
    }
    log(`[${name}] matmul`, JSON.stringify(out.matmul));
    out.attention = [await attentionBench(b, 4096, 16, 64), await attentionBench(b, 784, 16, 64)];
    log(`[${name}] attention`, JSON.stringify(out.attention));
    // Paged decode attention over the serving engine's KV pool per format (f16 is the default).
    const t = cfg.text;
    out.paged = [...(await pagedBench(b, t.numAttentionHeads, t.numKeyValueHeads, t.headDim, 1, 4096)), ...(await pagedBench(b, t.numAttentionHeads, t.numKeyValueHeads, t.headDim, 8, 1024))];
    log(`[${name}] paged attention`, JSON.stringify(out.paged));
  }
  if (kernelsOnly) {
    model.dispose();
    return out;
  }
  const v = cfg.vision;
  const patch = v.inChannels * v.temporalPatchSize * v.patchSize ** 2;
  for (const side of sides) {
    const anchor = ANCHORS[name]?.[side];
    const g = side / v.patchSize;
    const n = g * g;
    const pixels = rand(n * patch, side);
    const grid = [[1, g, g]];
    // Vision tower alone: upload pixels, run, wait (outputs stay on the GPU).
    const vis: number[] = [];
    for (let i = 0; i < 4; i++) {
      const a = now();
      const o = model.vision.forward(pixels, grid, noTrace);
      await b.sync();
      vis.push(now() - a);
      o.merged.dispose();
      o.deepstack.forEach((d) => d.dispose());
    }
    const visionMs = median(vis.slice(1));
    // Image+text prompt of the anchor's length: chat tokens, vision start, image pads, vision end, text.
    const nVis = n / v.spatialMergeSize ** 2;
    const total = PROMPT[side];
    const pre = [151644, 872, 198, cfg.visionStartTokenId ?? 151652];
    const ids = [...pre, ...new Array(nVis).fill(cfg.imageTokenId), 151653];
    while (ids.length < total) ids.push(1000 + ids.length);
    const ttft: number[] = [];
    let decodeTokS = 0;
    let decodeLogitsTokS = 0;
    let decodeStepTokS = 0;
    let decodeSpread = '';
    for (let i = 0; i < 3; i++) {
      const cache = model.createCache(total + 3 * decodeReps * decodeN + 8);
      const a = now();
      // Greedy: the first token's argmax is taken on the GPU (4 bytes back), as generateGreedy and streamChat do.
      let next = (await model.forwardArgmax({ inputIds: ids, pixelValues: pixels, imageGridThw: grid, cache, logits: 'last' }))[0];
      ttft.push(now() - a);
      if (i === 2) {
        next = await model.decodeGreedy(cache, [next]); // warm the decode pipelines
        // Model-level decode swings ±30% between runs on the H200 machine (host-bound): the three ways alternate,
        // decodeReps times each, and the medians are reported.
        const [pipe, step, host]: number[][] = [[], [], []];
        for (let rep = 0; rep < decodeReps; rep++) {
          // Pipelined greedy decoding (generateGreedy/streamChat): the next step is queued before a token is read.
          const d0 = now();
          next = (await decodeGreedyMany(model, cache, next, decodeN)).at(-1)!;
          pipe.push((decodeN * 1000) / (now() - d0));
          // One step at a time: argmax on the GPU, 4 bytes read, the host waits before recording the next step.
          const d2 = now();
          for (let s = 0; s < decodeN; s++) next = await model.decodeGreedy(cache, [next]);
          step.push((decodeN * 1000) / (now() - d2));
          // The logits read back (600 KB for 2B) and the argmax taken on the host, as before.
          const d1 = now();
          for (let s = 0; s < decodeN; s++) next = hostArgmax(await model.decode(cache, [next]));
          host.push((decodeN * 1000) / (now() - d1));
        }
        decodeTokS = median(pipe);
        decodeStepTokS = median(step);
        decodeLogitsTokS = median(host);
        decodeSpread = `${Math.min(...pipe).toFixed(0)}-${Math.max(...pipe).toFixed(0)}`;
      }
      cache.dispose();
    }
    const ttftMs = median(ttft);
    if (args.includes('--profile')) {
      // GPU time per kernel of one image+text prefill and one decode step through the model.
      const cache = model.createCache(total + 8);
      b.rt.profile = new Map();
      const first = (await model.forwardArgmax({ inputIds: ids, pixelValues: pixels, imageGridThw: grid, cache, logits: 'last' }))[0];
      out[`prefillProfile${side}`] = await b.rt.profileReport();
      b.rt.profile = new Map();
      await model.decodeGreedy(cache, [first]);
      out[`decodeProfile${side}`] = await b.rt.profileReport();
      b.rt.profile = null;
      cache.dispose();
      const fmt = (p: { kernel: string; ms: number; n: number }[]) => p.map((r) => `${r.kernel} ${r.ms}ms/${r.n}`).join(', ');
      log(`[${name}] ${side}² prefill GPU profile: ${fmt(out[`prefillProfile${side}`] as { kernel: string; ms: number; n: number }[])}`);
      log(`[${name}] ${side}² decode GPU profile: ${fmt(out[`decodeProfile${side}`] as { kernel: string; ms: number; n: number }[])}`);
    }
    const roof = COPY_BW / decodeBytes(cfg, total + decodeN, quant);
    const row = {
      model: `${name}${quant ? ' ' + quant : ''}${fast ? ' fast' : ''}${unfused ? ' unfused' : ''}${sgmat ? ' sgmat' : ''}${attnFlash ? ' attn_flash' : ''}${noFit ? ' no-fit' : ''}`,
      image: `${side}x${side}`,
      promptTokens: total,
      visionMs: +visionMs.toFixed(1),
      visionAnchor: anchor?.[0] ?? '',
      ttftMs: +ttftMs.toFixed(1),
      ttftAnchor: anchor?.[1] ?? '',
      ttftRatio: anchor ? +(ttftMs / anchor[1]).toFixed(2) : '',
      decodeTokS: +decodeTokS.toFixed(1),
      decodeSpread,
      decodeStepTokS: +decodeStepTokS.toFixed(1),
      decodeLogitsTokS: +decodeLogitsTokS.toFixed(1),
      decodeAnchor: anchor?.[2] ?? '',
      decodeVsAnchor: anchor ? +(decodeTokS / anchor[2]).toFixed(1) : '',
      rooflineTokS: +roof.toFixed(0),
      rooflineFrac: +(decodeTokS / roof).toFixed(3),
    };
    rows.push(row);
    log(JSON.stringify(row));
  }
  out.dispatches = b.rt.dispatches;
  model.dispose();
  return out;
}

function hostArgmax(x: Float32Array): number {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i] > x[best]) best = i;
  return best;
}

const results = [];
for (const [i, m] of models.entries()) {
  try {
    results.push(await benchModel(m, (args.includes('--kernels') || kernelsOnly) && i === 0));
  } catch (e) {
    log(`[${m}] failed: ${(e as Error).stack}`);
    results.push({ model: m, error: (e as Error).message });
  }
  if (jsonOut) writeFileSync(jsonOut, JSON.stringify(results, null, 1));
}
log('\n| model | image | prompt | vision ms (hf) | TTFT ms (hf, ratio) | decode tok/s (hf, ×) | step by step, argmax / logits read back | roofline tok/s | of roofline |');
log('|---|---|---|---|---|---|---|---|---|');
for (const r of results) {
  for (const x of (r as { rows?: Record<string, number | string>[] }).rows ?? []) {
    log(`| ${x.model} | ${x.image} | ${x.promptTokens} | ${x.visionMs} (${x.visionAnchor}) | ${x.ttftMs} (${x.ttftAnchor}, ${x.ttftRatio}×) | ${x.decodeTokS} [${x.decodeSpread}] (${x.decodeAnchor}, ${x.decodeVsAnchor}×) | ${x.decodeStepTokS} / ${x.decodeLogitsTokS} | ${x.rooflineTokS} | ${(100 * (x.rooflineFrac as number)).toFixed(1)}% |`);
  }
}
process.exit(0);
