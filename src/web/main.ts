// The demo page (`npm run web`): a model by URL, Hub id or local folder loaded in the engine worker with download
// and upload progress; images by paste, drop, file or camera and MP4 video; streamed answers with reasoning folded,
// speed and memory; grounding boxes drawn over the image. Plain DOM: the page is small enough not to need a framework.
import type { ChatMessage, ContentPart } from '../processor/index.js';
import { groundingInImage } from '../generate/grounding.js';
import { WorkerEngine, type LoadProgress } from './client.js';

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const mb = (n: number) => `${(n / 1e6).toFixed(n < 1e7 ? 1 : 0)} MB`;

const engine = new WorkerEngine();
type Attachment = { kind: 'image' | 'video'; blob: Blob; url: string };
let attachments: Attachment[] = [];
const history: ChatMessage[] = [];
let abort: AbortController | null = null;

// ---- WebGPU check ----
async function checkWebGpu(): Promise<void> {
  const gpu = (navigator as Navigator & { gpu?: GPU }).gpu;
  const why = !gpu ? 'navigator.gpu is missing.' : !(await gpu.requestAdapter().catch(() => null)) ? 'No GPU adapter was found.' : null;
  if (!why) return;
  $('nogpu').hidden = false;
  $('nogpuWhy').textContent = why;
  $<HTMLSelectElement>('backend').value = 'ref';
}

