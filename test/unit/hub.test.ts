// Hub model ids against a loopback stand-in Hub serving the tiny-dense fixture: the Python-compatible cache layout,
// cache hits, partial caches, resume after a cut connection and from a kept partial file, hash checks, offline mode,
// a gated repository with a token, a tag revision, the cache listing, and loadModel('org/name').
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, readdirSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { HubError, listCachedModels, resolveHubModel, resolveModelArg } from '../../src/io/hub.js';
import { loadModel } from '../../src/generate/engine.js';
import { fixturesRoot } from '../helpers/fixtures.js';
import { HubStandIn } from '../helpers/hubStandIn.js';

const tiny = path.join(fixturesRoot, 'tiny-dense');
const REPO = 'Qwen/Qwen3-VL-Tiny-Test';
// What a checkpoint needs of the fixture's files (the stand-in also serves a README.md, which is left on the Hub).
const WANTED = existsSync(tiny) ? readdirSync(tiny).filter((f) => !f.startsWith('golden') && /\.(json|safetensors)$/.test(f)).sort() : [];

let hub: HubStandIn;
let cache: string;
let main: string;
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const opts = (o: Record<string, unknown> = {}) => ({ endpoint: hub.base, cacheDir: cache, offline: false, token: undefined, ...o });
const repoDir = () => path.join(cache, 'models--Qwen--Qwen3-VL-Tiny-Test');

beforeEach(async () => {
  if (!existsSync(tiny)) return;
  hub = new HubStandIn(REPO);
  main = hub.addRevision(['main'], tiny);
  await hub.start();
  cache = mkdtempSync(path.join(os.tmpdir(), 'qwen3vl-hub-'));
});
afterEach(async () => {
  await hub?.stop();
  if (cache) rmSync(cache, { recursive: true, force: true });
});

