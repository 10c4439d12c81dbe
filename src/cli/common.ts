// Shared CLI pieces: typed flag parsers, the model/sampling flag sets, model-folder and media checks (one clear line
// per mistake), and the engine opening with a loading progress bar.

import { Command, InvalidArgumentError, Option } from 'commander';
import { accessSync, constants, existsSync, statSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import type { KvDType } from '../backend/backend.js';
import type { BackendName, Precision } from '../backend/index.js';
import type { ServingOptions } from '../generate/engine.js';
import type { ChatOptions } from '../generate/chat.js';
import { DEFAULT_VISION_CACHE_MB } from '../generate/visionCache.js';
import { HUB_ID, HubError, resolveHubModel } from '../io/hub.js';
import { CliError } from '../errors.js';
import { isUrl } from '../io/source.js';
import { openEngine, type LocalEngine } from '../generate/service.js';
import { demoModelDir } from '../tools/demoModel.js';
import { WEIGHT_FORMATS, type WeightFormat } from '../weights/convert.js';
import { Progress } from './progress.js';

export { CliError };

export function intArg(min: number, max = Number.MAX_SAFE_INTEGER): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (!/^-?\d+$/.test(v.trim()) || !Number.isSafeInteger(n) || n < min || n > max) throw new InvalidArgumentError(max === Number.MAX_SAFE_INTEGER ? `expected an integer ≥ ${min}.` : `expected an integer in [${min}, ${max}].`);
    return n;
  };
}

export function numArg(min: number, max = Infinity): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n) || n < min || n > max) throw new InvalidArgumentError(`expected a number in [${min}, ${max === Infinity ? '∞' : max}].`);
    return n;
  };
}

export const collect = (v: string, prev: string[] = []) => [...prev, v];

export interface ModelFlags {
  model?: string;
  revision?: string;
  demo?: boolean;
  backend: BackendName;
  dtype?: WeightFormat;
  precision?: Precision;
  visionCacheMb?: number;
  /** false with --no-prefix-cache. */
  prefixCache?: boolean;
  kvCacheGb?: number;
  kvCacheType?: KvDType;
  ctxSize?: number;
}

/** The engine's serving options from the model flags (KV cache size and format, context size). */
export function servingFromFlags(f: ModelFlags): ServingOptions {
  const kvCache = f.kvCacheGb !== undefined || f.kvCacheType ? { bytes: f.kvCacheGb !== undefined ? Math.round(f.kvCacheGb * 2 ** 30) : undefined, dtype: f.kvCacheType } : undefined;
  return { kvCache, ctxSize: f.ctxSize, ...(f.prefixCache === false && { prefixCache: false }) };
}

export function addModelOptions(cmd: Command): Command {
  return cmd
    .option('-m, --model <dir|id>', 'Qwen3-VL checkpoint: a folder, its http(s) URL, or a Hugging Face id (Qwen/Qwen3-VL-2B-Instruct; found in or fetched into the Hugging Face cache)')
    .option('--revision <rev>', 'branch, tag or commit of a Hugging Face id (default main)')
    .option('--demo', 'use the shipped demo model: a tiny Qwen3-VL trained on synthetic shapes, text and clips (train/)')
    .addOption(new Option('--backend <name>', 'compute backend').choices(['ref', 'cpu', 'webgpu']).default('cpu'))
    .addOption(new Option('--dtype <format>', 'weight format in memory (default: the checkpoint\'s)').choices([...WEIGHT_FORMATS]))
    .addOption(new Option('--precision <mode>', "numerics: exact (f32), or fast (webgpu: f16 tensor cores; cpu: AMX-BF16 or AVX512-BF16 products against bf16 weights; for prefill and vision)").choices(['exact', 'fast']))
    .option('--kv-cache-gb <GB>', 'size of the paged KV cache shared by all sequences (default: room for the context size, at most 16384 tokens)', numArg(0.001))
    .addOption(new Option('--kv-cache-type <format>', 'KV cache storage: f16 (default on cpu and webgpu), q8_0, or f32 (exact)').choices(['f32', 'f16', 'q8_0']))
    .option('--ctx-size <n>', "longest sequence, prompt and output, in tokens (default: the model's max_position_embeddings)", intArg(2));
}

