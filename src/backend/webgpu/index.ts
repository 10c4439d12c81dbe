// Entry of the WebGPU backend: negotiate a device, load the WGSL, build the backend. Loaded lazily by
// backend/index.ts so that Node without a GPU (or without the optional `webgpu` package) still works.

import { acquireDevice, type DeviceOptions } from './device.js';
import { loadWgsl } from './shaders.js';
import { WebGpuBackend } from './backend.js';

export { WebGpuBackend } from './backend.js';
export { NoWebGpuError, type DeviceOptions } from './device.js';

export async function createWebGpuBackend(opts: DeviceOptions = {}): Promise<WebGpuBackend> {
  const [acq, wgsl] = await Promise.all([acquireDevice(opts), loadWgsl()]);
  return new WebGpuBackend(acq, wgsl);
}
