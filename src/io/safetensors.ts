// safetensors files (single or sharded by `model.safetensors.index.json`) in a folder or behind a URL (source.ts):
// validated headers, tensors read by byte range so a multi-GB shard is never held at once. Also a writer (Node).

import type { FileHandle } from 'node:fs/promises';
import { widen } from '../tensor/dtype.js';
import { SafetensorsError } from '../errors.js';
import { type CheckpointSource, type RangeFile, type SourceLike, SourceError, TooLargeError, nodeImport, openRangeFile, openSource } from './source.js';

export type StDType = 'BF16' | 'F16' | 'F32' | 'F64' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

const ELEM_BYTES: Record<StDType, number> = { BF16: 2, F16: 2, F32: 4, F64: 8, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 };
/** Headers above this are refused: real checkpoints stay far below (a 235B index header is ~200 KB). */
const MAX_HEADER_BYTES = 100 * 1024 * 1024;

export { SafetensorsError };

export interface TensorInfo {
  readonly name: string;
  readonly dtype: StDType;
  readonly shape: readonly number[];
  /** Absolute byte offset in the file and byte length. */
  readonly offset: number;
  readonly byteLength: number;
  readonly file: string;
}

/** Raw tensor bytes (a fresh, 8-byte aligned buffer) with helpers to view them as numbers. */
export class RawTensor {
  constructor(
    readonly info: TensorInfo,
    readonly bytes: Uint8Array,
  ) {}

  get dtype(): StDType {
    return this.info.dtype;
  }

  get shape(): readonly number[] {
    return this.info.shape;
  }

  /** bf16/f16 bits. */
  u16(): Uint16Array {
    return new Uint16Array(this.bytes.buffer, this.bytes.byteOffset, this.bytes.byteLength / 2);
  }

  /** Values widened to f32 (exact for BF16/F16/F32). */
  f32(): Float32Array {
    const b = this.bytes;
    switch (this.dtype) {
      case 'F32':
        return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
      case 'BF16':
        return widen(this.u16(), 'bf16');
      case 'F16':
        return widen(this.u16(), 'f16');
      case 'F64':
        return Float32Array.from(new Float64Array(b.buffer, b.byteOffset, b.byteLength / 8));
      default:
        throw new SafetensorsError(`${this.dtype} is not a float type`, this.info.file, this.info.name);
    }
  }

  /** Integer values as Int32Array (I64 values must fit in 32 bits). */
  i32(): Int32Array {
    const b = this.bytes;
    if (this.dtype === 'I32') return new Int32Array(b.buffer, b.byteOffset, b.byteLength / 4);
    if (this.dtype === 'I64') {
      const v = new BigInt64Array(b.buffer, b.byteOffset, b.byteLength / 8);
      const out = new Int32Array(v.length);
      for (let i = 0; i < v.length; i++) {
        if (v[i] > 2147483647n || v[i] < -2147483648n) throw new SafetensorsError(`value ${v[i]} does not fit in int32`, this.info.file, this.info.name);
        out[i] = Number(v[i]);
      }
      return out;
    }
    throw new SafetensorsError(`${this.dtype} is not an integer type`, this.info.file, this.info.name);
  }
}

/** One safetensors file (a path, a URL, or an opened RangeFile): header parsed and validated at open; tensors read on demand. */
export class SafetensorsFile {
  private constructor(
    readonly file: string,
    private readonly fh: RangeFile,
    readonly tensors: ReadonlyMap<string, TensorInfo>,
    readonly metadata: Readonly<Record<string, string>>,
  ) {}

  static async open(file: string | RangeFile): Promise<SafetensorsFile> {
    const fh = typeof file === 'string' ? await openChecked(() => openRangeFile(file), file) : file;
    const name = fh.name;
    try {
      const size = fh.size;
      if (size < 8) throw new SafetensorsError(`truncated: ${size} bytes, no header length`, name);
      const lenBuf = new Uint8Array(8);
      await readExactly(fh, lenBuf, 0, name);
      const n = new DataView(lenBuf.buffer).getBigUint64(0, true);
      if (n > BigInt(MAX_HEADER_BYTES)) throw new SafetensorsError(`header length ${n} exceeds the ${MAX_HEADER_BYTES}-byte limit`, name);
      const hlen = Number(n);
      if (8 + hlen > size) throw new SafetensorsError(`truncated: header of ${hlen} bytes but file has ${size}`, name);
      const hbuf = new Uint8Array(hlen);
      await readExactly(fh, hbuf, 8, name);
      let header: unknown;
      try {
        header = JSON.parse(new TextDecoder().decode(hbuf));
      } catch (e) {
        throw new SafetensorsError(`header is not valid JSON (${(e as Error).message})`, name);
      }
      const { tensors, metadata } = parseHeader(header, name, 8 + hlen, size);
      return new SafetensorsFile(name, fh, tensors, metadata);
    } catch (e) {
      await fh.close();
      throw e;
    }
  }