/** For the commands that chat (run, chat, serve): the vision-feature cache's budget. */
export function addVisionCacheOption(cmd: Command): Command {
  return cmd
    .option('--vision-cache-mb <MB>', `vision features kept for images seen again, e.g. re-sent each chat turn (0 = off; default ${DEFAULT_VISION_CACHE_MB})`, numArg(0))
    .option('--no-prefix-cache', 'do not reuse the KV cache of a prompt prefix seen before (a re-sent conversation, the earlier turns of a chat)');
}

export interface SamplingFlags {
  maxTokens?: number;
  temperature?: number;
  topP?: number;
  topK?: number;
  minP?: number;
  repetitionPenalty?: number;
  presencePenalty?: number;
  frequencyPenalty?: number;
  seed?: number;
  stop?: string[];
  minPixels?: number;
  maxPixels?: number;
  thinkingBudget?: number;
}

export function addSamplingOptions(cmd: Command): Command {
  return cmd
    .option('-n, --max-tokens <n>', 'most new tokens', intArg(1))
    .option('-t, --temperature <t>', 'sampling temperature (0 = greedy)', numArg(0))
    .option('--top-p <p>', 'nucleus sampling mass', numArg(0, 1))
    .option('--top-k <k>', 'sample among the k most likely tokens (0 = off)', intArg(0))
    .option('--min-p <p>', 'drop tokens below p × the top probability', numArg(0, 1))
    .option('--repetition-penalty <r>', 'Hugging Face repetition penalty (1 = off)', numArg(0))
    .option('--presence-penalty <p>', 'OpenAI presence penalty', numArg(-2, 2))
    .option('--frequency-penalty <p>', 'OpenAI frequency penalty', numArg(-2, 2))
    .option('--seed <n>', 'random seed (same seed, same sample)', intArg(0))
    .option('--stop <text>', 'stop when this text appears (repeatable)', collect)
    .option('--min-pixels <n>', 'smallest image size in pixels (visual token budget)', intArg(1))
    .option('--max-pixels <n>', 'largest image size in pixels (fewer = faster, coarser)', intArg(1))
    .option('--thinking-budget <n>', 'reasoning tokens before </think> is forced (thinking checkpoints)', intArg(0));
}

export function chatOptions(f: SamplingFlags): ChatOptions {
  if (f.minPixels !== undefined && f.maxPixels !== undefined && f.minPixels > f.maxPixels) throw new CliError(`--min-pixels (${f.minPixels}) exceeds --max-pixels (${f.maxPixels})`);
  if (f.topP === 0) throw new CliError('--top-p must be > 0');
  if (f.stop?.some((x) => x.length === 0)) throw new CliError('--stop needs a non-empty text');
  return {
    maxTokens: f.maxTokens, temperature: f.temperature, topP: f.topP, topK: f.topK, minP: f.minP, repetitionPenalty: f.repetitionPenalty,
    presencePenalty: f.presencePenalty, frequencyPenalty: f.frequencyPenalty, seed: f.seed, stop: f.stop, minPixels: f.minPixels,
    maxPixels: f.maxPixels, thinkingBudget: f.thinkingBudget,
  };
}

/** A folder that looks like a checkpoint, or a one-line reason why not. */
export function checkModelDir(dir: string): string {
  const abs = path.resolve(dir);
  if (!existsSync(abs)) throw new CliError(`model folder '${dir}' does not exist`);
  if (!statSync(abs).isDirectory()) throw new CliError(`'${dir}' is not a folder (--model takes a checkpoint folder)`);
  if (!existsSync(path.join(abs, 'config.json'))) throw new CliError(`'${dir}' has no config.json: is it a Qwen3-VL checkpoint folder?`);
  return abs;
}