describe.skipIf(!existsSync(tiny))('Hub ids on a stand-in Hub', () => {
  it("downloads into Python's layout: refs/main, snapshots/<commit>/ symlinks to blobs named by etag; LFS via a redirect", async () => {
    const r = await resolveHubModel(REPO, opts());
    expect(r.commit).toBe(main);
    expect(r.dir).toBe(path.join(repoDir(), 'snapshots', main));
    expect([...r.downloaded].sort()).toEqual(WANTED);
    expect(readFileSync(path.join(repoDir(), 'refs', 'main'), 'utf8')).toBe(main);
    const weights = readFileSync(path.join(tiny, 'model.safetensors'));
    const link = path.join(r.dir, 'model.safetensors');
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(readlinkSync(link)).toBe(`../../blobs/${sha256(weights)}`);
    expect(readFileSync(link).equals(weights)).toBe(true);
    const cfg = readFileSync(path.join(tiny, 'config.json'));
    const gitOid = createHash('sha1').update(`blob ${cfg.length}\0`).update(cfg).digest('hex');
    expect(readlinkSync(path.join(r.dir, 'config.json'))).toBe(`../../blobs/${gitOid}`);
    expect(existsSync(path.join(r.dir, 'README.md'))).toBe(false);
    expect(hub.requests.some((q) => q.url.startsWith('/cdn/'))).toBe(true);
  });

  it('a cache hit downloads nothing; a partial cache downloads only what is missing', async () => {
    await resolveHubModel(REPO, opts());
    hub.requests.length = 0;
    expect((await resolveHubModel(REPO, opts())).downloaded).toEqual([]);
    expect(hub.downloads()).toEqual([]);
    const snap = path.join(repoDir(), 'snapshots', main);
    const blob = path.join(snap, readlinkSync(path.join(snap, 'tokenizer.json')));
    unlinkSync(blob);
    unlinkSync(path.join(snap, 'tokenizer.json'));
    const r = await resolveHubModel(REPO, opts());
    expect(r.downloaded).toEqual(['tokenizer.json']);
    expect(hub.downloads()).toEqual(['tokenizer.json']);
    expect(readFileSync(path.join(snap, 'tokenizer.json')).equals(readFileSync(path.join(tiny, 'tokenizer.json')))).toBe(true);
  });

  it('a connection cut mid-file resumes with a Range request and the file verifies', async () => {
    hub.cut = { file: 'model.safetensors', after: 100_000 };
    const r = await resolveHubModel(REPO, opts());
    const ranged = hub.requests.filter((q) => q.url.startsWith('/cdn/') && q.range);
    expect(ranged).toHaveLength(1);
    expect(Number(ranged[0].range!.match(/bytes=(\d+)-/)![1])).toBeGreaterThan(0);
    expect(readFileSync(path.join(r.dir, 'model.safetensors')).equals(readFileSync(path.join(tiny, 'model.safetensors')))).toBe(true);
  });

  it('a kept partial file resumes where it stopped; a corrupt one is refused and deleted', async () => {
    const weights = readFileSync(path.join(tiny, 'model.safetensors'));
    const blobs = path.join(repoDir(), 'blobs');
    mkdirSync(blobs, { recursive: true });
    const part = path.join(blobs, `${sha256(weights)}.incomplete`);
    writeFileSync(part, weights.subarray(0, 4096));
    await resolveHubModel(REPO, opts());
    expect(hub.requests.find((q) => q.url.startsWith('/cdn/'))?.range).toBe('bytes=4096-');
    rmSync(repoDir(), { recursive: true });
    mkdirSync(blobs, { recursive: true });
    const bad = Buffer.from(weights);
    bad[bad.length - 1] ^= 0xff;
    writeFileSync(part, bad);
    await expect(resolveHubModel(REPO, opts())).rejects.toThrow(/model\.safetensors: the download does not match the Hub's sha256/);
    expect(existsSync(part)).toBe(false);
  });

  it('offline: names what is missing, and works from the cache without a request', async () => {
    await expect(resolveHubModel(REPO, opts({ offline: true }))).rejects.toThrow(/offline \(HF_HUB_OFFLINE=1\) and Qwen\/Qwen3-VL-Tiny-Test@main is not in the cache .*qwen3-vl pull Qwen\/Qwen3-VL-Tiny-Test/);
    const r = await resolveHubModel(REPO, opts());
    hub.requests.length = 0;
    expect((await resolveHubModel(REPO, opts({ offline: true }))).dir).toBe(r.dir);
    expect(hub.requests).toEqual([]);
    unlinkSync(path.join(r.dir, 'model.safetensors'));
    await expect(resolveHubModel(REPO, opts({ offline: true }))).rejects.toThrow(/lacks model\.safetensors/);
  });

  it('HF_HUB_OFFLINE=1 and HF_HUB_CACHE are honoured from the environment', async () => {
    const keep = { o: process.env.HF_HUB_OFFLINE, c: process.env.HF_HUB_CACHE };
    try {
      process.env.HF_HUB_CACHE = cache;
      process.env.HF_HUB_OFFLINE = '1';
      await expect(resolveHubModel(REPO, { endpoint: hub.base })).rejects.toThrow(HubError);
      expect(hub.requests).toEqual([]);
    } finally {
      for (const [k, v] of [['HF_HUB_OFFLINE', keep.o], ['HF_HUB_CACHE', keep.c]] as const) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  });

  it('a gated repository: a clear error without a token, the download with one', async () => {
    await hub.stop();
    hub = new HubStandIn(REPO, { token: 'hf_secret' });
    main = hub.addRevision(['main'], tiny);
    await hub.start();
    await expect(resolveHubModel(REPO, opts())).rejects.toThrow(/gated or private \(401\): set HF_TOKEN/);
    await expect(resolveHubModel(REPO, opts({ token: 'hf_wrong' }))).rejects.toThrow(/HF_TOKEN was sent but has no access/);
    hub.requests.length = 0;
    const r = await resolveHubModel(REPO, opts({ token: 'hf_secret' }));
    expect(r.downloaded.length).toBe(WANTED.length);
    expect(hub.requests.every((q) => q.auth === 'Bearer hf_secret')).toBe(true);
  });

  it('a revision (tag) resolves to its own commit and snapshot, with refs/<tag>; unknown ones are a 404 message', async () => {
    const v0 = hub.addRevision(['v0'], tiny, (f) => f.set('generation_config.json', Buffer.from('{"temperature": 0.5}')));
    const r = await resolveHubModel(REPO, opts({ revision: 'v0' }));
    expect(r.commit).toBe(v0);
    expect(readFileSync(path.join(repoDir(), 'refs', 'v0'), 'utf8')).toBe(v0);
    expect(JSON.parse(readFileSync(path.join(r.dir, 'generation_config.json'), 'utf8'))).toEqual({ temperature: 0.5 });
    // The same weights blob serves both snapshots.
    hub.requests.length = 0;
    await resolveHubModel(REPO, opts());
    expect(hub.downloads()).not.toContain('model.safetensors');
    await expect(resolveHubModel(REPO, opts({ revision: 'nope' }))).rejects.toThrow(/Qwen3-VL-Tiny-Test@nope was not found/);
  });

  it('lists cached Qwen3-VL checkpoints with sizes and refs', async () => {
    await resolveHubModel(REPO, opts());
    const list = await listCachedModels({ cacheDir: cache });
    expect(list).toHaveLength(1);
    expect(list[0].id).toBe(REPO);
    expect(list[0].revisions[0].commit).toBe(main);
    expect(list[0].revisions[0].refs).toEqual(['main']);
    const bytes = WANTED.reduce((a, f) => a + readFileSync(path.join(tiny, f)).length, 0);
    expect(list[0].sizeBytes).toBe(bytes);
  });

  it('loadModel takes a Hub id; a folder of that name wins; a revision on a folder is an error', async () => {
    const m = await loadModel(REPO, { backend: 'ref', hub: opts() });
    try {
      expect(m.processor).not.toBeNull();
      expect(m.source?.dir ?? '').toContain(main);
    } finally {
      m.dispose();
    }
    await expect(resolveModelArg(tiny, { revision: 'v1' })).rejects.toThrow(/goes with a Hub model id/);
    expect(await resolveModelArg(tiny)).toBe(tiny);
  });
});
