// Fuzzing the loader's inputs: safetensors bytes and headers, index files and config.json. Every input either
// loads or fails with SafetensorsError / ConfigError / WeightError — never another exception, a hang or a huge
// allocation (reads are bounded by the file size).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, copyFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Checkpoint, SafetensorsError, SafetensorsFile } from '../../src/io/safetensors.js';
import { ConfigError, parseConfig } from '../../src/models/qwen3vl/config.js';
import { WeightError } from '../../src/models/qwen3vl/weights.js';
import { loadModel } from '../../src/models/qwen3vl/load.js';
import { fixturesRoot } from '../helpers/fixtures.js';
import { accepts, fuzz, int, mutateBytes, mutateJson } from './fuzz.js';

const src = path.join(fixturesRoot, 'tiny-dense-untied-text');
let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(path.join(tmpdir(), 'fuzz-'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A small safetensors file whose header dominates, so mutations hit the header often. */
function seedFile(): Uint8Array {
  const header = JSON.stringify({
    __metadata__: { format: 'pt' },
    a: { dtype: 'BF16', shape: [2, 3], data_offsets: [0, 12] },
    b: { dtype: 'F32', shape: [2], data_offsets: [12, 20] },
    c: { dtype: 'I64', shape: [1], data_offsets: [20, 28] },
  });
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(header.length));
  return Uint8Array.from(Buffer.concat([len, Buffer.from(header), Buffer.alloc(28, 7)]));
}

describe('fuzz: loader inputs', () => {
  it('safetensors bytes', async () => {
    const seed = seedFile();
    const file = path.join(tmp, 'f.safetensors');
    const s = await fuzz('safetensors bytes', async (r) => {
      writeFileSync(file, mutateBytes(r, seed));
      return accepts(async () => {
        const f = await SafetensorsFile.open(file);
        try {
          for (const n of f.tensors.keys()) await f.read(n);
        } finally {
          await f.close();
        }
      }, SafetensorsError);
    });
    expect(s.rejected).toBeGreaterThan(0);
  });

  it('safetensors header JSON', async () => {
    const seed = seedFile();
    const hlen = Number(Buffer.from(seed).readBigUInt64LE(0));
    const header = JSON.parse(Buffer.from(seed.subarray(8, 8 + hlen)).toString());
    const file = path.join(tmp, 'h.safetensors');
    await fuzz('safetensors header', async (r) => {
      const h = Buffer.from(JSON.stringify(mutateJson(r, header)));
      const len = Buffer.alloc(8);
      len.writeBigUInt64LE(BigInt(h.length));
      writeFileSync(file, Buffer.concat([len, h, Buffer.alloc(int(r, 40))]));
      return accepts(async () => {
        const f = await SafetensorsFile.open(file);
        await f.close();
      }, SafetensorsError);
    }, 2);
  });

  it('sharded index files', async () => {
    const d = path.join(tmp, 'idx');
    mkdirSync(d);
    copyFileSync(path.join(src, 'model.safetensors'), path.join(d, 'model-00001-of-00001.safetensors'));
    const f = await SafetensorsFile.open(path.join(src, 'model.safetensors'));
    const keys = [...f.tensors.keys()];
    await f.close();
    const index = { metadata: { total_size: 1 }, weight_map: Object.fromEntries(keys.map((k) => [k, 'model-00001-of-00001.safetensors'])) };
    await fuzz('index.json', async (r) => {
      writeFileSync(path.join(d, 'model.safetensors.index.json'), JSON.stringify(mutateJson(r, index)));
      return accepts(async () => {
        await (await Checkpoint.open(d)).close();
      }, SafetensorsError);
    }, 3);
  });

  it('config.json values', async () => {
    const cfg = JSON.parse(readFileSync(path.join(src, 'config.json'), 'utf8'));
    await fuzz('config.json', (r) => {
      return accepts(async () => {
        parseConfig(mutateJson(r, cfg));
      }, ConfigError);
    }, 4);
  });

  it('config.json against real weights (shape checks before any allocation)', async () => {
    const d = path.join(tmp, 'model');
    mkdirSync(d);
    copyFileSync(path.join(src, 'model.safetensors'), path.join(d, 'model.safetensors'));
    const cfg = JSON.parse(readFileSync(path.join(src, 'config.json'), 'utf8'));
    await fuzz('config + weights', async (r) => {
      writeFileSync(path.join(d, 'config.json'), JSON.stringify(mutateJson(r, cfg)));
      return accepts(async () => {
        (await loadModel(d)).dispose();
      }, ConfigError, WeightError);
    }, 5);
  });
});
