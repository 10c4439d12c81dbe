// The page side of the browser op harness: builds the WebGPU backend on navigator.gpu and runs one op case at a
// time against ref, returning the relative errors to the Node-side test (webgpu.browser.ts).
import { createWebGpuBackend, type WebGpuBackend } from '../../src/backend/webgpu/index.js';
import { RefBackend } from '../../src/backend/ref/index.js';
import type { Tensor } from '../../src/tensor/tensor.js';
import { opCases, relErr } from '../backend/opCases.js';
import { rng } from '../helpers/rng.js';

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
  async run(name: string): Promise<CaseResult> {
    const c = opCases.find((o) => o.name === name);
    if (!c || !be) throw new Error(`no case '${name}' or backend not ready`);
    const want = await readAll(c.run(ref, rng(1234)));
    const got = await readAll(c.run(be, rng(1234)));
    return { errs: want.map((w, i) => relErr(got[i], w)), lengths: want.map((w, i) => [got[i].length, w.length]) };
  },
};

(globalThis as unknown as { qwen: typeof api }).qwen = api;
