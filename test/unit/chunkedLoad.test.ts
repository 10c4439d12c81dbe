// Chunked loading without a GPU: chunkWriter's writes (webgpu's streamed upload) rebuild exactly the buffer that
// packForGpu makes from the whole tensor, for bf16 and the q8_0/q4_0 repack, with parts split across chunk edges;
// Checkpoint.chunks and BlobSource (a browser folder of Files) read the same bytes as whole reads.
import { describe, expect, it } from 'vitest';
import { CHUNK_ALIGN, chunkWriter, gpuLayout, packForGpu } from '../../src/backend/webgpu/upload.js';
import { BlobSource } from '../../src/io/blobSource.js';
import { Checkpoint } from '../../src/io/safetensors.js';
import { SourceError } from '../../src/io/source.js';
import { quantize } from '../../src/tensor/quant.js';
import { rng } from '../helpers/rng.js';
import { fixturesRoot } from '../helpers/fixtures.js';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';

function streamed(bytes: Uint8Array, shape: number[], dtype: 'bf16' | 'q8_0' | 'q4_0', chunk: number, parts = 1): Uint8Array {
  const out = new Uint8Array(gpuLayout(shape, dtype).bytes);
  const w = chunkWriter(shape, dtype, (data, off) => out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), off));
  // Parts end where they end (like q|k|v concatenated by rows); chunks restart at each part.
  const per = bytes.byteLength / parts;
  for (let p = 0; p < parts; p++) {
    for (let o = 0; o < per; o += chunk) w.push(bytes.slice(p * per + o, p * per + Math.min(per, o + chunk)));
  }
  w.end();
  return out;
}

const whole = (bytes: Uint8Array, shape: number[], dtype: 'bf16' | 'q8_0' | 'q4_0') => {
  const p = packForGpu(dtype === 'bf16' ? new Uint16Array(bytes.buffer) : bytes, shape, dtype).bytes;
  return new Uint8Array(p.buffer, p.byteOffset, p.byteLength);
};

describe('chunked GPU upload layout', () => {
  const r = rng(3);
  const shape = [96, 160];
  const values = Float32Array.from({ length: 96 * 160 }, () => r() * 2 - 1);
  for (const dtype of ['q8_0', 'q4_0'] as const) {
    it(`${dtype}: chunked writes equal the whole-tensor repack (3 parts, chunk ${CHUNK_ALIGN} bytes)`, () => {
      const q = quantize(values, 160, dtype);
      expect(streamed(q, shape, dtype, CHUNK_ALIGN, 3)).toEqual(whole(q, shape, dtype));
      expect(streamed(q, shape, dtype, CHUNK_ALIGN * 7)).toEqual(whole(q, shape, dtype));
    });
  }
  it('bf16: chunked writes equal the whole tensor', () => {
    const b = new Uint8Array(Uint16Array.from(values, (v) => (new Uint32Array(new Float32Array([v]).buffer)[0] >>> 16) & 0xffff).buffer);
    expect(streamed(b, shape, 'bf16', CHUNK_ALIGN, 2)).toEqual(whole(b, shape, 'bf16'));
  });
  it('refuses a misaligned chunk before another and a short or long total', () => {
    const w = chunkWriter([64, 32], 'q8_0', () => {});
    w.push(new Uint8Array(34)); // one block: misaligned for what follows
    expect(() => w.push(new Uint8Array(68))).toThrow(/follows a misaligned one/);
    const s = chunkWriter([4], 'bf16', () => {});
    s.push(new Uint8Array(4));
    expect(() => s.end()).toThrow(/takes 8 bytes, got 4/);
    expect(() => chunkWriter([2], 'bf16', () => {}).push(new Uint8Array(8))).toThrow(/got more/);
  });
});

describe('chunked reads', () => {
  const dir = path.join(fixturesRoot, 'tiny-dense');
  const have = existsSync(path.join(dir, 'model.safetensors'));
  if (!have) console.log(`[skip] chunked reads: no tiny-dense fixture at ${dir} (set QWEN3VL_FIXTURES)`);
  it.skipIf(!have)('Checkpoint.chunks and BlobSource give the bytes whole reads give', async () => {
    const files = readdirSync(dir).map((f) => new File([readFileSync(path.join(dir, f))], f));
    const fromDisk = await Checkpoint.open(dir);
    const fromBlobs = await Checkpoint.open(new BlobSource(files));
    const name = 'model.language_model.embed_tokens.weight';
    const want = (await fromDisk.read(name)).bytes;
    const got = new Uint8Array(want.byteLength);
    let o = 0;
    for await (const c of fromBlobs.chunks(name, 1 << 20)) {
      expect(c.byteLength).toBeLessThanOrEqual(1 << 20);
      got.set(c, o);
      o += c.byteLength;
    }
    expect(o).toBe(want.byteLength);
    expect(Buffer.from(got).equals(Buffer.from(want))).toBe(true);
    await Promise.all([fromDisk.close(), fromBlobs.close()]);
    await expect(new BlobSource(files).readText('chat_template.json')).rejects.toThrow(SourceError);
    await expect(new BlobSource(files).readText('chat_template.json')).rejects.toThrow(/the folder has no chat_template.json \(it has config.json, /);
  });
});
