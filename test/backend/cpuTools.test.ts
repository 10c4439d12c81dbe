// The benchmark tools: genCheckpoint writes a loadable Hub-layout checkpoint (bf16, sharded, or pre-quantized), and
// the GGUF writer's header is well-formed (magic, version, counts, aligned tensor data).
import { describe, expect, it } from 'vitest';
import { mkdtemp, readFile, rm, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { genCheckpoint, type ModelShape } from '../../src/tools/genCheckpoint.js';
import { loadModel } from '../../src/models/qwen3vl/load.js';
import { loadAddon } from '../../src/backend/cpu/native.js';
import { exportQwen3Gguf } from '../../bench/gguf.js';

const tiny: ModelShape = { H: 64, layers: 2, nh: 4, nkv: 2, hd: 32, I: 96, tie: true, vision: { depth: 2, Hv: 128, Iv: 64, deepstack: [0] } };
const tinyMoe: ModelShape = { ...tiny, tie: false, moe: { experts: 4, topK: 2, inter: 32 } };

describe('benchmark tools', () => {
  it('genCheckpoint: sharded bf16 and pre-quantized q4_0 folders load and run', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'qv-gen-'));
    try {
      for (const [name, shape, dtype] of [['dense', tiny, 'bf16'], ['moe', tinyMoe, 'q4_0']] as const) {
        const out = path.join(dir, name);
        await genCheckpoint({ out, shape, shardBytes: 1 << 20, dtype });
        const files = await readdir(out);
        expect(files).toContain('config.json');
        expect(files.some((f) => f.endsWith('index.json'))).toBe(true);
        const backend = loadAddon() instanceof Error ? 'ref' : 'cpu';
        const m = await loadModel(out, { backend });
        const { logits } = await m.forward({ inputIds: [1, 2, 3], logits: 'last' });
        expect(logits.length).toBe(151936);
        expect(logits.every(Number.isFinite)).toBe(true);
        m.dispose();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('GGUF export: header, metadata count and tensor data offsets', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'qv-gguf-'));
    try {
      await genCheckpoint({ out: dir, shape: tiny });
      const file = path.join(dir, 'm.gguf');
      await exportQwen3Gguf(dir, file, 'q8_0');
      const b = await readFile(file);
      expect(b.readUInt32LE(0)).toBe(0x46554747);
      expect(b.readUInt32LE(4)).toBe(3);
      expect(Number(b.readBigUInt64LE(8))).toBe(2 + 2 * 11); // token_embd, output_norm (tied) + 11 per layer
      expect(Number(b.readBigUInt64LE(16))).toBeGreaterThan(15);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
