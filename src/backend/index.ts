// Backend selection: 'ref' is always there; native and GPU backends load lazily and report why when they cannot.

import type { Backend, Precision } from './backend.js';
import { RefBackend } from './ref/index.js';

export type BackendName = 'ref' | 'cpu' | 'webgpu';
export type { Backend, AttentionOptions, Capabilities, HostData, Precision } from './backend.js';

let cpuFallbackSaid = false;

export interface BackendOptions {
  /** 'fast' is a WebGPU (f16 tensor cores) and CPU (AMX-BF16 or AVX512-BF16) mode; asking it of 'ref' is an error. */
  readonly precision?: Precision;
}

const loaders: Record<BackendName, (o: BackendOptions) => Promise<Backend>> = {
  ref: async () => new RefBackend(),
  cpu: async (o) => {
    try {
      // A specifier bundlers do not follow: browser bundles stay free of the addon loader (node:module, node:fs).
      const cpu = './cpu/index.js';
      const { CpuBackend } = (await import(/* @vite-ignore */ cpu)) as typeof import('./cpu/index.js');
      return new CpuBackend({ precision: o.precision });
    } catch (e) {
      // A bad QWEN3VL_CPU_ISA is the user's request, not a missing build: report it instead of falling back.
      if (/QWEN3VL_CPU_ISA/.test((e as Error).message)) throw e;
      if (!cpuFallbackSaid) console.warn(`qwen3-vl: backend 'cpu' is unavailable (${(e as Error).message}); using 'ref' instead`);
      cpuFallbackSaid = true;
      return new RefBackend();
    }
  },
  // Dynamic import: Node without a GPU or without the optional 'webgpu' package only fails when asked for it.
  webgpu: async (o) => (await import('./webgpu/index.js')).createWebGpuBackend({ precision: o.precision }),
};

export async function createBackend(name: BackendName | Backend = 'ref', opts: BackendOptions = {}): Promise<Backend> {
  const p = opts.precision;
  if (p !== undefined && p !== 'exact' && p !== 'fast') throw new Error(`precision must be 'exact' or 'fast', got '${String(p)}'`);
  if (typeof name !== 'string') {
    if (p === 'fast') throw new Error("precision 'fast' is chosen when a backend is created: pass backend: 'webgpu' or 'cpu' (or createWebGpuBackend({ precision: 'fast' }), new CpuBackend({ precision: 'fast' }))");
    return name;
  }
  const load = loaders[name];
  if (!load) throw new Error(`unknown backend '${String(name)}' (expected one of: ${Object.keys(loaders).join(', ')})`);
  if (p === 'fast' && name === 'ref') throw new Error("precision 'fast' is a WebGPU (f16 tensor cores) and CPU (AMX-BF16 or AVX512-BF16) mode; backend 'ref' computes in f32 only");
  return load(opts);
}
