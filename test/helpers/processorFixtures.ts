// Fixture access for the processor tests: golden JSON/tensors of qwen3-vl/{processor,video}, a .npy reader, and
// difference statistics for pixel parity reports.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { SafetensorsFile } from '../../src/io/safetensors.js';
import { fixturesRoot } from './fixtures.js';

export { fixturesRoot, projectRoot, tokenizerDir } from './fixtures.js';

export const processorDir = path.join(fixturesRoot, 'processor');
export const videoDir = path.join(fixturesRoot, 'video');
export const tinyDenseDir = path.join(fixturesRoot, 'tiny-dense');

export function readJson<T = Record<string, unknown>>(file: string): T {
  return JSON.parse(readFileSync(file, 'utf8')) as T;
}

/** All tensors of a golden.safetensors, widened to float32. */
export async function readTensors(file: string, names?: string[]): Promise<Map<string, { shape: readonly number[]; data: Float32Array }>> {
  const f = await SafetensorsFile.open(file);
  const out = new Map<string, { shape: readonly number[]; data: Float32Array }>();
  for (const name of names ?? [...f.tensors.keys()]) {
    const t = await f.read(name);
    out.set(name, { shape: t.shape, data: t.f32() });
  }
  await f.close();
  return out;
}

/** Minimal .npy reader (version 1/2/3, little-endian, C order) for uint8 arrays. */
export function readNpyU8(file: string): { shape: number[]; data: Uint8Array } {
  const b = readFileSync(file);
  if (b.readUInt32BE(0) !== 0x934e554d || b.toString('latin1', 4, 6) !== 'PY') throw new Error(`${file}: not a .npy file`);
  const major = b[6];
  const headerLen = major === 1 ? b.readUInt16LE(8) : b.readUInt32LE(8);
  const start = major === 1 ? 10 : 12;
  const header = b.toString('latin1', start, start + headerLen);
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const shape = (/'shape':\s*\(([^)]*)\)/.exec(header)?.[1] ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map(Number);
  if (descr !== '|u1' && descr !== '<u1') throw new Error(`${file}: dtype ${descr} is not uint8`);
  if (fortran !== 'False') throw new Error(`${file}: Fortran order is not supported`);
  const offset = start + headerLen;
  return { shape, data: new Uint8Array(b.buffer, b.byteOffset + offset, b.length - offset) };
}

export interface DiffStats {
  mean: number;
  max: number;
  /** Fraction of values that differ by more than 1e-6. */
  changed: number;
}

export function diffStats(a: ArrayLike<number>, b: ArrayLike<number>): DiffStats {
  if (a.length !== b.length) throw new Error(`length mismatch ${a.length} vs ${b.length}`);
  let sum = 0;
  let max = 0;
  let changed = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    sum += d;
    if (d > max) max = d;
    if (d > 1e-6) changed++;
  }
  return { mean: sum / a.length, max, changed: changed / a.length };
}

/** float16 rounding (the fixtures store pixels as float16), so an exact port compares at 0. */
export function toF16Precision(x: Float32Array): Float32Array {
  const out = new Float32Array(x.length);
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  for (let i = 0; i < x.length; i++) {
    // Values are in [-1, 1]: normal f16 range, 10 mantissa bits; round-to-nearest-even on the f32 bits.
    f[0] = x[i];
    const bits = u[0];
    const exp = (bits >>> 23) & 0xff;
    if (exp < 103) {
      // below f16 subnormal precision handled by generic path
      out[i] = Math.abs(x[i]) < 2 ** -25 ? 0 : roundToStep(x[i], 2 ** -24);
      continue;
    }
    if (exp < 113) {
      out[i] = roundToStep(x[i], 2 ** -24);
      continue;
    }
    const drop = 13;
    const lsb = (bits >>> drop) & 1;
    const rounded = (bits + ((1 << (drop - 1)) - 1) + lsb) & ~((1 << drop) - 1);
    u[0] = rounded >>> 0;
    out[i] = f[0];
  }
  return out;
}

function roundToStep(x: number, step: number): number {
  const q = x / step;
  const fl = Math.floor(q);
  const d = q - fl;
  const n = d > 0.5 ? fl + 1 : d < 0.5 ? fl : fl % 2 === 0 ? fl : fl + 1;
  return n * step;
}
