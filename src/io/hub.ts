// Hugging Face Hub model ids (`Qwen/Qwen3-VL-2B-Instruct`, optional revision) resolved in the cache shared with
// Python (HF_HOME / HF_HUB_CACHE, `models--org--name/{blobs,refs,snapshots}`): only missing files are downloaded,
// resumably, verified against the sizes and hashes the Hub lists. @huggingface/hub gives the API calls and cache
// paths; the file transfer is ours because its cache download neither resumes, verifies nor reports progress.

import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { lstat, mkdir, open, readFile, readlink, rename, rm, stat, symlink, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { getHFHubCachePath, getRepoFolderName, listFiles, modelInfo, scanCacheDir } from '@huggingface/hub';
import { HubError } from '../errors.js';

export { HubError };


/** `org/name`: what a Hub model id looks like (a local folder of that name wins). */
export const HUB_ID = /^[A-Za-z0-9][\w.-]{0,95}\/[\w.-]{1,96}$/;
const COMMIT = /^[0-9a-f]{40}$/;
/** Files a checkpoint needs; READMEs, images and other formats (GGUF, ONNX) stay on the Hub. */
const WANTED = /(^|\/)[^/]+\.(json|safetensors|jinja|txt)$/;

export interface HubOptions {
  /** Branch, tag or commit (default 'main'). */
  readonly revision?: string;
  /** The hub/ cache folder (default HF_HUB_CACHE, else HF_HOME/hub, else ~/.cache/huggingface/hub). */
  readonly cacheDir?: string;
  /** Default HF_ENDPOINT, else https://huggingface.co. */
  readonly endpoint?: string;
  /** Default HF_TOKEN (gated and private repositories). */
  readonly token?: string;
  /** Use the cache only (default: HF_HUB_OFFLINE=1). */
  readonly offline?: boolean;
  /** Bytes done and total of the files being downloaded (only called when something is downloaded). */
  readonly onProgress?: (p: { file: string; loadedBytes: number; totalBytes: number }) => void;
  readonly fetch?: typeof fetch;
  /** Attempts per file when the connection breaks (each resumes where the last stopped). Default 5. */
  readonly retries?: number;
}

export interface ResolvedModel {
  readonly id: string;
  readonly revision: string;
  readonly commit: string;
  /** The snapshot folder (symlinks into blobs/), usable as a checkpoint folder. */
  readonly dir: string;
  /** Files downloaded now (empty on a cache hit). */
  readonly downloaded: readonly string[];
}

const env = (k: string) => (typeof process === 'object' ? process.env[k] : undefined) || undefined;
const truthy = (v: string | undefined) => v !== undefined && /^(1|true|yes|on)$/i.test(v);

export function hubCacheDir(o: Pick<HubOptions, 'cacheDir'> = {}): string {
  return o.cacheDir ?? env('HF_HUB_CACHE') ?? (env('HF_HOME') ? path.join(env('HF_HOME')!, 'hub') : getHFHubCachePath());
}

/**
 * A model argument as given: a Hub id (`org/name`, when no local folder has that name) becomes its snapshot folder
 * in the cache; folders and URLs pass through.
 */
export async function resolveModelArg(model: string, o: HubOptions = {}): Promise<string> {
  if (!HUB_ID.test(model) || (await stat(model).catch(() => null))) {
    if (o.revision !== undefined) throw new HubError(`a revision ('${o.revision}') goes with a Hub model id (org/name), not with the folder '${model}'`);
    return model;
  }
  return (await resolveHubModel(model, o)).dir;
}

/** The snapshot of a Hub model in the cache, downloading what is missing unless offline. */
export async function resolveHubModel(id: string, o: HubOptions = {}): Promise<ResolvedModel> {
  if (!HUB_ID.test(id)) throw new HubError(`'${id}' is not a Hugging Face model id (org/name)`);
  const revision = o.revision ?? 'main';
  if (revision.includes('..') || revision.startsWith('/')) throw new HubError(`revision '${revision}' is not a branch, tag or commit`);
  const repoDir = path.join(hubCacheDir(o), getRepoFolderName({ type: 'model', name: id }));
  const offline = o.offline ?? truthy(env('HF_HUB_OFFLINE'));
  if (offline) return resolveOffline(id, revision, repoDir);

  const hubUrl = (o.endpoint ?? env('HF_ENDPOINT') ?? 'https://huggingface.co').replace(/\/+$/, '');
  const accessToken = o.token ?? env('HF_TOKEN');
  const creds = { hubUrl, ...(accessToken ? { accessToken } : {}), ...(o.fetch ? { fetch: o.fetch } : {}) };
  let commit: string;
  try {
    commit = (await modelInfo({ ...creds, name: id, revision, additionalFields: ['sha'] })).sha as string;
  } catch (e) {
    throw hubError(e, id, revision, !!accessToken, hubUrl);
  }
  if (!COMMIT.test(commit ?? '')) throw new HubError(`${hubUrl} gave no commit for ${id}@${revision}`);
  const files: { path: string; size: number; sha256?: string; oid: string }[] = [];
  try {
    for await (const f of listFiles({ ...creds, repo: { type: 'model', name: id }, revision: commit, recursive: true })) {
      if (f.type !== 'file' || !WANTED.test(f.path)) continue;
      if (!f.lfs && !f.oid) throw new HubError(`${hubUrl} lists ${id}/${f.path} without a hash`);
      files.push({ path: f.path, size: f.lfs?.size ?? f.size, sha256: f.lfs?.oid, oid: f.oid ?? '' });
    }
  } catch (e) {
    throw hubError(e, id, revision, !!accessToken, hubUrl);
  }
  if (!files.some((f) => f.path === 'config.json')) throw new HubError(`${id}@${revision} has no config.json: is it a Qwen3-VL checkpoint?`);

  const snap = path.join(repoDir, 'snapshots', commit);
  const missing: typeof files = [];
  for (const f of files) if (!(await isFile(path.join(snap, f.path)))) missing.push(f);
  const total = missing.reduce((a, f) => a + f.size, 0);
  let done = 0;
  for (const f of missing) {
    // Blobs are named by their Hub etag (the LFS sha256, else the git oid), as Python names them: shared, deduplicated.
    const blob = path.join(repoDir, 'blobs', f.sha256 ?? f.oid);
    if (!(await isFile(blob))) {
      const url = `${hubUrl}/${id}/resolve/${commit}/${f.path.split('/').map(encodeURIComponent).join('/')}`;
      await download(url, blob, f, { ...o, accessToken }, (n) => o.onProgress?.({ file: f.path, loadedBytes: done + n, totalBytes: total }));
    }
    done += f.size;
    await link(blob, path.join(snap, f.path));
  }
  if (revision !== commit) {
    await mkdir(path.join(repoDir, 'refs', path.dirname(revision)), { recursive: true });
    await writeFile(path.join(repoDir, 'refs', revision), commit);
  }
  return { id, revision, commit, dir: snap, downloaded: missing.map((f) => f.path) };
}

async function resolveOffline(id: string, revision: string, repoDir: string): Promise<ResolvedModel> {
  let commit = COMMIT.test(revision) ? revision : null;
  if (!commit) commit = (await readFile(path.join(repoDir, 'refs', revision), 'utf8').catch(() => '')).trim() || null;
  const where = `${id}@${revision}`;
  if (!commit) throw new HubError(`offline (HF_HUB_OFFLINE=1) and ${where} is not in the cache ${repoDir}: run \`qwen3-vl pull ${id}${revision === 'main' ? '' : ` --revision ${revision}`}\` while online`);
  const snap = path.join(repoDir, 'snapshots', commit);
  const need = ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'preprocessor_config.json'];
  const missing = [];
  for (const f of need) if (!(await isFile(path.join(snap, f)))) missing.push(f);
  if (await isFile(path.join(snap, 'model.safetensors.index.json'))) {
    const index = JSON.parse(await readFile(path.join(snap, 'model.safetensors.index.json'), 'utf8')) as { weight_map?: Record<string, string> };
    for (const f of new Set(Object.values(index.weight_map ?? {}))) if (!(await isFile(path.join(snap, f)))) missing.push(f);
  } else if (!(await isFile(path.join(snap, 'model.safetensors')))) missing.push('model.safetensors');
  if (missing.length) throw new HubError(`offline (HF_HUB_OFFLINE=1) and the cached ${where} (${commit.slice(0, 12)}) lacks ${missing.join(', ')}: run \`qwen3-vl pull ${id}\` while online`);
  return { id, revision, commit, dir: snap, downloaded: [] };
}

