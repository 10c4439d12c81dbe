// The demo page: load a checkpoint from a URL onto WebGPU with progress, then stream answers to a prompt with an
// optional image (decoded by the browser). Run with `npm run web`.
import { loadModel, type Qwen3VL } from '../generate/engine.js';
import type { ChatMessage } from '../processor/index.js';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const [modelUrl, backend, loadBtn, progress, status] = [$<HTMLInputElement>('model'), $<HTMLSelectElement>('backend'), $<HTMLButtonElement>('load'), $<HTMLProgressElement>('progress'), $('status')];
const [image, preview, prompt, maxTokens] = [$<HTMLInputElement>('image'), $<HTMLImageElement>('preview'), $<HTMLTextAreaElement>('prompt'), $<HTMLInputElement>('maxTokens')];
const [sendBtn, stopBtn, answer] = [$<HTMLButtonElement>('send'), $<HTMLButtonElement>('stop'), $('answer')];

let model: Qwen3VL | null = null;
let abort: AbortController | null = null;

const mb = (n: number) => (n / 1e6).toFixed(0);

loadBtn.onclick = async () => {
  loadBtn.disabled = sendBtn.disabled = true;
  delete status.dataset.loaded;
  model?.dispose();
  model = null;
  const t0 = performance.now();
  try {
    model = await loadModel(modelUrl.value.trim(), {
      backend: backend.value as 'webgpu' | 'ref',
      onProgress: (p) => {
        progress.value = p.loadedBytes / p.totalBytes;
        status.textContent = `Loading ${mb(p.loadedBytes)} / ${mb(p.totalBytes)} MB: ${p.tensor}`;
      },
    });
    status.textContent = `Loaded in ${((performance.now() - t0) / 1000).toFixed(1)} s.`;
    status.dataset.loaded = 'true';
    sendBtn.disabled = false;
  } catch (e) {
    status.textContent = `Load failed: ${(e as Error).message}`;
  } finally {
    loadBtn.disabled = false;
  }
};

image.onchange = () => {
  const f = image.files?.[0];
  preview.hidden = !f;
  if (f) preview.src = URL.createObjectURL(f);
};

sendBtn.onclick = async () => {
  if (!model) return;
  const f = image.files?.[0];
  const messages: ChatMessage[] = [{ role: 'user', content: [...(f ? [{ type: 'image' as const, image: f }] : []), { type: 'text' as const, text: prompt.value }] }];
  answer.textContent = '';
  delete answer.dataset.done;
  abort = new AbortController();
  sendBtn.disabled = true;
  stopBtn.disabled = false;
  const t0 = performance.now();
  try {
    for await (const ev of model.chat(messages, { maxTokens: Number(maxTokens.value) || 512, signal: abort.signal })) {
      if (ev.type === 'text' || ev.type === 'reasoning') answer.textContent += ev.text;
      if (ev.type === 'usage') {
        const s = (performance.now() - t0) / 1000;
        status.textContent = `${ev.usage.completionTokens} tokens in ${s.toFixed(1)} s (prompt ${ev.usage.promptTokens} tokens).`;
      }
    }
  } catch (e) {
    if (!abort.signal.aborted) answer.textContent += `\n[error: ${(e as Error).message}]`;
  } finally {
    sendBtn.disabled = false;
    stopBtn.disabled = true;
    answer.dataset.done = 'true';
  }
};

stopBtn.onclick = () => abort?.abort();
