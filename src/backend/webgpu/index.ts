// Entry of the WebGPU backend: negotiate a device, load the WGSL, build the backend. Loaded lazily by
// backend/index.ts so that Node without a GPU (or without the optional `webgpu` package) still works.

import { acquireDevice, type DeviceOptions } from './device.js';
import { loadWgsl } from './shaders.js';
import { WebGpuBackend } from './backend.js';

export { WebGpuBackend } from './backend.js';
export { NoWebGpuError, type DeviceOptions } from './device.js';

export interface WebGpuOptions extends DeviceOptions {
  /**
   * Submit after this many dispatches (0: only when a result is read). Overlapping host recording with GPU work
   * measured 1.4-1.5x faster decode on the H200 than one command buffer per step (bench/gpu/README.md).
   */
  readonly flushEvery?: number;
}

const isNode = typeof process !== 'undefined' && !!process.versions?.node;

/** Default for WebGpuOptions.flushEvery. */
export const DEFAULT_FLUSH_EVERY = 32;

export async function createWebGpuBackend(opts: WebGpuOptions = {}): Promise<WebGpuBackend> {
  // QWEN3VL_WEBGPU_SUBGROUP_MATRIX=1 opts in where the backend is created by name (CLI, server).
  const env = isNode && process.env.QWEN3VL_WEBGPU_SUBGROUP_MATRIX === '1';
  const o = env && opts.subgroupMatrix === undefined ? { ...opts, subgroupMatrix: true } : opts;
  const [acq, wgsl] = await Promise.all([acquireDevice(o), loadWgsl()]);
  const b = new WebGpuBackend(acq, wgsl);
  b.rt.flushEvery = opts.flushEvery ?? DEFAULT_FLUSH_EVERY;
  b.rt.subgroupMatrix = acq.features.has('chromium-experimental-subgroup-matrix') && acq.features.has('shader-f16') && acq.info.f16Matrix16 === true;
  return b;
}