/**
 * One file into `blob` through `blob.incomplete`: a kept partial file resumes with a Range request, a broken
 * connection is retried from where it stopped, and the result must have the listed size and hash.
 */
async function download(url: string, blob: string, f: { path: string; size: number; sha256?: string; oid: string }, o: HubOptions & { accessToken?: string }, progress: (n: number) => void): Promise<void> {
  await mkdir(path.dirname(blob), { recursive: true });
  const part = `${blob}.incomplete`;
  const tries = o.retries ?? 5;
  let lastError: unknown = null;
  for (let attempt = 0; attempt < tries; attempt++) {
    let have = (await stat(part).catch(() => null))?.size ?? 0;
    if (have > f.size) {
      await rm(part, { force: true });
      have = 0;
    }
    if (have < f.size || f.size === 0) {
      const headers: Record<string, string> = {};
      if (o.accessToken) headers.authorization = `Bearer ${o.accessToken}`;
      if (have > 0) headers.range = `bytes=${have}-`;
      try {
        const res = await (o.fetch ?? fetch)(url, { headers, redirect: 'follow' });
        if (res.status === 401 || res.status === 403) throw new HubError(`${f.path}: ${res.status} from the Hub (gated or private: accept its terms and set HF_TOKEN)`);
        if (res.status === 416) {
          await rm(part, { force: true });
          continue;
        }
        if (!res.ok || !res.body) throw new HubError(`${f.path}: HTTP ${res.status} from ${new URL(url).host}`);
        // 200 to a Range request: the server sends the whole file, so start over.
        const append = res.status === 206 && have > 0;
        if (!append) have = 0;
        let n = have;
        progress(n);
        // Each chunk is on disk before the next is read, so a broken connection keeps every byte it delivered.
        const fh = await open(part, append ? 'a' : 'w');
        try {
          for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
            await fh.write(chunk);
            progress((n += chunk.length));
          }
        } finally {
          await fh.close();
        }
      } catch (e) {
        if (e instanceof HubError) throw e;
        lastError = e;
        continue;
      }
    }
    const size = (await stat(part)).size;
    if (size < f.size) {
      lastError = new HubError(`${f.path}: the connection ended after ${size} of ${f.size} bytes`);
      continue;
    }
    if (size !== f.size || !(await hashMatches(part, f))) {
      await rm(part, { force: true });
      throw new HubError(`${f.path}: the download does not match the Hub's ${size !== f.size ? `size (${size} bytes, listed ${f.size})` : f.sha256 ? 'sha256' : 'git hash'}; it was deleted, try again`);
    }
    await rename(part, blob);
    return;
  }
  throw new HubError(`${f.path}: download failed after ${tries} attempts (the partial file is kept and resumes next time): ${(lastError as Error)?.message ?? String(lastError)}`);
}

