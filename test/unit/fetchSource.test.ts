// Checkpoints behind a URL (io/fetchSource.ts) in Node: the fixtures served with Range by a local server load to
// the same model as from the folder, shards and index included; HTTP errors name the URL and status; a server that
// ignores Range is refused for large files instead of downloading them whole.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Checkpoint, SafetensorsFile, writeSafetensors } from '../../src/io/safetensors.js';
import { ConfigError, loadConfig } from '../../src/models/qwen3vl/config.js';
import { loadGenerationConfig } from '../../src/config/generation.js';
import { loadModel } from '../../src/models/qwen3vl/load.js';
import { FetchSource } from '../../src/io/fetchSource.js';
import { openEngine } from '../../src/generate/service.js';
import { fixturesRoot } from '../helpers/fixtures.js';
import { type StaticServer, startStaticServer } from '../helpers/staticServer.js';

let tmp: string;
let server: StaticServer;
let plain: StaticServer;

beforeAll(async () => {
  tmp = mkdtempSync(path.join(tmpdir(), 'fetch-'));
  // A two-shard copy of the untied fixture, with its index.
  const f = await SafetensorsFile.open(path.join(fixturesRoot, 'tiny-dense-untied-text', 'model.safetensors'));
  const names = [...f.tensors.keys()];
  const shards = [names.slice(0, names.length >> 1), names.slice(names.length >> 1)];
  const weightMap: Record<string, string> = {};
  mkdirSync(path.join(tmp, 'sharded'));
  for (const [i, part] of shards.entries()) {
    const file = `model-0000${i + 1}-of-00002.safetensors`;
    const ts = [];
    for (const n of part) {
      const r = await f.read(n);
      ts.push({ name: n, dtype: r.dtype, shape: r.shape, data: r.bytes });
      weightMap[n] = file;
    }
    await writeSafetensors(path.join(tmp, 'sharded', file), ts);
  }
  await f.close();
  writeFileSync(path.join(tmp, 'sharded', 'model.safetensors.index.json'), JSON.stringify({ weight_map: weightMap }));
  writeFileSync(path.join(tmp, 'big.safetensors'), '');
  truncateSync(path.join(tmp, 'big.safetensors'), 40 * 1024 * 1024);
  server = await startStaticServer(fixturesRoot);
  plain = await startStaticServer(tmp, { ignoreRange: true });
});

afterAll(async () => {
  await server?.close();
  await plain?.close();
  rmSync(tmp, { recursive: true, force: true });
});

describe('checkpoints over HTTP', () => {
  it('loads tiny-dense from a URL to the same logits as from the folder, reading each byte about once', async () => {
    const dir = path.join(fixturesRoot, 'tiny-dense');
    const before = server.sentBytes;
    const progress: number[] = [];
    const remote = await loadModel(`${server.url}tiny-dense`, { backend: 'ref', onProgress: (p) => progress.push(p.loadedBytes / p.totalBytes) });
    const sent = server.sentBytes - before;
    const local = await loadModel(dir, { backend: 'ref' });
    expect(remote.source?.dir).toBe(`${server.url}tiny-dense/`);
    expect(remote.source?.generationConfig).toEqual(local.source?.generationConfig);
    const ids = [151644, 872, 198, 3838, 374, 419, 30];
    const a = (await remote.forward({ inputIds: ids })).logits;
    const b = (await local.forward({ inputIds: ids })).logits;
    expect(Array.from(a)).toEqual(Array.from(b));
    expect(progress.at(-1)).toBe(1);
    const ckpt = await Checkpoint.open(dir);
    const size = ckpt.byteLength;
    await ckpt.close();
    expect(sent).toBeGreaterThanOrEqual(size);
    expect(sent).toBeLessThan(size * 1.05);
    remote.dispose();
    local.dispose();
  });

  it('opens a sharded checkpoint through its index', async () => {
    const c = await Checkpoint.open(`${plain.url}sharded/`);
    const local = await Checkpoint.open(path.join(tmp, 'sharded'));
    expect([...c.tensors.keys()].sort()).toEqual([...local.tensors.keys()].sort());
    const n = 'model.language_model.norm.weight';
    expect(c.info(n).file).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/sharded\/model-0000\d-of-00002\.safetensors$/);
    expect(Array.from((await c.read(n)).bytes)).toEqual(Array.from((await local.read(n)).bytes));
    await c.close();
    await local.close();
  });

  it('names the URL and the HTTP status when a file is missing', async () => {
    await expect(loadConfig(`${server.url}nowhere/`)).rejects.toThrow(ConfigError);
    await expect(loadConfig(`${server.url}nowhere/`)).rejects.toThrow(/nowhere\/config\.json: cannot read: GET http:\/\/127\.0\.0\.1:\d+\/nowhere\/config\.json: HTTP 404/);
    await expect(Checkpoint.open(`${server.url}nowhere`)).rejects.toThrow(/nowhere\/: no model\.safetensors or model\.safetensors\.index\.json/);
    expect((await loadGenerationConfig(`${server.url}nowhere`)).eosTokenIds).toEqual([]);
    await expect(SafetensorsFile.open(`${server.url}nowhere/x.safetensors`)).rejects.toThrow(/x\.safetensors: cannot open: GET .*: HTTP 404/);
  });

  it('refuses a large file from a server that ignores Range, without downloading it', async () => {
    await expect(SafetensorsFile.open(`${plain.url}big.safetensors`)).rejects.toThrow(/ignored the Range request \(HTTP 200, 41943040 bytes\)/);
    expect(plain.sentBytes).toBeLessThan(40 * 1024 * 1024);
  });

  it('takes a source object with headers and its own fetch (gated repositories)', async () => {
    const seen: string[] = [];
    const src = new FetchSource(`${server.url}tiny-moe`, {
      headers: { Authorization: 'Bearer test' },
      fetch: (u, init) => {
        seen.push(new Headers(init?.headers).get('authorization') ?? 'none');
        return fetch(u, init);
      },
    });
    const c = await Checkpoint.open(src);
    expect((await loadConfig(src)).text.moe).not.toBeNull();
    expect(c.dir).toBe(`${server.url}tiny-moe/`);
    await c.close();
    expect(seen.length).toBeGreaterThan(2);
    expect(new Set(seen)).toEqual(new Set(['Bearer test']));
  });

  it('opens an engine (CLI and server) from a URL, named after the model folder', async () => {
    const e = await openEngine(`${server.url}tiny-dense/`, { backend: 'ref' });
    expect(e.info.id).toBe('tiny-dense');
    expect(e.info.dir).toBe(`${server.url}tiny-dense/`);
    await e.close();
  });
});
