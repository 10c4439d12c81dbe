// Backend selection: 'ref' is always there; native and GPU backends load lazily and report why when they cannot.

import type { Backend } from './backend.js';
import { RefBackend } from './ref/index.js';

export type BackendName = 'ref' | 'cpu' | 'webgpu';
export type { Backend, AttentionOptions, Capabilities, HostData } from './backend.js';

const loaders: Record<BackendName, () => Promise<Backend>> = {
  ref: async () => new RefBackend(),
  cpu: async () => {
    throw new Error("backend 'cpu' is not available in this build");
  },
  // Dynamic import: Node without a GPU or without the optional 'webgpu' package only fails when asked for it.
  webgpu: async () => (await import('./webgpu/index.js')).createWebGpuBackend(),
};

export async function createBackend(name: BackendName | Backend = 'ref'): Promise<Backend> {
  if (typeof name !== 'string') return name;
  const load = loaders[name];
  if (!load) throw new Error(`unknown backend '${String(name)}' (expected one of: ${Object.keys(loaders).join(', ')})`);
  return load();
}
