// The safetensors reader on valid, sharded and broken files (made here, in a temp folder).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync, readFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Checkpoint, SafetensorsFile, writeSafetensors } from '../../src/io/safetensors.js';

let dir: string;
const a = Float32Array.from([1, 2, 3, 4, 5, 6]);
const bBits = Uint16Array.from([0x3f80, 0xc000]); // bf16 1, -2

/** A raw file from a header object and a data length (for hand-made broken headers). */
function rawFile(name: string, header: unknown, dataBytes: number, headerText?: string): string {
  const json = Buffer.from(headerText ?? JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  const p = path.join(dir, name);
  writeFileSync(p, Buffer.concat([len, json, Buffer.alloc(dataBytes)]));
  return p;
}

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'st-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('safetensors', () => {
  it('round-trips tensors and metadata', async () => {
    const p = path.join(dir, 'ok.safetensors');
    await writeSafetensors(p, [
      { name: 'a', dtype: 'F32', shape: [2, 3], data: a },
      { name: 'b', dtype: 'BF16', shape: [2], data: bBits },
      { name: 'i', dtype: 'I64', shape: [2], data: BigInt64Array.from([7n, -3n]) },
    ], { format: 'pt' });
    const f = await SafetensorsFile.open(p);
    expect(f.metadata).toEqual({ format: 'pt' });
    expect(Array.from((await f.read('a')).f32())).toEqual(Array.from(a));
    expect(Array.from((await f.read('b')).f32())).toEqual([1, -2]);
    expect(Array.from((await f.read('i')).i32())).toEqual([7, -3]);
    await expect(f.read('nope')).rejects.toThrow(/ok\.safetensors \[nope\]: no such tensor/);
    await f.close();
  });

  it('rejects a file too short for the header length', async () => {
    const p = path.join(dir, 'short.safetensors');
    writeFileSync(p, Buffer.alloc(5));
    await expect(SafetensorsFile.open(p)).rejects.toThrow(/short\.safetensors: truncated: 5 bytes/);
  });

  it('rejects a truncated header and truncated data', async () => {
    const p = path.join(dir, 'ok.safetensors');
    const full = readFileSync(p);
    const cut1 = path.join(dir, 'cut-header.safetensors');
    writeFileSync(cut1, full.subarray(0, 20));
    await expect(SafetensorsFile.open(cut1)).rejects.toThrow(/truncated: header of \d+ bytes/);
    const cut2 = path.join(dir, 'cut-data.safetensors');
    writeFileSync(cut2, full.subarray(0, full.length - 4));
    await expect(SafetensorsFile.open(cut2)).rejects.toThrow(/cut-data\.safetensors \[i\]: data_offsets \[\d+,\d+\] run past the end/);
  });

  it('rejects bad header JSON, unknown dtypes, bad shapes and absurd header lengths', async () => {
    await expect(SafetensorsFile.open(rawFile('json.safetensors', null, 0, '{"a": '))).rejects.toThrow(/json\.safetensors: header is not valid JSON/);
    await expect(SafetensorsFile.open(rawFile('dt.safetensors', { w: { dtype: 'Q9', shape: [1], data_offsets: [0, 1] } }, 1))).rejects.toThrow(/dt\.safetensors \[w\]: unknown dtype "Q9"/);
    await expect(SafetensorsFile.open(rawFile('shape.safetensors', { w: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, 4))).rejects.toThrow(/\[w\]: bad shape/);
    await expect(SafetensorsFile.open(rawFile('size.safetensors', { w: { dtype: 'F32', shape: [2], data_offsets: [0, 4] } }, 8))).rejects.toThrow(/\[w\]: data_offsets span 4 bytes but F32\[2\] needs 8/);
    const huge = path.join(dir, 'huge.safetensors');
    const len = Buffer.alloc(16);
    len.writeBigUInt64LE(1n << 40n);
    writeFileSync(huge, len);
    await expect(SafetensorsFile.open(huge)).rejects.toThrow(/header length \d+ exceeds/);
  });

  it('rejects overlapping and out-of-range offsets', async () => {
    const overlap = { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } };
    await expect(SafetensorsFile.open(rawFile('overlap.safetensors', overlap, 12))).rejects.toThrow(/\[b\]: data overlaps tensor 'a'/);
    const range = { a: { dtype: 'F32', shape: [4], data_offsets: [8, 24] } };
    await expect(SafetensorsFile.open(rawFile('range.safetensors', range, 16))).rejects.toThrow(/range\.safetensors \[a\]: data_offsets \[8,24\] run past the end of the data \(16 bytes/);
  });

  it('opens sharded checkpoints and checks the index against the shards', async () => {
    const d = path.join(dir, 'sharded');
    mkdirSync(d);
    await writeSafetensors(path.join(d, 's1.safetensors'), [{ name: 'x', dtype: 'F32', shape: [6], data: a }]);
    await writeSafetensors(path.join(d, 's2.safetensors'), [{ name: 'y', dtype: 'BF16', shape: [2], data: bBits }]);
    const index = path.join(d, 'model.safetensors.index.json');
    writeFileSync(index, JSON.stringify({ weight_map: { x: 's1.safetensors', y: 's2.safetensors' } }));
    const c = await Checkpoint.open(d);
    expect([...c.tensors.keys()].sort()).toEqual(['x', 'y']);
    expect(Array.from((await c.read('y')).f32())).toEqual([1, -2]);
    await c.close();

    writeFileSync(index, JSON.stringify({ weight_map: { x: 's1.safetensors', y: 's3.safetensors' } }));
    await expect(Checkpoint.open(d)).rejects.toThrow(/index\.json: names shard 's3\.safetensors', which does not exist/);
    writeFileSync(index, JSON.stringify({ weight_map: { x: 's1.safetensors', y: 's2.safetensors', z: 's2.safetensors' } }));
    await expect(Checkpoint.open(d)).rejects.toThrow(/\[z\]: index lists tensor in 's2\.safetensors', but that shard does not hold it/);
    writeFileSync(index, JSON.stringify({ weight_map: { x: '../s1.safetensors' } }));
    await expect(Checkpoint.open(d)).rejects.toThrow(/bad shard name/);
    writeFileSync(index, '{ nope');
    await expect(Checkpoint.open(d)).rejects.toThrow(/index\.json: not valid JSON/);
  });

  it('names the folder when there are no weights', async () => {
    const d = path.join(dir, 'empty');
    mkdirSync(d);
    await expect(Checkpoint.open(d)).rejects.toThrow(/empty: no model\.safetensors or model\.safetensors\.index\.json/);
  });
});
