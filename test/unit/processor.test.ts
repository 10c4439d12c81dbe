// The processor entry point: loadProcessor on the tiny-dense folder, message forms (paths, bytes, data and file
// URLs, OpenAI image_url parts, raw pixels), pixel bounds per call and per image, remote fetching policy,
// and clear errors for malformed messages and configs.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  InvalidInputError,
  loadProcessor,
  ProcessorConfigError,
  RemoteFetchDisabledError,
  type Qwen3VLProcessor,
} from '../../src/processor/index.js';
import * as pkg from '../../src/index.js';
import { processorDir, tinyDenseDir } from '../helpers/processorFixtures.js';

let proc: Qwen3VLProcessor;
let tmp: string;
const photo = path.join(processorDir, 'chelsea.png');
const photoBytes = new Uint8Array(readFileSync(photo));

beforeAll(async () => {
  proc = await loadProcessor(tinyDenseDir);
  tmp = mkdtempSync(path.join(tmpdir(), 'qwen3vl-proc-'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('loadProcessor / prepare', () => {
  it('is exported from the package root', () => {
    expect(typeof pkg.loadProcessor).toBe('function');
    expect(typeof pkg.StreamingDetokenizer).toBe('function');
  });

  it('reads the checkpoint configs', () => {
    expect(proc.imageConfig).toMatchObject({ minPixels: 65536, maxPixels: 16777216, patchSize: 16, mergeSize: 2 });
    expect(proc.videoConfig).toMatchObject({ minPixels: 4096, maxPixels: 25165824, fps: 2, minFrames: 4, maxFrames: 768 });
    expect(proc.chatTemplate.origin).toBe('builtin-instruct');
  });

  it('text only: ids are the tokenised prompt, no pixel outputs', async () => {
    const out = await proc.prepare([{ role: 'user', content: 'Hello, world!' }], { addGenerationPrompt: true });
    expect(out.text).toBe('<|im_start|>user\nHello, world!<|im_end|>\n<|im_start|>assistant\n');
    expect(out.inputIds).toEqual(proc.tokenizer.encode(out.text));
    expect(out.inputIds.slice(3, 7)).toEqual([9707, 11, 1879, 0]); // golden "Hello, world!"
    expect(out.mmTokenTypeIds.every((t) => t === 0)).toBe(true);
    expect(out.pixelValues).toBeUndefined();
    expect(out.pixelValuesVideos).toBeUndefined();
  });

  it('path, bytes, data URL, file URL and OpenAI image_url parts give the same pixels', async () => {
    const dataUrl = `data:image/png;base64,${Buffer.from(photoBytes).toString('base64')}`;
    const forms = [
      { type: 'image', image: photo },
      { type: 'image', image: photoBytes },
      { type: 'image', image: dataUrl },
      { type: 'image', image: pathToFileURL(photo).href },
      { type: 'image_url', image_url: { url: dataUrl } },
    ] as const;
    const outs = [];
    for (const part of forms) outs.push(await proc.prepare([{ role: 'user', content: [part, { type: 'text', text: 'Describe.' }] }], { addGenerationPrompt: true }));
    for (const o of outs) {
      expect(o.imageGridThw).toEqual([[1, 18, 28]]);
      expect(o.pixelValues).toEqual(outs[0].pixelValues);
      expect(o.inputIds).toEqual(outs[0].inputIds);
      expect(o.mmTokenTypeIds.filter((t) => t === 1)).toHaveLength((18 * 28) / 4);
    }
    expect(outs[0].pixelValues!.length).toBe(18 * 28 * 1536);
  });

  it('pixel bounds: per image beats per call beats the config', async () => {
    const msg = (extra: object = {}) => [{ role: 'user', content: [{ type: 'image' as const, image: photo, ...extra }, { type: 'image' as const, image: photo }] }];
    const a = await proc.prepare(msg(), { maxPixels: 200704 });
    expect(a.imageGridThw).toEqual([[1, 18, 28], [1, 18, 28]]);
    const b = await proc.prepare(msg({ maxPixels: 50000 }), { maxPixels: 100000 });
    expect(b.imageGridThw![0]).toEqual([1, 10, 16]); // 50000 pixel budget for the first
    expect(b.imageGridThw![1]).toEqual([1, 16, 24]); // call-level 100000 for the second
    // (expected grids checked against a Python transcription of transformers' smart_resize)
    const c = await proc.prepare(msg({ minPixels: 1e6 }));
    expect(c.imageGridThw![0]).toEqual([1, 52, 78]);
    await expect(proc.prepare(msg({ minPixels: 2e5, maxPixels: 1e5 }))).rejects.toThrow(/pixel bounds/);
  });

  it('multiple images and a video interleave in prompt order', async () => {
    const frames = Array.from({ length: 4 }, (_, i) => ({ data: new Uint8Array(64 * 64 * 3).fill(i * 60), width: 64, height: 64 }));
    const out = await proc.prepare([
      {
        role: 'user',
        content: [
          { type: 'image', image: photo, maxPixels: 65536 },
          { type: 'video', video: frames },
          { type: 'image', image: path.join(processorDir, 'tiny.png') },
        ],
      },
    ]);
    expect(out.imageGridThw).toEqual([[1, 12, 18], [1, 14, 20]]);
    expect(out.videoGridThw).toEqual([[2, 4, 4]]);
    expect(out.videoTimestamps).toEqual([[0.25, 1.25]]);
    expect(out.text).toContain('<|vision_end|><0.2 seconds><|vision_start|><|video_pad|>');
    expect(out.pixelValues!.length).toBe((12 * 18 + 14 * 20) * 1536);
    expect(out.pixelValuesVideos!.length).toBe(2 * 4 * 4 * 1536);
  });
});

describe('remote inputs', () => {
  it('http(s) is off by default, with a clear error', async () => {
    await expect(proc.prepare([{ role: 'user', content: [{ type: 'image', image: 'https://example.invalid/cat.png' }] }])).rejects.toThrow(RemoteFetchDisabledError);
  });

  it('a fetchImage hook supplies the bytes (policy lives in the hook)', async () => {
    const seen: string[] = [];
    const p = await loadProcessor(tinyDenseDir, {
      fetchImage: async (url) => {
        seen.push(url);
        return photoBytes;
      },
    });
    const out = await p.prepare([{ role: 'user', content: [{ type: 'image_url', image_url: 'https://example.invalid/cat.png' }] }]);
    expect(seen).toEqual(['https://example.invalid/cat.png']);
    expect(out.imageGridThw).toEqual([[1, 18, 28]]);
  });
});

describe('bad messages and configs', () => {
  it('malformed messages are InvalidInputError with the position', async () => {
    await expect(proc.prepare([])).rejects.toThrow(InvalidInputError);
    await expect(proc.prepare([{ content: 'x' } as never])).rejects.toThrow(/messages\[0\].*role/);
    await expect(proc.prepare([{ role: 'user', content: [{ type: 'audio', audio: 'x' } as never] }])).rejects.toThrow(/messages\[0\]\.content\[0\].*unknown content part type "audio"/);
    await expect(proc.prepare([{ role: 'user', content: [{ type: 'image', image: photo, maxPixels: -1 }] }])).rejects.toThrow(/maxPixels/);
    await expect(proc.prepare([{ role: 'user', content: [{ type: 'text' } as never] }])).rejects.toThrow(/text part/);
  });

  it('media the template does not render (image in a system message) are reported, not misaligned', async () => {
    await expect(
      proc.prepare([
        { role: 'system', content: [{ type: 'image', image: photo }] },
        { role: 'user', content: 'hi' },
      ]),
    ).rejects.toThrow(/placeholders/);
  });

  it('broken pre-processor configs are ProcessorConfigError naming the file', async () => {
    const dir = path.join(tmp, 'ckpt');
    mkdirSync(dir, { recursive: true });
    for (const f of ['tokenizer.json', 'tokenizer_config.json']) copyFileSync(path.join(tinyDenseDir, f), path.join(dir, f));
    writeFileSync(path.join(dir, 'preprocessor_config.json'), JSON.stringify({ size: { shortest_edge: 100, longest_edge: 10 } }));
    await expect(loadProcessor(dir)).rejects.toThrow(ProcessorConfigError);
    writeFileSync(path.join(dir, 'preprocessor_config.json'), JSON.stringify({ patch_size: 'big' }));
    await expect(loadProcessor(dir)).rejects.toThrow(/preprocessor_config\.json.*patch_size/);
    writeFileSync(path.join(dir, 'preprocessor_config.json'), '{oops');
    await expect(loadProcessor(dir)).rejects.toThrow(/preprocessor_config\.json/);
    rmSync(path.join(dir, 'preprocessor_config.json'));
    const p = await loadProcessor(dir); // missing configs: published Qwen3-VL defaults
    expect(p.imageConfig.source).toBe('defaults');
  });
});
