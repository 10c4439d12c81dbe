// The demo checkpoint: a tiny random-weight Qwen3-VL (the tiny-dense fixture's shapes) built once and cached, so
// `qwen3-vl run --demo` exercises the whole pipeline on a fresh clone with no download. Its answers are noise.

import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { mulberry32 } from '../generate/rng.js';
import { writeSafetensors, type TensorSpec } from '../io/safetensors.js';
import { type ModelShape, checkpointTensors, configJson, generationConfigJson } from '../models/qwen3vl/checkpoint.js';
import { type ModelConfig, parseConfig } from '../models/qwen3vl/config.js';
import { toBf16 } from '../tensor/dtype.js';
import { byteLevelAlphabet } from '../tokenizer/byteLevel.js';

/** Bump when the demo's files change, so stale caches are rebuilt. */
const DEMO_VERSION = 2;

export const packageRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** The image shipped for the demo (a house, the sun and a ball; see assets/README.md). */
export const demoImage = path.join(packageRoot, 'assets', 'demo.png');

/** QWEN3VL_CACHE, else node_modules/.cache/qwen3-vl of this package, else ~/.cache/qwen3-vl. */
export function cacheRoot(): string {
  if (process.env.QWEN3VL_CACHE) return path.resolve(process.env.QWEN3VL_CACHE);
  const nm = path.join(packageRoot, 'node_modules');
  if (existsSync(nm)) return path.join(nm, '.cache', 'qwen3-vl');
  return path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'qwen3-vl');
}

const SPECIAL_TOKENS = [
  '<|endoftext|>', '<|im_start|>', '<|im_end|>', '<|object_ref_start|>', '<|object_ref_end|>', '<|box_start|>', '<|box_end|>',
  '<|quad_start|>', '<|quad_end|>', '<|vision_start|>', '<|vision_end|>', '<|vision_pad|>', '<|image_pad|>', '<|video_pad|>',
  '<tool_call>', '</tool_call>', '<|fim_prefix|>', '<|fim_middle|>', '<|fim_suffix|>', '<|fim_pad|>', '<|repo_name|>', '<|file_sep|>',
  '<tool_response>', '</tool_response>', '<think>', '</think>',
];
/** Tokens up to <|video_pad|> are "special" (skipped when decoding); the rest are ordinary added tokens. */
const SPECIAL_COUNT = 14;

export interface DemoInfo {
  readonly dir: string;
  /** 'bytes': the built-in 256-byte tokenizer (the package reads nothing outside itself); 'qwen' in older caches. */
  readonly tokenizer: 'qwen' | 'bytes';
  readonly built: boolean;
}

/** The cached demo checkpoint, built on first use (a few seconds; about 20 MB with the real tokenizer). */
export async function ensureDemoCheckpoint(opts: { root?: string; tokenizer?: 'auto' | 'bytes'; onStatus?: (line: string) => void } = {}): Promise<DemoInfo> {
  const dir = path.join(opts.root ?? cacheRoot(), `demo-v${DEMO_VERSION}${opts.tokenizer === 'bytes' ? '-bytes' : ''}`);
  const stamp = path.join(dir, 'demo.json');
  if (existsSync(stamp)) return { dir, tokenizer: JSON.parse(await readFile(stamp, 'utf8')).tokenizer, built: false };
  opts.onStatus?.(`building the demo checkpoint (random weights) in ${dir}`);
  // Build beside the final folder and rename, so an interrupted or concurrent build never leaves half a checkpoint.
  const tmp = `${dir}.tmp-${process.pid}-${Date.now()}`;
  await mkdir(tmp, { recursive: true });
  try {
    const tokenizer = await writeTokenizer(tmp);
    const vocab = tokenizer === 'qwen' ? 151936 : 384;
    const firstSpecial = tokenizer === 'qwen' ? 151643 : 256;
    const config = configJson(DEMO_SHAPE, { vocab, firstSpecial });
    await writeFile(path.join(tmp, 'config.json'), JSON.stringify(config, null, 2));
    await writeFile(path.join(tmp, 'generation_config.json'), JSON.stringify({ ...generationConfigJson(firstSpecial), max_new_tokens: 32 }, null, 2));
    const pre = { patch_size: 16, temporal_patch_size: 2, merge_size: 2, image_mean: [0.5, 0.5, 0.5], image_std: [0.5, 0.5, 0.5], processor_class: 'Qwen3VLProcessor' };
    await writeFile(path.join(tmp, 'preprocessor_config.json'), JSON.stringify({ ...pre, size: { shortest_edge: 65536, longest_edge: 16777216 }, image_processor_type: 'Qwen2VLImageProcessorFast' }, null, 2));
    await writeFile(path.join(tmp, 'video_preprocessor_config.json'), JSON.stringify({ ...pre, size: { shortest_edge: 4096, longest_edge: 25165824 }, video_processor_type: 'Qwen3VLVideoProcessor' }, null, 2));
    await writeSafetensors(path.join(tmp, 'model.safetensors'), randomWeights(parseConfig(config)), { format: 'pt' });
    await writeFile(path.join(tmp, 'demo.json'), JSON.stringify({ version: DEMO_VERSION, tokenizer, note: 'random weights: answers are meaningless' }, null, 2));
    try {
      await rename(tmp, dir);
    } catch (e) {
      // Another process finished first: use its copy.
      if (!existsSync(stamp)) throw e;
      await rm(tmp, { recursive: true, force: true });
    }
    return { dir, tokenizer, built: true };
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    throw e;
  }
}

