// `qwen3-vl quantize IN OUT --dtype q4_0|q8_0`: a checkpoint whose large matrices are stored already quantized, so
// it loads without conversion. Format (all else as the Hub layout; documented in docs/quantized-format.md):
// a quantized tensor is a U8 tensor [rows, rowBytes] of ggml blocks, described in each shard's __metadata__ under
// "qwen3vl.quantization" = JSON { version: 1, tensors: { name: { dtype, shape, k, layout } } }.

import { copyFile, mkdir, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Checkpoint, SafetensorsWriter, type TensorSpec } from '../io/safetensors.js';
import { QUANT_META_KEY, type QuantizedTensorInfo } from '../weights/quantized.js';
import { type CheckpointTensor, checkpointTensors, rowLength } from '../models/qwen3vl/checkpoint.js';
import { loadConfig } from '../models/qwen3vl/config.js';
import { type QuantDType, QBLOCK, QBLOCK_BYTES, isQuant, widen } from '../tensor/dtype.js';
import { formatFor, transposeLast2 } from '../weights/convert.js';
import { quantize as hostQuantize } from '../tensor/quant.js';

// The format's reading side lives with the weight loader (browser-safe); re-exported for the tools.
export { QUANT_META_KEY, type QuantizedTensorInfo, readQuantization } from '../weights/quantized.js';

export interface QuantizeOptions {
  readonly input: string;
  readonly output: string;
  readonly dtype: QuantDType;
  /** Target shard size in bytes (default 4 GiB). */
  readonly shardBytes?: number;
  /** Convert with the native CPU backend when it is available (default true); otherwise in TypeScript. */
  readonly native?: boolean;
  readonly onProgress?: (p: { tensor: string; done: number; total: number }) => void;
}

/**
 * What a checkpoint tensor becomes: kept as is, or quantized along rows of k (after an optional transpose). The
 * policy is the loader's (`formatFor` by role); besides, the vision qkv stays as is, since the loader splits its rows
 * into q/k/v (3-6% of the tower).
 */
export function quantPlan(t: CheckpointTensor, dtype: QuantDType): QuantizedTensorInfo | null {
  if (t.layout === 'split') return null;
  const k = rowLength(t);
  const numel = t.shape.reduce((a, b) => a * b, 1);
  if (!isQuant(formatFor(t.role, [numel / k, k], dtype))) return null;
  // Experts: Hub layout is input-major [E, in, out]; rows must run along `in`, so store [E, out, in].
  if (t.layout === 'input-major') return { dtype, shape: [t.shape[0], t.shape[2], t.shape[1]], k, layout: 'output-major' };
  return { dtype, shape: t.shape, k, layout: 'hub' };
}

type Converter = (bits: Uint16Array, rows: number, k: number, dtype: QuantDType) => Promise<Uint8Array>;

async function converter(native: boolean): Promise<{ convert: Converter; close: () => void }> {
  if (native) {
    try {
      const { CpuBackend } = await import('../backend/cpu/index.js');
      const b = new CpuBackend();
      return {
        convert: async (bits, rows, k, dtype) => {
          const t = b.uploadConvert(bits, 'bf16', [rows, k], dtype);
          const out = await b.readRaw(t);
          t.dispose();
          return out;
        },
        close: () => b.destroy(),
      };
    } catch {
      // no addon: host conversion below
    }
  }
  return { convert: async (bits, _rows, k, dtype) => hostQuantize(widen(bits, 'bf16'), k, dtype), close: () => {} };
}

