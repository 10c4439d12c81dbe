// The page side of load.browser.ts: loads through the weight cache (OPFS) and chunked GPU uploads, pre-quantized
// checkpoints' last logits, and the cache manager; the Node side counts bytes at the server and samples the heap.
import { loadModel } from '../../src/generate/engine.js';
import { loadModel as loadWeights } from '../../src/models/qwen3vl/load.js';
import { weightCache, type CacheProgress } from '../../src/io/weightCache.js';

export interface LoadResult {
  readonly ms: number;
  readonly downloaded: number;
  readonly fromCache: number;
  readonly uploadCalls: number;
}

const api = {
  async load(url: string, o: { cache?: boolean; verify?: boolean; chunk?: number } = {}): Promise<LoadResult> {
    let downloaded = 0;
    let fromCache = 0;
    let uploadCalls = 0;
    const seen = new Map<string, number>();
    const onProgress = (p: CacheProgress) => {
      if (p.phase === 'cached') fromCache += p.loadedBytes;
      else {
        downloaded += p.loadedBytes - (seen.get(p.file) ?? 0);
        seen.set(p.file, p.loadedBytes);
      }
    };
    const t0 = performance.now();
    const m = await loadModel(url, { backend: 'webgpu', cache: o.cache ? { onProgress, verify: o.verify } : false, uploadChunkBytes: o.chunk, onProgress: () => void uploadCalls++ });
    const ms = performance.now() - t0;
    m.dispose();
    return { ms, downloaded, fromCache, uploadCalls };
  },

  /** Weights alone (no tokenizer), streamed in chunks of `chunk` bytes (default: the library's), optionally through the cache. */
  async loadWeights(url: string, chunk?: number, cache = false): Promise<number> {
    const t0 = performance.now();
    (await loadWeights(url, { backend: 'webgpu', uploadChunkBytes: chunk, cache })).dispose();
    return performance.now() - t0;
  },

  /** Last-position logits of a text prompt (token ids), as a plain array. */
  async lastLogits(url: string, ids: number[], o: { chunk?: number; precision?: 'exact' | 'fast' } = {}): Promise<number[]> {
    const m = await loadModel(url, { backend: 'webgpu', uploadChunkBytes: o.chunk ?? 1 << 20, precision: o.precision });
    try {
      return Array.from((await m.forward({ inputIds: ids, logits: 'last' })).logits);
    } finally {
      m.dispose();
    }
  },

  async loadError(url: string): Promise<string> {
    try {
      (await loadModel(url, { backend: 'webgpu', cache: true })).dispose();
      return 'no error';
    } catch (e) {
      return (e as Error).message;
    }
  },

  list: () => weightCache.list(),
  bytesUsed: () => weightCache.bytesUsed(),
  delete: (url: string) => weightCache.delete(url),
  clear: () => weightCache.clear(),
};

export type LoadApi = typeof api;
(globalThis as unknown as { qwen: LoadApi }).qwen = api;
