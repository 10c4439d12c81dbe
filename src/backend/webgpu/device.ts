// Adapter and device negotiation in one place: Dawn (npm `webgpu`) in Node, `navigator.gpu` in browsers.
// Requests the adapter's own limits (the defaults cap storage bindings at 128 MiB) and the optional features we use.

/// <reference types="@webgpu/types" />

export interface DeviceOptions {
  /** A GPU object to use (e.g. `navigator.gpu`); found automatically when absent. */
  readonly gpu?: GPU;
  /** Dawn toggles for Node (default: allow_unsafe_apis so experimental features are reported). */
  readonly dawnFlags?: readonly string[];
  readonly powerPreference?: GPUPowerPreference;
  /**
   * Ask for f16 subgroup matrices (tensor cores): adds the features `chromium-experimental-subgroup-matrix` and
   * `shader-f16`, and in Node the Dawn toggle `vulkan_enable_f16_on_nvidia` (Dawn keeps shader-f16 off on NVIDIA
   * Vulkan without it) to the default toggles.
   */
  readonly subgroupMatrix?: boolean;
}

/** An f16 × f16 → f32 16×16×16 subgroup-matrix configuration, as matmul_sgmat.wgsl uses. */
export function hasF16Matrix16(adapter: GPUAdapter): boolean {
  const info = adapter.info as unknown as { subgroupMatrixConfigs?: Iterable<Record<string, unknown>>; subgroupMinSize?: number; subgroupMaxSize?: number };
  if (info.subgroupMinSize !== 32 || info.subgroupMaxSize !== 32) return false;
  for (const c of info.subgroupMatrixConfigs ?? []) {
    if (c.componentType === 'f16' && c.resultComponentType === 'f32' && c.M === 16 && c.N === 16 && c.K === 16) return true;
  }
  return false;
}

export interface Acquired {
  /** Held for the device's lifetime: Dawn for Node tears the instance down when its GPU object is collected. */
  readonly gpu: GPU;
  readonly adapter: GPUAdapter;
  readonly device: GPUDevice;
  /** Flat facts for Capabilities.info and bench reports. */
  readonly info: Record<string, string | number | boolean>;
  /** Features enabled on the device. */
  readonly features: ReadonlySet<string>;
}

/** Features we turn on when the adapter has them (the kernels have portable fallbacks for all of them). */
const WANTED_FEATURES = ['shader-f16', 'subgroups', 'timestamp-query'];

const LIMITS = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBuffersPerShaderStage',
  'maxUniformBufferBindingSize',
] as const;

export class NoWebGpuError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NoWebGpuError';
  }
}

const isNode = typeof process !== 'undefined' && !!process.versions?.node;

/** Dawn for Node, through the optional `webgpu` package; a clear error when it or a GPU adapter is missing. */
async function nodeGpu(flags: readonly string[]): Promise<GPU> {
  // A variable specifier keeps browser bundlers from trying to resolve the native package.
  const spec = 'webgpu';
  let mod: { create(o: string[]): GPU };
  try {
    mod = (await import(/* @vite-ignore */ spec)) as typeof mod;
  } catch (e) {
    throw new NoWebGpuError(`WebGPU for Node needs the optional package 'webgpu' (npm install webgpu): ${(e as Error).message}`);
  }
  return mod.create([...flags]);
}

export async function acquireDevice(opts: DeviceOptions = {}): Promise<Acquired> {
  let gpu = opts.gpu;
  if (!gpu && typeof navigator !== 'undefined' && (navigator as Navigator).gpu) gpu = (navigator as Navigator).gpu;
  const toggles = opts.subgroupMatrix ? 'allow_unsafe_apis,vulkan_enable_f16_on_nvidia' : 'allow_unsafe_apis';
  if (!gpu && isNode) gpu = await nodeGpu(opts.dawnFlags ?? [`enable-dawn-features=${toggles}`]);
  if (!gpu) throw new NoWebGpuError('WebGPU is not available here (no navigator.gpu; in Node install the optional package webgpu)');
  const adapter = await gpu.requestAdapter({ powerPreference: opts.powerPreference ?? 'high-performance' });
  if (!adapter) {
    throw new NoWebGpuError(
      'WebGPU found no GPU adapter' + (isNode ? ' (Dawn needs a Vulkan, Metal or D3D12 driver; is libvulkan.so.1 installed and a GPU visible?)' : ''),
    );
  }
  const adapterFeatures = [...adapter.features].sort();
  const wanted = opts.subgroupMatrix && hasF16Matrix16(adapter) ? [...WANTED_FEATURES, 'chromium-experimental-subgroup-matrix'] : WANTED_FEATURES;
  const features = wanted.filter((f) => adapter.features.has(f)) as GPUFeatureName[];
  const requiredLimits: Record<string, number> = {};
  for (const k of LIMITS) requiredLimits[k] = adapter.limits[k];
  const device = await adapter.requestDevice({ requiredFeatures: features, requiredLimits });
  const ai = adapter.info;
  const info: Record<string, string | number | boolean> = {
    api: isNode ? 'dawn (node webgpu)' : 'navigator.gpu',
    vendor: ai?.vendor ?? '',
    architecture: ai?.architecture ?? '',
    device: ai?.device ?? '',
    description: ai?.description ?? '',
    adapterFeatures: adapterFeatures.join(','),
    deviceFeatures: [...device.features].sort().join(','),
  };
  if (ai?.subgroupMinSize) info.subgroupMinSize = ai.subgroupMinSize;
  if (ai?.subgroupMaxSize) info.subgroupMaxSize = ai.subgroupMaxSize;
  if (opts.subgroupMatrix) info.f16Matrix16 = hasF16Matrix16(adapter);
  for (const k of LIMITS) info[k] = device.limits[k];
  info.minUniformBufferOffsetAlignment = device.limits.minUniformBufferOffsetAlignment;
  return { gpu, adapter, device, info, features: new Set([...device.features]) };
}