/** Quantize a bf16/f16 checkpoint folder into `output` (other files are copied). */
export async function quantize(opts: QuantizeOptions): Promise<{ tensors: number; quantized: number; bytes: number }> {
  const ck = await Checkpoint.open(opts.input);
  const conv = await converter(opts.native ?? true);
  try {
    const names = [...ck.tensors.keys()].sort((a, b) => {
      const ia = ck.info(a);
      const ib = ck.info(b);
      return ia.file === ib.file ? ia.offset - ib.offset : ia.file < ib.file ? -1 : 1;
    });
    // Tensors the model does not know (a tied checkpoint's spare lm_head) are copied as they are.
    const cfg = await loadConfig(opts.input);
    const table = new Map(checkpointTensors(cfg, cfg.tieWordEmbeddings || !ck.has('lm_head.weight')).map((t) => [t.name, t]));
    const planOf = (n: string) => {
      const t = table.get(n);
      return t && sameShape(t.shape, ck.info(n).shape) ? quantPlan(t, opts.dtype) : null;
    };
    const plans = new Map(names.map((n) => [n, planOf(n)]));
    const spec = (n: string): TensorSpec => {
      const p = plans.get(n);
      const info = ck.info(n);
      if (!p) return { name: n, dtype: info.dtype, shape: info.shape };
      const numel = p.shape.reduce((a, b) => a * b, 1);
      return { name: n, dtype: 'U8', shape: [numel / p.k, (p.k / QBLOCK) * QBLOCK_BYTES[p.dtype]] };
    };
    const bytesOf = (s: TensorSpec) => s.shape.reduce((a, b) => a * b, 1) * (s.dtype === 'U8' ? 1 : s.dtype === 'F32' ? 4 : 2);
    const shards: string[][] = [[]];
    let cur = 0;
    for (const n of names) {
      const sz = bytesOf(spec(n));
      if (cur > 0 && cur + sz > (opts.shardBytes ?? 4 * 2 ** 30)) {
        shards.push([]);
        cur = 0;
      }
      shards.at(-1)!.push(n);
      cur += sz;
    }
    await mkdir(opts.output, { recursive: true });
    const files = shards.map((_, i) => (shards.length === 1 ? 'model.safetensors' : `model-${String(i + 1).padStart(5, '0')}-of-${String(shards.length).padStart(5, '0')}.safetensors`));
    const weightMap: Record<string, string> = {};
    let done = 0;
    let bytes = 0;
    for (let i = 0; i < shards.length; i++) {
      const tensors: Record<string, QuantizedTensorInfo> = {};
      for (const n of shards[i]) if (plans.get(n)) tensors[n] = plans.get(n)!;
      const specs = shards[i].map(spec);
      const w = await SafetensorsWriter.create(path.join(opts.output, files[i]), specs, { format: 'pt', [QUANT_META_KEY]: JSON.stringify({ version: 1, tensors }) });
      for (const s of specs) {
        const raw = await ck.read(s.name);
        const p = plans.get(s.name);
        let data: Uint8Array;
        if (!p) data = raw.bytes;
        else {
          if (raw.dtype !== 'BF16' && raw.dtype !== 'F16') throw new Error(`quantize: ${s.name} is ${raw.dtype}; only BF16/F16 checkpoints are supported`);
          let bits = raw.u16();
          if (raw.dtype === 'F16') bits = toBf16Bits(bits);
          if (p.layout === 'output-major') bits = transposeLast2(bits, raw.shape[0], raw.shape[1], raw.shape[2]);
          const numel = p.shape.reduce((a, b) => a * b, 1);
          data = await conv.convert(bits, numel / p.k, p.k, p.dtype);
        }
        await w.write(s.name, data);
        weightMap[s.name] = files[i];
        bytes += data.byteLength;
        opts.onProgress?.({ tensor: s.name, done: ++done, total: names.length });
      }
      await w.close();
    }
    if (shards.length > 1) await writeFile(path.join(opts.output, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: bytes }, weight_map: weightMap }, null, 2));
    for (const f of await readdir(opts.input)) {
      if (!/\.safetensors$|safetensors\.index\.json$/.test(f)) await copyFile(path.join(opts.input, f), path.join(opts.output, f));
    }
    return { tensors: names.length, quantized: [...plans.values()].filter(Boolean).length, bytes };
  } finally {
    conv.close();
    await ck.close();
  }
}

const sameShape = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((d, i) => d === b[i]);

/** f16 bits -> bf16 bits (via f32; exact for the range of weights). */
function toBf16Bits(f16: Uint16Array): Uint16Array {
  const f = widen(f16, 'f16');
  const u = new Uint32Array(f.buffer);
  return Uint16Array.from(u, (x) => (x + 0x7fff + ((x >>> 16) & 1)) >>> 16);
}