/** The tiny-dense fixture's shapes (4+4 layers, hidden 64/48); the vocabulary is the chosen tokenizer's. */
const DEMO_SHAPE: ModelShape = { H: 64, layers: 4, nh: 4, nkv: 2, hd: 32, I: 160, tie: true, vision: { depth: 4, Hv: 48, Iv: 96, deepstack: [0, 2], heads: 4, numPos: 64 } };

/** Every tensor of the checkpoint (the model's tensor table), N(0, 0.02) matrices, unit norms, zero biases (seeded). */
function randomWeights(cfg: ModelConfig): (TensorSpec & { data: Uint16Array })[] {
  const rand = mulberry32(20251129);
  const gauss = () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
  return checkpointTensors(cfg).map(({ name, shape, init }) => {
    const x = new Float32Array(shape.reduce((a, b) => a * b, 1));
    if (init === 'ones') x.fill(1);
    else if (init === 'normal') for (let i = 0; i < x.length; i++) x[i] = 0.02 * gauss();
    return { name, dtype: 'BF16', shape: [...shape], data: toBf16(x) };
  });
}

/** A byte-level tokenizer of 256 byte tokens plus the Qwen special tokens (answers are random bytes). */
async function writeTokenizer(dir: string): Promise<DemoInfo['tokenizer']> {
  const vocab: Record<string, number> = {};
  byteLevelAlphabet().forEach((ch, i) => (vocab[ch] = i));
  const added = SPECIAL_TOKENS.map((content, i) => ({ id: 256 + i, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: i < SPECIAL_COUNT }));
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false };
  const tokenizer = {
    version: '1.0', truncation: null, padding: null, added_tokens: added, normalizer: { type: 'NFC' },
    pre_tokenizer: byteLevel, post_processor: byteLevel, decoder: byteLevel,
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab, merges: [] },
  };
  await writeFile(path.join(dir, 'tokenizer.json'), JSON.stringify(tokenizer));
  const decoder = Object.fromEntries(added.map((a) => [String(a.id), { content: a.content, lstrip: false, normalized: false, rstrip: false, single_word: false, special: a.special }]));
  const config = {
    add_bos_token: false, add_prefix_space: false, added_tokens_decoder: decoder, bos_token: null, clean_up_tokenization_spaces: false,
    eos_token: '<|im_end|>', pad_token: '<|endoftext|>', errors: 'replace', model_max_length: 262144, split_special_tokens: false,
    tokenizer_class: 'Qwen2Tokenizer', unk_token: null, note: 'qwen3-vl demo fallback: 256 byte tokens + Qwen special tokens, no merges',
  };
  await writeFile(path.join(dir, 'tokenizer_config.json'), JSON.stringify(config, null, 2));
  return 'bytes';
}