  async read(name: string): Promise<RawTensor> {
    const info = this.tensors.get(name);
    if (!info) throw new SafetensorsError('no such tensor', this.file, name);
    // A fresh Uint8Array (not Buffer's pool) keeps typed views aligned.
    const bytes = new Uint8Array(info.byteLength);
    await readExactly(this.fh, bytes, info.offset, this.file, name);
    return new RawTensor(info, bytes);
  }

  /** A tensor's bytes in chunks of at most `chunkBytes`, all read into one reused buffer: use each before the next. */
  async *chunks(name: string, chunkBytes: number): AsyncGenerator<Uint8Array> {
    const info = this.tensors.get(name);
    if (!info) throw new SafetensorsError('no such tensor', this.file, name);
    const buf = new Uint8Array(Math.max(1, Math.min(chunkBytes, info.byteLength)));
    for (let o = 0; o < info.byteLength; o += buf.byteLength) {
      const view = buf.subarray(0, Math.min(buf.byteLength, info.byteLength - o));
      await readExactly(this.fh, view, info.offset + o, this.file, name);
      yield view;
    }
  }

  async close(): Promise<void> {
    await this.fh.close();
  }
}

/** Open errors read "cannot open: …" unless the source's message stands on its own. */
async function openChecked(open: () => Promise<RangeFile>, file: string): Promise<RangeFile> {
  try {
    return await open();
  } catch (e) {
    throw new SafetensorsError(e instanceof SourceError ? e.message : `cannot open: ${(e as Error).message}`, file);
  }
}

async function readExactly(fh: RangeFile, into: Uint8Array, pos: number, file: string, tensor?: string): Promise<void> {
  let done = 0;
  while (done < into.byteLength) {
    const bytesRead = await fh.read(into.subarray(done), pos + done);
    if (bytesRead === 0) throw new SafetensorsError(`truncated: expected ${into.byteLength} bytes at ${pos}`, file, tensor);
    done += bytesRead;
  }
}

function parseHeader(h: unknown, file: string, dataStart: number, fileSize: number) {
  if (!h || typeof h !== 'object' || Array.isArray(h)) throw new SafetensorsError('header is not a JSON object', file);
  const tensors = new Map<string, TensorInfo>();
  let metadata: Record<string, string> = {};
  const dataLen = fileSize - dataStart;
  for (const [name, v] of Object.entries(h as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (!v || typeof v !== 'object' || Array.isArray(v)) throw new SafetensorsError('__metadata__ is not an object', file);
      metadata = Object.fromEntries(Object.entries(v).map(([k, x]) => [k, String(x)]));
      continue;
    }
    const e = v as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (!e || typeof e !== 'object') throw new SafetensorsError('entry is not an object', file, name);
    if (typeof e.dtype !== 'string' || !(e.dtype in ELEM_BYTES)) throw new SafetensorsError(`unknown dtype ${JSON.stringify(e.dtype)}`, file, name);
    const dtype = e.dtype as StDType;
    if (!Array.isArray(e.shape) || !e.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw new SafetensorsError(`bad shape ${JSON.stringify(e.shape)}`, file, name);
    }
    const off = e.data_offsets;
    if (!Array.isArray(off) || off.length !== 2 || !off.every((d) => Number.isSafeInteger(d) && d >= 0) || off[1] < off[0]) {
      throw new SafetensorsError(`bad data_offsets ${JSON.stringify(off)}`, file, name);
    }
    const shape = e.shape as number[];
    const numel = shape.reduce((a, b) => a * b, 1);
    const byteLength = off[1] - off[0];
    if (byteLength !== numel * ELEM_BYTES[dtype]) {
      throw new SafetensorsError(`data_offsets span ${byteLength} bytes but ${dtype}[${shape}] needs ${numel * ELEM_BYTES[dtype]}`, file, name);
    }
    if (off[1] > dataLen) throw new SafetensorsError(`data_offsets [${off}] run past the end of the data (${dataLen} bytes; truncated file?)`, file, name);
    tensors.set(name, { name, dtype, shape, offset: dataStart + off[0], byteLength, file });
  }
  // Overlapping ranges mean a corrupt (or hostile) header.
  const sorted = [...tensors.values()].filter((t) => t.byteLength > 0).sort((a, b) => a.offset - b.offset);
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1];
    if (sorted[i].offset < prev.offset + prev.byteLength) {
      throw new SafetensorsError(`data overlaps tensor '${prev.name}'`, file, sorted[i].name);
    }
  }
  return { tensors, metadata };
}