/** sha256 for LFS files; git's blob sha1 (`blob <size>\0` + content) for the others. */
async function hashMatches(file: string, f: { size: number; sha256?: string; oid: string }): Promise<boolean> {
  const h = createHash(f.sha256 ? 'sha256' : 'sha1');
  if (!f.sha256) h.update(`blob ${f.size}\0`);
  await pipeline(createReadStream(file), h);
  return h.digest('hex') === (f.sha256 ?? f.oid);
}

/** snapshots/<commit>/<file> → ../../blobs/<etag> (relative, as Python links them). */
async function link(blob: string, at: string): Promise<void> {
  await mkdir(path.dirname(at), { recursive: true });
  const rel = path.relative(path.dirname(at), blob);
  const cur = await lstat(at).catch(() => null);
  if (cur?.isSymbolicLink() && (await readlink(at)) === rel) return;
  if (cur) await unlink(at);
  try {
    await symlink(rel, at);
  } catch {
    // Where symlinks are not allowed (some Windows setups), Python copies; so do we.
    await pipeline(createReadStream(blob), createWriteStream(at));
  }
}

const isFile = (p: string) => stat(p).then((s) => s.isFile(), () => false);

function hubError(e: unknown, id: string, revision: string, hasToken: boolean, hubUrl: string): HubError {
  const status = (e as { statusCode?: number }).statusCode;
  if (status === 401 || status === 403) return new HubError(`${id} is gated or private (${status}): ${hasToken ? 'HF_TOKEN was sent but has no access; accept the terms on its page' : 'set HF_TOKEN to a token with access'}`);
  if (status === 404) return new HubError(`${id}@${revision} was not found on ${hubUrl} (check the id and revision${hasToken ? '' : ', or set HF_TOKEN for a private repository'})`);
  return new HubError(`cannot reach ${hubUrl} for ${id}: ${(e as Error)?.message ?? String(e)} (HF_HUB_OFFLINE=1 uses the cache only)`);
}

export interface CachedModel {
  readonly id: string;
  readonly sizeBytes: number;
  readonly revisions: readonly { readonly commit: string; readonly refs: readonly string[]; readonly dir: string; readonly sizeBytes: number }[];
}

/** Qwen3-VL checkpoints in the cache (a snapshot whose config.json has a qwen3_vl model_type). */
export async function listCachedModels(o: Pick<HubOptions, 'cacheDir'> = {}): Promise<CachedModel[]> {
  const dir = hubCacheDir(o);
  if (!(await stat(dir).catch(() => null))) return [];
  const info = await scanCacheDir(dir);
  const out: CachedModel[] = [];
  for (const r of info.repos) {
    if (r.id.type !== 'model') continue;
    const revisions = [];
    for (const rev of r.revisions) {
      const cfg = await readFile(path.join(rev.path, 'config.json'), 'utf8').then((t) => JSON.parse(t) as { model_type?: string }, () => null);
      if (cfg && /^qwen3_vl/.test(cfg.model_type ?? '')) revisions.push({ commit: rev.commitOid, refs: [...rev.refs], dir: rev.path, sizeBytes: rev.size });
    }
    if (revisions.length) out.push({ id: r.id.name, sizeBytes: r.size, revisions });
  }
  return out.sort((a, b) => a.id.localeCompare(b.id));
}