// ---- loading ----
/** A Hub id (owner/name) becomes its resolve URL; URLs pass as they are. */
function modelUrl(s: string): string {
  const v = s.trim();
  if (/^https?:\/\//i.test(v)) return v;
  if (/^[\w.-]+\/[\w.-]+$/.test(v)) return `https://huggingface.co/${v}/resolve/main/`;
  throw new Error(`"${v}" is neither a URL nor a Hub id (owner/name)`);
}

async function load(source: string | File[]): Promise<void> {
  const status = $('status');
  const [dl, up] = [$<HTMLProgressElement>('dlProgress'), $<HTMLProgressElement>('progress')];
  $<HTMLButtonElement>('load').disabled = $<HTMLButtonElement>('send').disabled = true;
  delete status.dataset.loaded;
  dl.value = up.value = 0;
  const files = new Map<string, { loaded: number; total: number }>();
  const onProgress = (p: LoadProgress) => {
    if (p.phase === 'upload') {
      up.value = p.totalBytes ? p.loadedBytes / p.totalBytes : 0;
      $('upLabel').textContent = `GPU upload ${Math.round(up.value * 100)}%`;
      status.textContent = `Uploading ${mb(p.loadedBytes)} / ${mb(p.totalBytes)}: ${p.tensor}`;
      return;
    }
    files.set(p.file, { loaded: p.loadedBytes, total: Number.isNaN(p.totalBytes) ? p.loadedBytes : p.totalBytes });
    const [l, t] = [...files.values()].reduce(([a, b], f) => [a + f.loaded, b + f.total], [0, 0]);
    dl.value = t ? l / t : 0;
    $('dlLabel').textContent = p.phase === 'cached' ? 'From cache' : `Download ${Math.round(dl.value * 100)}%`;
    status.textContent = p.phase === 'cached' ? `Reading ${p.file} from the browser's cache` : `Downloading ${p.file}: ${mb(p.loadedBytes)}${Number.isNaN(p.totalBytes) ? '' : ` / ${mb(p.totalBytes)}`}`;
  };
  try {
    const src = typeof source === 'string' ? modelUrl(source) : source;
    const backend = $<HTMLSelectElement>('backend').value as 'webgpu' | 'ref';
    const info = await engine.load(src, { backend, cache: $<HTMLInputElement>('useCache').checked, onProgress });
    dl.value = up.value = 1;
    status.textContent = `Loaded ${info.source} (${info.layers} layers, ${mb(info.weightBytes)} of weights) on ${info.backend} in ${(info.loadMs / 1000).toFixed(1)} s.${info.canChat ? '' : ' No tokenizer: this checkpoint cannot chat.'}`;
    status.dataset.loaded = 'true';
    $<HTMLButtonElement>('send').disabled = !info.canChat;
    history.length = 0;
    $('chat').textContent = '';
  } catch (e) {
    status.textContent = `Load failed: ${(e as Error).message}`;
  } finally {
    $<HTMLButtonElement>('load').disabled = false;
    void refreshCache();
  }
}

async function refreshCache(): Promise<void> {
  const list = $('cacheList');
  try {
    const models = await engine.cache.list();
    list.textContent = '';
    for (const m of models) {
      const li = document.createElement('li');
      li.textContent = `${m.url} (${mb(m.bytes)})`;
      const del = document.createElement('button');
      del.textContent = 'delete';
      del.onclick = async () => (await engine.cache.delete(m.url), refreshCache());
      li.append(del);
      list.append(li);
    }
    const total = document.createElement('li');
    total.textContent = models.length ? `${mb(models.reduce((a, m) => a + m.bytes, 0))} in all` : 'Nothing stored yet.';
    list.append(total);
  } catch (e) {
    list.textContent = `Cache unavailable: ${(e as Error).message}`;
  }
}

/** Every file under a dropped directory entry (a checkpoint is flat, but Hub snapshots may nest links). */
async function entryFiles(entry: FileSystemEntry): Promise<File[]> {
  if (entry.isFile) return [await new Promise<File>((ok, no) => (entry as FileSystemFileEntry).file(ok, no))];
  const reader = (entry as FileSystemDirectoryEntry).createReader();
  const out: File[] = [];
  for (;;) {
    const batch = await new Promise<FileSystemEntry[]>((ok, no) => reader.readEntries(ok, no));
    if (!batch.length) return out;
    for (const e of batch) if (e.isFile) out.push(...(await entryFiles(e)));
  }
}

// ---- attachments ----
function attach(blob: Blob): void {
  const kind = blob.type.startsWith('video/') ? 'video' : blob.type.startsWith('image/') ? 'image' : null;
  if (!kind) return void ($('stats').textContent = `Not an image or MP4 video: ${(blob as File).name ?? blob.type}`);
  attachments.push({ kind, blob, url: URL.createObjectURL(blob) });
  renderAttachments();
}

function renderAttachments(): void {
  const box = $('attachments');
  box.textContent = '';
  attachments.forEach((a, i) => {
    const d = document.createElement('div');
    d.className = 'thumb';
    const media = document.createElement(a.kind === 'image' ? 'img' : 'video');
    media.src = a.url;
    const x = document.createElement('button');
    x.textContent = '×';
    x.onclick = () => (attachments.splice(i, 1), renderAttachments());
    d.append(media, x);
    box.append(d);
  });
}

async function camera(): Promise<void> {
  const v = $<HTMLVideoElement>('camera');
  if (v.srcObject) {
    // Second press: take the picture and stop the camera.
    const c = new OffscreenCanvas(v.videoWidth, v.videoHeight);
    c.getContext('2d')!.drawImage(v, 0, 0);
    attach(await c.convertToBlob({ type: 'image/png' }));
    for (const t of (v.srcObject as MediaStream).getTracks()) t.stop();
    v.srcObject = null;
    v.hidden = true;
    $('cameraBtn').textContent = 'camera';
    return;
  }
  try {
    v.srcObject = await navigator.mediaDevices.getUserMedia({ video: true });
    v.hidden = false;
    $('cameraBtn').textContent = 'take picture';
  } catch (e) {
    $('stats').textContent = `Camera unavailable: ${(e as Error).message}`;
  }
}

// ---- chat ----
/** One turn on screen: the user's text and media, the answer (reasoning folded), boxes over the last image. */
function turnView(text: string, media: readonly Attachment[]) {
  document.getElementById('answer')?.removeAttribute('id');
  const chat = $('chat');
  const user = document.createElement('div');
  user.className = 'msg user';
  user.textContent = text;
  const figure = document.createElement('div');
  figure.className = 'figure';
  const img = media.filter((m) => m.kind === 'image').at(-1);
  if (img) {
    const el = document.createElement('img');
    el.src = img.url;
    figure.append(el, document.createElement('canvas'));
    user.append(document.createElement('br'), figure);
  }
  const reasoning = document.createElement('details');
  reasoning.className = 'reasoning';
  reasoning.open = $<HTMLInputElement>('thinking').checked;
  reasoning.innerHTML = '<summary>reasoning</summary><div></div>';
  reasoning.hidden = true;
  const answer = document.createElement('div');
  answer.id = 'answer';
  const bot = document.createElement('div');
  bot.className = 'msg';
  bot.append(reasoning, answer);
  chat.append(user, bot);
  return {
    reasoning: (t: string) => ((reasoning.hidden = false), (reasoning.lastElementChild!.textContent += t)),
    answer,
    drawBoxes: () => drawBoxes(figure, answer.textContent ?? ''),
  };
}

function drawBoxes(figure: HTMLElement, text: string): void {
  const img = figure.querySelector('img');
  const canvas = figure.querySelector('canvas');
  if (!img || !canvas) return;
  const draw = () => {
    const boxes = groundingInImage(text, img.clientWidth, img.clientHeight);
    if (!boxes.length) return;
    canvas.width = img.clientWidth;
    canvas.height = img.clientHeight;
    const ctx = canvas.getContext('2d')!;
    ctx.lineWidth = 3;
    ctx.font = 'bold 14px system-ui';
    boxes.forEach((b, i) => {
      ctx.strokeStyle = ctx.fillStyle = `hsl(${(i * 67) % 360} 85% 45%)`;
      const [x, y] = b.pixels;
      if (b.kind === 'box') ctx.strokeRect(x, y, b.pixels[2] - x, b.pixels[3] - y);
      else {
        ctx.beginPath();
        ctx.arc(x, y, 6, 0, 2 * Math.PI);
        ctx.fill();
      }
      if (b.label) ctx.fillText(b.label, x + 4, Math.max(14, y - 5));
    });
    figure.dataset.boxes = String(boxes.length);
  };
  if (img.complete) draw();
  else img.onload = draw;
}

async function send(): Promise<void> {
  const text = $<HTMLTextAreaElement>('prompt').value;
  const media = attachments;
  attachments = [];
  renderAttachments();
  const content: ContentPart[] = [...media.map((m): ContentPart => (m.kind === 'image' ? { type: 'image', image: m.blob } : { type: 'video', video: m.blob })), { type: 'text', text }];
  const view = turnView(text, media);
  const stats = $('stats');
  delete view.answer.dataset.done;
  abort = new AbortController();
  $<HTMLButtonElement>('send').disabled = true;
  $<HTMLButtonElement>('stop').disabled = false;
  const t0 = performance.now();
  let first = 0;
  let promptTokens = 0;
  let reply = '';
  history.push({ role: 'user', content });
  try {
    const events = engine.chat(history, { maxTokens: Number($<HTMLInputElement>('maxTokens').value) || 512, signal: abort.signal, onPrompt: (n) => ((promptTokens = n), (stats.textContent = `Prompt: ${n} tokens; reading it…`)) });
    for await (const ev of events) {
      if ((ev.type === 'text' || ev.type === 'reasoning') && !first) first = performance.now();
      if (ev.type === 'text') view.answer.textContent = reply += ev.text;
      else if (ev.type === 'reasoning') view.reasoning(ev.text);
      else if (ev.type === 'usage') {
        const s = (performance.now() - t0) / 1000;
        const decode = first ? (performance.now() - first) / 1000 : 0;
        const heap = (performance as Performance & { memory?: { usedJSHeapSize: number } }).memory?.usedJSHeapSize;
        const rate = decode > 0 && ev.usage.completionTokens > 1 ? ` (${((ev.usage.completionTokens - 1) / decode).toFixed(1)} tokens/s)` : '';
        stats.textContent = `${ev.usage.completionTokens} tokens in ${s.toFixed(1)} s${rate}; prompt ${promptTokens} tokens, first token after ${((first - t0) / 1000).toFixed(1)} s; weights ${mb(engine.info?.weightBytes ?? 0)} on the GPU${heap ? `, page heap ${mb(heap)}` : ''}.`;
      } else if (ev.type === 'done' && ev.finishReason === 'cancelled') stats.textContent += ' Stopped.';
    }
    history.push({ role: 'assistant', content: reply });
    view.drawBoxes();
  } catch (e) {
    history.pop();
    view.answer.textContent += `\n[error: ${(e as Error).message}]`;
  } finally {
    $<HTMLButtonElement>('send').disabled = false;
    $<HTMLButtonElement>('stop').disabled = true;
    view.answer.dataset.done = 'true';
  }
}

// ---- wiring ----
function dropZone(el: HTMLElement, onDrop: (e: DragEvent) => void): void {
  el.ondragover = (e) => (e.preventDefault(), el.classList.add('over'));
  el.ondragleave = () => el.classList.remove('over');
  el.ondrop = (e) => (e.preventDefault(), el.classList.remove('over'), onDrop(e));
}

$('load').onclick = () => load($<HTMLInputElement>('model').value);
$('folder').onclick = async () => {
  const picker = (window as Window & { showDirectoryPicker?: () => Promise<FileSystemDirectoryHandle> }).showDirectoryPicker;
  if (!picker) return $('folderInput').click();
  const dir = await picker().catch(() => null);
  if (!dir) return;
  const files: File[] = [];
  for await (const h of (dir as unknown as { values(): AsyncIterable<FileSystemHandle> }).values()) if (h.kind === 'file') files.push(await (h as FileSystemFileHandle).getFile());
  await load(files);
};
$<HTMLInputElement>('folderInput').onchange = (e) => load(Array.from((e.target as HTMLInputElement).files ?? []));
dropZone($('modelDrop'), async (e) => {
  const entries = Array.from(e.dataTransfer?.items ?? []).map((i) => i.webkitGetAsEntry()).filter((x): x is FileSystemEntry => !!x);
  const files = (await Promise.all(entries.map(entryFiles))).flat();
  if (files.length) await load(files);
});
dropZone($('drop'), (e) => Array.from(e.dataTransfer?.files ?? []).forEach(attach));
document.addEventListener('paste', (e) => Array.from(e.clipboardData?.files ?? []).forEach(attach));
$('pick').onclick = () => $('image').click();
$<HTMLInputElement>('image').onchange = (e) => Array.from((e.target as HTMLInputElement).files ?? []).forEach(attach);
$('cameraBtn').onclick = () => void camera();
$('send').onclick = () => void send();
$('stop').onclick = () => abort?.abort();
void checkWebGpu();
void refreshCache();
// For the docs' screenshots: a turn with a given answer, boxes drawn as after a real one.
Object.assign(globalThis, {
  qwenPage: {
    showTurn(prompt: string, image: Blob, answer: string) {
      const v = turnView(prompt, [{ kind: 'image', blob: image, url: URL.createObjectURL(image) }]);
      v.answer.textContent = answer;
      v.drawBoxes();
    },
  },
});