/** All tensors of a checkpoint folder (path, URL or source): `model.safetensors`, or the shards of `model.safetensors.index.json`. */
export class Checkpoint {
  private constructor(
    readonly dir: string,
    private readonly files: SafetensorsFile[],
    readonly tensors: ReadonlyMap<string, TensorInfo>,
    private readonly byFile: ReadonlyMap<string, SafetensorsFile>,
  ) {}

  static async open(where: SourceLike): Promise<Checkpoint> {
    const src = await openSource(where);
    const index = src.resolve('model.safetensors.index.json');
    let shardNames: string[];
    let weightMap: Record<string, string> | null = null;
    if (await src.exists('model.safetensors.index.json')) {
      let parsed: { weight_map?: Record<string, string> } | null;
      try {
        parsed = JSON.parse(await readIndex(src, index));
      } catch (e) {
        if (e instanceof SafetensorsError) throw e;
        throw new SafetensorsError(`not valid JSON (${(e as Error).message})`, index);
      }
      if (!parsed || typeof parsed !== 'object' || !parsed.weight_map || typeof parsed.weight_map !== 'object' || Array.isArray(parsed.weight_map)) {
        throw new SafetensorsError('no weight_map object', index);
      }
      weightMap = parsed.weight_map;
      shardNames = [...new Set(Object.values(weightMap))];
      for (const s of shardNames) {
        if (typeof s !== 'string' || !s || s.includes('/') || s.includes('\\') || s.startsWith('.')) throw new SafetensorsError(`bad shard name ${JSON.stringify(s)}`, index);
        if (!(await src.exists(s))) throw new SafetensorsError(`names shard '${s}', which does not exist`, index);
      }
    } else if (await src.exists('model.safetensors')) {
      shardNames = ['model.safetensors'];
    } else {
      throw new SafetensorsError('no model.safetensors or model.safetensors.index.json', src.location);
    }
    const files: SafetensorsFile[] = [];
    try {
      for (const s of shardNames) files.push(await SafetensorsFile.open(await openChecked(() => src.open(s), src.resolve(s))));
    } catch (e) {
      await Promise.all(files.map((f) => f.close()));
      throw e;
    }
    try {
      const { tensors, byFile } = indexTensors(files, shardNames, weightMap, index);
      return new Checkpoint(src.location, files, tensors, byFile);
    } catch (e) {
      await Promise.all(files.map((f) => f.close()));
      throw e;
    }
  }

  has(name: string): boolean {
    return this.tensors.has(name);
  }

  info(name: string): TensorInfo {
    const i = this.tensors.get(name);
    if (!i) throw new SafetensorsError('no such tensor in the checkpoint', this.dir, name);
    return i;
  }

  read(name: string): Promise<RawTensor> {
    return this.byFile.get(this.info(name).file)!.read(name);
  }

  /** See SafetensorsFile.chunks. */
  chunks(name: string, chunkBytes: number): AsyncGenerator<Uint8Array> {
    return this.byFile.get(this.info(name).file)!.chunks(name, chunkBytes);
  }

  /** The `__metadata__` of each shard, by file. */
  get metadata(): ReadonlyMap<string, Readonly<Record<string, string>>> {
    return new Map(this.files.map((f) => [f.file, f.metadata]));
  }

  /** Total bytes of all tensors. */
  get byteLength(): number {
    let n = 0;
    for (const t of this.tensors.values()) n += t.byteLength;
    return n;
  }

  async close(): Promise<void> {
    await Promise.all(this.files.map((f) => f.close()));
  }
}