/** --model DIR|URL|ID or --demo (the shipped demo model, assets/qwen3-vl-demo); `id` is the Hub id when one was given. */
export async function modelDir(f: ModelFlags, progress: Progress): Promise<{ dir: string; demo: boolean; id?: string }> {
  if (f.model && f.demo) throw new CliError('give either --model DIR or --demo, not both');
  // Before any folder is read or the demo built: the mode belongs to one backend.
  if (f.precision === 'fast' && f.backend === 'ref') throw new CliError("--precision fast needs --backend webgpu (f16 tensor cores) or cpu (AMX-BF16 or AVX512-BF16); backend 'ref' computes in f32 only");
  if (f.demo) {
    if (!existsSync(path.join(demoModelDir, 'model.safetensors'))) throw new CliError(`the demo model is missing (${demoModelDir}): is the package complete?`);
    return { dir: demoModelDir, demo: true };
  }
  if (!f.model) throw new CliError('no model: pass --model <Qwen3-VL checkpoint folder>, or --demo to try the shipped demo model');
  // A base URL (e.g. a Hugging Face …/resolve/main/) streams over HTTP Range; loading names what is missing.
  if (isUrl(f.model)) return { dir: f.model, demo: false };
  if (HUB_ID.test(f.model) && !existsSync(f.model)) return { dir: (await pullModel(f.model, f.revision, progress)).dir, demo: false, id: f.model };
  if (f.revision !== undefined) throw new CliError(`--revision goes with a Hugging Face id (org/name), not with the folder '${f.model}'`);
  return { dir: checkModelDir(f.model), demo: false };
}

/** A Hub id into the Hugging Face cache (HF_HOME, HF_HUB_CACHE, HF_ENDPOINT, HF_TOKEN, HF_HUB_OFFLINE), with a bar. */
export async function pullModel(id: string, revision: string | undefined, progress: Progress) {
  try {
    const r = await resolveHubModel(id, { revision, onProgress: (p) => progress.download(p.file, p.loadedBytes, p.totalBytes) });
    progress.done();
    if (r.downloaded.length) progress.note(`${id}@${r.revision}: downloaded ${r.downloaded.length} file(s) into ${r.dir}`);
    return r;
  } catch (e) {
    progress.done();
    if (e instanceof HubError) throw new CliError(e.message);
    throw e;
  }
}

export async function loadEngine(dir: string, f: ModelFlags, progress: Progress): Promise<LocalEngine> {
  const engine = await openEngine(dir, { backend: f.backend, dtype: f.dtype, precision: f.precision, visionCacheMb: f.visionCacheMb, ...servingFromFlags(f), onLoadProgress: (p) => progress.load(p.loadedBytes, p.totalBytes) });
  progress.done();
  return engine;
}

const IMAGE_EXT = /\.(png|jpe?g|webp|gif|bmp|tiff?|avif)$/i;

/** A local image, checked here so a mistake is one clear line; the processor decodes it from the path. */
export function readImage(file: string): string {
  return checkLocal(file, 'image');
}

/** A video file, or a folder of frame images (sorted by name) as a frame list. */
export async function readVideo(file: string): Promise<string | string[]> {
  if (existsSync(file) && statSync(file).isDirectory()) {
    const frames = (await readdir(file)).filter((f) => IMAGE_EXT.test(f)).sort();
    if (frames.length === 0) throw new CliError(`video folder '${file}' has no image frames (png, jpg, webp, …)`);
    return frames.map((f) => readImage(path.join(file, f)));
  }
  return checkLocal(file, 'video');
}

function checkLocal(file: string, what: string): string {
  if (!existsSync(file)) throw new CliError(`${what} '${file}' does not exist`);
  const st = statSync(file);
  if (!st.isFile()) throw new CliError(`${what} '${file}' is not a file`);
  if (st.size === 0) throw new CliError(`${what} '${file}' is empty`);
  try {
    accessSync(file, constants.R_OK);
  } catch {
    throw new CliError(`cannot read ${what} '${file}' (permission denied)`);
  }
  return path.resolve(file);
}

/** A video content part; a frame folder's --fps is its native rate (it sets the timestamps). */
export async function videoPart(file: string, fps?: number): Promise<unknown> {
  const video = await readVideo(file);
  return { type: 'video', video: fps !== undefined && Array.isArray(video) ? { frames: video, fps } : video };
}

/** Content parts for one user turn: media first (as Qwen3-VL's examples do), then the text. */
export async function userMessage(text: string, images: readonly string[], videos: readonly string[], fps?: number): Promise<unknown> {
  const content: unknown[] = [];
  for (const i of images) content.push({ type: 'image', image: readImage(i) });
  for (const v of videos) content.push(await videoPart(v, fps));
  content.push({ type: 'text', text });
  return { role: 'user', content };
}
