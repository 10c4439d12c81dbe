// The page side of the browser op harness: builds the WebGPU backend on navigator.gpu and runs one op case at a
// time against ref, returning the relative errors to the Node-side test (webgpu.browser.ts).
import { createWebGpuBackend, type WebGpuBackend } from '../../src/backend/webgpu/index.js';
import { RefBackend } from '../../src/backend/ref/index.js';
import type { Tensor } from '../../src/tensor/tensor.js';
import { opCases } from '../backend/opCases.js';
import { relErr } from '../helpers/compare.js';
import { fusedCases } from '../backend/webgpuFusedCases.js';
import { rng } from '../helpers/rng.js';
import { tinyModel, tinyPrompt } from './tinyModel.js';
import { argmax } from '../../src/tensor/math.js';
import type { Backend } from '../../src/backend/backend.js';

/** Prefill (all logits) with an image, then greedy decode steps on the KV cache; logits of every step. */
/** unfused: hide the backend's fused kernels so backend/fused.ts composes them from contract ops. */
async function modelRun(b: Backend, steps: number, unfused = false): Promise<Float32Array[]> {
  const m = tinyModel(unfused ? Object.assign(Object.create(b) as Backend, { linearEx: undefined, qkvPost: undefined }) : b);
  const p = tinyPrompt();
  const cache = m.createCache(64);
  const out: Float32Array[] = [];
  let l = (await m.forward({ inputIds: p.ids, pixelValues: p.pixels, imageGridThw: p.grid, cache, chunkSize: 5, logits: 3 })).logits;
  out.push(l);
  l = l.subarray(l.length - m.config.text.vocabSize);
  for (let s = 0; s < steps; s++) out.push((l = await m.decode(cache, [argmax(l)])));
  cache.dispose();
  return out;
}

export interface CaseResult {
  readonly errs: number[];
  readonly lengths: [number, number][];
}

let be: WebGpuBackend | null = null;
const ref = new RefBackend();

async function readAll(x: Tensor | Tensor[]): Promise<(Float32Array | Int32Array)[]> {
  return Promise.all((Array.isArray(x) ? x : [x]).map((t) => t.read()));
}

const api = {
  async init(): Promise<Record<string, string | number | boolean>> {
    be = await createWebGpuBackend();
    return be.capabilities().info;
  },
  async model(unfused: boolean): Promise<number[]> {
    if (!be) throw new Error('backend not ready');
    const want = await modelRun(ref, 3);
    const got = await modelRun(be, 3, unfused);
    return want.map((w, i) => relErr(got[i], w));
  },
  /** A 2-D dispatch grid (more than 65535 workgroups) on an elementwise op. */
  async bigAdd(): Promise<number> {
    if (!be) throw new Error('backend not ready');
    const n = 65536 * 256 + 1000;
    const a = Float32Array.from({ length: n }, (_, i) => i % 1000);
    const y = await be.add(be.upload(a, [n], 'f32'), be.upload(a, [n], 'f32')).readF32();
    let bad = 0;
    for (let i = 0; i < n; i++) if (y[i] !== 2 * a[i]) bad++;
    return bad;
  },
  async fused(name: string): Promise<number[]> {
    const c = fusedCases.find((o) => o.name === name);
    if (!c || !be) throw new Error(`no fused case '${name}' or backend not ready`);
    const want = await readAll(c.plain(ref, rng(42)));
    const got = await readAll(c.fused(be, rng(42)));
    return want.map((w, i) => relErr(got[i], w));
  },
  /** Profiling mode and pass timing produce GPU times (timestamp-query). */
  async timing(): Promise<{ kernels: string[]; passMs: number | null }> {
    if (!be) throw new Error('backend not ready');
    const x = be.upload(new Float32Array(4096).fill(1), [64, 64], 'f32');
    be.rt.profile = new Map();
    be.rmsNorm(be.add(x, x), be.upload(new Float32Array(64).fill(1), [64], 'f32'), 1e-6);
    const prof = await be.rt.profileReport();
    be.rt.profile = null;
    const g = be.rt.gpuTimeOfNextPass();
    be.add(x, x);
    be.flush();
    return { kernels: prof.map((p) => `${p.kernel}:${p.n}`).sort(), passMs: g ? await g : null };
  },
  /** Bad KV pool inputs: the error message of each (or 'no error'). */
  async kvErrors(): Promise<string[]> {
    if (!be) throw new Error('backend not ready');
    const b = be;
    const msg = (f: () => unknown) => {
      try {
        f();
        return 'no error';
      } catch (e) {
        return (e as Error).message;
      }
    };
    const f16 = b.kvAlloc(32, 64, 'f16');
    const q8 = b.kvAlloc(32, 64, 'q8_0');
    const weight = b.upload(new Uint8Array(2 * 34), [1, 64], 'q8_0');
    const q = b.upload(new Float32Array(128), [1, 128], 'f32');
    const batch = { blockSize: 16, cuQ: Int32Array.of(0, 1), kvLen: Int32Array.of(1), tblPtr: Int32Array.of(0, 1), tbl: Int32Array.of(1) };
    const heads = { nHeads: 4, nKvHeads: 2, headDim: 32, scale: 1 };
    const out = [
      msg(() => b.kvAlloc(32, 48, 'q8_0')),
      msg(() => b.kvAlloc(32, 63, 'f16')),
      msg(() => b.kvWrite(weight, Int32Array.of(0), b.zeros([1, 64]))),
      msg(() => b.kvWrite(f16, Int32Array.of(32), b.zeros([1, 64]))),
      msg(() => b.pagedAttention(q, f16, q8, batch, heads)),
      msg(() => b.pagedAttention(q, weight, weight, { ...batch, blockSize: 1, tbl: Int32Array.of(0) }, heads)),
    ];
    for (const t of [f16, q8, weight, q]) t.dispose();
    return out;
  },
  async run(name: string): Promise<CaseResult> {
    const c = opCases.find((o) => o.name === name);
    if (!c || !be) throw new Error(`no case '${name}' or backend not ready`);
    const want = await readAll(c.run(ref, rng(1234)));
    const got = await readAll(c.run(be, rng(1234)));
    return { errs: want.map((w, i) => relErr(got[i], w)), lengths: want.map((w, i) => [got[i].length, w.length]) };
  },
};

(globalThis as unknown as { qwen: typeof api }).qwen = api;