/** Map tensor names to their shard, checking that shards and index agree. */
function indexTensors(files: SafetensorsFile[], shardNames: string[], weightMap: Record<string, string> | null, index: string) {
  const tensors = new Map<string, TensorInfo>();
  const byFile = new Map<string, SafetensorsFile>();
  files.forEach((f, i) => {
    byFile.set(f.file, f);
    for (const [name, info] of f.tensors) {
      if (tensors.has(name)) throw new SafetensorsError(`tensor also stored in ${tensors.get(name)!.file}`, f.file, name);
      if (weightMap && weightMap[name] !== shardNames[i]) {
        throw new SafetensorsError(`tensor not listed for this shard in the index (index says ${weightMap[name] ?? 'nothing'})`, f.file, name);
      }
      tensors.set(name, info);
    }
  });
  if (weightMap) {
    for (const [name, shard] of Object.entries(weightMap)) {
      if (!tensors.has(name)) throw new SafetensorsError(`index lists tensor in '${shard}', but that shard does not hold it`, index, name);
    }
  }
  return { tensors, byFile };
}

async function readIndex(src: CheckpointSource, index: string): Promise<string> {
  try {
    return await src.readText('model.safetensors.index.json', MAX_HEADER_BYTES);
  } catch (e) {
    if (e instanceof TooLargeError) throw new SafetensorsError(`${e.size} bytes is too large for an index`, index);
    throw e;
  }
}

export interface TensorSpec {
  readonly name: string;
  readonly dtype: StDType;
  readonly shape: readonly number[];
}

/**
 * Writes a safetensors file whose header is fixed up front; data is then streamed tensor by tensor in spec order,
 * so a writer never holds more than one tensor.
 */
export class SafetensorsWriter {
  private next = 0;
  private pos: number;

  private constructor(
    private readonly fh: FileHandle,
    private readonly specs: readonly TensorSpec[],
    private readonly file: string,
    dataStart: number,
  ) {
    this.pos = dataStart;
  }

  static async create(file: string, specs: readonly TensorSpec[], metadata: Record<string, string> = {}): Promise<SafetensorsWriter> {
    const header: Record<string, unknown> = {};
    if (Object.keys(metadata).length) header.__metadata__ = metadata;
    let off = 0;
    for (const s of specs) {
      const n = s.shape.reduce((a, b) => a * b, 1) * ELEM_BYTES[s.dtype];
      header[s.name] = { dtype: s.dtype, shape: s.shape, data_offsets: [off, off + n] };
      off += n;
    }
    let json = JSON.stringify(header);
    json += ' '.repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8); // align data to 8 bytes
    const hb = Buffer.from(json, 'utf8');
    const { open } = await nodeImport<typeof import('node:fs/promises')>('node:fs/promises');
    const fh = await open(file, 'w');
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(hb.length));
    await fh.write(len, 0, 8, 0);
    await fh.write(hb, 0, hb.length, 8);
    return new SafetensorsWriter(fh, specs, file, 8 + hb.length);
  }

  /** Append the next tensor's data (must follow spec order and size). */
  async write(name: string, data: ArrayBufferView): Promise<void> {
    const s = this.specs[this.next];
    if (!s || s.name !== name) throw new SafetensorsError(`write out of order (expected ${s?.name ?? 'nothing'})`, this.file, name);
    const n = s.shape.reduce((a, b) => a * b, 1) * ELEM_BYTES[s.dtype];
    if (data.byteLength !== n) throw new SafetensorsError(`got ${data.byteLength} bytes, header says ${n}`, this.file, name);
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    let done = 0;
    while (done < n) {
      const { bytesWritten } = await this.fh.write(bytes, done, Math.min(n - done, 1 << 30), this.pos + done);
      done += bytesWritten;
    }
    this.pos += n;
    this.next++;
  }

  async close(): Promise<void> {
    try {
      if (this.next !== this.specs.length) throw new SafetensorsError(`closed after ${this.next} of ${this.specs.length} tensors`, this.file);
    } finally {
      await this.fh.close();
    }
  }
}

/** Write a whole small file at once (tests, fixtures, quantized checkpoints). */
export async function writeSafetensors(
  file: string,
  tensors: readonly (TensorSpec & { data: ArrayBufferView })[],
  metadata: Record<string, string> = {},
): Promise<void> {
  const w = await SafetensorsWriter.create(file, tensors, metadata);
  for (const t of tensors) await w.write(t.name, t.data);
  await w.close();
}
