// Entry of the WebGPU backend: negotiate a device, load the WGSL, build the backend. Loaded lazily by
// backend/index.ts so that Node without a GPU (or without the optional `webgpu` package) still works.

import { acquireDevice, type DeviceOptions } from './device.js';
import { loadWgsl } from './shaders.js';
import { WebGpuBackend } from './backend.js';
import type { Precision } from '../backend.js';

export { WebGpuBackend } from './backend.js';
export { NoWebGpuError, type DeviceOptions } from './device.js';

export interface WebGpuOptions extends DeviceOptions {
  /**
   * Submit after this many dispatches (0: only when a result is read). Overlapping host recording with GPU work
   * measured 1.4-1.5x faster decode on the H200 than one command buffer per step (bench/gpu/README.md).
   */
  readonly flushEvery?: number;
  /**
   * 'exact' (default): f32 activations and accumulation, results match `ref` to about 1e-6. 'fast': weights held as
   * f16, and matmuls and attention over many rows (prefill, vision tower) on f16 tensor cores (subgroup matrices)
   * with f16 activations (each row scaled by a power of two into f16's range) and f32 accumulation; decode
   * (≤ 4 rows) stays on the f32 kernels. Needs `chromium-experimental-subgroup-matrix` with an f16 16×16×16
   * configuration; where the GPU lacks it, the backend says so once and runs exact.
   */
  readonly precision?: Precision;
}

const isNode = typeof process !== 'undefined' && !!process.versions?.node;

/** Default for WebGpuOptions.flushEvery. */
export const DEFAULT_FLUSH_EVERY = 32;

export async function createWebGpuBackend(opts: WebGpuOptions = {}): Promise<WebGpuBackend> {
  // QWEN3VL_WEBGPU_SUBGROUP_MATRIX=1 opts in where the backend is created by name (CLI, server).
  const env = isNode && process.env.QWEN3VL_WEBGPU_SUBGROUP_MATRIX === '1';
  const envPrecision = isNode ? process.env.QWEN3VL_WEBGPU_PRECISION : undefined;
  const precision = opts.precision ?? (envPrecision === 'fast' ? 'fast' : 'exact');
  if (precision !== 'exact' && precision !== 'fast') throw new Error(`webgpu: precision must be 'exact' or 'fast', got '${String(precision)}'`);
  const o = (env || precision === 'fast') && opts.subgroupMatrix === undefined ? { ...opts, subgroupMatrix: true } : opts;
  const [acq, wgsl] = await Promise.all([acquireDevice(o), loadWgsl()]);
  const b = new WebGpuBackend(acq, wgsl);
  b.rt.flushEvery = opts.flushEvery ?? DEFAULT_FLUSH_EVERY;
  const tensorCores = acq.features.has('chromium-experimental-subgroup-matrix') && acq.features.has('shader-f16') && acq.info.f16Matrix16 === true;
  if (precision === 'fast') {
    // The fast kernels replace the hi/lo one; without tensor cores the exact kernels run (said once, not an error:
    // the same code must run on every browser).
    b.rt.fast = tensorCores && acq.features.has('subgroups');
    if (!b.rt.fast) console.warn("qwen3-vl: webgpu precision 'fast' needs f16 subgroup matrices (chromium-experimental-subgroup-matrix), which this GPU does not offer; running 'exact'");
  } else {
    b.rt.subgroupMatrix = tensorCores;
  }
  b.rt.info.precision = b.rt.fast ? 'fast' : 'exact';
  return b;
}
