// The engine in a module Web Worker: loads a checkpoint (URL through the weight cache, or a picked folder) and runs
// chat/complete for src/web/client.ts, streaming events back; an 'abort' message cancels a running request.

import { loadModel, type Qwen3VL } from '../generate/engine.js';
import { BlobSource } from '../io/blobSource.js';
import { weightCache } from '../io/weightCache.js';
import type { LoadedInfo, Reply, Request } from './protocol.js';

let model: Qwen3VL | null = null;
const running = new Map<number, AbortController>();
const post = (r: Reply) => (self as unknown as Worker).postMessage(r);
const fail = (id: number, e: unknown) => post({ id, kind: 'error', name: (e as Error)?.name ?? 'Error', message: (e as Error)?.message ?? String(e) });

async function handle(req: Request): Promise<void> {
  switch (req.op) {
    case 'abort':
      running.get(req.target)?.abort();
      return;
    case 'unload':
      model?.dispose();
      model = null;
      return post({ id: req.id, kind: 'result', value: null });
    case 'cache': {
      const value = req.action === 'list' ? await weightCache.list() : req.action === 'bytesUsed' ? await weightCache.bytesUsed() : req.action === 'delete' ? await weightCache.delete(req.url ?? '') : (await weightCache.clear(), null);
      return post({ id: req.id, kind: 'result', value });
    }
    case 'load': {
      model?.dispose();
      model = null;
      const t0 = performance.now();
      const o = req.options;
      let weightBytes = 0;
      const src = typeof req.source === 'string' ? req.source : new BlobSource(req.source, 'local folder');
      model = await loadModel(src, {
        ...o,
        backend: o.backend ?? 'webgpu',
        cache: typeof req.source === 'string' && o.cache !== false ? { verify: o.verifyCache, onProgress: (p) => post({ id: req.id, kind: 'progress', progress: p }) } : false,
        onProgress: (p) => {
          weightBytes = p.totalBytes;
          post({ id: req.id, kind: 'progress', progress: { phase: 'upload', ...p } });
        },
      });
      const info = model.backend.capabilities().info;
      const value: LoadedInfo = {
        source: typeof req.source === 'string' ? req.source : 'local folder',
        backend: [info.kind, info.vendor, info.architecture, info.description].filter(Boolean).join(' '),
        layers: model.config.text.numHiddenLayers,
        weightBytes,
        loadMs: performance.now() - t0,
        canChat: !!model.processor,
      };
      return post({ id: req.id, kind: 'result', value });
    }
    case 'chat':
    case 'complete': {
      if (!model) throw new Error('no model is loaded: load one first');
      const ac = new AbortController();
      running.set(req.id, ac);
      try {
        const options = {
          ...req.options,
          signal: ac.signal,
          onPrompt: (tokens: number) => post({ id: req.id, kind: 'prompt', tokens }),
          onPrefillProgress: (done: number, total: number) => post({ id: req.id, kind: 'prefill', done, total }),
        };
        if (req.op === 'complete') return post({ id: req.id, kind: 'result', value: await model.complete(req.messages, options) });
        for await (const event of model.chat(req.messages, options)) post({ id: req.id, kind: 'event', event });
        return post({ id: req.id, kind: 'result', value: null });
      } finally {
        running.delete(req.id);
      }
    }
  }
}

self.onmessage = (e: MessageEvent<Request>) => {
  handle(e.data).catch((err) => fail(e.data.id, err));
};
