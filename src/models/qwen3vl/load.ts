// loadModel: open a Qwen3-VL checkpoint (config, generation config, safetensors shards) onto a backend, from a
// folder (Node) or a base URL (browsers and Node; shards stream tensor by tensor through HTTP Range requests).

import { createBackend, type BackendName, type Precision } from '../../backend/index.js';
import type { Backend } from '../../backend/backend.js';
import { loadConfig } from './config.js';
import { loadGenerationConfig } from '../../config/generation.js';
import { Checkpoint } from '../../io/safetensors.js';
import { type SourceLike, openSource } from '../../io/source.js';
import type { WeightCacheOptions } from '../../io/weightCache.js';
import type { WeightFormat } from '../../weights/convert.js';
import { loadQwen3VLWeights } from './weights.js';
import { Qwen3VLModel } from './model.js';

export interface LoadOptions {
  /** 'cpu' (default; the native addon, or 'ref' with a warning when it cannot load), 'ref', 'webgpu', or a backend instance. */
  readonly backend?: BackendName | Backend;
  /** Weight format of the large matrices (default: the checkpoint's own, bf16). */
  readonly dtype?: WeightFormat;
  /** 'exact' (default) or 'fast' (backend 'webgpu' only: f16 tensor cores for prefill and vision; see Precision). */
  readonly precision?: Precision;
  readonly onProgress?: (p: { loadedBytes: number; totalBytes: number; tensor: string }) => void;
  /** Chunk size of streamed GPU uploads (webgpu): the most weight bytes held in JS memory at once. Default ≈ 8 MiB. */
  readonly uploadChunkBytes?: number;
  /** Browsers: keep the checkpoint of a URL in the Origin Private File System, so later loads need no network. */
  readonly cache?: boolean | WeightCacheOptions;
}

/** `dir`: a folder path, an http(s) base URL (e.g. a Hugging Face `…/resolve/main/`), or a CheckpointSource. */
export async function loadModel(dir: SourceLike, opts: LoadOptions = {}): Promise<Qwen3VLModel> {
  const src = await openSource(dir, opts.cache);
  const config = await loadConfig(src);
  const generationConfig = await loadGenerationConfig(src);
  const backend = await createBackend(opts.backend ?? 'cpu', { precision: opts.precision });
  const ckpt = await Checkpoint.open(src);
  try {
    const weights = await loadQwen3VLWeights(ckpt, config, backend, { dtype: opts.dtype, onProgress: opts.onProgress, uploadChunkBytes: opts.uploadChunkBytes });
    return new Qwen3VLModel(backend, config, weights, { dir: src.location, generationConfig });
  } finally {
    await ckpt.close();
  }
}
